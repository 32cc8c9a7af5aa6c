using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using Threadloom.Core.Ingestion;
using Threadloom.Core.Storage;
using Threadloom.Core.Tools.FileSearch;
using Threadloom.Storage.Sqlite;

namespace Threadloom.Bench.FileSearch;

/// <summary>
/// Search latency at every size (issue #11), <c>max_num_results</c> 30, in one run: a man-page store of about 2,600
/// chunks, and stores of 3,000 and 100,000 chunks, each alone in its own database (kept in
/// <c>$THREADLOOM_BENCH_DATA/latency</c>). The stores are searched in turn, question by question, so the load of the
/// moment falls on all of them alike. Each search is split by phase from the spans of <see cref="FileSearchTracing"/>.
/// Each database file is read once before the measurements (in the OS page cache, as a store in use would be).
/// </summary>
/// <remarks>
/// Two paths: the <b>index path</b> (query vectors precomputed: the index and fusion alone, every question twice) and
/// the <b>real path</b> (<see cref="HybridFileSearch"/> over the local MiniLM, a fresh generator per store so that
/// every question costs a model pass the first time; then the same questions again, served by the model's query
/// cache). Texts are real (man pages rendered by <c>man -P cat</c>; the machine's Python and Perl sources); vectors are
/// perturbed from 300 real MiniLM chunk vectors (embedding 100,000 chunks here would take hours), which changes what
/// the vector list finds but not what the scan costs.
/// </remarks>
internal static class LatencyBenchmark
{
    private const string Project = "proj_bench";
    private const string Store = "vs_latency";
    private const int MaxResults = 30;
    private const int ManChunks = 2_600;

    private sealed record LatencyStore(string Name, string File, int Chunks, Func<IEnumerable<(string File, List<string> Texts)>> Texts);

    private sealed class Measured(LatencyStore store, SqliteDatabase database, SqliteChunkIndex index, HybridFileSearch indexPath, MiniLmEmbeddingGenerator model,
        MiniLmEmbeddingGenerator queueModel)
    {
        public LatencyStore Store { get; } = store;
        public SqliteDatabase Database { get; } = database;
        public SqliteChunkIndex Index { get; } = index;
        public HybridFileSearch IndexPath { get; } = indexPath;
        public MiniLmEmbeddingGenerator Model { get; } = model;
        public HybridFileSearch RealPath { get; } = new(index, model);
        public MiniLmEmbeddingGenerator QueueModel { get; } = queueModel;
        public HybridFileSearch QueuePath { get; } = new(index, queueModel);
        public List<double> QueueCold { get; } = [];
        public double FirstSearchMs { get; set; }
        public double? PartitionMs { get; set; }
        public List<double> Hybrid { get; } = [];
        public List<double> Keyword { get; } = [];
        public List<double> Vector { get; } = [];
        public List<double> RealCold { get; } = [];
        public List<double> RealWarm { get; } = [];
        public List<Dictionary<string, (double Ms, int Count, long Rows)>> IndexPhases { get; } = [];
        public List<Dictionary<string, (double Ms, int Count, long Rows)>> RealPhases { get; } = [];
    }

