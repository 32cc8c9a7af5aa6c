using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Threadloom.Core.Domain;
using Threadloom.Core.Storage;
using Threadloom.Core.Workers;
using Threadloom.Core.Storage.Blobs;

namespace Threadloom.Core.Ingestion;

/// <summary>The ingestion job queue's settings, section <c>IngestionWorker</c>; validated at startup.</summary>
public sealed class IngestionWorkerOptions
{
    public const string SectionName = "IngestionWorker";

    /// <summary>False leaves jobs queued (a node that only serves the API).</summary>
    public bool Enabled { get; init; } = true;

    /// <summary>
    /// Files one node ingests at the same time (issue #9 §2: no head-of-line blocking, one slow file never holds the
    /// queue). Each job runs on its own dedicated, niced thread and parses in its own worker process. Default 2.
    /// </summary>
    [Range(1, 16)]
    public int MaxConcurrentFiles { get; init; } = 2;

    /// <summary>Claims of one job before it is failed: a file that crashed the extraction worker or the node this many times is not claimed again. Default 2.</summary>
    [Range(1, 10)]
    public int MaxAttempts { get; init; } = 2;

    /// <summary>How long a claim holds without a heartbeat; a job whose lease lapsed is claimed again (ingestion is idempotent).</summary>
    [Range(typeof(TimeSpan), "00:00:01", "01:00:00")]
    public TimeSpan Lease { get; init; } = TimeSpan.FromMinutes(1);

    /// <summary>How often the worker looks for jobs without being signalled (lost signals, other nodes, lapsed leases).</summary>
    [Range(typeof(TimeSpan), "00:00:00.010", "00:10:00")]
    public TimeSpan SweepInterval { get; init; } = TimeSpan.FromSeconds(2);
}

