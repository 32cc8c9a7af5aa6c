using System.Security.Cryptography;
using System.Text;
using Microsoft.Win32.SafeHandles;
using Threadloom.Core.Tools.CodeInterpreter;

namespace Threadloom.Sandbox.Files;

/// <summary>
/// One session's host folder, <c>sessions/&lt;id&gt;/</c> (root-owned, <c>0711</c>), with <c>data/</c> bound at
/// <c>/mnt/data</c> and <c>figures/</c> bound at <c>/opt/threadloom/figures</c>, both owned by the session's host uid.
/// The host holds a directory handle on each for the session's life and reaches their content only through
/// <see cref="SafeDirectory"/>.
/// </summary>
/// <remarks>Design notes: the sandbox cannot rename or replace <c>data/</c> or <c>figures/</c> themselves (they are
/// mount points inside, and their parent is root's), so the handles opened at creation always name the session's
/// folders. What the host believes is in <c>data/</c> (<see cref="TakeChanges"/>) comes from its own scans, never from
/// the kernel.</remarks>
internal sealed class SessionFolder : IDisposable
{
    public const string InputTempPrefix = ".tl-in-";
    private const UnixFileMode Private = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
    private readonly Dictionary<string, Native.FileStat> _known = new(StringComparer.Ordinal);
    private readonly string _sessionsPath;
    private readonly byte[] _name;

    private SessionFolder(string sessionsPath, string name, int uid, SafeFileHandle data, SafeFileHandle figures)
    {
        _sessionsPath = sessionsPath;
        _name = Encoding.ASCII.GetBytes(name);
        Root = Path.Combine(sessionsPath, name);
        Uid = uid;
        Data = data;
        Figures = figures;
        // Kept open for the session: rereading a held stream costs a rewind and a getdents, not a dup, an fdopendir
        // and a close on every execution.
        DataStream = Native.OpenDirStream(data);
        FiguresStream = Native.OpenDirStream(figures);
    }

    public string Root { get; }
    public string DataPath => Path.Combine(Root, "data");
    public string FiguresPath => Path.Combine(Root, "figures");
    public int Uid { get; }
    public SafeFileHandle Data { get; }
    public SafeFileHandle Figures { get; }

    /// <summary>Directory streams held on <see cref="Data"/> and <see cref="Figures"/> (see <see cref="Native.ReadDirStream"/>).</summary>
    public nint DataStream { get; private set; }
    public nint FiguresStream { get; private set; }

    /// <summary>Bytes of output files returned from this session so far (for <see cref="CodeInterpreterOptions.MaxOutputSessionBytes"/>).</summary>
    public long ReturnedBytes { get; set; }

    public static SessionFolder Create(SandboxLayout layout, int uid)
    {
        var name = Guid.NewGuid().ToString("N");
        var root = Path.Combine(layout.Sessions, name);
        Directory.CreateDirectory(root, SandboxLayout.Traverse);
        File.SetUnixFileMode(root, SandboxLayout.Traverse);
        SafeFileHandle? data = null;
        try
        {
            data = CreateOwned(Path.Combine(root, "data"), uid);
            var figures = CreateOwned(Path.Combine(root, "figures"), uid);
            return new SessionFolder(layout.Sessions, name, uid, data, figures);
        }
        catch
        {
            data?.Dispose();
            using var sessions = Native.OpenDirectoryPath(layout.Sessions);
            SafeDirectory.DeleteTree(sessions, Encoding.ASCII.GetBytes(name));
            throw;
        }
    }

    private static SafeFileHandle CreateOwned(string path, int uid)
    {
        Directory.CreateDirectory(path, Private);
        var handle = Native.OpenDirectoryPath(path);
        Native.ChownHandle(handle, uid);
        return handle;
    }