    public static async Task<string> RunAsync(RetrievalBenchmark.LabelledSet manSet, List<string> questions, List<float[]> realVectors,
        ConcurrentDictionary<string, ReadOnlyMemory<float>> queryVectors, string data, IReadOnlyList<string> args, CancellationToken ct)
    {
        // --latency-questions N: the first N questions (while iterating); default all.
        var limit = args.SkipWhile(a => a != "--latency-questions").Skip(1).Select(a => int.Parse(a, CultureInfo.InvariantCulture)).FirstOrDefault(int.MaxValue);
        // The questions not measured warm the frequent terms' cached scores first (a server that has seen other
        // questions); the measured ones ask for theirs as they run, and those load beside the timed searches.
        var warmUp = questions.Skip(limit).ToList();
        questions = questions.Take(limit).ToList();
        var warmNotes = new StringBuilder();
        var chunker = new TextChunker();
        var dir = Path.Combine(data, "latency");
        Directory.CreateDirectory(dir);
        LatencyStore[] stores =
        [
            new("man pages, 2,600 chunks", "man-2600.db", ManChunks, () => ManPageChunks(manSet, chunker, ct)),
            new("3,000 chunks", "distinct-3000.db", 3_000, () => FileSearchBenchmark.DistinctSourceChunks(chunker)),
            new("100,000 chunks", "distinct-100000.db", 100_000, () => FileSearchBenchmark.DistinctSourceChunks(chunker)),
        ];
        var loadBefore = RetrievalBenchmark.Load();
        using var recorder = new PhaseRecorder();
        var measured = new List<Measured>();
        var underIngestion = "";
        try
        {
            foreach (var store in stores)
            {
                var database = new SqliteDatabase(Path.Combine(dir, store.File));
                await new SqliteMigrator(database).MigrateAsync(ct);
                var index = new SqliteChunkIndex(database);
                await EnsureStoreAsync(index, store, realVectors, ct);
                await WarmFileAsync(Path.Combine(dir, store.File), ct);
                var m = new Measured(store, database, index, new HybridFileSearch(index, new FileSearchBenchmark.PrecomputedEmbeddings(queryVectors, StoreModel)),
                    new MiniLmEmbeddingGenerator(MiniLmRuntime.DefaultInt8), new MiniLmEmbeddingGenerator(MiniLmRuntime.DefaultInt8 with { QueryLane = false }));
                var clock = Stopwatch.StartNew();
                await m.IndexPath.SearchAsync(new FileSearchQuery(Project, [Store], [questions[0]], MaxResults), ct); // loads the vectors
                m.FirstSearchMs = clock.Elapsed.TotalMilliseconds;
                clock.Restart();
                await m.Index.WhenPartitionedAsync(Store); // built in the background; measured once it is in use
                m.PartitionMs = m.Index.IsPartitioned(Store) ? clock.Elapsed.TotalMilliseconds : null;
                clock.Restart();
                foreach (var q in warmUp)
                {
                    await m.Index.KeywordSearchAsync(Project, Store, q, HybridFileSearch.CandidateDepth, null, ct);
                }
                await m.Index.WhenKeywordTermsCachedAsync();
                warmNotes.AppendLine(CultureInfo.InvariantCulture,
                    $"- {store.Name}: {m.Index.CachedKeywordTerms} frequent terms' scores cached after {warmUp.Count} held-out questions ({clock.Elapsed.TotalSeconds:F1} s).");
                await m.Model.GenerateAsync(["warm up"], cancellationToken: ct); // the session's first pass
                await m.QueueModel.GenerateAsync(["warm up"], cancellationToken: ct);
                measured.Add(m);
                Console.Error.WriteLine($"latency: {store.Name} ready, first search {m.FirstSearchMs:F0} ms (load {RetrievalBenchmark.Load()})");
            }

            // The index path: every question twice, hybrid; keyword and vector lists on their own once.
            for (var round = 0; round < 2; round++)
            {
                foreach (var q in questions)
                {
                    foreach (var m in measured)
                    {
                        recorder.Take();
                        m.Hybrid.Add(await TimeAsync(() => m.IndexPath.SearchAsync(new FileSearchQuery(Project, [Store], [q], MaxResults), ct)));
                        m.IndexPhases.Add(recorder.Take());
                        if (round == 0)
                        {
                            m.Keyword.Add(await TimeAsync(() => m.Index.KeywordSearchAsync(Project, Store, q, HybridFileSearch.CandidateDepth, null, ct)));
                            m.Vector.Add(await TimeAsync(() => m.Index.VectorSearchAsync(Project, Store, queryVectors[q], HybridFileSearch.CandidateDepth, null, ct)));
                        }
                    }
                }
                Console.Error.WriteLine($"latency: index path round {round + 1} done (load {RetrievalBenchmark.Load()})");
            }
            // The real path: first a model pass per question (each store has its own generator), then the cached vectors.
            foreach (var cold in (bool[])[true, false])
            {
                foreach (var q in questions)
                {
                    foreach (var m in measured)
                    {
                        recorder.Take();
                        var t = await TimeAsync(() => m.RealPath.SearchAsync(new FileSearchQuery(Project, [Store], [q], MaxResults), ct));
                        var split = recorder.Take();
                        (cold ? m.RealCold : m.RealWarm).Add(t);
                        if (cold)
                        {
                            m.RealPhases.Add(split);
                        }
                    }
                }
                Console.Error.WriteLine($"latency: real path ({(cold ? "model pass" : "query cache")}) done (load {RetrievalBenchmark.Load()})");
            }
            // The same questions through the shared queue (no query lane), for the comparison: a round of their own, as
            // that runtime's threads spin after each pass and would slow whatever search ran next.
            foreach (var q in questions)
            {
                foreach (var m in measured)
                {
                    m.QueueCold.Add(await TimeAsync(() => m.QueuePath.SearchAsync(new FileSearchQuery(Project, [Store], [q], MaxResults), ct)));
                    recorder.Take();
                }
            }
            underIngestion = await UnderIngestionAsync(measured[1], questions.Take(40).ToList(), ct);
            underIngestion += await PartitionRecallAsync(measured, questions, queryVectors, ct);
        }
        finally
        {
            foreach (var m in measured)
            {
                m.Model.Dispose();
                m.QueueModel.Dispose();
                await m.Database.DisposeAsync();
            }
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        }
        var runtimes = await EmbeddingRuntimesAsync(questions, ct);
        var loadAfter = RetrievalBenchmark.Load();
        return Report(measured, questions.Count, loadBefore, loadAfter) + "\nKeyword term cache before the timed rounds:\n\n" + warmNotes + "\n" + underIngestion + runtimes;
    }

