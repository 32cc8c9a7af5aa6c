using System.Security.Cryptography;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Extensions.Options;
using Microsoft.Net.Http.Headers;
using Threadloom.Core.Domain;
using Threadloom.Core.Storage;
using Threadloom.Core.Storage.Blobs;
using Threadloom.Server.Features.Files;
using Threadloom.Server.Http;

namespace Threadloom.Server.Features.Uploads;

/// <summary>
/// Multipart uploads: create, add parts, complete into one file, cancel (DIGEST §4.6).
/// </summary>
/// <remarks>
/// Design notes: each part streams to its own staged file as it arrives (memory stays flat), and its row is added
/// only if the parts stay within the declared bytes. Completing reads the named parts in order, once, straight into
/// the content-addressed blob store, which hashes as it writes; the MD5 a client may send is computed in the same
/// pass. The file row and the upload's <c>completed</c> status commit in one transaction, then the staged parts go.
/// </remarks>
public static class UploadEndpoints
{
    private static readonly string[] Purposes = ["assistants", "batch", "fine-tune", "vision"];

    public static RouteGroupBuilder MapUploadEndpoints(this RouteGroupBuilder api)
    {
        var uploads = api.MapGroup("/uploads").WithTags("Uploads");
        uploads.MapPost("/", CreateAsync).WithName("createUpload");
        uploads.MapPost("/{uploadId}/parts", AddPartAsync).WithName("addUploadPart").DisableAntiforgery();
        uploads.MapPost("/{uploadId}/complete", CompleteAsync).WithName("completeUpload");
        uploads.MapPost("/{uploadId}/cancel", CancelAsync).WithName("cancelUpload");
        return api;
    }

    internal static async Task<Ok<UploadObject>> CreateAsync(
        HttpContext http, ApiCaller caller, IUploadStore uploads, IIdGenerator ids, TimeProvider time, IOptions<FilesOptions> options, CancellationToken cancellationToken)
    {
        var request = await RequestBody.ReadAsync(http, ApiJsonContext.Default.CreateUploadRequest);
        if (string.IsNullOrEmpty(request.Filename))
        {
            throw ApiErrors.MissingParameter("filename");
        }
        Validate.MaxLength(request.Filename, "filename", 512);
        var purpose = request.Purpose ?? throw ApiErrors.MissingParameter("purpose");
        if (!Purposes.Contains(purpose))
        {
            throw ApiErrors.InvalidRequest($"Invalid value: '{purpose}'. Supported values are: {string.Join(", ", Purposes.Select(p => $"'{p}'"))}.", "purpose", "invalid_value");
        }
        var bytes = request.Bytes ?? throw ApiErrors.MissingParameter("bytes");
        var limit = options.Value.MaxUploadBytes;
        if (bytes < 0 || bytes > limit)
        {
            throw ApiErrors.InvalidRequest($"Invalid 'bytes': expected an integer between 0 and {limit}, but got {bytes} instead.", "bytes",
                bytes < 0 ? "integer_below_min_value" : "integer_above_max_value");
        }
        if (string.IsNullOrEmpty(request.MimeType))
        {
            throw ApiErrors.MissingParameter("mime_type");
        }
        Validate.MaxLength(request.MimeType, "mime_type", 256);
        var fileExpiresAfter = FileExpiry.Parse(request.ExpiresAfter?.Anchor, request.ExpiresAfter?.Seconds, request.ExpiresAfter is not null);
        var now = time.GetUtcNow();
        var upload = new Upload(ids.NewId(Ids.Upload), caller.ProjectId, now, FileEndpoints.SafeFileName(request.Filename), purpose, bytes,
            request.MimeType, UploadStatus.Pending, now + options.Value.UploadLifetime, fileExpiresAfter);
        await uploads.CreateAsync(upload, cancellationToken);
        return TypedResults.Ok(upload.ToObject(now, null));
    }

