using Threadloom.Core.Domain;
using Threadloom.Server.Features.Files;

namespace Threadloom.Server.Features.Uploads;

public sealed class CreateUploadRequest
{
    public string? Filename { get; init; }
    public string? Purpose { get; init; }
    public long? Bytes { get; init; }
    public string? MimeType { get; init; }
    public FileExpiresAfterRequest? ExpiresAfter { get; init; }
}

/// <summary>A file's <c>expires_after</c> in a JSON body.</summary>
public sealed class FileExpiresAfterRequest
{
    public string? Anchor { get; init; }
    public long? Seconds { get; init; }
}

public sealed class CompleteUploadRequest
{
    public List<string?>? PartIds { get; init; }
    public string? Md5 { get; init; }
}

public sealed record UploadObject(string Id, long CreatedAt, string Filename, long Bytes, string Purpose, UploadStatus Status, long ExpiresAt, FileObject? File)
{
    public string Object => "upload";
}

public sealed record UploadPartObject(string Id, long CreatedAt, string UploadId)
{
    public string Object => "upload.part";
}