    /// <summary>
    /// What the vector partition (<see cref="VectorPartitioning"/>) finds against the full scan of the same rows: recall
    /// of the vector list's top 50 and top 5, for the default probed share and two others, on each store (partitioned
    /// even when under the size that partitions by default: every store's vectors here are
    /// perturbed copies of 300 real ones, which flatters any clustering); and the hybrid top 30's overlap.
    /// </summary>
    private static async Task<string> PartitionRecallAsync(List<Measured> measured, List<string> questions, ConcurrentDictionary<string, ReadOnlyMemory<float>> queryVectors, CancellationToken ct)
    {
        var depth = HybridFileSearch.CandidateDepth;
        var md = new StringBuilder();
        md.AppendLine(CultureInfo.InvariantCulture, $"Vector partition against the full scan, {questions.Count} questions (load {RetrievalBenchmark.Load()}): recall of the vector list's top {depth} / top 5, and the hybrid top {MaxResults}'s overlap (index path):");
        md.AppendLine();
        md.AppendLine("| store | lists | probed share | vector recall@50 | vector recall@5 | hybrid top 30 overlap | identical hybrid top 30 |");
        md.AppendLine("|---|---|---|---|---|---|---|");
        foreach (var m in measured)
        {
            // Both sides rank keywords without the cached term scores, so that only the vector list differs.
            var keywords = KeywordPathTuning.Default with { CacheFrequentTerms = false };
            var exact = new SqliteChunkIndex(m.Database) { Partitioning = VectorPartitioning.Off, KeywordTuning = keywords };
            var exactSearch = new HybridFileSearch(exact, new FileSearchBenchmark.PrecomputedEmbeddings(queryVectors, StoreModel));
            foreach (var share in (double[])[0.05, 0.1, VectorPartitioning.Default.ProbedShare, 0.3])
            {
                // The share alone decides what is probed (the floor of 8 rows per candidate would probe most of a small store).
                var rule = VectorPartitioning.Default with { MinRows = 1, ProbedShare = share, MinProbedPerCandidate = m.Store.Chunks >= VectorPartitioning.Default.MinRows ? VectorPartitioning.Default.MinProbedPerCandidate : 0 };
                var partitioned = new SqliteChunkIndex(m.Database) { Partitioning = rule, KeywordTuning = keywords };
                await partitioned.VectorSearchAsync(Project, Store, queryVectors[questions[0]], depth, null, ct);
                await partitioned.WhenPartitionedAsync(Store);
                var search = new HybridFileSearch(partitioned, new FileSearchBenchmark.PrecomputedEmbeddings(queryVectors, StoreModel));
                double r50 = 0, r5 = 0, overlap = 0, identical = 0;
                foreach (var q in questions)
                {
                    var truth = (await exact.VectorSearchAsync(Project, Store, queryVectors[q], depth, null, ct)).Select(h => h.ChunkId).ToList();
                    var found = (await partitioned.VectorSearchAsync(Project, Store, queryVectors[q], depth, null, ct)).Select(h => h.ChunkId).ToList();
                    r50 += truth.Count == 0 ? 1 : (double)found.Intersect(truth).Count() / truth.Count;
                    r5 += truth.Count == 0 ? 1 : (double)found.Intersect(truth.Take(5)).Count() / Math.Min(5, truth.Count);
                    var a = (await exactSearch.SearchAsync(new FileSearchQuery(Project, [Store], [q], MaxResults), ct)).Select(r => (r.FileId, r.ChunkIndex)).ToList();
                    var b = (await search.SearchAsync(new FileSearchQuery(Project, [Store], [q], MaxResults), ct)).Select(r => (r.FileId, r.ChunkIndex)).ToList();
                    overlap += a.Count == 0 ? 1 : (double)b.Intersect(a).Count() / a.Count;
                    identical += a.SequenceEqual(b) ? 1 : 0;
                }
                var n = questions.Count;
                md.AppendLine(CultureInfo.InvariantCulture,
                    $"| {m.Store.Name} | {rule.ListsFor(m.Store.Chunks)} | {share:P0}{(share == VectorPartitioning.Default.ProbedShare ? " (default)" : "")} | {r50 / n:F3} | {r5 / n:F3} | {overlap / n:F3} | {identical / n:P0} |");
            }
        }
        md.AppendLine();
        return md.ToString();
    }

