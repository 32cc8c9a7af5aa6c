using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Threadloom.Sandbox;

/// <summary>
/// The libc calls the BCL does not offer: chown, and the handle-relative (<c>*at</c>) file calls the host uses for every
/// access to a session folder, so that nothing the sandbox plants (a symbolic link, a FIFO, a renamed folder) can make
/// the host follow it, block on it or leave the folder.
/// </summary>
/// <remarks>Design notes: names are passed as raw bytes (a name from the sandbox need not be UTF-8). <c>statx</c> is
/// used instead of <c>fstatat</c> because its struct has the same layout on every architecture.</remarks>
internal static unsafe partial class Native
{
    public const int ORdOnly = 0;
    public const int OWrOnly = 1;
    public const int OCreat = 0x40;
    public const int OExcl = 0x80;
    public const int ONoCtty = 0x100;
    public const int ONonBlock = 0x800;
    public const int ODirectory = 0x10000;
    public const int ONoFollow = 0x20000;
    public const int OCloExec = 0x80000;
    public const int AtFdCwd = -100;
    public const int AtRemoveDir = 0x200;
    public const int AtSymlinkNoFollow = 0x100;
    public const int AtNoAutomount = 0x800;
    public const int AtEmptyPath = 0x1000;
    public const uint RenameNoReplace = 1;
    public const int ENoEnt = 2;
    public const int EIntr = 4;
    public const int EAcces = 13;
    public const int EExist = 17;
    public const int ENotDir = 20;
    public const int EIsDir = 21;
    public const int ENotEmpty = 39;
    public const int ELoop = 40;
    public const int ESrch = 3;
    public const uint SIfMt = 0xF000;
    public const uint SIfReg = 0x8000;
    public const uint SIfDir = 0x4000;
    public const int SigKill = 9;

    /// <summary>What <c>statx</c> says of one directory entry or open handle.</summary>
    public readonly record struct FileStat(uint Mode, ulong Inode, ulong Device, long Size, long ModifiedNs, long ChangedNs)
    {
        public bool IsRegularFile => (Mode & SIfMt) == SIfReg;
        public bool IsDirectory => (Mode & SIfMt) == SIfDir;
    }

