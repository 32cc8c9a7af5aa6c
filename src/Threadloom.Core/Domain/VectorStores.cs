using System.Text.Json;
using Threadloom.Core.Ingestion;

namespace Threadloom.Core.Domain;

/// <summary>
/// A vector store. Its status, file counts and usage are not stored here: they are computed from its file rows,
/// which are the truth (and the ingestion job queue). <see cref="EmbeddingModel"/> is fixed at creation.
/// </summary>
public sealed record VectorStore(
    string Id,
    string ProjectId,
    DateTimeOffset CreatedAt,
    string? Name,
    string? Description,
    IReadOnlyDictionary<string, string> Metadata,
    VectorStoreExpiration? ExpiresAfter,
    DateTimeOffset? LastActiveAt,
    string EmbeddingModel) : IProjectScoped
{
    [System.Text.Json.Serialization.JsonIgnore]
    public DateTimeOffset? ExpiresAt => ExpiresAfter is { } e && LastActiveAt is { } active ? active.AddDays(e.Days) : null;

    /// <summary>
    /// Past <see cref="ExpiresAt"/> the store is <c>expired</c> for good: it can no longer be searched, take files or be
    /// used by runs (OpenAI: "recreate the vector store"), and activity no longer moves <see cref="LastActiveAt"/>.
    /// </summary>
    public bool IsExpiredAt(DateTimeOffset now) => ExpiresAt is { } expiresAt && expiresAt <= now;
}

/// <summary><c>expires_after</c>: <c>{anchor: "last_active_at", days: 1..365}</c>.</summary>
public sealed record VectorStoreExpiration(string Anchor, int Days);

public enum VectorStoreFileStatus
{
    InProgress,
    Completed,
    Cancelled,
    Failed,
}

/// <summary><c>last_error</c> of a vector store file: <c>server_error</c>, <c>unsupported_file</c> or <c>invalid_file</c>.</summary>
public sealed record VectorStoreFileError(string Code, string Message);

/// <summary>
/// A file in a vector store; its id is the file's id. A row <c>in_progress</c> is an ingestion job: the worker
/// claims it with a lease and writes the outcome.
/// </summary>
public sealed record VectorStoreFile(
    string Id,
    string ProjectId,
    DateTimeOffset CreatedAt,
    string VectorStoreId,
    VectorStoreFileStatus Status,
    long UsageBytes,
    StaticChunkingStrategy ChunkingStrategy,
    IReadOnlyDictionary<string, JsonElement>? Attributes,
    VectorStoreFileError? LastError = null,
    string? BatchId = null) : IProjectScoped;

/// <summary>A file batch. Counts come from the files that carry its id; only <c>cancelled</c> is stored.</summary>
public sealed record VectorStoreFileBatch(
    string Id,
    string ProjectId,
    DateTimeOffset CreatedAt,
    string VectorStoreId,
    bool Cancelled = false) : IProjectScoped;

/// <summary><c>file_counts</c> of a vector store or a batch.</summary>
public sealed record VectorStoreFileCounts(int InProgress, int Completed, int Failed, int Cancelled, int Total)
{
    public static readonly VectorStoreFileCounts Empty = new(0, 0, 0, 0, 0);
}