    /// <summary>
    /// Searches of one store while its generator embeds a long input without pause (a file being ingested): through
    /// the query lane (the default) and through the shared queue (before), each question new to the generator.
    /// </summary>
    private static async Task<string> UnderIngestionAsync(Measured m, List<string> questions, CancellationToken ct)
    {
        var file = string.Join(' ', Enumerable.Range(0, 20_000).Select(i => "word" + (i % 977)));
        var rows = new List<(string Name, List<double> Times)>();
        foreach (var (name, model, search) in new[] { ("query lane (default)", m.Model, m.RealPath), ("shared queue (before): the query first in the queue", m.QueueModel, m.QueuePath) })
        {
            using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
            var ingestion = Task.Run(async () =>
            {
                while (!stop.IsCancellationRequested)
                {
                    await model.EmbedSpansAsync([file], stop.Token);
                }
            }, CancellationToken.None);
            await Task.Delay(500, ct);
            var times = new List<double>();
            foreach (var q in questions)
            {
                // A prefix the generator has not seen: the query cache holds every question already.
                times.Add(await TimeAsync(() => search.SearchAsync(new FileSearchQuery(Project, [Store], ["while a file is ingested: " + q], MaxResults), ct)));
            }
            await stop.CancelAsync();
            try
            {
                await ingestion;
            }
            catch (OperationCanceledException)
            {
            }
            rows.Add((name, times));
        }
        var P = FileSearchBenchmark.P;
        var md = new StringBuilder();
        md.AppendLine(CultureInfo.InvariantCulture, $"Search of the {m.Store.Name} store while its generator embeds a long input without pause (a file being ingested), {questions.Count} questions (load {RetrievalBenchmark.Load()}):");
        md.AppendLine();
        md.AppendLine("| query path | p50 | p99 |");
        md.AppendLine("|---|---|---|");
        foreach (var (name, times) in rows)
        {
            md.AppendLine(CultureInfo.InvariantCulture, $"| {name} | {P(times, 50):F1} ms | {P(times, 99):F1} ms |");
        }
        md.AppendLine();
        return md.ToString();
    }