    /// <summary>
    /// Puts <paramref name="file"/> at <c>/mnt/data/&lt;name&gt;</c> unless a regular file with the same content is
    /// already there. The content is written under a random name (<c>O_CREAT|O_EXCL|O_NOFOLLOW</c>) and renamed over
    /// the target, which replaces whatever the sandbox put there (a link, a FIFO, a folder) without following it.
    /// </summary>
    /// <exception cref="ArgumentException">The name is not a single plain path segment.</exception>
    public async Task PlaceAsync(SandboxInputFile file, CancellationToken cancellationToken)
    {
        var name = file.FileName;
        if (string.IsNullOrWhiteSpace(name) || name is "." or ".." || name.Contains('/', StringComparison.Ordinal)
            || name.StartsWith(InputTempPrefix, StringComparison.Ordinal) || FileNames.AsPlainName(Encoding.UTF8.GetBytes(name)) != name
            || Encoding.UTF8.GetByteCount(name) > 255)
        {
            throw new ArgumentException($"The input file name '{FileNames.Escape(Encoding.UTF8.GetBytes(name))}' is not a plain file name.", nameof(file));
        }
        var target = Encoding.UTF8.GetBytes(name);
        var temp = Encoding.ASCII.GetBytes(InputTempPrefix + Guid.NewGuid().ToString("N"));
        byte[] hash;
        long length;
        using (var handle = Native.TryOpenAt(Data, temp, Native.OWrOnly | Native.OCreat | Native.OExcl, 0x1A4, out var errno)
            ?? throw new IOException($"The input file could not be created in the session folder (errno {errno})."))
        {
            try
            {
                using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
                await using var source = await file.OpenAsync(cancellationToken);
                var buffer = new byte[81920];
                long offset = 0;
                int read;
                while ((read = await source.ReadAsync(buffer, cancellationToken)) > 0)
                {
                    sha.AppendData(buffer, 0, read);
                    await RandomAccess.WriteAsync(handle, buffer.AsMemory(0, read), offset, cancellationToken);
                    offset += read;
                }
                length = offset;
                hash = sha.GetHashAndReset();
                Native.ChownHandle(handle, Uid);
            }
            catch
            {
                Native.UnlinkAt(Data, temp, directoryEntry: false);
                throw;
            }
        }
        if (await SafeDirectory.HasContentAsync(Data, name, length, hash, cancellationToken))
        {
            Native.UnlinkAt(Data, temp, directoryEntry: false);
            Remember(target);
            return;
        }
        var error = Native.RenameAt(Data, temp, Data, target, noReplace: false);
        if (error is Native.EIsDir or Native.ENotEmpty or Native.EExist)
        {
            // The code made a folder at the input's name: the input's name wins (the folder is removed).
            SafeDirectory.DeleteTree(Data, target);
            error = Native.RenameAt(Data, temp, Data, target, noReplace: false);
        }
        if (error != 0)
        {
            Native.UnlinkAt(Data, temp, directoryEntry: false);
            throw new IOException($"The input file {name} could not be placed in the session folder (errno {error}).");
        }
        Remember(target);
    }

    /// <summary>Scans <c>data/</c> (bounded) and returns the regular files that are new or changed since the last call.</summary>
    public (IReadOnlyList<SafeDirectory.Entry> Changed, SafeDirectory.ScanResult Scan) TakeChanges(int maxDepth, int maxEntries)
    {
        var scan = SafeDirectory.Scan(Data, maxDepth, maxEntries, DataStream);
        var changed = new List<SafeDirectory.Entry>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var entry in scan.Files)
        {
            if (entry.Segments[0].AsSpan().StartsWith(Encoding.ASCII.GetBytes(InputTempPrefix)))
            {
                continue;
            }
            seen.Add(entry.Key);
            if (!_known.TryGetValue(entry.Key, out var before) || before != entry.Stat)
            {
                changed.Add(entry);
            }
            _known[entry.Key] = entry.Stat;
        }
        if (!scan.Truncated)
        {
            foreach (var gone in _known.Keys.Where(k => !seen.Contains(k)).ToList())
            {
                _known.Remove(gone);
            }
        }
        return (changed, scan);
    }

    private void Remember(byte[] name)
    {
        if (Native.TryStatAt(Data, name, out _) is { IsRegularFile: true } stat)
        {
            _known[FileNames.Escape(name)] = stat;
        }
    }

    /// <summary>Removes everything the last execution left in <c>figures/</c>.</summary>
    public void ClearFigures() => SafeDirectory.DeleteContents(Figures, maxOperations: 100_000);

    /// <summary>Deletes the whole session folder (the kernel must be dead). False when something was left behind.</summary>
    public bool Delete()
    {
        Dispose();
        try
        {
            using var sessions = Native.OpenDirectoryPath(_sessionsPath);
            return SafeDirectory.DeleteTree(sessions, _name);
        }
        catch (IOException)
        {
            return false;
        }
    }

    public void Dispose()
    {
        if (DataStream != 0)
        {
            Native.CloseDirStream(DataStream);
            DataStream = 0;
        }
        if (FiguresStream != 0)
        {
            Native.CloseDirStream(FiguresStream);
            FiguresStream = 0;
        }
        Data.Dispose();
        Figures.Dispose();
    }
}
