using Threadloom.Core.Ingestion;
using Threadloom.Core.Storage;
using Threadloom.Storage.Sqlite;

namespace Threadloom.Storage.Tests.ChunkIndex;

/// <summary>
/// The keyword fast path with frequent terms' cached scores: before they are cached it ranks as the budget always did,
/// once cached it ranks as bm25 over every term (scores included), a write makes the cache stale until it is
/// reloaded, and one project's cached scores never rank another's rows.
/// </summary>
public sealed class KeywordTermScoresTests(ChunkIndexFixture fixture) : IClassFixture<ChunkIndexFixture>
{
    // A budget of 20 rows: "common" (120 rows) and "usual" (90 rows) are over it, "rare" (5 rows) is under.
    private static readonly KeywordPathTuning Small = KeywordPathTuning.Default with { MinTermBudget = 20, TermBudgetPercent = 0, CachedTermMinRows = 20, QuietAfterWrite = TimeSpan.Zero };
    private static readonly KeywordPathTuning EveryTerm = new(MinTermBudget: 1L << 40, TermBudgetPercent: 0, MaxPasses: 1, MaxShapedTerms: 256, CacheFrequentTerms: false);
    private const string Query = "rare common usual";

    private SqliteChunkIndex Index(KeywordPathTuning tuning) => new(fixture.Database) { KeywordTuning = tuning };

    private static Task<ChunkWriteResult> WriteAsync(SqliteChunkIndex index, string project, string store, string file, IEnumerable<string> texts) =>
        index.ReplaceFileAsync(new ChunkSource(project, store, file, file + ".txt"), MiniLmEmbeddingGenerator.ModelId,
            texts.Select((t, i) => new IndexedChunk(i, t, 0, t.Length, 1, null, null, new float[] { 1, 0, 0 })).ToList(), CancellationToken.None);