    private static string Report(List<Measured> measured, int questions, string loadBefore, string loadAfter)
    {
        var P = FileSearchBenchmark.P;
        var md = new StringBuilder();
        md.AppendLine(CultureInfo.InvariantCulture, $"### Search latency at every size (max_num_results {MaxResults}; {DateTimeOffset.UtcNow:yyyy-MM-dd HH:mm} UTC; load {loadBefore} → {loadAfter})");
        md.AppendLine();
        md.AppendLine("| store | hybrid, real path (MiniLM int8 pass per question, query lane) p50 / p99 | the same through the shared queue (no query lane) p50 / p99 | hybrid, real path, query vector cached p50 / p99 | hybrid, index path p50 / p99 | keyword list p50 / p99 | vector list p50 / p99 | first search | vector partition built in the background |");
        md.AppendLine("|---|---|---|---|---|---|---|---|---|");
        foreach (var m in measured)
        {
            md.AppendLine(CultureInfo.InvariantCulture,
                $"| {m.Store.Name} | **{P(m.RealCold, 50):F1} / {P(m.RealCold, 99):F1} ms** | {P(m.QueueCold, 50):F1} / {P(m.QueueCold, 99):F1} ms | {P(m.RealWarm, 50):F1} / {P(m.RealWarm, 99):F1} ms | **{P(m.Hybrid, 50):F1} / {P(m.Hybrid, 99):F1} ms** | {P(m.Keyword, 50):F1} / {P(m.Keyword, 99):F1} ms | {P(m.Vector, 50):F1} / {P(m.Vector, 99):F1} ms | {m.FirstSearchMs:F0} ms | {(m.PartitionMs is { } ms ? $"{ms:F0} ms" : "none (full scan)")} |");
        }
        md.AppendLine();
        md.AppendLine(CultureInfo.InvariantCulture,
            $"{questions} distinct questions of both sets; the stores searched in turn, question by question. Index path: hybrid twice per question (the first time pays for the terms' document frequencies), keyword and vector list (top {HybridFileSearch.CandidateDepth}) once. Real path: once with a model pass (and once more through a generator without the query lane, the queue path), once from the query cache.");
        md.AppendLine();
        md.AppendLine("Per phase (ms per search, p50 / p99; \"n\" = calls per search on average). The embedding and the vector list run beside the keyword list, so phases do not add up to the total.");
        md.AppendLine();
        md.AppendLine("| phase | " + string.Join(" | ", measured.Select(m => m.Store.Name + " (real path)")) + " | " + string.Join(" | ", measured.Select(m => m.Store.Name + " (index path)")) + " |");
        md.AppendLine("|---|" + string.Concat(Enumerable.Repeat("---|", measured.Count * 2)));
        foreach (var (phase, label) in PhaseLabels)
        {
            string Cell(List<Dictionary<string, (double Ms, int Count, long Rows)>> all)
            {
                var ms = all.Select(d => d.TryGetValue(phase, out var v) ? v.Ms : 0).ToList();
                var n = all.Average(d => d.TryGetValue(phase, out var v) ? v.Count : 0);
                return n == 0 ? "–" : $"{P(ms, 50):F2} / {P(ms, 99):F2} (n {n:F1})";
            }
            md.AppendLine(CultureInfo.InvariantCulture, $"| {label} | {string.Join(" | ", measured.Select(m => Cell(m.RealPhases)))} | {string.Join(" | ", measured.Select(m => Cell(m.IndexPhases)))} |");
        }
        string Rows(List<Dictionary<string, (double Ms, int Count, long Rows)>> all)
        {
            var rows = all.Select(d => d.TryGetValue(FileSearchTracing.Phases.KeywordPass, out var v) ? (double)v.Rows : 0).ToList();
            return $"{P(rows, 50):F0} / {P(rows, 99):F0}";
        }
        md.AppendLine(CultureInfo.InvariantCulture, $"| rows the keyword passes match (sum of the chosen terms' document frequencies) | {string.Join(" | ", measured.Select(m => Rows(m.RealPhases)))} | {string.Join(" | ", measured.Select(m => Rows(m.IndexPhases)))} |");
        md.AppendLine();
        return md.ToString();
    }

