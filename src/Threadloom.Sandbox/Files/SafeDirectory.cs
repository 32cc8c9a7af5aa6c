using System.Security.Cryptography;
using System.Text;
using Microsoft.Win32.SafeHandles;

namespace Threadloom.Sandbox.Files;

/// <summary>
/// Host-side file operations inside a folder the sandbox can write to. Every call is relative to a directory handle,
/// opens with <c>O_NOFOLLOW|O_NONBLOCK</c>, checks the type on the open handle (regular file or directory only), never
/// leaves the folder, bounds every read and takes names as raw bytes.
/// </summary>
/// <remarks>Design notes: a path-based call (<c>File.Open</c>, <c>Directory.Delete</c>) resolves the path again at each
/// step, so a background process in the sandbox can swap a symbolic link, a FIFO or a folder in between; a name that is
/// not UTF-8 cannot even be expressed as a .NET path. Walking by handle removes both problems.</remarks>
internal static class SafeDirectory
{
    private const int ReadBatch = 4096;

    /// <summary>One regular file found by <see cref="Scan"/>: its path segments (raw bytes) and what statx said.</summary>
    public sealed record Entry(IReadOnlyList<byte[]> Segments, Native.FileStat Stat)
    {
        /// <summary>The path relative to the scanned folder, escaped (<see cref="FileNames.Escape"/>); unique per path.</summary>
        public string Key { get; } = string.Join('/', Segments.Select(s => FileNames.Escape(s)));
    }

    /// <summary>What a scan found: regular files, whether it stopped at the entry budget, and how many other entries it skipped (links, FIFOs, folders too deep).</summary>
    public sealed record ScanResult(IReadOnlyList<Entry> Files, bool Truncated, int SkippedSpecial);

    /// <summary>
    /// Lists the regular files under <paramref name="root"/> down to <paramref name="maxDepth"/> levels, looking at
    /// no more than <paramref name="maxEntries"/> entries in all. Links, FIFOs, sockets and devices are skipped, never
    /// opened. Each folder is reopened from the root by handle, so at most one folder handle per level is open.
    /// </summary>
    public static ScanResult Scan(SafeFileHandle root, int maxDepth, int maxEntries, nint rootStream = 0)
    {
        var files = new List<Entry>();
        var pending = new Stack<byte[][]>();
        pending.Push([]);
        var budget = maxEntries;
        var truncated = false;
        var special = 0;
        while (pending.Count > 0 && !truncated)
        {
            var segments = pending.Pop();
            using var opened = segments.Length == 0 ? null : OpenDirectory(root, segments);
            var directory = segments.Length == 0 ? root : opened;
            if (directory is null)
            {
                continue;
            }
            var listing = segments.Length == 0 && rootStream != 0
                ? Native.ReadDirStream(rootStream, budget + 1)
                : Native.ReadDirectory(directory, budget + 1);
            foreach (var (name, _) in listing)
            {
                if (--budget < 0)
                {
                    truncated = true;
                    break;
                }
                if (Native.TryStatAt(directory, name, out _) is not { } stat)
                {
                    continue;
                }
                byte[][] path = [.. segments, name];
                if (stat.IsRegularFile)
                {
                    files.Add(new Entry(path, stat));
                }
                else if (stat.IsDirectory)
                {
                    if (path.Length < maxDepth)
                    {
                        pending.Push(path);
                    }
                    else
                    {
                        special++;
                    }
                }
                else
                {
                    special++;
                }
            }
        }
        return new ScanResult(files, truncated, special);
    }

    /// <summary>
    /// Opens the regular file at <paramref name="segments"/> for reading, or null when it is gone, is not a regular
    /// file any more, or is not the inode <paramref name="expected"/> that was judged (it was swapped meanwhile).
    /// </summary>
    public static SafeFileHandle? OpenRegularFile(SafeFileHandle root, IReadOnlyList<byte[]> segments, Native.FileStat? expected)
    {
        using var parent = segments.Count > 1 ? OpenDirectory(root, segments.Take(segments.Count - 1).ToArray()) : null;
        var directory = segments.Count > 1 ? parent : root;
        if (directory is null)
        {
            return null;
        }
        var handle = Native.TryOpenAt(directory, segments[^1], Native.ORdOnly, 0, out _);
        if (handle is null)
        {
            return null;
        }
        var stat = Native.StatHandle(handle);
        if (!stat.IsRegularFile || (expected is { } e && (e.Inode != stat.Inode || e.Device != stat.Device)))
        {
            handle.Dispose();
            return null;
        }
        return handle;
    }

    /// <summary>Opens a folder below <paramref name="root"/> one segment at a time, never following a link.</summary>
    public static SafeFileHandle? OpenDirectory(SafeFileHandle root, IReadOnlyList<byte[]> segments)
    {
        SafeFileHandle? current = null;
        foreach (var segment in segments)
        {
            var next = Native.TryOpenAt(current ?? root, segment, Native.ORdOnly | Native.ODirectory, 0, out _);
            current?.Dispose();
            if (next is null)
            {
                return null;
            }
            current = next;
        }
        return current;
    }

