using Microsoft.Extensions.Options;
using Threadloom.Core.Domain;
using Threadloom.Core.Storage;

namespace Threadloom.Server.Features.Files;

/// <summary>
/// Collects what has expired: files past their <c>expires_after</c> (row, vector store entries, bytes) and pending
/// uploads past their hour (staged parts). Readers already treat both as gone; this reclaims the space.
/// </summary>
/// <remarks>Design notes: each pass takes a bounded batch and loops while batches come back full, so a backlog is
/// worked off without one long transaction; one failing item is logged and does not stop the others.</remarks>
internal sealed partial class ExpirySweeper(
    IFileStore files,
    FileDeletion deletion,
    IUploadStore uploads,
    IUploadPartStore parts,
    TimeProvider time,
    IOptions<FilesOptions> options,
    ILogger<ExpirySweeper> logger) : BackgroundService
{
    private const int Batch = 100;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(options.Value.ExpirySweepInterval, time);
        do
        {
            try
            {
                await SweepAsync(stoppingToken);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                LogSweepFailed(e);
            }
        }
        while (await timer.WaitForNextTickAsync(stoppingToken));
    }

    internal async Task SweepAsync(CancellationToken cancellationToken)
    {
        IReadOnlyList<StoredFile> expiredFiles;
        do
        {
            expiredFiles = await files.ListExpiredAsync(time.GetUtcNow(), Batch, cancellationToken);
            foreach (var file in expiredFiles)
            {
                await deletion.DeleteAsync(file, cancellationToken);
                LogFileExpired(file.Id);
            }
        }
        while (expiredFiles.Count == Batch);

        IReadOnlyList<Upload> expiredUploads;
        do
        {
            expiredUploads = await uploads.ListExpiredAsync(time.GetUtcNow(), Batch, cancellationToken);
            foreach (var upload in expiredUploads)
            {
                if (await uploads.TryEndAsync(upload.ProjectId, upload.Id, UploadStatus.Expired, cancellationToken))
                {
                    await parts.DeleteAllAsync(upload.Id, cancellationToken);
                    await uploads.DeletePartsAsync(upload.Id, cancellationToken);
                }
            }
        }
        while (expiredUploads.Count == Batch);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "File {FileId} expired and was deleted")]
    private partial void LogFileExpired(string fileId);

    [LoggerMessage(Level = LogLevel.Error, Message = "The expiry sweep failed; it runs again at the next interval")]
    private partial void LogSweepFailed(Exception exception);
}