    /// <summary>
    /// One question's model pass on the default runtime (both cores, spinning threads) and on one thread without
    /// spinning, alternately (which goes first alternates too), each generator fresh so that nothing is cached.
    /// </summary>
    private static async Task<string> EmbeddingRuntimesAsync(List<string> questions, CancellationToken ct)
    {
        (string Name, MiniLmRuntime Runtime)[] runtimes =
        [
            ("int8, query lane (the default: one thread, no spinning)", MiniLmRuntime.DefaultInt8),
            ("int8, shared queue (all cores, spinning)", MiniLmRuntime.DefaultInt8 with { QueryLane = false }),
            ("float, shared queue (all cores, spinning)", MiniLmRuntime.Default with { QueryLane = false }),
            ("float, query lane", MiniLmRuntime.Default),
        ];
        var generators = runtimes.Select(r => new MiniLmEmbeddingGenerator(r.Runtime)).ToArray();
        var times = runtimes.Select(_ => new List<double>()).ToArray();
        try
        {
            foreach (var g in generators)
            {
                await g.GenerateAsync(["warm up"], cancellationToken: ct);
            }
            for (var i = 0; i < questions.Count; i++)
            {
                for (var j = 0; j < generators.Length; j++)
                {
                    var k = (i + j) % generators.Length;
                    times[k].Add(await TimeAsync(() => generators[k].GenerateAsync([questions[i]], cancellationToken: ct)));
                }
            }
        }
        finally
        {
            foreach (var g in generators)
            {
                g.Dispose();
            }
        }
        var P = FileSearchBenchmark.P;
        var md = new StringBuilder();
        md.AppendLine(CultureInfo.InvariantCulture, $"Query embedding alone, {questions.Count} questions, the two runtimes alternately (load {RetrievalBenchmark.Load()}):");
        md.AppendLine();
        md.AppendLine("| MiniLM runtime | p50 | p99 |");
        md.AppendLine("|---|---|---|");
        for (var j = 0; j < runtimes.Length; j++)
        {
            md.AppendLine(CultureInfo.InvariantCulture, $"| {runtimes[j].Name} | {P(times[j], 50):F1} ms | {P(times[j], 99):F1} ms |");
        }
        md.AppendLine();
        return md.ToString();
    }

    private static readonly (string Phase, string Label)[] PhaseLabels =
    [
        (FileSearchTracing.Phases.Search, "**whole search**"),
        (FileSearchTracing.Phases.Embed, "query embedding (MiniLM)"),
        (FileSearchTracing.Phases.Keyword, "keyword list"),
        (FileSearchTracing.Phases.KeywordStatistics, "· statistics (row counts, document frequencies)"),
        (FileSearchTracing.Phases.KeywordPass, "· ranking passes (bm25)"),
        (FileSearchTracing.Phases.KeywordCachedTerms, "· cached frequent terms merged"),
        (FileSearchTracing.Phases.KeywordFullQuery, "· full query (slow path)"),
        (PhaseRecorder.KeywordFetch, "· row fetch"),
        (FileSearchTracing.Phases.Vector, "vector list"),
        (FileSearchTracing.Phases.VectorLoad, "· load of the store's vectors"),
        (FileSearchTracing.Phases.VectorScan, "· scan (int8 + float32 rescoring)"),
        (PhaseRecorder.VectorFetch, "· row fetch"),
        (FileSearchTracing.Phases.Fuse, "fusion"),
        (PhaseRecorder.EmbedDelay, "timeline: search start → embedding start"),
        (PhaseRecorder.ListsDone, "timeline: search start → both lists done"),
        (PhaseRecorder.KeywordIdle, "timeline: keyword list done → vector list done"),
        (PhaseRecorder.AfterLists, "timeline: both lists done → search end"),
    ];

