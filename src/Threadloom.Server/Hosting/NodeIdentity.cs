using System.Text;
using Threadloom.Core.Workers;

namespace Threadloom.Server.Hosting;

/// <summary>
/// This process's <see cref="LeaseHolder"/>: a node id that survives restarts, taken exclusively from the data folder,
/// and a new instance id per start.
/// </summary>
/// <remarks>
/// Design notes (issue #9 §5): the node id lives in <c>{data}/node/slot-N.id</c>, and the process holds that file
/// open with an exclusive lock for its whole life. The kernel drops the lock when the process dies, even by kill -9,
/// so the next start on the same data takes the same slot and id, and knows every lease naming that id but another
/// instance belongs to a dead life. A second live process on the same data finds slot 0 locked and takes the next
/// slot, with its own id, so it never mistakes a live neighbour for its own past. <c>Server:NodeId</c> overrides the
/// file (for nodes without a data folder of their own); it must then be unique among live nodes.
/// </remarks>
public sealed class NodeIdentity : IDisposable
{
    private const int MaxSlots = 64;
    private readonly FileStream? _lock;

    private NodeIdentity(LeaseHolder holder, FileStream? lockFile)
    {
        Holder = holder;
        _lock = lockFile;
    }

    public LeaseHolder Holder { get; }

    public static NodeIdentity Acquire(string dataDirectory, string? configuredNodeId)
    {
        if (!string.IsNullOrWhiteSpace(configuredNodeId))
        {
            return new NodeIdentity(new LeaseHolder(configuredNodeId.Trim(), LeaseHolder.NewInstanceId()), null);
        }
        var folder = Path.Combine(dataDirectory, "node");
        Directory.CreateDirectory(folder);
        for (var slot = 0; slot < MaxSlots; slot++)
        {
            FileStream file;
            try
            {
                // FileShare.None takes an exclusive advisory lock (flock) on Unix, held until the handle closes.
                file = new FileStream(Path.Combine(folder, $"slot-{slot}.id"), FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
            }
            catch (IOException)
            {
                continue;
            }
            try
            {
                return new NodeIdentity(new LeaseHolder(ReadOrCreateId(file), LeaseHolder.NewInstanceId()), file);
            }
            catch
            {
                file.Dispose();
                throw;
            }
        }
        throw new InvalidOperationException($"More than {MaxSlots} live processes share the data folder {dataDirectory}.");
    }

    private static string ReadOrCreateId(FileStream file)
    {
        var buffer = new byte[256];
        var length = file.Read(buffer);
        var id = Encoding.UTF8.GetString(buffer, 0, length).Trim();
        if (id.Length is > 0 and <= 200 && !id.Contains('/', StringComparison.Ordinal))
        {
            return id;
        }
        id = "node_" + Guid.NewGuid().ToString("N")[..16];
        file.SetLength(0);
        file.Write(Encoding.UTF8.GetBytes(id));
        file.Flush(flushToDisk: true);
        return id;
    }

    public void Dispose() => _lock?.Dispose();
}
