using System.Text.Json;
using Microsoft.Extensions.AI;
using Threadloom.Core.Domain;
using Threadloom.Core.Ingestion;
using Threadloom.Core.Storage;
using Threadloom.Core.Workers;
using Threadloom.Server.Http;

namespace Threadloom.Server.Features.VectorStores;

/// <summary>One file to add to a vector store, validated.</summary>
public sealed record VectorStoreFileInput(string FileId, StaticChunkingStrategy ChunkingStrategy, IReadOnlyDictionary<string, JsonElement>? Attributes);

/// <summary>
/// Creates vector stores and queues their files: the explicit endpoints and the implicit stores (the
/// <c>vector_stores</c> helper, v1 <c>file_ids</c>, message attachments) all go through here, so every file is
/// validated the same way and the worker is signalled after the rows are written (persist before enqueue).
/// </summary>
public sealed class VectorStoreService(
    IVectorStoreStore stores,
    IFileStore files,
    IWorkSignal signal,
    IServiceProvider services,
    IIdGenerator ids,
    TimeProvider time)
{
    public const int MaxFilesPerCreate = 500;
    public const int MaxFilesPerBatch = 2000;
    public const int MaxAttributes = 16;

    private string? _embeddingModel;

    /// <summary>
    /// The embedding model new stores are built with, recorded on each store for its whole life. Resolving it loads the
    /// generator, so it is read on the first store creation, not at startup.
    /// </summary>
    private string EmbeddingModel => _embeddingModel ??=
        services.GetRequiredService<IEmbeddingGenerator<string, Embedding<float>>>().GetService<EmbeddingGeneratorMetadata>()?.DefaultModelId ?? "unknown";

    public async Task<VectorStore> CreateAsync(
        string projectId, string? name, string? description, IReadOnlyDictionary<string, string> metadata, VectorStoreExpiration? expiresAfter,
        IReadOnlyList<string> fileIds, StaticChunkingStrategy strategy, string fileIdsParam, CancellationToken cancellationToken)
    {
        await Validate.FilesExistAsync(files, projectId, fileIds, fileIdsParam, cancellationToken);
        var now = time.GetUtcNow();
        var store = new VectorStore(ids.NewId(Ids.VectorStore), projectId, now, name, description, metadata, expiresAfter, now, EmbeddingModel);
        var rows = fileIds.Distinct(StringComparer.Ordinal)
            .Select(id => new VectorStoreFile(id, projectId, now, store.Id, VectorStoreFileStatus.InProgress, 0, strategy, null))
            .ToList();
        await stores.CreateAsync(store, rows, cancellationToken);
        signal.Notify(WorkQueue.Ingestion);
        return store;
    }

    /// <summary>Adds (or re-queues) files; the file ids must already be checked.</summary>
    public async Task<IReadOnlyList<VectorStoreFile>> AddFilesAsync(string projectId, string vectorStoreId, IReadOnlyList<VectorStoreFileInput> inputs, string? batchId, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        var rows = inputs.DistinctBy(i => i.FileId, StringComparer.Ordinal)
            .Select(i => new VectorStoreFile(i.FileId, projectId, now, vectorStoreId, VectorStoreFileStatus.InProgress, 0, i.ChunkingStrategy, i.Attributes, null, batchId))
            .ToList();
        var batch = batchId is null ? null : new VectorStoreFileBatch(batchId, projectId, now, vectorStoreId);
        await stores.AddFilesAsync(rows, batch, cancellationToken);
        await stores.TouchAsync(projectId, [vectorStoreId], now, cancellationToken);
        signal.Notify(WorkQueue.Ingestion);
        return rows;
    }

    /// <summary>
    /// The 400 for using an expired store (search, adding files, runs). OpenAI's advice is to recreate the store with
    /// the same files and attach the new one, so the message says that.
    /// </summary>
    public static ApiException Expired(string vectorStoreId, string? param = null) => ApiErrors.InvalidRequest(
        $"Vector store '{vectorStoreId}' has expired and can no longer be used. Create a new vector store with the same files and use it instead.",
        param);

    public static void EnsureNotExpired(VectorStore store, DateTimeOffset now, string? param = null)
    {
        if (store.IsExpiredAt(now))
        {
            throw Expired(store.Id, param);
        }
    }

    /// <summary><c>chunking_strategy</c>: absent or <c>{type:"auto"}</c> is 800/400; <c>{type:"static", static:{…}}</c> is checked against the OpenAI limits.</summary>
    public static StaticChunkingStrategy ParseChunkingStrategy(JsonElement? json, string param = "chunking_strategy")
    {
        if (json is not { ValueKind: not JsonValueKind.Null and not JsonValueKind.Undefined } value)
        {
            return StaticChunkingStrategy.Default;
        }
        if (value.ValueKind != JsonValueKind.Object)
        {
            throw ApiErrors.InvalidRequest($"Invalid type for '{param}': expected an object.", param, "invalid_type");
        }
        foreach (var property in value.EnumerateObject())
        {
            if (property.Name is not ("type" or "static"))
            {
                throw ApiErrors.InvalidRequest($"Unknown parameter: '{param}.{property.Name}'.", $"{param}.{property.Name}", "unknown_parameter");
            }
        }
        var type = value.TryGetProperty("type", out var t) && t.ValueKind == JsonValueKind.String ? t.GetString() : null;
        switch (type)
        {
            case "auto":
                return StaticChunkingStrategy.Default;
            case "static":
                if (!value.TryGetProperty("static", out var s) || s.ValueKind != JsonValueKind.Object)
                {
                    throw ApiErrors.MissingParameter($"{param}.static");
                }
                int? size = null, overlap = null;
                foreach (var property in s.EnumerateObject())
                {
                    var at = $"{param}.static.{property.Name}";
                    if (property.Name is not ("max_chunk_size_tokens" or "chunk_overlap_tokens"))
                    {
                        throw ApiErrors.InvalidRequest($"Unknown parameter: '{at}'.", at, "unknown_parameter");
                    }
                    if (property.Value.ValueKind != JsonValueKind.Number || !property.Value.TryGetInt32(out var n))
                    {
                        throw ApiErrors.InvalidRequest($"Invalid type for '{at}': expected an integer.", at, "invalid_type");
                    }
                    if (property.Name == "max_chunk_size_tokens")
                    {
                        size = n;
                    }
                    else
                    {
                        overlap = n;
                    }
                }
                var strategy = new StaticChunkingStrategy(
                    size ?? throw ApiErrors.MissingParameter($"{param}.static.max_chunk_size_tokens"),
                    overlap ?? throw ApiErrors.MissingParameter($"{param}.static.chunk_overlap_tokens"));
                if (strategy.Validate() is { } error)
                {
                    var invalid = strategy.InvalidParameter()!;
                    var at = param + invalid["chunking_strategy".Length..];
                    throw ApiErrors.InvalidRequest(error.Replace("'chunking_strategy", $"'{param}", StringComparison.Ordinal), at, "invalid_value");
                }
                return strategy;
            case null:
                throw ApiErrors.MissingParameter($"{param}.type");
            default:
                throw ApiErrors.InvalidRequest($"Invalid value: '{type}'. Supported values are: 'auto' and 'static'.", $"{param}.type", "invalid_value");
        }
    }

    /// <summary><c>attributes</c>: at most 16 keys of ≤ 64 characters; values are strings (≤ 512), numbers or booleans.</summary>
    public static IReadOnlyDictionary<string, JsonElement>? ValidateAttributes(Dictionary<string, JsonElement>? attributes, string param = "attributes")
    {
        if (attributes is null)
        {
            return null;
        }
        if (attributes.Count > MaxAttributes)
        {
            throw ApiErrors.InvalidRequest($"Invalid '{param}': too many properties. Expected an object with at most {MaxAttributes} properties, but got an object with {attributes.Count} properties instead.", param, "object_above_max_properties");
        }
        foreach (var (key, value) in attributes)
        {
            if (key.Length > Validate.MaxMetadataKey)
            {
                throw ApiErrors.InvalidRequest($"Invalid '{param}': key too long. Expected a key with maximum length {Validate.MaxMetadataKey}, but got a key with length {key.Length} instead.", param, "string_above_max_length");
            }
            switch (value.ValueKind)
            {
                case JsonValueKind.String when value.GetString()!.Length > Validate.MaxMetadataValue:
                    throw ApiErrors.StringTooLong($"{param}.{key}", Validate.MaxMetadataValue, value.GetString()!.Length);
                case JsonValueKind.String or JsonValueKind.Number or JsonValueKind.True or JsonValueKind.False:
                    break;
                default:
                    throw ApiErrors.InvalidRequest($"Invalid type for '{param}.{key}': expected a string, number or boolean.", $"{param}.{key}", "invalid_type");
            }
        }
        return attributes.ToDictionary(p => p.Key, p => p.Value.Clone(), StringComparer.Ordinal);
    }

    /// <summary><c>expires_after</c>: <c>{anchor:"last_active_at", days: 1..365}</c>.</summary>
    public static VectorStoreExpiration? ParseExpiresAfter(ExpiresAfterRequest? request, string param = "expires_after")
    {
        if (request is null)
        {
            return null;
        }
        if (request.Anchor != "last_active_at")
        {
            throw request.Anchor is null
                ? ApiErrors.MissingParameter($"{param}.anchor")
                : ApiErrors.InvalidRequest($"Invalid value: '{request.Anchor}'. Supported values are: 'last_active_at'.", $"{param}.anchor", "invalid_value");
        }
        if (request.Days is not { } days)
        {
            throw ApiErrors.MissingParameter($"{param}.days");
        }
        if (days is < 1 or > 365)
        {
            throw ApiErrors.InvalidRequest($"Invalid '{param}.days': expected a value between 1 and 365, but got {days} instead.", $"{param}.days", days < 1 ? "integer_below_min_value" : "integer_above_max_value");
        }
        return new VectorStoreExpiration("last_active_at", days);
    }
}