    /// <summary>The model new stores are built with (the real path's generators must be the store's model, or it searches keywords only).</summary>
    private const string StoreModel = MiniLmEmbeddingGenerator.Int8ModelId;

    /// <summary>
    /// Fills the store (unless its database already holds it, built for <see cref="StoreModel"/>): the texts chunked
    /// 800/400, vectors perturbed from real ones (seed 7, as before).
    /// </summary>
    private static async Task EnsureStoreAsync(SqliteChunkIndex index, LatencyStore store, List<float[]> realVectors, CancellationToken ct)
    {
        if ((await index.GetUsageAsync(Project, Store, ct)).ChunkCount == store.Chunks && (await index.GetEmbeddingModelAsync(Project, Store, ct))?.Model == StoreModel)
        {
            return;
        }
        Console.Error.WriteLine($"latency: building {store.Name} (load {RetrievalBenchmark.Load()})");
        await index.DeleteVectorStoreAsync(Project, Store, ct);
        var random = new Random(7);
        var written = 0;
        var fileCount = 0;
        foreach (var (file, texts) in store.Texts())
        {
            var take = Math.Min(texts.Count, store.Chunks - written);
            var chunks = texts.Take(take).Select((text, i) => new IndexedChunk(i, text, 0, 0, 0, null, null, FileSearchBenchmark.Perturb(realVectors[random.Next(realVectors.Count)], random))).ToList();
            await index.ReplaceFileAsync(new ChunkSource(Project, Store, "file-" + fileCount++, file), StoreModel, chunks, ct);
            written += take;
            if (written == store.Chunks)
            {
                return;
            }
        }
        throw new InvalidOperationException($"Only {written} chunks of text found for {store.Name}.");
    }

