using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Threadloom.Core.Storage.Blobs;

/// <summary>
/// Removes blobs nothing references once their grace period has passed, and, at startup, the partial writes a crash
/// left behind.
/// </summary>
/// <remarks>
/// Design notes (issue #9 §3): this is the only place blobs are deleted. A request's error path and a file's
/// deletion leave the bytes alone, so two uploads of the same content, or an upload racing a delete, can never take
/// bytes from under a row that is about to commit. The grace period bounds how long an upload may take between its
/// blob write and its row commit; orphans cost disk only until the next sweep after it.
/// </remarks>
public sealed partial class BlobCollector(IBlobStore blobs, IOptions<StorageOptions> options, TimeProvider time, ILogger<BlobCollector> logger) : BackgroundService
{
    /// <summary>Clears partial writes and logs what was cleared; the host calls it once at startup, before serving.</summary>
    public async Task ClearPartialWritesAsync(CancellationToken cancellationToken)
    {
        var cleared = await blobs.ClearPartialWritesAsync(cancellationToken);
        if (cleared.Count > 0)
        {
            LogPartialWritesCleared(cleared.Count, cleared.Bytes);
        }
    }

    /// <summary>One sweep: deletes unreferenced blobs held before now minus the grace period.</summary>
    public async Task<BlobSweep> CollectOnceAsync(CancellationToken cancellationToken)
    {
        var swept = await blobs.CollectAsync(time.GetUtcNow() - options.Value.BlobGracePeriod, cancellationToken);
        if (swept.Count > 0)
        {
            LogCollected(swept.Count, swept.Bytes);
        }
        return swept;
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(options.Value.BlobSweepInterval, time, stoppingToken);
                await CollectOnceAsync(stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                LogSweepFailed(e);
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Cleared {Count} partial blob writes ({Bytes} bytes) left by an interrupted upload")]
    private partial void LogPartialWritesCleared(int count, long bytes);

    [LoggerMessage(Level = LogLevel.Information, Message = "Collected {Count} unreferenced blobs ({Bytes} bytes)")]
    private partial void LogCollected(int count, long bytes);

    [LoggerMessage(Level = LogLevel.Error, Message = "Blob sweep failed; it is tried again at the next interval")]
    private partial void LogSweepFailed(Exception exception);
}
