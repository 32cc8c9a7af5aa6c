using Microsoft.Extensions.AI;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Threadloom.Core.Inference;
using Threadloom.Core.Ingestion;
using Threadloom.Core.Storage;

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
    FileSearchMode Mode = FileSearchMode.Hybrid,
    bool RewriteQuery = false)
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

/// <summary>What the vector lists embed when <c>rewrite_query</c> is set (the keyword lists search the rewritten keywords).</summary>
public enum RewriteEmbedding
{
    /// <summary>The question with only its chit-chat removed (<see cref="QueryRewriter.Clean"/>); the default.</summary>
    Cleaned,

    /// <summary>The rewritten keywords (<see cref="QueryRewriter.Rewrite"/>), as before issue #11.</summary>
    Keywords,

    /// <summary>The question as asked.</summary>
    Original,
}

/// <summary>How the lists are fused: by their scores (<see cref="ScoreFusion"/>, the default) or by ranks only (<see cref="ReciprocalRankFusion"/>).</summary>
public enum FusionMethod { Scores, Ranks }

/// <summary>
/// How the keyword and vector lists are fused: the method, each list's weight, the RRF constant (ranks only), and how
/// deep each list is read. The defaults are the measured choice (docs/file-search.md says on which labelled set).
/// </summary>
public sealed record HybridFusion(int K = ReciprocalRankFusion.DefaultK, double KeywordWeight = HybridFusion.DefaultKeywordWeight, double VectorWeight = HybridFusion.DefaultVectorWeight,
    int CandidateDepth = HybridFileSearch.CandidateDepth, RewriteEmbedding RewriteEmbedding = RewriteEmbedding.Cleaned, RescoreWeights? Rescore = null,
    FusionMethod Method = FusionMethod.Scores)
{
    /// <summary>
    /// Score fusion with the vector lists at 0.55 and the keyword lists at 0.45: the best share on the man-page set
    /// (tuned there with the re-scoring weights, checked on the Python set; issue #11).
    /// </summary>
    public const double DefaultKeywordWeight = 0.45;

    public const double DefaultVectorWeight = 0.55;

    public static HybridFusion Default { get; } = new();

    /// <summary>Rank fusion as before issue #11's score fusion: RRF k 20, weights 1/1, the re-scoring pass of then.</summary>
    public static HybridFusion RankFusion { get; } = new(KeywordWeight: 1, VectorWeight: 1, Rescore: RescoreWeights.RankFusionDefault, Method: FusionMethod.Ranks);

    /// <summary>The re-scoring pass after fusion (<see cref="PhraseRescoring"/>); <see cref="RescoreWeights.Default"/> unless set.</summary>
    public RescoreWeights Rescoring => Rescore ?? RescoreWeights.Default;
}

/// <summary>A fused search result; <see cref="Score"/> is in 0–1; <see cref="Text"/> is the document's text at <see cref="StartChar"/>–<see cref="EndChar"/>.</summary>
public sealed record FileSearchResult(
    string VectorStoreId, string FileId, string FileName, double Score, string Text, int ChunkIndex, int? PageNumber, string? Heading,
    IReadOnlyDictionary<string, System.Text.Json.JsonElement>? Attributes, int StartChar, int EndChar);