/// <summary>
/// Ingests vector store files: claims <c>in_progress</c> rows with a lease, runs <see cref="FileIngestor"/>, and writes
/// <c>completed</c> (usage bytes) or <c>failed</c> (<c>last_error</c>) while it still holds the lease.
/// </summary>
/// <remarks>
/// Design notes (DESIGN §5, STYLE habit 7): the file row is written before the signal, so a lost signal or a restart
/// only delays a job; a job whose node died is claimed again once its lease lapses, and a node that stops gives its
/// jobs back. Unlike runs, a lapsed job is re-run rather than failed: <c>IChunkIndex.ReplaceFileAsync</c> makes
/// ingestion idempotent. A file that fails never affects the other files of its store. If the row was cancelled or
/// deleted while the file was being ingested, the chunks just written are removed again. The ingestor (and with it
/// the embedding model) is resolved on the first job, so a node without vector stores never loads the model.
/// </remarks>
public sealed partial class IngestionWorker(
    IVectorStoreStore stores,
    IIngestionJobQueue jobs,
    IFileStore files,
    IBlobStore blobs,
    IServiceProvider services,
    IWorkSignal signal,
    IngestionCancellations cancellations,
    IOptions<IngestionWorkerOptions> options,
    IOptions<IngestionOptions> budgets,
    TimeProvider time,
    ILogger<IngestionWorker> logger) : BackgroundService
{
    private readonly string _nodeId = $"{Environment.MachineName}-{Guid.NewGuid():N}";
    private readonly IngestionWorkerOptions _options = options.Value;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!_options.Enabled)
        {
            return;
        }
        using var slots = new SemaphoreSlim(_options.MaxConcurrentFiles, _options.MaxConcurrentFiles);
        // CPU-bound ingestion (chunking, the local embedding model) runs on these threads, never the request path's pool.
        using var threads = new DedicatedThreadScheduler(_options.MaxConcurrentFiles, "ingestion");
        var running = new List<Task>();
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await WorkSlots.FillAsync(slots, running,
                    () => jobs.ClaimNextAsync(_nodeId, time.GetUtcNow(), _options.Lease, stoppingToken),
                    claim =>
                    {
                        LogClaimed(claim.File.Id, claim.File.VectorStoreId, _nodeId, claim.Attempt);
                        return threads.Run(async () =>
                        {
                            await IngestOneAsync(claim, slots, stoppingToken);
                            return true;
                        });
                    },
                    stoppingToken);
                await signal.WaitAsync(WorkQueue.Ingestion, _options.SweepInterval, stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                break;
            }
            catch (Exception e)
            {
                LogLoopFailed(e);
                await Task.Delay(_options.SweepInterval, stoppingToken).ContinueWith(_ => { }, TaskScheduler.Default);
            }
        }
        await Task.WhenAll(running);
    }

    private async Task IngestOneAsync(IngestionClaim claim, SemaphoreSlim slots, CancellationToken stoppingToken)
    {
        var job = claim.File;
        await Task.Yield();
        using var jobCts = cancellations.Register(job.ProjectId, job.VectorStoreId, job.Id, stoppingToken);
        using var heartbeatCts = new CancellationTokenSource();
        var heartbeat = HeartbeatAsync(job, jobCts, heartbeatCts.Token);
        // Wall clock of the whole job (extraction, chunking, embedding, indexing).
        var budget = budgets.Value.MaxWallClockTime;
        jobCts.CancelAfter(budget);
        try
        {
            if (claim.Attempt > _options.MaxAttempts)
            {
                // Claimed again after crashing the node (or the worker) on every earlier attempt: fail it, do not retry.
                LogGaveUp(job.Id, job.VectorStoreId, claim.Attempt - 1);
                await jobs.CompleteAsync(Failed(job, IngestionErrorCodes.ServerError,
                    $"The file could not be processed: ingestion was interrupted {claim.Attempt - 1} times (IngestionWorker:MaxAttempts)."), _nodeId, CancellationToken.None);
                return;
            }
            var outcome = await IngestAsync(job, jobCts.Token);
            if (!await jobs.CompleteAsync(outcome, _nodeId, CancellationToken.None))
            {
                await DropIfGoneAsync(job);
                return;
            }
            LogIngested(job.Id, job.VectorStoreId, outcome.Status == VectorStoreFileStatus.Completed ? "completed" : "failed");
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            await jobs.ReleaseAsync(job.VectorStoreId, job.Id, _nodeId, CancellationToken.None);
        }
        catch (OperationCanceledException) when (jobCts.IsCancellationRequested)
        {
            // Deleted or cancelled (this node's registry or a failed lease renewal), or over its wall-clock budget.
            var current = await stores.FindFileAsync(job.ProjectId, job.VectorStoreId, job.Id, CancellationToken.None);
            if (current is { Status: VectorStoreFileStatus.InProgress })
            {
                LogOverBudget(job.Id, job.VectorStoreId, budget);
                await jobs.CompleteAsync(Failed(job, IngestionErrorCodes.InvalidFile,
                    $"Ingesting the file took longer than the {budget.TotalSeconds:0} s allowed (Ingestion:MaxWallClockTime)."), _nodeId, CancellationToken.None);
            }
            await DropIfGoneAsync(job);
        }
        catch (WorkerCrashedException e)
        {
            LogWorkerCrashed(e, job.Id, job.VectorStoreId, claim.Attempt);
            if (claim.Attempt < _options.MaxAttempts)
            {
                await jobs.ReleaseAsync(job.VectorStoreId, job.Id, _nodeId, CancellationToken.None, countAttempt: true);
            }
            else
            {
                await jobs.CompleteAsync(Failed(job, IngestionErrorCodes.ServerError,
                    $"The file could not be processed: it crashed the extraction worker {claim.Attempt} times (IngestionWorker:MaxAttempts)."), _nodeId, CancellationToken.None);
            }
        }
        catch (Exception e)
        {
            // Not retried: a file that crashes the pipeline would crash it again on every node.
            LogJobCrashed(e, job.Id, job.VectorStoreId);
            await jobs.CompleteAsync(Failed(job, IngestionErrorCodes.ServerError, "The server had an error while processing the file."), _nodeId, CancellationToken.None);
        }
        finally
        {
            cancellations.Unregister(job.ProjectId, job.VectorStoreId, job.Id, jobCts);
            await heartbeatCts.CancelAsync();
            await heartbeat;
            slots.Release();
            signal.WakeLocal(WorkQueue.Ingestion);
        }
    }

    /// <summary>Cancelled, deleted or taken over meanwhile: drop what was written unless the row still wants it.</summary>
    private async Task DropIfGoneAsync(VectorStoreFile job)
    {
        var current = await stores.FindFileAsync(job.ProjectId, job.VectorStoreId, job.Id, CancellationToken.None);
        if (current is null || current.Status == VectorStoreFileStatus.Cancelled)
        {
            await services.GetRequiredService<IChunkIndex>().DeleteFileAsync(job.ProjectId, job.VectorStoreId, job.Id, CancellationToken.None);
        }
    }

    private async Task<VectorStoreFile> IngestAsync(VectorStoreFile job, CancellationToken cancellationToken)
    {
        var file = await files.FindAsync(job.ProjectId, job.Id, cancellationToken);
        if (file is null)
        {
            return Failed(job, IngestionErrorCodes.InvalidFile, "The file was deleted.");
        }
        var ingestor = services.GetRequiredService<FileIngestor>();
        IngestionResult result;
        await using (var content = await blobs.OpenReadAsync(file.BlobKey, cancellationToken))
        {
            result = await ingestor.IngestAsync(new IngestionRequest(job.ProjectId, job.VectorStoreId, job.Id, file.Filename, content, job.ChunkingStrategy, job.Attributes),
                cancellationToken);
        }
        return result.Error is { } error
            ? Failed(job, error.Code, error.Message)
            : job with { Status = VectorStoreFileStatus.Completed, UsageBytes = result.UsageBytes, LastError = null };
    }

    private static VectorStoreFile Failed(VectorStoreFile job, string code, string message) =>
        job with { Status = VectorStoreFileStatus.Failed, UsageBytes = 0, LastError = new VectorStoreFileError(code, message) };

    private async Task HeartbeatAsync(VectorStoreFile job, CancellationTokenSource jobCts, CancellationToken cancellationToken)
    {
        // At most every 2 s: a failed renewal (the row was deleted or cancelled, maybe on another node) stops the job.
        var interval = _options.Lease / 3 < TimeSpan.FromSeconds(2) ? _options.Lease / 3 : TimeSpan.FromSeconds(2);
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(interval, time, cancellationToken);
                if (!await jobs.RenewLeaseAsync(job.VectorStoreId, job.Id, _nodeId, time.GetUtcNow() + _options.Lease, cancellationToken))
                {
                    await jobCts.CancelAsync();
                    return;
                }
            }
            catch (OperationCanceledException)
            {
                return;
            }
            catch (Exception e)
            {
                LogHeartbeatFailed(e, job.Id);
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "File {FileId} of {VectorStoreId} claimed by {NodeId} (attempt {Attempt})")]
    private partial void LogClaimed(string fileId, string vectorStoreId, string nodeId, int attempt);

    [LoggerMessage(Level = LogLevel.Warning, Message = "File {FileId} of {VectorStoreId} failed: interrupted on {Attempts} earlier attempts")]
    private partial void LogGaveUp(string fileId, string vectorStoreId, int attempts);

    [LoggerMessage(Level = LogLevel.Warning, Message = "File {FileId} of {VectorStoreId} failed: over its wall-clock budget of {Budget}")]
    private partial void LogOverBudget(string fileId, string vectorStoreId, TimeSpan budget);

    [LoggerMessage(Level = LogLevel.Warning, Message = "The extraction worker crashed on file {FileId} of {VectorStoreId} (attempt {Attempt})")]
    private partial void LogWorkerCrashed(Exception exception, string fileId, string vectorStoreId, int attempt);

    [LoggerMessage(Level = LogLevel.Information, Message = "File {FileId} of {VectorStoreId} ingested: {Status}")]
    private partial void LogIngested(string fileId, string vectorStoreId, string status);

    [LoggerMessage(Level = LogLevel.Error, Message = "The ingestion worker loop failed; retrying")]
    private partial void LogLoopFailed(Exception exception);

    [LoggerMessage(Level = LogLevel.Error, Message = "Ingesting file {FileId} of {VectorStoreId} crashed; the file is failed")]
    private partial void LogJobCrashed(Exception exception, string fileId, string vectorStoreId);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Heartbeat of ingestion job {FileId} failed")]
    private partial void LogHeartbeatFailed(Exception exception, string fileId);
}