    /// <summary>The labelled set's man pages, then the machine's other pages of sections 1 and 8 (path order), rendered with <c>man -P cat</c> and chunked 800/400.</summary>
    private static IEnumerable<(string File, List<string> Texts)> ManPageChunks(RetrievalBenchmark.LabelledSet manSet, TextChunker chunker, CancellationToken ct)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (name, bytes) in manSet.Documents)
        {
            seen.Add(name);
            yield return (name, Chunk(Encoding.UTF8.GetString(bytes)));
        }
        var others = new[] { "1", "8" }.SelectMany(s => Directory.Exists($"/usr/share/man/man{s}")
                ? Directory.EnumerateFiles($"/usr/share/man/man{s}").Order(StringComparer.Ordinal).Select(f => (Page: Path.GetFileName(f).Split('.')[0], Section: s))
                : [])
            .Where(p => !seen.Contains(FileSearchBenchmark.PageFile(p.Page, p.Section)));
        foreach (var batch in others.Chunk(16))
        {
            foreach (var (name, text) in FileSearchBenchmark.RenderPagesAsync(batch.Distinct().ToList(), ct).GetAwaiter().GetResult())
            {
                if (text.Trim().Length >= 200 && seen.Add(name + ".txt"))
                {
                    yield return (name + ".txt", Chunk(text));
                }
            }
        }

        List<string> Chunk(string text) => chunker.Chunk(new ExtractedDocument(text, null, [], []), StaticChunkingStrategy.Default).Select(c => c.Text).ToList();
    }

    /// <summary>
    /// Reads the database file once, so that it is in the OS page cache as a searched store's would be: without it the
    /// first search of each term read its pages from disk (20 ms for one term's count in a probe, 0.4 ms once cached).
    /// </summary>
    private static async Task WarmFileAsync(string path, CancellationToken ct)
    {
        await using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, 1 << 20);
        var buffer = new byte[1 << 20];
        while (await file.ReadAsync(buffer, ct) > 0)
        {
        }
    }

    private static async Task<double> TimeAsync<T>(Func<Task<T>> action)
    {
        var clock = Stopwatch.StartNew();
        await action();
        return clock.Elapsed.TotalMilliseconds;
    }

    /// <summary>Sums the spans of <see cref="FileSearchTracing"/> by phase between two calls of <see cref="Take"/>.</summary>
    private sealed class PhaseRecorder : IDisposable
    {
        public const string KeywordFetch = FileSearchTracing.Phases.RowFetch + ".keyword";
        public const string VectorFetch = FileSearchTracing.Phases.RowFetch + ".vector";

        private readonly ActivityListener _listener;
        private readonly Lock _lock = new();
        private Dictionary<string, (double Ms, int Count, long Rows)> _current = new(StringComparer.Ordinal);

        public PhaseRecorder()
        {
            _listener = new ActivityListener
            {
                ShouldListenTo = s => s.Name == FileSearchTracing.SourceName,
                Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllData,
                ActivityStopped = Stopped,
            };
            ActivitySource.AddActivityListener(_listener);
        }

        /// <summary>Synthetic phases, from the spans' start and end times: where a search's wall time goes between its lists.</summary>
        public const string EmbedDelay = "timeline.embed_delay";
        public const string ListsDone = "timeline.lists_done";
        public const string KeywordIdle = "timeline.keyword_waits_for_vectors";
        public const string AfterLists = "timeline.after_lists";

        // The current search's span edges (ticks of their start and end times).
        private long _embedStart, _keywordEnd, _vectorEnd;

        private void Timeline(Activity activity)
        {
            var start = activity.StartTimeUtc.Ticks;
            var end = start + activity.Duration.Ticks;
            switch (activity.OperationName)
            {
                case FileSearchTracing.Phases.Embed: _embedStart = start; break;
                case FileSearchTracing.Phases.Keyword: _keywordEnd = Math.Max(_keywordEnd, end); break;
                case FileSearchTracing.Phases.Vector: _vectorEnd = Math.Max(_vectorEnd, end); break;
                case FileSearchTracing.Phases.Search:
                    void Add(string phase, long ticks)
                    {
                        var (ms, count, r) = _current.GetValueOrDefault(phase);
                        _current[phase] = (ms + TimeSpan.FromTicks(Math.Max(0, ticks)).TotalMilliseconds, count + 1, r);
                    }
                    var listsDone = Math.Max(_keywordEnd, _vectorEnd);
                    if (_embedStart > 0) Add(EmbedDelay, _embedStart - start);
                    Add(ListsDone, listsDone - start);
                    if (_vectorEnd > 0 && _keywordEnd > 0) Add(KeywordIdle, _vectorEnd - _keywordEnd);
                    Add(AfterLists, end - listsDone);
                    _embedStart = _keywordEnd = _vectorEnd = 0;
                    break;
            }
        }

        private void Stopped(Activity activity)
        {
            lock (_lock)
            {
                Timeline(activity);
            }
            var phase = activity.OperationName;
            if (phase == FileSearchTracing.Phases.RowFetch)
            {
                phase = activity.Parent?.OperationName == FileSearchTracing.Phases.Vector ? VectorFetch : KeywordFetch;
            }
            var rows = activity.GetTagItem("df_sum") is long df ? df : 0;
            lock (_lock)
            {
                var (ms, count, r) = _current.GetValueOrDefault(phase);
                _current[phase] = (ms + activity.Duration.TotalMilliseconds, count + 1, r + rows);
            }
        }

        public Dictionary<string, (double Ms, int Count, long Rows)> Take()
        {
            lock (_lock)
            {
                var taken = _current;
                _current = new(StringComparer.Ordinal);
                return taken;
            }
        }

        public void Dispose() => _listener.Dispose();
    }
}