    /// <summary>300 rows: "common" in 120 (once to three times), "usual" in 90, "rare" in 5, filler words elsewhere.</summary>
    private static List<string> Corpus(int seed)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, 300).Select(i =>
        {
            var words = Enumerable.Range(0, 6 + random.Next(20)).Select(j => $"filler{random.Next(400)}").ToList();
            if (i % 5 < 2)
            {
                words.AddRange(Enumerable.Repeat("common", 1 + random.Next(3)));
            }
            if (i % 10 < 3)
            {
                words.Add("usual");
            }
            if (i % 60 == 7)
            {
                words.Add("rare");
            }
            return string.Join(' ', words.OrderBy(_ => random.Next()));
        }).ToList();
    }

    private static async Task<List<(string Text, double Score)>> SearchAsync(SqliteChunkIndex index, string project, string store, int limit = 60) =>
        (await index.KeywordSearchAsync(project, store, Query, limit, null, CancellationToken.None)).Select(h => (h.Text, h.Score)).ToList();

    private static void AssertSameRanking(List<(string Text, double Score)> expected, List<(string Text, double Score)> actual)
    {
        Assert.Equal(expected.Count, actual.Count);
        for (var i = 0; i < expected.Count; i++)
        {
            Assert.Equal(expected[i].Score, actual[i].Score, 4);
        }
        // Rows of equal score may come in either order; the sets of each score must match.
        Assert.Equal(expected.OrderBy(e => Math.Round(e.Score, 4)).ThenBy(e => e.Text, StringComparer.Ordinal).Select(e => e.Text),
            actual.OrderBy(e => Math.Round(e.Score, 4)).ThenBy(e => e.Text, StringComparer.Ordinal).Select(e => e.Text));
    }

    [Fact]
    public async Task FrequentTerms_DroppedUntilCached_ThenRankedAsBm25OverEveryTerm()
    {
        const string project = "proj_cached_rank";
        var cached = Index(Small);
        await WriteAsync(cached, project, "vs_a", "file-a", Corpus(1));
        var dropped = await SearchAsync(Index(Small with { CacheFrequentTerms = false }), project, "vs_a");
        var full = await SearchAsync(Index(EveryTerm), project, "vs_a");
        Assert.NotEqual(dropped.Select(d => d.Text), full.Select(f => f.Text)); // the frequent terms move rows up

        AssertSameRanking(dropped, await SearchAsync(cached, project, "vs_a")); // cold: asks for the terms, ranks as before
        await cached.WhenKeywordTermsCachedAsync();
        AssertSameRanking(full, await SearchAsync(cached, project, "vs_a"));
        AssertSameRanking(full.Take(7).ToList(), await SearchAsync(cached, project, "vs_a", limit: 7));
    }

    [Fact]
    public async Task AWrite_MakesTheCachedScoresStale_UntilTheyAreLoadedAgain()
    {
        const string project = "proj_cached_write";
        var cached = Index(Small);
        await WriteAsync(cached, project, "vs_b", "file-a", Corpus(2));
        await SearchAsync(cached, project, "vs_b");
        await cached.WhenKeywordTermsCachedAsync();

        // A row that is best on the frequent terms alone: stale cached scores would not know it.
        await WriteAsync(cached, project, "vs_b", "file-new", ["common common common common usual usual fresh"]);
        var dropped = await SearchAsync(Index(Small with { CacheFrequentTerms = false }), project, "vs_b");
        var full = await SearchAsync(Index(EveryTerm), project, "vs_b");
        AssertSameRanking(dropped, await SearchAsync(cached, project, "vs_b"));
        await cached.WhenKeywordTermsCachedAsync();
        var reloaded = await SearchAsync(cached, project, "vs_b");
        AssertSameRanking(full, reloaded);
        Assert.Contains(reloaded, h => h.Text.Contains("fresh", StringComparison.Ordinal));
    }

    [Fact]
    public async Task AProjectJustWrittenTo_AsksForNoLoads_UntilItIsQuiet()
    {
        const string project = "proj_cached_busy";
        var busy = Index(Small with { QuietAfterWrite = TimeSpan.FromHours(1) });
        await WriteAsync(busy, project, "vs_e", "file-a", Corpus(5));
        // The project's statistics exist from here on, so the next write is noted; a rare word only, so nothing is asked.
        await busy.KeywordSearchAsync(project, "vs_e", "rare", 5, null, CancellationToken.None);
        await WriteAsync(busy, project, "vs_e", "file-b", ["common usual"]);

        var dropped = await SearchAsync(Index(Small with { CacheFrequentTerms = false }), project, "vs_e");
        AssertSameRanking(dropped, await SearchAsync(busy, project, "vs_e"));
        await busy.WhenKeywordTermsCachedAsync();
        Assert.Equal(0, busy.CachedKeywordTerms);
        AssertSameRanking(dropped, await SearchAsync(busy, project, "vs_e"));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void Merge_SkippingTheWeakLists_KeepsExactlyTheBruteForceTop(int seed)
    {
        // Lists of very different strengths (one strong, several long and weak), scores in 1/1024 steps so that sums
        // are exact and ties real: the weak lists are soon only probed, and the result must not change.
        var random = new Random(seed);
        static float Step(Random r, int scale) => r.Next(1, 64 * scale) / 1024f;
        var terms = Enumerable.Range(0, 5).Select(t =>
        {
            var rows = Enumerable.Range(0, 3_000).Where(_ => random.NextDouble() < (t == 0 ? 0.02 : 0.4)).Select(r => (long)r).ToArray();
            return new KeywordTermScores.Entry(0, rows, rows.Select(_ => Step(random, t == 0 ? 64 : 1)).ToArray());
        }).ToList();
        var ranked = Enumerable.Range(0, 3_000).Where(_ => random.NextDouble() < 0.01).Select(r => ((long)r, (double)Step(random, 16))).ToList();

        var sums = new Dictionary<long, double>();
        foreach (var (id, score) in ranked.Concat(terms.SelectMany(t => t.Rows.Zip(t.Scores, (r, sc) => (r, (double)sc)))))
        {
            sums[id] = sums.GetValueOrDefault(id) + score;
        }
        foreach (var depth in (int[])[1, 10, 200])
        {
            var expected = sums.OrderByDescending(p => p.Value).ThenBy(p => p.Key).Take(depth).Select(p => (p.Key, p.Value)).ToList();
            Assert.Equal(expected, KeywordTermScores.Merge(ranked, terms, depth));
        }
    }

    [Fact]
    public async Task AQuestionOfManyFrequentWords_TakesAtMostTheCapFromTheCache()
    {
        const string project = "proj_cached_cap";
        var capped = Index(Small with { MaxCachedTerms = 2 });
        // 40 words, each in 60 of the 300 rows.
        var words = Enumerable.Range(0, 40).Select(w => $"w{(char)('a' + w % 26)}{(char)('a' + w / 26)}q").ToList();
        await WriteAsync(capped, project, "vs_f", "file-a", Enumerable.Range(0, 300).Select(i => string.Join(' ', words.Where((_, w) => (i + w) % 5 == 0))));
        var question = string.Join(' ', words);
        await capped.KeywordSearchAsync(project, "vs_f", question, 20, null, CancellationToken.None);
        await capped.WhenKeywordTermsCachedAsync();
        Assert.Equal(2, capped.CachedKeywordTerms);
        await capped.KeywordSearchAsync(project, "vs_f", question, 20, null, CancellationToken.None);
        await capped.WhenKeywordTermsCachedAsync();
        Assert.Equal(2, capped.CachedKeywordTerms); // the same two, used; nothing more asked
    }

    [Fact]
    public async Task OneProjectsCachedScores_NeverRankAnothersRows()
    {
        var cached = Index(Small);
        await WriteAsync(cached, "proj_cached_one", "vs_c", "file-a", Corpus(3));
        await WriteAsync(cached, "proj_cached_two", "vs_d", "file-a", Corpus(4).Take(200));
        await SearchAsync(cached, "proj_cached_one", "vs_c");
        await cached.WhenKeywordTermsCachedAsync();

        var dropped = await SearchAsync(Index(Small with { CacheFrequentTerms = false }), "proj_cached_two", "vs_d");
        AssertSameRanking(dropped, await SearchAsync(cached, "proj_cached_two", "vs_d"));
        await cached.WhenKeywordTermsCachedAsync();
        AssertSameRanking(await SearchAsync(Index(EveryTerm), "proj_cached_two", "vs_d"), await SearchAsync(cached, "proj_cached_two", "vs_d"));
    }

    [Fact]
    public void Merge_SumsEachRowsScores_KeepsTheBestInOrder_TiesBySmallerId()
    {
        // Binary fractions, so the sums are exact and the ties real.
        List<(long Id, double Score)> ranked = [(5, 1.0), (2, 0.5), (7, 0.0625)];
        KeywordTermScores.Entry[] terms =
        [
            new(0, [1, 2, 9], [0.125f, 0.25f, 0.25f]),
            new(0, [2, 4, 9], [0.25f, 0.375f, 0.125f]),
            new(0, [], []),
        ];
        var merged = KeywordTermScores.Merge(ranked, terms, 4);
        Assert.Equal([2L, 5, 4, 9], merged.Select(m => m.Id));
        Assert.Equal([1.0, 1.0, 0.375, 0.375], merged.Select(m => m.Score));
        Assert.Equal([2L, 4], KeywordTermScores.Merge([], terms, 2).Select(m => m.Id));
    }
}
