using Microsoft.Extensions.AI;

namespace Threadloom.Core.Tools.FileSearch;

/// <summary>Which lists a search fuses; <see cref="Hybrid"/> is what the API uses, the others exist for evaluation.</summary>
public enum FileSearchMode { Hybrid, KeywordOnly, VectorOnly }

/// <summary>
/// One file search: one or more queries over one or more vector stores (a run may see the assistant's and the
/// thread's store). Mirrors <c>max_num_results</c>, <c>ranking_options.score_threshold</c> and <c>filters</c>.
/// </summary>
public sealed record FileSearchQuery(
    string ProjectId,
    IReadOnlyList<string> VectorStoreIds,
    IReadOnlyList<string> Queries,
    int MaxNumResults = FileSearchQuery.DefaultMaxNumResults,
    double ScoreThreshold = 0,
    AttributeFilter? Filter = null,
    FileSearchMode Mode = FileSearchMode.Hybrid)
{
    public const int DefaultMaxNumResults = 20;
    public const int MaxMaxNumResults = 50;

    /// <summary>Null when valid; otherwise a message fit for a 400.</summary>
    public string? Validate() =>
        MaxNumResults is < 1 or > MaxMaxNumResults ? $"Invalid 'max_num_results': {MaxNumResults}. Expected a value between 1 and {MaxMaxNumResults}."
        : ScoreThreshold is < 0 or > 1 || double.IsNaN(ScoreThreshold) ? $"Invalid 'ranking_options.score_threshold': {ScoreThreshold}. Expected a value between 0 and 1."
        : Queries.Count == 0 || Queries.All(string.IsNullOrWhiteSpace) ? "Invalid 'query': expected a non-empty string or array of strings."
        : VectorStoreIds.Count == 0 ? "No vector store to search."
        : null;
}

/// <summary>A fused search result; <see cref="Score"/> is in 0–1.</summary>
public sealed record FileSearchResult(
    string VectorStoreId, string FileId, string FileName, double Score, string Text, int ChunkIndex, int? PageNumber, string? Heading,
    IReadOnlyDictionary<string, System.Text.Json.JsonElement>? Attributes);

/// <summary>
/// Hybrid retrieval: for every (query, vector store) pair, a BM25 list and a vector list, all fused with reciprocal
/// rank fusion (k = 60), normalised to 0–1, thresholded and cut to <c>max_num_results</c>.
/// </summary>
/// <remarks>
/// Design notes: several queries are fused in one RRF over all their lists, so a chunk relevant to several of the
/// model's queries rises. A store built with a different embedding model than the current generator contributes its
/// BM25 list only (its vectors are not comparable). Candidate lists are deeper than the result count
/// (<see cref="CandidateDepth"/>) because RRF gains from agreement further down the lists.
/// </remarks>
public sealed class HybridFileSearch(IChunkIndex index, IEmbeddingGenerator<string, Embedding<float>> embeddings)
{
    public const int CandidateDepth = 50;

    private readonly string? _modelId = embeddings.GetService<EmbeddingGeneratorMetadata>()?.DefaultModelId;

    public async Task<IReadOnlyList<FileSearchResult>> SearchAsync(FileSearchQuery query, CancellationToken cancellationToken)
    {
        if (query.Validate() is { } error)
        {
            throw new ArgumentException(error, nameof(query));
        }
        var queries = query.Queries.Where(q => !string.IsNullOrWhiteSpace(q)).Distinct(StringComparer.Ordinal).ToList();
        var depth = Math.Max(CandidateDepth, query.MaxNumResults);

        GeneratedEmbeddings<Embedding<float>>? vectors = null;
        if (query.Mode != FileSearchMode.KeywordOnly)
        {
            vectors = await embeddings.GenerateAsync(queries, cancellationToken: cancellationToken);
        }

        var lists = new List<IReadOnlyList<ChunkHit>>();
        foreach (var store in query.VectorStoreIds.Distinct(StringComparer.Ordinal))
        {
            var storeModel = await index.GetEmbeddingModelAsync(query.ProjectId, store, cancellationToken);
            for (var i = 0; i < queries.Count; i++)
            {
                // The vector scan (CPU) runs on another thread while the keyword query (SQLite) runs on this one.
                Task<IReadOnlyList<ChunkHit>>? vectorList = null;
                if (vectors is not null && storeModel is not null && (storeModel == _modelId || _modelId is null))
                {
                    var vector = vectors[i].Vector;
                    vectorList = query.Mode == FileSearchMode.VectorOnly
                        ? index.VectorSearchAsync(query.ProjectId, store, vector, depth, query.Filter, cancellationToken)
                        : Task.Run(() => index.VectorSearchAsync(query.ProjectId, store, vector, depth, query.Filter, cancellationToken), cancellationToken);
                }
                if (query.Mode != FileSearchMode.VectorOnly)
                {
                    lists.Add(await index.KeywordSearchAsync(query.ProjectId, store, queries[i], depth, query.Filter, cancellationToken));
                }
                if (vectorList is not null)
                {
                    lists.Add(await vectorList);
                }
            }
        }

        return ReciprocalRankFusion.Fuse(lists, h => h.ChunkId)
            .Where(f => f.Score >= query.ScoreThreshold)
            .Take(query.MaxNumResults)
            .Select(f => new FileSearchResult(f.Item.VectorStoreId, f.Item.FileId, f.Item.FileName, f.Score, f.Item.Text, f.Item.ChunkIndex,
                f.Item.PageNumber, f.Item.Heading, f.Item.Attributes))
            .ToList();
    }
}
