using System.Text.Json.Serialization;

namespace Threadloom.Core.Domain;

/// <summary>The four upload statuses, with their wire names.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<UploadStatus>))]
public enum UploadStatus
{
    [JsonStringEnumMemberName("pending")] Pending,
    [JsonStringEnumMemberName("completed")] Completed,
    [JsonStringEnumMemberName("cancelled")] Cancelled,
    [JsonStringEnumMemberName("expired")] Expired,
}

public static class UploadStatuses
{
    /// <summary>The status as the wire and the stores' <c>status</c> columns spell it.</summary>
    public static string Name(UploadStatus status) => status switch
    {
        UploadStatus.Pending => "pending",
        UploadStatus.Completed => "completed",
        UploadStatus.Cancelled => "cancelled",
        _ => "expired",
    };
}

/// <summary>
/// A multipart upload (<c>POST /uploads</c>): parts are added until it is completed into one file, cancelled, or
/// expires an hour after creation.
/// </summary>
/// <param name="Bytes">The size declared at creation; completing checks the parts add up to it.</param>
/// <param name="FileExpiresAfter">The <c>expires_after</c> the completed file gets, if any.</param>
/// <param name="FileId">The file made on completion.</param>
public sealed record Upload(
    string Id,
    string ProjectId,
    DateTimeOffset CreatedAt,
    string Filename,
    string Purpose,
    long Bytes,
    string MimeType,
    UploadStatus Status,
    DateTimeOffset ExpiresAt,
    TimeSpan? FileExpiresAfter = null,
    string? FileId = null) : IProjectScoped
{
    /// <summary>The status a reader sees: a pending upload past its expiry is expired even before the sweep marks it.</summary>
    public UploadStatus StatusAt(DateTimeOffset now) => Status == UploadStatus.Pending && ExpiresAt <= now ? UploadStatus.Expired : Status;
}

/// <summary>One part of an upload, its bytes staged by <c>IUploadPartStore</c>.</summary>
public sealed record UploadPart(string Id, string UploadId, DateTimeOffset CreatedAt, long Bytes);
