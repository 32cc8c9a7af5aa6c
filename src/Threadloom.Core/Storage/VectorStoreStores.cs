using Threadloom.Core.Domain;

namespace Threadloom.Core.Storage;

/// <summary>What a vector store looks like now: the row plus what its files say (counts, usage).</summary>
public sealed record VectorStoreState(VectorStore Store, VectorStoreFileCounts Counts, long UsageBytes);

/// <summary>
/// Vector stores, their files and file batches (DESIGN §5). Every method is scoped by project. The file rows are also
/// the ingestion job queue, which <see cref="IIngestionJobQueue"/> works on.
/// </summary>
public interface IVectorStoreStore
{
    /// <summary>Writes the store, its initial files and an optional batch in one transaction.</summary>
    Task CreateAsync(VectorStore store, IReadOnlyList<VectorStoreFile> files, CancellationToken cancellationToken);

    Task<VectorStoreState?> FindAsync(string projectId, string id, CancellationToken cancellationToken);

    Task<Page<VectorStoreState>> ListAsync(string projectId, PageRequest page, CancellationToken cancellationToken);

    Task<bool> UpdateAsync(VectorStore store, CancellationToken cancellationToken);

    /// <summary>Deletes the store with its file rows and batches (not its chunks: the caller deletes those).</summary>
    Task<bool> DeleteAsync(string projectId, string id, CancellationToken cancellationToken);

    /// <summary>Adds or re-queues files (an existing row of the same file is replaced and ingested again), optionally with a batch.</summary>
    Task AddFilesAsync(IReadOnlyList<VectorStoreFile> files, VectorStoreFileBatch? batch, CancellationToken cancellationToken);

    Task<VectorStoreFile?> FindFileAsync(string projectId, string vectorStoreId, string fileId, CancellationToken cancellationToken);

    /// <summary>Files of a store, or of one batch of it, optionally with one status.</summary>
    Task<Page<VectorStoreFile>> ListFilesAsync(string projectId, string vectorStoreId, string? batchId, VectorStoreFileStatus? status, PageRequest page, CancellationToken cancellationToken);

    /// <summary>Replaces the document of a file row (attributes), keeping status and lease.</summary>
    Task<bool> UpdateFileAsync(VectorStoreFile file, CancellationToken cancellationToken);

    Task<bool> DeleteFileAsync(string projectId, string vectorStoreId, string fileId, CancellationToken cancellationToken);

    /// <summary>Removes the file from every vector store of the project; returns the stores it was in.</summary>
    Task<IReadOnlyList<string>> RemoveFileEverywhereAsync(string projectId, string fileId, CancellationToken cancellationToken);

    Task<VectorStoreFileBatch?> FindBatchAsync(string projectId, string vectorStoreId, string batchId, CancellationToken cancellationToken);

    Task<VectorStoreFileCounts> CountBatchAsync(string vectorStoreId, string batchId, CancellationToken cancellationToken);

    /// <summary>Marks the batch cancelled and cancels its files that are still in progress.</summary>
    Task<bool> CancelBatchAsync(string projectId, string vectorStoreId, string batchId, CancellationToken cancellationToken);

    /// <summary>Marks the stores used now (for <c>last_active_at</c> and expiry); expired stores are left as they are.</summary>
    Task TouchAsync(string projectId, IReadOnlyCollection<string> ids, DateTimeOffset now, CancellationToken cancellationToken);
}

/// <summary>
/// The ingestion job queue over the vector store file rows: a row <c>in_progress</c> is a job; a worker leases it
/// (<c>locked_by</c>, <c>locked_until</c>) and writes the outcome only while it still holds the lease and the row is
/// still <c>in_progress</c>. A claim is one atomic statement in every dialect, so two workers (or two nodes) never
/// hold the same job at once.
/// </summary>
public interface IIngestionJobQueue
{
    /// <summary>
    /// Leases the oldest in-progress file that nobody holds, or whose holder's lease lapsed (a dead node's job is re-run:
    /// ingestion is idempotent), and counts the attempt: <see cref="IngestionClaim.Attempt"/> is 1 on the first claim,
    /// 2 after a crash or a lapsed lease, and so on (issue #9 §2: the caller fails a job past its attempts).
    /// </summary>
    Task<IngestionClaim?> ClaimNextAsync(string nodeId, DateTimeOffset now, TimeSpan lease, CancellationToken cancellationToken);

    /// <summary>Extends the lease; false when <paramref name="nodeId"/> no longer holds an in-progress row.</summary>
    Task<bool> RenewLeaseAsync(string vectorStoreId, string fileId, string nodeId, DateTimeOffset lockedUntil, CancellationToken cancellationToken);

    /// <summary>Writes the outcome (completed or failed) if <paramref name="nodeId"/> still holds the row in progress.</summary>
    Task<bool> CompleteAsync(VectorStoreFile file, string nodeId, CancellationToken cancellationToken);

    /// <summary>
    /// Gives a job back so another worker takes it at once. <paramref name="countAttempt"/> false (the node stops: not
    /// the file's fault) takes the claim's attempt back; true (the extraction worker crashed) keeps it counted.
    /// </summary>
    Task ReleaseAsync(string vectorStoreId, string fileId, string nodeId, CancellationToken cancellationToken, bool countAttempt = false);
}

/// <summary>A claimed ingestion job and which attempt at it this is (1-based).</summary>
public sealed record IngestionClaim(VectorStoreFile File, int Attempt);