    internal static async Task<Ok<UploadPartObject>> AddPartAsync(
        string uploadId, HttpContext http, ApiCaller caller, IUploadStore uploads, IUploadPartStore parts, IIdGenerator ids, TimeProvider time,
        IOptions<FilesOptions> options, CancellationToken cancellationToken)
    {
        var upload = await FindPendingAsync(uploads, caller, uploadId, time, cancellationToken);
        var partLimit = options.Value.MaxUploadPartBytes;
        var boundary = FormField.Boundary(http, partLimit, "The request must be multipart/form-data with a 'data' field.", "data");
        var partId = ids.NewId(Ids.UploadPart);
        long? length = null;
        var recorded = false;
        try
        {
            var reader = new MultipartReader(boundary, http.Request.Body);
            while (await reader.ReadNextSectionAsync(cancellationToken) is { } section)
            {
                var name = ContentDispositionHeaderValue.TryParse(section.ContentDisposition, out var disposition)
                    ? HeaderUtilities.RemoveQuotes(disposition.Name).Value
                    : null;
                if (name != "data" || length is not null)
                {
                    throw ApiErrors.InvalidRequest($"Unknown parameter: '{name}'.", name, "unknown_parameter");
                }
                length = await parts.WriteAsync(upload.Id, partId, section.Body, partLimit, cancellationToken);
            }
            if (length is not { } partBytes)
            {
                throw ApiErrors.MissingParameter("data");
            }
            var part = new UploadPart(partId, upload.Id, time.GetUtcNow(), partBytes);
            if (!await uploads.TryAddPartAsync(part, upload.Bytes, cancellationToken))
            {
                // Re-read to say why: the upload ended meanwhile, or the parts would pass the declared size.
                var current = await uploads.FindAsync(caller.ProjectId, upload.Id, cancellationToken);
                if (current?.StatusAt(time.GetUtcNow()) is { } status && status != UploadStatus.Pending)
                {
                    throw NotPending(upload.Id, status);
                }
                throw ApiErrors.InvalidRequest(
                    $"Adding this part ({partBytes} bytes) would exceed the {upload.Bytes} bytes declared for upload {upload.Id}.", "data", "invalid_value");
            }
            recorded = true;
            return TypedResults.Ok(new UploadPartObject(part.Id, part.CreatedAt.ToUnixTimeSeconds(), upload.Id));
        }
        catch (BlobTooLargeException)
        {
            throw ApiErrors.InvalidRequest($"The part is larger than the limit of {partLimit} bytes.", "data", "file_too_large");
        }
        catch (IOException) when (http.RequestAborted.IsCancellationRequested)
        {
            throw new OperationCanceledException(http.RequestAborted);
        }
        catch (InvalidDataException e)
        {
            throw ApiErrors.InvalidRequest($"The multipart body could not be read: {e.Message}", "data");
        }
        finally
        {
            if (!recorded && length is not null)
            {
                await parts.DeleteAsync(upload.Id, partId, CancellationToken.None);
            }
        }
    }

    internal static async Task<Ok<UploadObject>> CompleteAsync(
        string uploadId, HttpContext http, ApiCaller caller, IUploadStore uploads, IUploadPartStore parts, IBlobStore blobs,
        IIdGenerator ids, TimeProvider time, CancellationToken cancellationToken)
    {
        var request = await RequestBody.ReadAsync(http, ApiJsonContext.Default.CompleteUploadRequest);
        var upload = await FindPendingAsync(uploads, caller, uploadId, time, cancellationToken);
        var partIds = request.PartIds ?? throw ApiErrors.MissingParameter("part_ids");
        var staged = (await uploads.ListPartsAsync(upload.Id, cancellationToken)).ToDictionary(p => p.Id, StringComparer.Ordinal);
        var ordered = new List<UploadPart>(partIds.Count);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < partIds.Count; i++)
        {
            if (partIds[i] is not { } id || !staged.TryGetValue(id, out var part))
            {
                throw ApiErrors.InvalidRequest($"Invalid 'part_ids[{i}]': no part '{partIds[i]}' was added to upload {upload.Id}.", $"part_ids[{i}]", "invalid_value");
            }
            if (!seen.Add(id))
            {
                throw ApiErrors.InvalidRequest($"Invalid 'part_ids[{i}]': part '{id}' is listed twice.", $"part_ids[{i}]", "invalid_value");
            }
            ordered.Add(part);
        }
        var total = ordered.Sum(p => p.Bytes);
        if (total != upload.Bytes)
        {
            throw ApiErrors.InvalidRequest(
                $"The parts add up to {total} bytes, but upload {upload.Id} was created with bytes={upload.Bytes}. The totals must match.", "part_ids", "invalid_value");
        }
        var md5 = request.Md5 is { } given ? Validate.MaxLength(given, "md5", 64)!.Trim().ToLowerInvariant() : null;

