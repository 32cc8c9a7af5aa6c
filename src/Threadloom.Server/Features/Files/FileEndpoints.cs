using System.ComponentModel.DataAnnotations;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.StaticFiles;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Extensions.Options;
using Microsoft.Net.Http.Headers;
using Threadloom.Core.Domain;
using Threadloom.Core.Storage;
using Threadloom.Core.Storage.Blobs;
using Threadloom.Server.Http;

namespace Threadloom.Server.Features.Files;

public sealed class FilesOptions
{
    public const string SectionName = "Files";

    /// <summary>The largest file accepted, in bytes, by <c>POST /files</c> and as an upload's declared <c>bytes</c> (OpenAI: 512 MB for files).</summary>
    [Range(1, long.MaxValue)]
    public long MaxUploadBytes { get; init; } = 512L * 1024 * 1024;

    /// <summary>The largest part of a multipart upload (<c>POST /uploads/{id}/parts</c>); OpenAI's limit is 64 MB.</summary>
    [Range(1, 1024L * 1024 * 1024)]
    public long MaxUploadPartBytes { get; init; } = 64L * 1024 * 1024;

    /// <summary>How long an upload may stay pending before it expires and its parts are deleted (OpenAI: one hour).</summary>
    [Range(typeof(TimeSpan), "00:00:01", "7.00:00:00")]
    public TimeSpan UploadLifetime { get; init; } = TimeSpan.FromHours(1);

    /// <summary>How often expired files (<c>expires_after</c>) and uploads are collected.</summary>
    [Range(typeof(TimeSpan), "00:00:00.050", "01:00:00")]
    public TimeSpan ExpirySweepInterval { get; init; } = TimeSpan.FromMinutes(1);
}

// expires_at is an optional integer in the spec (never null): sent only when the file expires.
public sealed record FileObject(
    string Id, long Bytes, long CreatedAt, [property: System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)] long? ExpiresAt, string Filename, string Purpose, string Status)
{
    public string Object => "file";
}

public static class FileEndpoints
{
    internal static readonly string[] UploadPurposes = ["assistants", "batch", "fine-tune", "vision", "user_data", "evals"];
    private static readonly FileExtensionContentTypeProvider ContentTypes = new();

    public static RouteGroupBuilder MapFileEndpoints(this RouteGroupBuilder api)
    {
        var files = api.MapGroup("/files").WithTags("Files");
        files.MapPost("/", UploadAsync).WithName("createFile").DisableAntiforgery();
        files.MapGet("/", ListAsync).WithName("listFiles");
        files.MapGet("/{fileId}", GetAsync).WithName("retrieveFile");
        files.MapDelete("/{fileId}", DeleteAsync).WithName("deleteFile");
        files.MapGet("/{fileId}/content", DownloadAsync).WithName("downloadFile");
        return api;
    }

    /// <summary>
    /// Streams the multipart body straight into the blob store, so memory stays flat whatever the file size.
    /// The form fields may come before or after the file; the row is written only once all of them are valid.
    /// </summary>
    internal static async Task<Ok<FileObject>> UploadAsync(
        HttpContext http, ApiCaller caller, IFileStore store, IBlobStore blobs, IIdGenerator ids, TimeProvider time, IOptions<FilesOptions> options, CancellationToken cancellationToken)
    {
        var limit = options.Value.MaxUploadBytes;
        var boundary = FormField.Boundary(http, limit, "The request must be multipart/form-data with a 'file' and a 'purpose'.", "file");

        string? purpose = null, filename = null, anchor = null, seconds = null;
        BlobInfo? blob = null;
        // A blob written for a request that then fails is left to the collector: the same content may be about to
        // commit under another upload's row, and deleting it here lost that row's bytes (issue #9 §3).
        try
        {
            var reader = new MultipartReader(boundary, http.Request.Body);
            while (await reader.ReadNextSectionAsync(cancellationToken) is { } section)
            {
                if (!ContentDispositionHeaderValue.TryParse(section.ContentDisposition, out var disposition))
                {
                    continue;
                }
                var name = HeaderUtilities.RemoveQuotes(disposition.Name).Value;
                if (name == "file" && blob is null)
                {
                    filename = HeaderUtilities.RemoveQuotes(disposition.FileNameStar.HasValue ? disposition.FileNameStar : disposition.FileName).Value;
                    blob = await blobs.WriteAsync(section.Body, limit, cancellationToken);
                }
                else if (name == "purpose")
                {
                    purpose = await FormField.ReadAsync(section, name, cancellationToken);
                }
                else if (name == "expires_after[anchor]")
                {
                    anchor = await FormField.ReadAsync(section, name, cancellationToken);
                }
                else if (name == "expires_after[seconds]")
                {
                    seconds = await FormField.ReadAsync(section, name, cancellationToken);
                }
                else
                {
                    // COMPAT: an unknown multipart field is a 400, as an unknown JSON field is.
                    throw ApiErrors.InvalidRequest($"Unknown parameter: '{name}'.", name, "unknown_parameter");
                }
            }
            if (blob is null)
            {
                throw ApiErrors.MissingParameter("file");
            }
            if (string.IsNullOrEmpty(purpose))
            {
                throw ApiErrors.MissingParameter("purpose");
            }
            if (!UploadPurposes.Contains(purpose))
            {
                throw ApiErrors.InvalidRequest($"Invalid value: '{purpose}'. Supported values are: {string.Join(", ", UploadPurposes.Select(p => $"'{p}'"))}.", "purpose", "invalid_value");
            }
            var expiresAfter = FileExpiry.Parse(anchor, seconds is null ? null : long.TryParse(seconds, out var s) ? s : throw FileExpiry.BadSeconds(seconds), anchor is not null || seconds is not null);
            var now = time.GetUtcNow();
            var file = new StoredFile(ids.NewId(Ids.File), caller.ProjectId, now,
                SafeFileName(filename), purpose, blob.Length, blob.Key, now + expiresAfter);
            await store.CreateAsync(file, cancellationToken);
            return TypedResults.Ok(file.ToObject());
        }
        catch (IOException) when (http.RequestAborted.IsCancellationRequested)
        {
            throw new OperationCanceledException(http.RequestAborted);
        }
        catch (InvalidDataException e)
        {
            throw ApiErrors.InvalidRequest($"The multipart body could not be read: {e.Message}", "file");
        }
    }

