using System.Text.Json;
using Threadloom.Core.Domain;

namespace Threadloom.Server.Features.VectorStores;

public sealed class CreateVectorStoreRequest
{
    public List<string>? FileIds { get; init; }
    public string? Name { get; init; }
    public string? Description { get; init; }
    public JsonElement? ChunkingStrategy { get; init; }
    public ExpiresAfterRequest? ExpiresAfter { get; init; }
    public Dictionary<string, string>? Metadata { get; init; }
}

public sealed class ModifyVectorStoreRequest
{
    private ExpiresAfterRequest? _expiresAfter;

    public string? Name { get; init; }

    /// <summary>An explicit <c>null</c> clears the expiry; an absent field keeps it (<see cref="ExpiresAfterGiven"/>).
    /// A <c>set</c>, not an <c>init</c>: the source-generated reader assigns every init property, present or not.</summary>
    public ExpiresAfterRequest? ExpiresAfter
    {
        get => _expiresAfter;
        set
        {
            _expiresAfter = value;
            ExpiresAfterGiven = true;
        }
    }

    /// <summary>True when the body named <c>expires_after</c>, null included.</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public bool ExpiresAfterGiven { get; private set; }

    public Dictionary<string, string>? Metadata { get; init; }
}

public sealed class ExpiresAfterRequest
{
    public string? Anchor { get; init; }
    public int? Days { get; init; }
}

public sealed class CreateVectorStoreFileRequest
{
    public string? FileId { get; init; }
    public JsonElement? ChunkingStrategy { get; init; }
    public Dictionary<string, JsonElement>? Attributes { get; init; }
}

public sealed class UpdateVectorStoreFileRequest
{
    public Dictionary<string, JsonElement>? Attributes { get; init; }
}

public sealed class CreateVectorStoreFileBatchRequest
{
    public List<string>? FileIds { get; init; }
    public List<CreateVectorStoreFileRequest?>? Files { get; init; }
    public JsonElement? ChunkingStrategy { get; init; }
    public Dictionary<string, JsonElement>? Attributes { get; init; }
}

public sealed class SearchVectorStoreRequest
{
    public JsonElement? Query { get; init; }
    public bool? RewriteQuery { get; init; }
    public int? MaxNumResults { get; init; }
    public JsonElement? Filters { get; init; }
    public SearchRankingOptionsRequest? RankingOptions { get; init; }
}

public sealed class SearchRankingOptionsRequest
{
    public string? Ranker { get; init; }
    public double? ScoreThreshold { get; init; }
}

public sealed record FileCountsObject(int InProgress, int Completed, int Failed, int Cancelled, int Total);

public sealed record ExpiresAfterObject(string Anchor, int Days);

public sealed record VectorStoreObject(
    string Id,
    long CreatedAt,
    string? Name,
    string? Description,
    long UsageBytes,
    FileCountsObject FileCounts,
    string Status,
    // expires_after is optional but never null in the spec: sent only when the store has an expiry policy.
    [property: System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)] ExpiresAfterObject? ExpiresAfter,
    long? ExpiresAt,
    long? LastActiveAt,
    IReadOnlyDictionary<string, string> Metadata)
{
    public string Object => "vector_store";
}

public sealed record StaticChunkingObject(int MaxChunkSizeTokens, int ChunkOverlapTokens);

public sealed record ChunkingStrategyObject(StaticChunkingObject Static)
{
    public string Type => "static";
}

public sealed record VectorStoreFileObject(
    string Id,
    long UsageBytes,
    long CreatedAt,
    string VectorStoreId,
    string Status,
    VectorStoreFileError? LastError,
    ChunkingStrategyObject ChunkingStrategy,
    IReadOnlyDictionary<string, JsonElement>? Attributes)
{
    public string Object => "vector_store.file";
}

public sealed record VectorStoreFileBatchObject(string Id, long CreatedAt, string VectorStoreId, string Status, FileCountsObject FileCounts)
{
    // COMPAT: the schema and the SDKs say files_batch; OpenAI's example says file_batch (DIGEST §12.3).
    public string Object => "vector_store.files_batch";
}

public sealed record ContentTextObject(string Text)
{
    public string Type => "text";
}

public sealed record VectorStoreFileContentPage(IReadOnlyList<ContentTextObject> Data, bool HasMore, string? NextPage)
{
    public string Object => "vector_store.file_content.page";
}

public sealed record VectorStoreSearchResultObject(
    string FileId,
    string Filename,
    double Score,
    IReadOnlyDictionary<string, JsonElement>? Attributes,
    IReadOnlyList<ContentTextObject> Content);

public sealed record VectorStoreSearchResultsPage(IReadOnlyList<string> SearchQuery, IReadOnlyList<VectorStoreSearchResultObject> Data, bool HasMore, string? NextPage)
{
    public string Object => "vector_store.search_results.page";
}