        BlobInfo blob;
        string digest;
        await using (var content = new ConcatenatedStream(ordered.Select(p => (Func<Stream>)(() => parts.OpenRead(upload.Id, p.Id)))))
        using (var hashing = new HashingReadStream(content, HashAlgorithmName.MD5))
        {
            blob = await blobs.WriteAsync(hashing, upload.Bytes, cancellationToken);
            digest = hashing.HexDigest();
        }
        // A blob written for an upload that then fails is left to the collector (BlobCollector): the same content may be
        // about to commit under another file's row, and deleting it here would lose that row's bytes (issue #9 §3).
        if (md5 is not null && md5 != digest)
        {
            throw ApiErrors.InvalidRequest($"The md5 checksum '{request.Md5}' does not match the uploaded bytes.", "md5", "invalid_value");
        }
        var now = time.GetUtcNow();
        var file = new StoredFile(ids.NewId(Ids.File), caller.ProjectId, now, upload.Filename, upload.Purpose, blob.Length, blob.Key, now + upload.FileExpiresAfter);
        var completed = upload with { Status = UploadStatus.Completed, FileId = file.Id };
        if (!await uploads.TryCompleteAsync(completed, file, cancellationToken))
        {
            var current = await uploads.FindAsync(caller.ProjectId, upload.Id, cancellationToken);
            throw NotPending(upload.Id, current?.StatusAt(now) ?? UploadStatus.Cancelled);
        }
        await parts.DeleteAllAsync(upload.Id, CancellationToken.None);
        await uploads.DeletePartsAsync(upload.Id, CancellationToken.None);
        return TypedResults.Ok(completed.ToObject(now, file.ToObject()));
    }

    internal static async Task<Ok<UploadObject>> CancelAsync(
        string uploadId, ApiCaller caller, IUploadStore uploads, IUploadPartStore parts, TimeProvider time, CancellationToken cancellationToken)
    {
        var upload = await FindPendingAsync(uploads, caller, uploadId, time, cancellationToken);
        if (!await uploads.TryEndAsync(caller.ProjectId, upload.Id, UploadStatus.Cancelled, cancellationToken))
        {
            var current = await uploads.FindAsync(caller.ProjectId, upload.Id, cancellationToken);
            throw NotPending(upload.Id, current?.StatusAt(time.GetUtcNow()) ?? UploadStatus.Cancelled);
        }
        await parts.DeleteAllAsync(upload.Id, CancellationToken.None);
        await uploads.DeletePartsAsync(upload.Id, CancellationToken.None);
        return TypedResults.Ok((upload with { Status = UploadStatus.Cancelled }).ToObject(time.GetUtcNow(), null));
    }

    private static async Task<Upload> FindPendingAsync(IUploadStore uploads, ApiCaller caller, string uploadId, TimeProvider time, CancellationToken cancellationToken)
    {
        var upload = await uploads.FindAsync(caller.ProjectId, uploadId, cancellationToken) ?? throw ApiErrors.NotFound("upload", uploadId);
        var status = upload.StatusAt(time.GetUtcNow());
        return status == UploadStatus.Pending ? upload : throw NotPending(upload.Id, status);
    }

    private static ApiException NotPending(string uploadId, UploadStatus status) =>
        ApiErrors.InvalidRequest($"Upload {uploadId} is {StatusWord(status)}; only a pending upload takes parts, completes or cancels.", null, "invalid_state");

    private static string StatusWord(UploadStatus status) => status switch
    {
        UploadStatus.Completed => "already completed",
        UploadStatus.Cancelled => "cancelled",
        UploadStatus.Expired => "expired",
        _ => "pending",
    };

    internal static UploadObject ToObject(this Upload upload, DateTimeOffset now, FileObject? file) =>
        new(upload.Id, upload.CreatedAt.ToUnixTimeSeconds(), upload.Filename, upload.Bytes, upload.Purpose, upload.StatusAt(now), upload.ExpiresAt.ToUnixTimeSeconds(), file);
}
