using System.Diagnostics;
using System.Globalization;
using System.Text;
using Microsoft.Extensions.AI;
using Threadloom.Core.Ingestion;
using Threadloom.Core.Tools.FileSearch;
using Threadloom.Storage.Sqlite;

namespace Threadloom.Bench.FileSearch;

/// <summary>
/// The keyword list's quality and cost at scale (issue #11): each labelled set's documents ingested through the real
/// pipeline into a copy of the 100,000-chunk latency store (other texts of the machine: Python, Perl and C sources),
/// so that its questions are asked of a store of about 100,000 chunks, where the fast path's term budget drops terms
/// (under about 1,500 chunks, as each set is alone, the budget keeps nearly every term). Each term choice
/// (<see cref="KeywordPathTuning"/>) is scored by keyword-only recall@5 and MRR@10 over the set's questions, beside
/// bm25 over every term in one pass (the ranking the budget approximates) and the set alone.
/// </summary>
/// <remarks>
/// Keyword lists only: vectors are zero (the distractors' vectors are not real, so hybrid quality at this size is not
/// measured here). Chunks, titles and contextual headers are the real pipeline's. Each tuning has its own index
/// instance (its own cached document frequencies); every question is searched once by each before the timed round.
/// </remarks>
internal static class KeywordScaleBenchmark
{
    private const string Project = "proj_bench";
    private const string Store = "vs_latency";
    private const string StoreModel = MiniLmEmbeddingGenerator.Int8ModelId;

    /// <summary>bm25 over every term of the question in one FTS5 pass: the ranking the fast path's budget approximates.</summary>
    internal static KeywordPathTuning EveryTermInOnePass { get; } = new(MinTermBudget: 1L << 40, TermBudgetPercent: 0, MaxPasses: 1, MaxShapedTerms: 256, CacheFrequentTerms: false);

    private static readonly (string Name, KeywordPathTuning Tuning)[] Tunings =
    [
        ("budget max(2,000, 3 %); terms in over 100 rows from the cache once cached (default)", KeywordPathTuning.Default),
        ("budget max(2,000, 3 %), no cache (before)", KeywordPathTuning.Default with { CacheFrequentTerms = false }),
        ("budget max(2,000, 3 %); terms in over 500 rows from the cache", KeywordPathTuning.Default with { CachedTermMinRows = 500 }),
        ("budget max(2,000, 3 %); terms in over 3,000 rows (about the budget here) from the cache", KeywordPathTuning.Default with { CachedTermMinRows = 3_000 }),
        ("budget 1,000, no cache", KeywordPathTuning.Default with { MinTermBudget = 1_000, TermBudgetPercent = 0, CacheFrequentTerms = false }),
        ("every term in one pass (bm25 over the whole query)", EveryTermInOnePass),
    ];