    /// <summary>
    /// True when <paramref name="name"/> is a regular file of exactly <paramref name="length"/> bytes whose SHA-256 is
    /// <paramref name="hash"/>. Reads at most <paramref name="length"/> + 1 bytes, so a file that grows while it is read
    /// (or anything that is not a regular file) is simply "different".
    /// </summary>
    public static async Task<bool> HasContentAsync(SafeFileHandle directory, string name, long length, byte[] hash, CancellationToken cancellationToken)
    {
        using var handle = Native.TryOpenAt(directory, Encoding.UTF8.GetBytes(name), Native.ORdOnly, 0, out _);
        if (handle is null)
        {
            return false;
        }
        var stat = Native.StatHandle(handle);
        if (!stat.IsRegularFile || stat.Size != length)
        {
            return false;
        }
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var buffer = new byte[81920];
        long offset = 0;
        while (offset <= length)
        {
            var read = await RandomAccess.ReadAsync(handle, buffer.AsMemory(0, (int)Math.Min(buffer.Length, length + 1 - offset)), offset, cancellationToken);
            if (read == 0)
            {
                break;
            }
            sha.AppendData(buffer, 0, read);
            offset += read;
        }
        return offset == length && sha.GetHashAndReset().AsSpan().SequenceEqual(hash);
    }

    /// <summary>
    /// Deletes <paramref name="name"/> in <paramref name="parent"/> and everything below it, whatever the sandbox
    /// planted: names that are not UTF-8, read-only folders, FIFOs, links (removed, never followed), and trees of any
    /// depth. Returns false when something could not be removed within the pass budget (it is left in place).
    /// </summary>
    public static bool DeleteTree(SafeFileHandle parent, byte[] name)
    {
        if (Native.TryStatAt(parent, name, out _) is not { } stat)
        {
            return true;
        }
        if (!stat.IsDirectory)
        {
            return Native.UnlinkAt(parent, name, directoryEntry: false) is 0 or Native.ENoEnt;
        }
        using (var directory = Native.TryOpenAt(parent, name, Native.ORdOnly | Native.ODirectory, 0, out _))
        {
            if (directory is not null)
            {
                Native.MakeOwnerWritable(directory);
                if (!DeleteContents(directory))
                {
                    return false;
                }
            }
        }
        return Native.UnlinkAt(parent, name, directoryEntry: true) is 0 or Native.ENoEnt;
    }

    /// <summary>
    /// Empties <paramref name="directory"/>. A sub-folder is emptied by moving its own sub-folders up into
    /// <paramref name="directory"/> (a rename within one file system) and unlinking the rest, so any depth needs no more
    /// than two open handles and each entry is handled a bounded number of times: linear in the size of the tree. Gives
    /// up (false) after <paramref name="maxOperations"/> entries, which only a writer still running inside can reach.
    /// </summary>
    public static bool DeleteContents(SafeFileHandle directory, long maxOperations = 50_000_000)
    {
        long moved = 0;
        long operations = 0;
        var queue = new Queue<byte[]>();
        while (operations < maxOperations)
        {
            if (queue.Count == 0)
            {
                foreach (var (name, _) in Native.ReadDirectory(directory, ReadBatch))
                {
                    queue.Enqueue(name);
                }
                if (queue.Count == 0)
                {
                    return true;
                }
            }
            var entry = queue.Dequeue();
            operations++;
            if (Native.TryStatAt(directory, entry, out _) is not { } stat)
            {
                continue;
            }
            if (!stat.IsDirectory)
            {
                _ = Native.UnlinkAt(directory, entry, directoryEntry: false);
                continue;
            }
            if (Native.UnlinkAt(directory, entry, directoryEntry: true) == 0)
            {
                continue;
            }
            using var child = Native.TryOpenAt(directory, entry, Native.ORdOnly | Native.ODirectory, 0, out _);
            if (child is null)
            {
                continue;
            }
            Native.MakeOwnerWritable(child);
            var grandchildren = Native.ReadDirectory(child, ReadBatch);
            foreach (var (grandchild, _) in grandchildren)
            {
                operations++;
                if (Native.TryStatAt(child, grandchild, out _) is { IsDirectory: true })
                {
                    // Flatten: the sub-folder comes up one level under a fresh name and is emptied in its turn.
                    while (true)
                    {
                        var target = Encoding.ASCII.GetBytes(".tl-del-" + moved++.ToString(System.Globalization.CultureInfo.InvariantCulture));
                        var error = Native.RenameAt(child, grandchild, directory, target, noReplace: true);
                        if (error == 0)
                        {
                            queue.Enqueue(target);
                        }
                        if (error != Native.EExist)
                        {
                            break;
                        }
                    }
                }
                else
                {
                    _ = Native.UnlinkAt(child, grandchild, directoryEntry: false);
                }
            }
            if (Native.UnlinkAt(directory, entry, directoryEntry: true) != 0 && grandchildren.Count > 0)
            {
                // More than one batch of entries, or a writer inside: come back to it (only while it makes progress).
                queue.Enqueue(entry);
            }
        }
        return Native.ReadDirectory(directory, 1).Count == 0;
    }
}
