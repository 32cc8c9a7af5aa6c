using System.Collections.Concurrent;

namespace Threadloom.Core.Ingestion;

/// <summary>
/// The ingestion jobs running on this node, so deleting a file or a vector store cancels its job at once (issue #9
/// §2). Jobs on other nodes see the deletion at their next heartbeat (the lease renewal fails) and stop too.
/// </summary>
public sealed class IngestionCancellations
{
    private readonly ConcurrentDictionary<(string ProjectId, string VectorStoreId, string FileId), CancellationTokenSource> _running = new();

    public CancellationTokenSource Register(string projectId, string vectorStoreId, string fileId, CancellationToken stopping)
    {
        var cts = CancellationTokenSource.CreateLinkedTokenSource(stopping);
        _running[(projectId, vectorStoreId, fileId)] = cts;
        return cts;
    }

    public void Unregister(string projectId, string vectorStoreId, string fileId, CancellationTokenSource cts) =>
        _running.TryRemove(new KeyValuePair<(string, string, string), CancellationTokenSource>((projectId, vectorStoreId, fileId), cts));

    /// <summary>Cancels the job of <paramref name="fileId"/> in one store, or in every store when <paramref name="vectorStoreId"/> is null.</summary>
    public int CancelFile(string projectId, string? vectorStoreId, string fileId) =>
        Cancel(k => k.ProjectId == projectId && k.FileId == fileId && (vectorStoreId is null || k.VectorStoreId == vectorStoreId));

    public int CancelStore(string projectId, string vectorStoreId) =>
        Cancel(k => k.ProjectId == projectId && k.VectorStoreId == vectorStoreId);

    private int Cancel(Func<(string ProjectId, string VectorStoreId, string FileId), bool> match)
    {
        var count = 0;
        foreach (var (key, cts) in _running)
        {
            if (match(key))
            {
                try
                {
                    cts.Cancel();
                    count++;
                }
                catch (ObjectDisposedException)
                {
                    // Finished meanwhile.
                }
            }
        }
        return count;
    }
}