    internal static async Task<Ok<ListResponse<FileObject>>> ListAsync(HttpRequest request, ApiCaller caller, IFileStore store, TimeProvider time, CancellationToken cancellationToken)
    {
        // COMPAT: /files allows up to 10,000 per page and has no 'before', as OpenAI's does.
        var query = ListQuery.Parse(request, maxLimit: 10_000, defaultLimit: 10_000, allowBefore: false);
        var purpose = request.Query["purpose"].ToString();
        var page = await store.ListAsync(caller.ProjectId, purpose.Length == 0 ? null : purpose, query, cancellationToken);
        // An expired file is gone at once, though the sweep collects its bytes a little later.
        var now = time.GetUtcNow();
        page = page with { Items = [.. page.Items.Where(f => !FileExpiry.IsExpired(f, now))] };
        return TypedResults.Ok(ListResponse.From(page, FileMapping.ToObject, f => f.Id));
    }

    internal static async Task<Ok<FileObject>> GetAsync(string fileId, ApiCaller caller, IFileStore store, TimeProvider time, CancellationToken cancellationToken) =>
        TypedResults.Ok((await FindAsync(store, caller, fileId, time, cancellationToken)).ToObject());

    internal static async Task<Ok<DeletionStatus>> DeleteAsync(
        string fileId, ApiCaller caller, IFileStore store, FileDeletion deletion, TimeProvider time, CancellationToken cancellationToken)
    {
        var file = await FindAsync(store, caller, fileId, time, cancellationToken);
        if (!await deletion.DeleteAsync(file, cancellationToken))
        {
            throw ApiErrors.NotFound("file", fileId);
        }
        // COMPAT: OpenAI answers a file delete with object "file", not "file.deleted".
        return TypedResults.Ok(new DeletionStatus(fileId, "file", true));
    }

    internal static async Task<FileStreamHttpResult> DownloadAsync(string fileId, ApiCaller caller, IFileStore store, IBlobStore blobs, TimeProvider time, CancellationToken cancellationToken)
    {
        var file = await FindAsync(store, caller, fileId, time, cancellationToken);
        if (!ContentTypes.TryGetContentType(file.Filename, out var contentType))
        {
            contentType = "application/octet-stream";
        }
        return TypedResults.File(await blobs.OpenReadAsync(file.BlobKey, cancellationToken), contentType, file.Filename);
    }

    internal static async Task<StoredFile> FindAsync(IFileStore store, ApiCaller caller, string id, TimeProvider time, CancellationToken cancellationToken) =>
        await store.FindAsync(caller.ProjectId, id, cancellationToken) is { } file && !FileExpiry.IsExpired(file, time.GetUtcNow())
            ? file
            : throw ApiErrors.NotFound("file", id);

    internal static string SafeFileName(string? name)
    {
        var baseName = Path.GetFileName((name ?? "").Replace('\\', '/'));
        return string.IsNullOrWhiteSpace(baseName) ? "file" : baseName;
    }
}

internal static class FileMapping
{
    public static FileObject ToObject(this StoredFile f) =>
        new(f.Id, f.Bytes, f.CreatedAt.ToUnixTimeSeconds(), f.ExpiresAt?.ToUnixTimeSeconds(), f.Filename, f.Purpose, "processed");
}
