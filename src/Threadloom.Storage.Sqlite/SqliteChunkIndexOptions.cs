using System.ComponentModel.DataAnnotations;

namespace Threadloom.Storage.Sqlite;

/// <summary>Tuning of the SQLite chunk index (section <c>FileSearch</c>).</summary>
public sealed class SqliteChunkIndexOptions
{
    public const string SectionName = "FileSearch";

    /// <summary>
    /// Bound of the in-memory vectors of searched stores (float32 rows plus their int8 copy, about 190 MB per 100,000
    /// chunks of 384 dimensions); past it the least recently searched stores are dropped and reloaded on their next
    /// search (about 1 s per 100,000 chunks). Default 2 GiB.
    /// </summary>
    [Range(1, int.MaxValue)]
    public int VectorCacheMegabytes { get; set; } = 2048;

    /// <summary>
    /// Bound of the frequent query terms' cached bm25 scores (12 bytes per row a term matches; a term in 40,000 rows
    /// takes about 0.5 MB), with which the keyword fast path ranks on the terms it cannot afford to score in FTS5.
    /// Default 256 MB.
    /// </summary>
    [Range(1, int.MaxValue)]
    public int KeywordCacheMegabytes { get; set; } = 256;
}

/// <summary>
/// The keyword fast path's term choice: each pass matches the rarest terms left while the sum of their document
/// frequencies stays within the budget (at most <see cref="MaxShapedTerms"/> terms), in up to <see cref="MaxPasses"/>
/// passes. FTS5 scores every row a pass matches (about 2 µs a row here), so the budget bounds a pass's cost. With
/// <see cref="CacheFrequentTerms"/>, every term in more than <see cref="CachedTermMinRows"/> rows whose scores are
/// cached (<see cref="KeywordTermScores"/>) joins the first pass's ranking from the cache instead (so it is never
/// dropped); terms not cached yet are asked for and ranked as before. They are loaded once the project has not been
/// written to for <see cref="QuietAfterWrite"/>.
/// </summary>
internal sealed record KeywordPathTuning(long MinTermBudget = 2_000, long TermBudgetPercent = 3, int MaxPasses = 3, int MaxShapedTerms = 8, bool CacheFrequentTerms = true)
{
    public static KeywordPathTuning Default { get; } = new();

    /// <summary>
    /// Terms in more rows than this are served from the cache once cached. Every threshold ranks as bm25 over every
    /// term (the rare terms' pass returns all its rows before a merge); 100 was the cheapest measured at 100,000 chunks
    /// (2.2 ms p50 against 3.3 ms at 500, issue #11, docs/file-search.md seventh round).
    /// </summary>
    public long CachedTermMinRows { get; init; } = 100;

    /// <summary>
    /// How many of a question's terms (the rarest in more than <see cref="CachedTermMinRows"/> rows) one search takes
    /// from the cache or asks for: it bounds the merge (rows × terms) and the loads a single question can cause.
    /// </summary>
    public int MaxCachedTerms { get; init; } = 16;

    public TimeSpan QuietAfterWrite { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>The rows a pass may match in a project of <paramref name="indexedChunks"/> chunks.</summary>
    public long BudgetFor(long indexedChunks) => Math.Max(MinTermBudget, indexedChunks * TermBudgetPercent / 100);
}
