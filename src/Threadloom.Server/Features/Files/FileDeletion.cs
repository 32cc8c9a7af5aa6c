using Threadloom.Core.Ingestion;
using Threadloom.Core.Domain;
using Threadloom.Core.Storage;

namespace Threadloom.Server.Features.Files;

/// <summary>
/// Deletes a file everywhere it lives: its row, its place in every vector store and their chunk indexes, and, later,
/// its blob: the collector removes it once no file row references it past its grace period (issue #9 §3). Used by <c>DELETE /files/{id}</c> and by the expiry sweep.
/// </summary>
public sealed class FileDeletion(IFileStore files, IVectorStoreStore vectorStores, IChunkIndex index, IngestionCancellations ingestion)
{
    /// <summary>False when the file was already gone.</summary>
    public async Task<bool> DeleteAsync(StoredFile file, CancellationToken cancellationToken)
    {
        if (!await files.DeleteAsync(file.ProjectId, file.Id, cancellationToken))
        {
            return false;
        }
        // Its running ingestion jobs on this node stop now (other nodes stop at their next heartbeat).
        ingestion.CancelFile(file.ProjectId, null, file.Id);
        // A deleted file leaves every vector store it was in (DIGEST §6.6).
        foreach (var vectorStoreId in await vectorStores.RemoveFileEverywhereAsync(file.ProjectId, file.Id, CancellationToken.None))
        {
            await index.DeleteFileAsync(file.ProjectId, vectorStoreId, file.Id, CancellationToken.None);
        }
        return true;
    }
}