    public static async Task<string> RunAsync(List<RetrievalBenchmark.LabelledSet> sets, string data, CancellationToken ct)
    {
        var source = Path.Combine(data, "latency", "distinct-100000.db");
        if (!File.Exists(source))
        {
            throw new InvalidOperationException($"{source} is missing: run the latency bench once (retrieval --latency) to build it.");
        }
        var md = new StringBuilder();
        md.AppendLine(CultureInfo.InvariantCulture, $"### Keyword list at scale: each set inside a 100,000-chunk store ({DateTimeOffset.UtcNow:yyyy-MM-dd HH:mm} UTC; load {RetrievalBenchmark.Load()})");
        md.AppendLine();
        md.AppendLine("| set | store | term choice | keyword recall@5 | keyword MRR@10 | keyword list p50 / p99 | rows matched p50 / p99 |");
        md.AppendLine("|---|---|---|---|---|---|---|");
        using var zero = new ZeroEmbeddings();
        foreach (var set in sets)
        {
            foreach (var large in (bool[])[false, true])
            {
                var dir = Path.Combine(Path.GetTempPath(), "threadloom-keyword-scale-" + Guid.NewGuid().ToString("N"));
                Directory.CreateDirectory(dir);
                var file = Path.Combine(dir, "k.db");
                if (large)
                {
                    File.Copy(source, file);
                }
                try
                {
                    await using var database = new SqliteDatabase(file);
                    await new SqliteMigrator(database).MigrateAsync(ct);
                    var ingestor = new FileIngestor(new TextExtractor(Microsoft.Extensions.Options.Options.Create(new IngestionOptions())), new TextChunker(), zero,
                        new SqliteChunkIndex(database), Microsoft.Extensions.Options.Options.Create(new IngestionOptions()), Microsoft.Extensions.Logging.Abstractions.NullLogger<FileIngestor>.Instance);
                    foreach (var (name, bytes) in set.Documents)
                    {
                        var result = await ingestor.IngestAsync(new IngestionRequest(Project, Store, "labelled-" + name, name, new MemoryStream(bytes)), ct);
                        if (!result.Succeeded)
                        {
                            throw new InvalidOperationException($"{name}: {result.Error?.Message}");
                        }
                    }
                    var chunks = (await new SqliteChunkIndex(database).GetUsageAsync(Project, Store, ct)).ChunkCount;
                    Console.Error.WriteLine($"keyword scale: {set.Name}, {chunks:N0} chunks ready (load {RetrievalBenchmark.Load()})");
                    var tunings = large ? Tunings : Tunings[..2];
                    var measured = tunings.Select(t => (t.Name, Index: new SqliteChunkIndex(database) { KeywordTuning = t.Tuning }, Times: new List<double>(), Rows: new List<double>())).ToList();
                    using var recorder = new RowsRecorder();
                    foreach (var m in measured)
                    {
                        foreach (var q in set.Questions)
                        {
                            await m.Index.KeywordSearchAsync(Project, Store, q.Text, HybridFileSearch.CandidateDepth, null, ct); // document frequencies cached
                        }
                        var caching = Stopwatch.StartNew();
                        await m.Index.WhenKeywordTermsCachedAsync(); // the frequent terms those searches asked for
                        Console.Error.WriteLine($"keyword scale: {m.Name}: frequent terms cached in {caching.Elapsed.TotalSeconds:F1} s after the untimed round");
                    }
                    for (var i = 0; i < set.Questions.Count; i++)
                    {
                        for (var j = 0; j < measured.Count; j++)
                        {
                            var m = measured[(i + j) % measured.Count];
                            recorder.Take();
                            var clock = Stopwatch.StartNew();
                            await m.Index.KeywordSearchAsync(Project, Store, set.Questions[i].Text, HybridFileSearch.CandidateDepth, null, ct);
                            m.Times.Add(clock.Elapsed.TotalMilliseconds);
                            m.Rows.Add(recorder.Take());
                        }
                    }
                    var P = FileSearchBenchmark.P;
                    foreach (var m in measured)
                    {
                        var score = await RetrievalBenchmark.ScoreAsync(set, new HybridFileSearch(m.Index, zero), FileSearchMode.KeywordOnly, false, ct, project: Project, store: Store);
                        md.AppendLine(CultureInfo.InvariantCulture,
                            $"| {set.Name} | {(large ? "inside 100,000 chunks" : "alone")} ({chunks:N0} chunks) | {m.Name} | {score.Recall5:F3} | {score.Mrr10:F3} | {P(m.Times, 50):F1} / {P(m.Times, 99):F1} ms | {P(m.Rows, 50):F0} / {P(m.Rows, 99):F0} |");
                    }
                }
                finally
                {
                    Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
                    Directory.Delete(dir, recursive: true);
                }
            }
        }
        md.AppendLine();
        md.AppendLine("Rows matched: the sum of the chosen terms' document frequencies over a search's passes (what FTS5 scores; cached terms' rows are summed in memory and not counted). The timed round follows one untimed search of every question by each term choice, and the loading of the frequent terms' scores that round asked for (so the cache holds the terms of these very questions: a warm cache), the choices rotating question by question.");
        md.AppendLine();
        return md.ToString();
    }

    /// <summary>Zero vectors under the store's model id: the keyword lists are measured, the vectors are never searched.</summary>
    private sealed class ZeroEmbeddings : IEmbeddingGenerator<string, Embedding<float>>
    {
        public Task<GeneratedEmbeddings<Embedding<float>>> GenerateAsync(IEnumerable<string> values, EmbeddingGenerationOptions? options = null, CancellationToken cancellationToken = default) =>
            Task.FromResult(new GeneratedEmbeddings<Embedding<float>>(values.Select(_ => new Embedding<float>(new float[MiniLmEmbeddingGenerator.Dimensions]) { ModelId = StoreModel })));

        public object? GetService(Type serviceType, object? serviceKey = null) =>
            serviceType == typeof(EmbeddingGeneratorMetadata) ? new EmbeddingGeneratorMetadata("bench", null, StoreModel, MiniLmEmbeddingGenerator.Dimensions) : null;

        public void Dispose() { }
    }

    /// <summary>Sums the <c>df_sum</c> tags of the keyword passes between two calls of <see cref="Take"/>.</summary>
    private sealed class RowsRecorder : IDisposable
    {
        private readonly ActivityListener _listener;
        private long _rows;

        public RowsRecorder()
        {
            _listener = new ActivityListener
            {
                ShouldListenTo = s => s.Name == FileSearchTracing.SourceName,
                Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllData,
                ActivityStopped = a => Interlocked.Add(ref _rows, a.OperationName == FileSearchTracing.Phases.KeywordPass && a.GetTagItem("df_sum") is long df ? df : 0),
            };
            ActivitySource.AddActivityListener(_listener);
        }

        public double Take() => Interlocked.Exchange(ref _rows, 0);

        public void Dispose() => _listener.Dispose();
    }
}