/// <summary>
/// Hybrid retrieval: for every (query, vector store) pair, a BM25 list and a vector list, all fused by their scores
/// (<see cref="ScoreFusion"/>) into 0–1, re-scored at the top (<see cref="PhraseRescoring"/>), thresholded and cut to
/// <c>max_num_results</c>.
/// </summary>
/// <remarks>
/// Design notes: several queries are fused in one RRF over all their lists, so a chunk relevant to several of the
/// model's queries rises. A store's queries are embedded by the model that built it (<see cref="EmbeddingModels"/>,
/// once per model in a search); a store whose model this server cannot run (or of another vector width) contributes
/// its BM25 list only: other vectors are not comparable (issue #4, one model per store for its whole life). Queries
/// are embedded only when some store can use the vectors, so searching old stores after a model change costs no
/// upstream call. If an upstream embedding call fails, a hybrid search falls back to keywords rather than failing
/// the run's tool call. Candidate lists are deeper than the result count (<see cref="CandidateDepth"/>) because RRF
/// gains from agreement further down the lists. The query embedding and the vector scans run on other threads while
/// the keyword queries run (issue #11: the embedding had been waited for before any list started).
/// </remarks>
public sealed partial class HybridFileSearch(
    IChunkIndex index, IEmbeddingGenerator<string, Embedding<float>> embeddings, ILogger<HybridFileSearch>? logger = null, HybridFusion? fusion = null,
    EmbeddingModels? models = null)
{
    public const int CandidateDepth = 50;

    private readonly HybridFusion _fusion = fusion ?? HybridFusion.Default;

    // Each store's vectors are searched with the model that built it, when this server can run it.
    private readonly EmbeddingModels _models = models ?? new EmbeddingModels(embeddings, runOtherBuiltInModels: false);
    private readonly ILogger _logger = (ILogger?)logger ?? NullLogger.Instance;

    public async Task<IReadOnlyList<FileSearchResult>> SearchAsync(FileSearchQuery query, CancellationToken cancellationToken)
    {
        if (query.Validate() is { } error)
        {
            throw new ArgumentException(error, nameof(query));
        }
        using var searchSpan = FileSearchTracing.Start(FileSearchTracing.Phases.Search);
        // With rewrite_query the keyword lists search the rewritten keywords; the vector lists embed the question with its
        // chit-chat removed by default (a sentence embeds better than the keywords left of it).
        var pairs = query.Queries.Where(q => !string.IsNullOrWhiteSpace(q))
            .Select(q => !query.RewriteQuery ? (Keywords: q, Embedded: q)
                : (Keywords: QueryRewriter.Rewrite(q), Embedded: _fusion.RewriteEmbedding switch
                {
                    RewriteEmbedding.Original => q,
                    RewriteEmbedding.Keywords => QueryRewriter.Rewrite(q),
                    _ => QueryRewriter.Clean(q),
                }))
            .Distinct().ToList();
        var queries = pairs.Select(p => p.Keywords).ToList();
        var depth = Math.Max(_fusion.CandidateDepth, query.MaxNumResults);
        var stores = query.VectorStoreIds.Distinct(StringComparer.Ordinal).ToList();
        // Each store's generator: the model it was built with, if this server runs it (else its keywords only).
        var storeModels = new (ChunkStoreModel Model, IEmbeddingGenerator<string, Embedding<float>> Generator)?[stores.Count];
        for (var s = 0; s < stores.Count; s++)
        {
            if (await index.GetEmbeddingModelAsync(query.ProjectId, stores[s], cancellationToken) is { } model && _models.For(model.Model) is { } generator)
            {
                storeModels[s] = (model, generator);
            }
        }

        // The query embedding (the model's thread) and then the vector scans (the thread pool) run while this thread
        // runs the keyword queries (SQLite): a search costs about the slower of the two chains, not their sum.
        Task<IReadOnlyList<ChunkHit>?[,]>? vectorLists = null;
        if (query.Mode != FileSearchMode.KeywordOnly && storeModels.Any(m => m is not null))
        {
            vectorLists = Task.Run(() => VectorListsAsync(query, stores, storeModels, pairs.Select(p => p.Embedded).ToList(), depth, cancellationToken), cancellationToken);
        }
        var keywordLists = new IReadOnlyList<ChunkHit>[stores.Count, queries.Count];
        if (query.Mode != FileSearchMode.VectorOnly)
        {
            for (var s = 0; s < stores.Count; s++)
            {
                for (var i = 0; i < queries.Count; i++)
                {
                    using var span = FileSearchTracing.Start(FileSearchTracing.Phases.Keyword);
                    keywordLists[s, i] = await index.KeywordSearchAsync(query.ProjectId, stores[s], queries[i], depth, query.Filter, cancellationToken);
                }
            }
        }
        var vectorHits = vectorLists is null ? null : await vectorLists;

        // Lists in the order (store, query, keyword then vector), as fusion breaks no ties by list but keeps this order.
        var lists = new List<IReadOnlyList<ChunkHit>>();
        var weights = new List<double>();
        for (var s = 0; s < stores.Count; s++)
        {
            for (var i = 0; i < queries.Count; i++)
            {
                if (query.Mode != FileSearchMode.VectorOnly)
                {
                    lists.Add(keywordLists[s, i]);
                    weights.Add(_fusion.KeywordWeight);
                }
                if (vectorHits?[s, i] is { } vectorList)
                {
                    lists.Add(vectorList);
                    weights.Add(_fusion.VectorWeight);
                }
            }
        }

        using var fuse = FileSearchTracing.Start(FileSearchTracing.Phases.Fuse);
        var fused = _fusion.Method == FusionMethod.Ranks
            ? ReciprocalRankFusion.Fuse(lists, h => h.ChunkId, weights, _fusion.K)
            : ScoreFusion.Fuse(lists, h => h.ChunkId, h => h.Score, weights);
        return PhraseRescoring.Rescore(fused, queries, h => (h.Text, h.FileName, h.Heading), _fusion.Rescoring)
            .Where(f => f.Score >= query.ScoreThreshold)
            .Take(query.MaxNumResults)
            .Select(f => new FileSearchResult(f.Item.VectorStoreId, f.Item.FileId, f.Item.FileName, f.Score, f.Item.Text, f.Item.ChunkIndex,
                f.Item.PageNumber, f.Item.Heading, f.Item.Attributes, f.Item.StartChar, f.Item.EndChar))
            .ToList();
    }

    /// <summary>
    /// The queries embedded by each store's model (once per model), then each (store, query) vector list; a store's
    /// lists are null when it has no model this server runs, or when a hybrid search's embedding call failed (it falls
    /// back to keywords).
    /// </summary>
    private async Task<IReadOnlyList<ChunkHit>?[,]> VectorListsAsync(FileSearchQuery query, List<string> stores,
        (ChunkStoreModel Model, IEmbeddingGenerator<string, Embedding<float>> Generator)?[] storeModels, List<string> embedded, int depth, CancellationToken cancellationToken)
    {
        var lists = new IReadOnlyList<ChunkHit>?[stores.Count, embedded.Count];
        var vectorsBy = new Dictionary<IEmbeddingGenerator<string, Embedding<float>>, GeneratedEmbeddings<Embedding<float>>?>(ReferenceEqualityComparer.Instance);
        for (var s = 0; s < stores.Count; s++)
        {
            if (storeModels[s] is not var (storeModel, generator))
            {
                continue;
            }
            if (!vectorsBy.TryGetValue(generator, out var vectors))
            {
                vectorsBy[generator] = vectors = await EmbedAsync(query, generator, embedded, cancellationToken);
            }
            for (var i = 0; vectors is not null && i < embedded.Count; i++)
            {
                if (vectors[i].Vector.Length == storeModel.Dimensions)
                {
                    using var span = FileSearchTracing.Start(FileSearchTracing.Phases.Vector);
                    lists[s, i] = await index.VectorSearchAsync(query.ProjectId, stores[s], vectors[i].Vector, depth, query.Filter, cancellationToken);
                }
            }
        }
        return lists;
    }

    /// <summary>The queries' vectors from one model; null when a hybrid search's upstream call failed.</summary>
    private async Task<GeneratedEmbeddings<Embedding<float>>?> EmbedAsync(FileSearchQuery query, IEmbeddingGenerator<string, Embedding<float>> generator,
        List<string> embedded, CancellationToken cancellationToken)
    {
        try
        {
            using var span = FileSearchTracing.Start(FileSearchTracing.Phases.Embed);
            return await generator.EmbedAsQueriesAsync(embedded, cancellationToken);
        }
        catch (ModelCallException e) when (query.Mode == FileSearchMode.Hybrid)
        {
            LogKeywordFallback(_logger, e.Code);
            return null;
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Embedding the search queries failed ({Code}); searching by keywords only")]
    private static partial void LogKeywordFallback(ILogger logger, string code);
}