    [LibraryImport("libc", EntryPoint = "lchown", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int LChown(string path, uint owner, uint group);

    [LibraryImport("libc", EntryPoint = "fchown", SetLastError = true)]
    private static partial int FChown(SafeFileHandle handle, uint owner, uint group);

    [LibraryImport("libc", EntryPoint = "fchmod", SetLastError = true)]
    private static partial int FChmod(SafeFileHandle handle, uint mode);

    [LibraryImport("libc", EntryPoint = "openat", SetLastError = true)]
    private static partial int OpenAt(SafeFileHandle directory, byte* path, int flags, uint mode);

    [LibraryImport("libc", EntryPoint = "openat", SetLastError = true)]
    private static partial int OpenAtCwd(int directory, byte* path, int flags, uint mode);

    [LibraryImport("libc", EntryPoint = "unlinkat", SetLastError = true)]
    private static partial int UnlinkAt(SafeFileHandle directory, byte* path, int flags);

    [LibraryImport("libc", EntryPoint = "renameat2", SetLastError = true)]
    private static partial int RenameAt2(SafeFileHandle oldDirectory, byte* oldPath, SafeFileHandle newDirectory, byte* newPath, uint flags);

    [LibraryImport("libc", EntryPoint = "statx", SetLastError = true)]
    private static partial int Statx(SafeFileHandle directory, byte* path, int flags, uint mask, byte* buffer);

    [LibraryImport("libc", EntryPoint = "dup", SetLastError = true)]
    private static partial int Dup(SafeFileHandle handle);

    [LibraryImport("libc", EntryPoint = "fdopendir", SetLastError = true)]
    private static partial nint FdOpenDir(int fd);

    [LibraryImport("libc", EntryPoint = "readdir", SetLastError = true)]
    private static partial nint ReadDir(nint dir);

    [LibraryImport("libc", EntryPoint = "rewinddir")]
    private static partial void RewindDir(nint dir);

    [LibraryImport("libc", EntryPoint = "closedir")]
    private static partial int CloseDir(nint dir);

    [LibraryImport("libc", EntryPoint = "close")]
    private static partial int Close(int fd);

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int Kill(int pid, int signal);

    public static void ChownPath(string path, int uid)
    {
        if (LChown(path, (uint)uid, (uint)uid) != 0)
        {
            throw new IOException($"chown of {path} failed (errno {Marshal.GetLastPInvokeError()}).");
        }
    }

    public static void ChownHandle(SafeFileHandle handle, int uid)
    {
        if (FChown(handle, (uint)uid, (uint)uid) != 0)
        {
            throw new IOException($"fchown failed (errno {Marshal.GetLastPInvokeError()}).");
        }
    }

    /// <summary>Makes a folder the sandbox left read-only deletable again (best effort; root does not need it).</summary>
    public static void MakeOwnerWritable(SafeFileHandle directory) => _ = FChmod(directory, 0x1C0);

    /// <summary>Opens a host-chosen absolute folder path (never a name from the sandbox) as a directory handle.</summary>
    public static SafeFileHandle OpenDirectoryPath(string path)
    {
        var bytes = NullTerminated(System.Text.Encoding.UTF8.GetBytes(path));
        fixed (byte* p = bytes)
        {
            var fd = OpenAtCwd(AtFdCwd, p, ORdOnly | ODirectory | ONoFollow | OCloExec, 0);
            return fd < 0 ? throw Error("open", path) : new SafeFileHandle(fd, ownsHandle: true);
        }
    }

    /// <summary><c>openat(directory, name, flags | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY)</c>; errno on failure.</summary>
    public static SafeFileHandle? TryOpenAt(SafeFileHandle directory, ReadOnlySpan<byte> name, int flags, uint mode, out int errno)
    {
        var bytes = NullTerminated(name);
        fixed (byte* p = bytes)
        {
            var fd = OpenAt(directory, p, flags | ONoFollow | ONonBlock | OCloExec | ONoCtty, mode);
            errno = fd < 0 ? Marshal.GetLastPInvokeError() : 0;
            return fd < 0 ? null : new SafeFileHandle(fd, ownsHandle: true);
        }
    }

    /// <summary><c>statx</c> of an entry without following a link; null when it does not exist (any more).</summary>
    public static FileStat? TryStatAt(SafeFileHandle directory, ReadOnlySpan<byte> name, out int errno)
    {
        var bytes = NullTerminated(name);
        fixed (byte* p = bytes)
        {
            return StatxCore(directory, p, AtSymlinkNoFollow | AtNoAutomount, out errno);
        }
    }

    /// <summary><c>statx</c> of an open handle: the type and size of what was really opened.</summary>
    public static FileStat StatHandle(SafeFileHandle handle)
    {
        byte empty = 0;
        return StatxCore(handle, &empty, AtEmptyPath, out var errno) ?? throw new IOException($"statx of a handle failed (errno {errno}).");
    }

    private static FileStat? StatxCore(SafeFileHandle directory, byte* path, int flags, out int errno)
    {
        // struct statx is 256 bytes with a fixed layout on every Linux architecture.
        var buffer = stackalloc byte[256];
        // STATX_TYPE | STATX_MODE | STATX_INO | STATX_SIZE | STATX_MTIME | STATX_CTIME
        if (Statx(directory, path, flags, 0x1 | 0x2 | 0x100 | 0x200 | 0x40 | 0x80, buffer) != 0)
        {
            errno = Marshal.GetLastPInvokeError();
            return null;
        }
        errno = 0;
        var mode = *(ushort*)(buffer + 28);
        var inode = *(ulong*)(buffer + 32);
        var size = *(long*)(buffer + 40);
        var mtime = *(long*)(buffer + 112) * 1_000_000_000 + *(uint*)(buffer + 120);
        var ctime = *(long*)(buffer + 96) * 1_000_000_000 + *(uint*)(buffer + 104);
        var device = ((ulong)*(uint*)(buffer + 136) << 32) | *(uint*)(buffer + 140);
        return new FileStat(mode, inode, device, size, mtime, ctime);
    }

    /// <summary><c>unlinkat</c>; returns errno (0 on success).</summary>
    public static int UnlinkAt(SafeFileHandle directory, ReadOnlySpan<byte> name, bool directoryEntry)
    {
        var bytes = NullTerminated(name);
        fixed (byte* p = bytes)
        {
            return UnlinkAt(directory, p, directoryEntry ? AtRemoveDir : 0) == 0 ? 0 : Marshal.GetLastPInvokeError();
        }
    }

    /// <summary><c>renameat2</c> between two directory handles; returns errno (0 on success).</summary>
    public static int RenameAt(SafeFileHandle fromDirectory, ReadOnlySpan<byte> from, SafeFileHandle toDirectory, ReadOnlySpan<byte> to, bool noReplace)
    {
        var fromBytes = NullTerminated(from);
        var toBytes = NullTerminated(to);
        fixed (byte* f = fromBytes)
        fixed (byte* t = toBytes)
        {
            return RenameAt2(fromDirectory, f, toDirectory, t, noReplace ? RenameNoReplace : 0) == 0 ? 0 : Marshal.GetLastPInvokeError();
        }
    }

    /// <summary>
    /// The entries of an open directory (without <c>.</c> and <c>..</c>), at most <paramref name="limit"/>, as raw names
    /// with the type readdir reports (which the caller must confirm on a handle before trusting it).
    /// </summary>
    public static List<(byte[] Name, byte Type)> ReadDirectory(SafeFileHandle directory, int limit)
    {
        var dir = OpenDirStream(directory);
        try
        {
            return ReadDirStream(dir, limit);
        }
        finally
        {
            _ = CloseDir(dir);
        }
    }

    /// <summary>A directory stream on a dup of <paramref name="directory"/>, to read it repeatedly with <see cref="ReadDirStream"/>.</summary>
    public static nint OpenDirStream(SafeFileHandle directory)
    {
        var fd = Dup(directory);
        if (fd < 0)
        {
            throw Error("dup", "a directory handle");
        }
        var dir = FdOpenDir(fd);
        if (dir == 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            _ = Close(fd);
            throw new IOException($"fdopendir failed (errno {errno}).");
        }
        return dir;
    }

    public static void CloseDirStream(nint dir) => _ = CloseDir(dir);

    /// <summary>Reads a directory stream from its start (see <see cref="ReadDirectory"/>).</summary>
    public static List<(byte[] Name, byte Type)> ReadDirStream(nint dir, int limit)
    {
        var entries = new List<(byte[] Name, byte Type)>();
        // A dup shares the file offset with the original handle: start from the beginning every time.
        RewindDir(dir);
        while (entries.Count < limit)
        {
            var entry = (byte*)ReadDir(dir);
            if (entry is null)
            {
                break;
            }
            // struct dirent (glibc, 64-bit): d_ino u64, d_off i64, d_reclen u16, d_type u8, d_name[256].
            var type = entry[18];
            var name = new ReadOnlySpan<byte>(entry + 19, 256);
            name = name[..Math.Max(0, name.IndexOf((byte)0))];
            if (name is [(byte)'.'] or [(byte)'.', (byte)'.'])
            {
                continue;
            }
            entries.Add((name.ToArray(), type));
        }
        return entries;
    }

    /// <summary>SIGKILL to one host pid; false when it no longer exists.</summary>
    public static bool KillProcess(int pid) => Kill(pid, SigKill) == 0;

    private static byte[] NullTerminated(ReadOnlySpan<byte> name)
    {
        if (name.IndexOf((byte)0) >= 0)
        {
            throw new ArgumentException("A file name cannot contain NUL.", nameof(name));
        }
        var bytes = new byte[name.Length + 1];
        name.CopyTo(bytes);
        return bytes;
    }

    private static IOException Error(string call, string what) =>
        new($"{call} of {what} failed (errno {Marshal.GetLastPInvokeError()}).");

    /// <summary>
    /// How many tasks (threads, zombies included) run as <paramref name="uid"/>: what RLIMIT_NPROC counts. After a fork
    /// bomb the killed processes take a moment to be torn down and reaped and still count, so a kernel started for
    /// the uid at once could not fork.
    /// </summary>
    public static int CountTasks(int uid)
    {
        var wanted = uid.ToString(System.Globalization.CultureInfo.InvariantCulture);
        var tasks = 0;
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            var name = Path.GetFileName(dir);
            if (name.Length == 0 || !char.IsAsciiDigit(name[0]))
            {
                continue;
            }
            try
            {
                var ours = false;
                foreach (var line in File.ReadLines(Path.Combine(dir, "status")))
                {
                    if (line.StartsWith("Uid:", StringComparison.Ordinal))
                    {
                        ours = line.Split('\t', StringSplitOptions.RemoveEmptyEntries) is [_, var real, ..] && real == wanted;
                        if (!ours)
                        {
                            break;
                        }
                    }
                    else if (ours && line.StartsWith("Threads:", StringComparison.Ordinal))
                    {
                        tasks += int.TryParse(line.AsSpan(8).Trim(), out var n) ? n : 1;
                        break;
                    }
                }
            }
            catch (IOException)
            {
                // The process exited while being read.
            }
            catch (UnauthorizedAccessException)
            {
                // Not ours to read.
            }
        }
        return tasks;
    }
}
