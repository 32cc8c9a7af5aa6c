namespace Threadloom.Core.Domain;

/// <summary>Every stored object belongs to exactly one project; this is the tenant boundary.</summary>
public interface IProjectScoped
{
    string Id { get; }
    string ProjectId { get; }
    DateTimeOffset CreatedAt { get; }
}

public sealed record Assistant(
    string Id,
    string ProjectId,
    DateTimeOffset CreatedAt,
    string Model,
    string? Name,
    string? Description,
    string? Instructions,
    IReadOnlyList<ToolDefinition> Tools,
    ToolResources? ToolResources,
    IReadOnlyDictionary<string, string> Metadata,
    double? Temperature,
    double? TopP,
    ResponseFormat? ResponseFormat,
    string? ReasoningEffort = null,
    IReadOnlyList<string>? V1FileIds = null,
    IReadOnlyDictionary<string, DateTimeOffset>? V1FilesAttachedAt = null) : IProjectScoped
{
    /// <summary>
    /// The assistant's files as Assistants v1 lists them: its v1 <c>file_ids</c>, else (an assistant made through v2)
    /// its code interpreter files. At most 20.
    /// </summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public IReadOnlyList<string> V1Files => V1FileIds ?? ToolResources?.CodeInterpreter?.FileIds ?? [];

    /// <summary>When a v1 file was attached (<c>assistant.file.created_at</c>); files given at creation date from it.</summary>
    public DateTimeOffset V1FileAttachedAt(string fileId) => V1FilesAttachedAt?.GetValueOrDefault(fileId) is { } at && at != default ? at : CreatedAt;
}

public sealed record AssistantThread(
    string Id,
    string ProjectId,
    DateTimeOffset CreatedAt,
    ToolResources? ToolResources,
    IReadOnlyDictionary<string, string> Metadata) : IProjectScoped;

public enum MessageRole
{
    User,
    Assistant,
}

public enum MessageStatus
{
    InProgress,
    Incomplete,
    Completed,
}

public sealed record ThreadMessage(
    string Id,
    string ProjectId,
    DateTimeOffset CreatedAt,
    string ThreadId,
    MessageRole Role,
    IReadOnlyList<MessageContent> Content,
    MessageStatus Status,
    IReadOnlyList<MessageAttachment> Attachments,
    IReadOnlyDictionary<string, string> Metadata,
    string? AssistantId = null,
    string? RunId = null,
    DateTimeOffset? CompletedAt = null,
    DateTimeOffset? IncompleteAt = null,
    string? IncompleteReason = null) : IProjectScoped;

public sealed record StoredFile(
    string Id,
    string ProjectId,
    DateTimeOffset CreatedAt,
    string Filename,
    string Purpose,
    long Bytes,
    string BlobKey,
    DateTimeOffset? ExpiresAt = null) : IProjectScoped;

public sealed record Project(string Id, string Name, DateTimeOffset CreatedAt);

/// <summary>
/// An API key as stored: only its SHA-256 hash, never the secret. <paramref name="Hint"/> is the redacted form shown
/// in listings (<c>sk-tl-…abcd</c>); <paramref name="LastUsedAt"/> is recorded at most once a minute per node.
/// </summary>
public sealed record ApiKey(
    string Id,
    string ProjectId,
    string Name,
    string KeyHash,
    DateTimeOffset CreatedAt,
    string? Hint = null,
    DateTimeOffset? LastUsedAt = null,
    DateTimeOffset? RevokedAt = null);
