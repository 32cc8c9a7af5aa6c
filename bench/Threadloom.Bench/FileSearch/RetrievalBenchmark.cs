using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Threadloom.Core.Ingestion;
using Threadloom.Core.Storage;
using Threadloom.Core.Tools.FileSearch;
using Threadloom.Storage.Sqlite;

namespace Threadloom.Bench.FileSearch;

/// <summary>
/// Retrieval quality on both labelled sets (issue #11): the man-page set (<c>bench/retrieval/questions.tsv</c>) and
/// the Python library reference set (<c>bench/retrieval/python-docs</c>), each scored for a whole-document BM25
/// baseline and for keyword, vector and hybrid search over the real pipeline, per ingestion variant. With
/// <c>--throughput</c> it also ingests each corpus through the old per-chunk path and the shared-span path side by
/// side, without the embedding cache. Returns a markdown section.
/// </summary>
/// <remarks>
/// Embeddings of the corpora are cached on disk (<c>$THREADLOOM_BENCH_DATA/embeddings.db</c>, default
/// <c>/work/benchdata</c>), so only the first run pays for the model. The python-docs corpus is built by
/// <c>bench/retrieval/python-docs/build_corpus.sh</c> into <c>$THREADLOOM_BENCH_DATA/pydoc/corpus</c>.
/// </remarks>
public static partial class RetrievalBenchmark
{
    private const string Project = "proj_retrieval";
    private const string Store = "vs_quality";

    internal sealed record Question(string Id, string File, string Text, string Style, string? Passage);

    internal sealed record LabelledSet(string Name, List<(string FileName, byte[] Bytes)> Documents, List<Question> Questions);

    /// <summary>An ingestion variant: what the pipeline does differently, and on which set it was decided.</summary>
    internal sealed record Variant(string Name, Action<IngestionOptions> Configure, Func<ITextExtractor, ITextExtractor>? Extractor = null);

    // Each lever on its own, on top of the one before it. "old path" is the pipeline before issue #11.
    private static readonly Variant[] Variants =
    [
        new("old path (per-chunk embedding, no plain-text title, title not in keywords)", o => (o.EmbedSharedSpans, o.TitleInKeywords) = (false, false), WithoutPlainTextTitles),
        new("shared spans", o => (o.EmbedSharedSpans, o.TitleInKeywords) = (true, false), WithoutPlainTextTitles),
        new("shared spans + plain-text title in the embedding header", o => (o.EmbedSharedSpans, o.TitleInKeywords) = (true, false)),
        new("shared spans + title in header and keywords (new default)", o => (o.EmbedSharedSpans, o.TitleInKeywords) = (true, true)),
    ];

        private static NoPlainTextTitle WithoutPlainTextTitles(ITextExtractor inner) => new(inner);

    /// <summary>The extraction before plain-text titles: a .txt document has no title.</summary>
    private sealed class NoPlainTextTitle(ITextExtractor inner) : ITextExtractor
    {
        public async Task<ExtractionResult> ExtractAsync(string fileName, Stream content, CancellationToken cancellationToken)
        {
            var result = await inner.ExtractAsync(fileName, content, cancellationToken);
            return result.Document is { } d && fileName.EndsWith(".txt", StringComparison.Ordinal) ? ExtractionResult.Success(d with { Title = null }) : result;
        }
    }

    public static async Task<string> RunAsync(IReadOnlyList<string> args, CancellationToken ct)
    {
        var repo = FileSearchBenchmark.FindRepo();
        var data = Environment.GetEnvironmentVariable("THREADLOOM_BENCH_DATA") is { Length: > 0 } d ? d : "/work/benchdata";
        var sets = new List<LabelledSet> { await LoadManSetAsync(repo, ct), LoadPythonDocsSet(repo, data) };
        if (args.Contains("--python-docs-first"))
        {
            sets.Reverse();
        }
        // --variants 0,3: only those ingestion variants (indexes into Variants), e.g. when the model time is scarce.
        var chosen = args.SkipWhile(a => a != "--variants").Skip(1).Select(a => a.Split(',').Select(v => Variants[int.Parse(v, CultureInfo.InvariantCulture)]).ToList())
            .FirstOrDefault(Variants.ToList());
        using var model = new MiniLmEmbeddingGenerator();
        using var cache = new EmbeddingCache(model, Path.Combine(data, "embeddings.db"));
        // --int8: each chosen variant also with the int8-quantized model (its own cache entries: another model id).
        using var int8Model = args.Contains("--int8") ? new MiniLmEmbeddingGenerator(MiniLmRuntime.DefaultInt8) : null;
        using var int8Cache = int8Model is null ? null : new EmbeddingCache(int8Model, Path.Combine(data, "embeddings.db"));
        var md = new StringBuilder();
        md.AppendLine("## Retrieval (both labelled sets)");
        md.AppendLine();
        md.AppendLine(CultureInfo.InvariantCulture, $"Run {DateTimeOffset.UtcNow:yyyy-MM-dd HH:mm} UTC, {Environment.ProcessorCount} cores, load {Load()}.");
        md.AppendLine();

        if (args.Contains("--throughput"))
        {
            // --throughput-files N: the first N documents of each set (the same for both paths); default all.
            var limit = args.SkipWhile(a => a != "--throughput-files").Skip(1).Select(a => int.Parse(a, CultureInfo.InvariantCulture)).FirstOrDefault(int.MaxValue);
            md.Append(await ThroughputAsync(sets.Select(s => s with { Documents = s.Documents.Take(limit).ToList() }).ToList(), args, ct));
        }
        if (args.Contains("--profile-ingestion"))
        {
            var limit = args.SkipWhile(a => a != "--throughput-files").Skip(1).Select(a => int.Parse(a, CultureInfo.InvariantCulture)).FirstOrDefault(int.MaxValue);
            md.Append(await IngestionProfile.RunAsync(sets.Select(s => s with { Documents = s.Documents.Take(limit).ToList() }).ToList(), model, ct));
        }
        if (args.Contains("--latency"))
        {
            md.Append(await LatencyAsync(sets, model, cache, data, ct));
        }

        if (args.Contains("--no-quality"))
        {
            return md.ToString();
        }
        md.AppendLine("| set | variant | mode | recall@5 | MRR@10 | passage in top-5 chunks |");
        md.AppendLine("|---|---|---|---|---|---|");
        foreach (var set in sets)
        {
            var (r5, mrr) = await WholeDocumentBm25Async(set, ct);
            md.AppendLine(CultureInfo.InvariantCulture, $"| {set.Name} | whole documents | BM25 baseline | {r5:F3} | {mrr:F3} | |");
            Console.Error.WriteLine($"| {set.Name} | whole documents | BM25 baseline | {r5:F3} | {mrr:F3} | | (load {Load()}, {DateTimeOffset.UtcNow:HH:mm})");
            foreach (var variant in chosen.Where(_ => int8Cache is not null))
            {
                await using var quantized = await BuildAsync(set, variant, int8Cache!, ct);
                foreach (var (label, mode, rewrite) in Modes)
                {
                    var score = await ScoreAsync(set, quantized.Search, mode, rewrite, ct);
                    md.AppendLine(CultureInfo.InvariantCulture, $"| {set.Name} | {variant.Name}, **int8 weights** | {label} | {Row(score)}");
                    Console.Error.WriteLine($"| {set.Name} | {variant.Name}, int8 weights | {label} | {Row(score)} (load {Load()}, {DateTimeOffset.UtcNow:HH:mm})");
                }
            }
            foreach (var variant in chosen)
            {
                await using var built = await BuildAsync(set, variant, cache, ct);
                foreach (var (label, mode, rewrite) in Modes)
                {
                    var score = await ScoreAsync(set, built.Search, mode, rewrite, ct);
                    md.AppendLine(CultureInfo.InvariantCulture, $"| {set.Name} | {variant.Name} | {label} | {Row(score)}");
                    Console.Error.WriteLine($"| {set.Name} | {variant.Name} | {label} | {Row(score)} (load {Load()}, {DateTimeOffset.UtcNow:HH:mm})");
                }
                var conversational = set.Questions.Where(q => q.Style == "conv").ToList();
                if (conversational.Count > 0)
                {
                    foreach (var rewrite in (bool[])[false, true])
                    {
                        var score = await ScoreAsync(set, built.Search, FileSearchMode.Hybrid, rewrite, ct, conversational);
                        md.AppendLine(CultureInfo.InvariantCulture, $"| {set.Name} | {variant.Name} | hybrid{(rewrite ? " + rewrite_query" : "")}, the {conversational.Count} conversational questions only | {Row(score)}");
                    }
                    var original = await ScoreAsync(set, built.With(new HybridFusion(EmbedOriginalQuery: true)), FileSearchMode.Hybrid, true, ct, conversational);
                    md.AppendLine(CultureInfo.InvariantCulture, $"| {set.Name} | {variant.Name} | hybrid + rewrite_query for keywords only (vectors embed the question), conversational only | {Row(original)}");
                    var all = await ScoreAsync(set, built.With(new HybridFusion(EmbedOriginalQuery: true)), FileSearchMode.Hybrid, true, ct);
                    md.AppendLine(CultureInfo.InvariantCulture, $"| {set.Name} | {variant.Name} | hybrid + rewrite_query for keywords only, all questions | {Row(all)}");
                }
                if (variant == Variants[^1] || variant == chosen[^1])
                {
                    foreach (var (name, fusion) in Fusions)
                    {
                        var score = await ScoreAsync(set, built.With(fusion), FileSearchMode.Hybrid, false, ct);
                        md.AppendLine(CultureInfo.InvariantCulture, $"| {set.Name} | {variant.Name} | hybrid, fusion {name} | {Row(score)}");
                        Console.Error.WriteLine($"| {set.Name} | {variant.Name} | hybrid, fusion {name} | {Row(score)}");
                    }
                }
            }
        }
        md.AppendLine();
        md.AppendLine(CultureInfo.InvariantCulture, $"Embedding cache: {cache.Hits} hits, {cache.Misses} misses{(int8Cache is null ? "" : $" (int8: {int8Cache.Hits} hits, {int8Cache.Misses} misses)")}. Load at the end: {Load()}.");
        return md.ToString();
    }

    private static readonly (string Label, FileSearchMode Mode, bool Rewrite)[] Modes =
        [("keyword (BM25 chunks)", FileSearchMode.KeywordOnly, false), ("vector", FileSearchMode.VectorOnly, false), ("hybrid", FileSearchMode.Hybrid, false), ("hybrid + rewrite_query", FileSearchMode.Hybrid, true)];

    internal sealed record Score(double Recall5, double Mrr10, double? Passage5);

    private static string Row(Score score) =>
        string.Create(CultureInfo.InvariantCulture, $"{score.Recall5:F3} | {score.Mrr10:F3} | {(score.Passage5 is { } p ? p.ToString("F3", CultureInfo.InvariantCulture) : "")} |");

    // Search-time fusion settings, measured on the last (default) variant's stores; the first is the default.
    private static readonly (string Name, HybridFusion Fusion)[] Fusions =
    [
        ("k 20, weights 1/1, depth 50 (default)", new HybridFusion()),
        ("k 20, depth 100", new HybridFusion(CandidateDepth: 100)),
        ("k 60 (the default before issue #11)", new HybridFusion(K: 60)),
        ("k 100", new HybridFusion(K: 100)),
        ("keyword weight 1.5", new HybridFusion(KeywordWeight: 1.5)),
        ("vector weight 1.5", new HybridFusion(VectorWeight: 1.5)),
    ];

    internal static async Task<Score> ScoreAsync(LabelledSet set, HybridFileSearch search, FileSearchMode mode, bool rewrite, CancellationToken ct, IReadOnlyList<Question>? only = null)
    {
        var questions = only ?? set.Questions;
        double hits5 = 0, mrr = 0, passage = 0;
        var withPassage = 0;
        foreach (var q in questions)
        {
            var results = await search.SearchAsync(new FileSearchQuery(Project, [Store], [q.Text], 50, Mode: mode, RewriteQuery: rewrite), ct);
            var rank = results.Select(r => r.FileName).Distinct().ToList().IndexOf(q.File) + 1;
            hits5 += rank is > 0 and <= 5 ? 1 : 0;
            mrr += rank is > 0 and <= 10 ? 1.0 / rank : 0;
            if (q.Passage is { } p)
            {
                withPassage++;
                var needle = Normalize(p);
                passage += results.Take(5).Any(r => r.FileName == q.File && Normalize(r.Text).Contains(needle, StringComparison.Ordinal)) ? 1 : 0;
            }
        }
        return new Score(hits5 / questions.Count, mrr / questions.Count, withPassage > 0 ? passage / withPassage : null);
    }

    internal sealed class BuiltStore(string dir, SqliteDatabase database, HybridFileSearch search, IChunkIndex index, IEmbeddingGenerator<string, Embedding<float>> embeddings) : IAsyncDisposable
    {
        public HybridFileSearch Search => search;

        public HybridFileSearch With(HybridFusion fusion) => new(index, embeddings, null, fusion);

        public async ValueTask DisposeAsync()
        {
            await database.DisposeAsync();
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            Directory.Delete(dir, recursive: true);
        }
    }

    /// <summary>Every document of the set ingested through the real pipeline into one store of a fresh database.</summary>
    internal static async Task<BuiltStore> BuildAsync(LabelledSet set, Variant variant, IEmbeddingGenerator<string, Embedding<float>> embeddings, CancellationToken ct)
    {
        var dir = Path.Combine(Path.GetTempPath(), "threadloom-retrieval-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        var database = new SqliteDatabase(Path.Combine(dir, "q.db"));
        await new SqliteMigrator(database).MigrateAsync(ct);
        var index = new SqliteChunkIndex(database);
        var ingestor = Ingestor(variant, embeddings, index);
        foreach (var (name, bytes) in set.Documents)
        {
            var result = await ingestor.IngestAsync(new IngestionRequest(Project, Store, "file-" + name, name, new MemoryStream(bytes)), ct);
            if (!result.Succeeded)
            {
                throw new InvalidOperationException($"{name}: {result.Error?.Message}");
            }
        }
        return new BuiltStore(dir, database, new HybridFileSearch(index, embeddings), index, embeddings);
    }

    private static FileIngestor Ingestor(Variant variant, IEmbeddingGenerator<string, Embedding<float>> embeddings, IChunkIndex index)
    {
        var ingestion = new IngestionOptions();
        variant.Configure(ingestion);
        var options = Options.Create(ingestion);
        ITextExtractor extractor = new TextExtractor(options);
        extractor = variant.Extractor?.Invoke(extractor) ?? extractor;
        return new FileIngestor(extractor, new TextChunker(), embeddings, index, options, NullLogger<FileIngestor>.Instance);
    }

    /// <summary>
    /// Ingestion paths over each corpus side by side in this process, straight to the model (no cache): the path before
    /// issue #11 (per-chunk inputs, one forward pass at a time over both cores), shared spans with the shared window
    /// queue on the float model, and the same with int8 weights (<see cref="MiniLmRuntime.DefaultInt8"/>). Files go in groups of
    /// <c>--throughput-group</c> (default 8), each group through every path in turn (the order rotating), and within a
    /// path <see cref="IngestionWorkerOptions"/>' default of files at once, as the ingestion worker runs a file batch.
    /// </summary>
    private static async Task<string> ThroughputAsync(List<LabelledSet> sets, IReadOnlyList<string> args, CancellationToken ct)
    {
        var group = args.SkipWhile(a => a != "--throughput-group").Skip(1).Select(a => int.Parse(a, CultureInfo.InvariantCulture)).FirstOrDefault(8);
        var concurrent = new IngestionWorkerOptions().MaxConcurrentFiles;
        using var legacy = new MiniLmEmbeddingGenerator();
        using var spans = new MiniLmEmbeddingGenerator();
        using var int8 = new MiniLmEmbeddingGenerator(MiniLmRuntime.DefaultInt8);
        (string Name, Variant Variant, MiniLmEmbeddingGenerator Model)[] paths =
        [
            ("before issue #11: per-chunk inputs, float model, one pass at a time on both cores", Variants[0], legacy),
            ("shared spans, queue shared by the files in flight, float model", Variants[^1], spans),
            ("shared spans, shared queue, int8 weights (MiniLmRuntime.DefaultInt8)", Variants[^1], int8),
        ];
        var md = new StringBuilder();
        md.AppendLine("### Ingestion throughput, old path and new side by side (local all-MiniLM-L6-v2, 800/400)");
        md.AppendLine();
        md.AppendLine(CultureInfo.InvariantCulture, $"Groups of {group} files through each path in turn, {concurrent} files at once within a path (the worker's default).");
        md.AppendLine();
        md.AppendLine("| set | path | files | MB of text | chunks | wall s | s per MB | MB per hour | chunks/s | model s (summed over passes) | forward passes | load before → after |");
        md.AppendLine("|---|---|---|---|---|---|---|---|---|---|---|---|");
        foreach (var set in sets)
        {
            var runs = new List<(string Dir, SqliteDatabase Database, FileIngestor Ingestor)>();
            foreach (var path in paths)
            {
                var dir = Path.Combine(Path.GetTempPath(), "threadloom-throughput-" + Guid.NewGuid().ToString("N"));
                Directory.CreateDirectory(dir);
                var database = new SqliteDatabase(Path.Combine(dir, "t.db"));
                await new SqliteMigrator(database).MigrateAsync(ct);
                runs.Add((dir, database, Ingestor(path.Variant, path.Model, new SqliteChunkIndex(database))));
            }
            var wall = new TimeSpan[runs.Count];
            var modelTime = new TimeSpan[runs.Count];
            var passes = new long[runs.Count];
            var chunks = new int[runs.Count];
            var loadBefore = Load();
            for (var g = 0; g * group < set.Documents.Count; g++)
            {
                var files = set.Documents.Skip(g * group).Take(group).ToList();
                for (var k = 0; k < runs.Count; k++)
                {
                    var r = (k + g) % runs.Count;
                    var model = paths[r].Model;
                    var (modelBefore, passesBefore) = (model.ModelTime, model.Batches);
                    var clock = Stopwatch.StartNew();
                    await Parallel.ForEachAsync(files, new ParallelOptions { MaxDegreeOfParallelism = concurrent, CancellationToken = ct }, async (file, token) =>
                    {
                        var result = await runs[r].Ingestor.IngestAsync(new IngestionRequest(Project, Store, "file-" + file.FileName, file.FileName, new MemoryStream(file.Bytes)), token);
                        Interlocked.Add(ref chunks[r], result.ChunkCount);
                    });
                    wall[r] += clock.Elapsed;
                    modelTime[r] += model.ModelTime - modelBefore;
                    passes[r] += model.Batches - passesBefore;
                }
                Console.Error.WriteLine($"{set.Name}: {Math.Min(set.Documents.Count, (g + 1) * group)}/{set.Documents.Count} files, wall so far {string.Join(" / ", wall.Select(w => w.TotalSeconds.ToString("F0", CultureInfo.InvariantCulture)))} s (load {Load()})");
            }
            var loadAfter = Load();
            for (var r = 0; r < runs.Count; r++)
            {
                var mb = await TextBytesAsync(runs[r].Database, ct) / 1_000_000.0;
                var seconds = wall[r].TotalSeconds;
                md.AppendLine(CultureInfo.InvariantCulture,
                    $"| {set.Name} | {paths[r].Name} | {set.Documents.Count} | {mb:F2} | {chunks[r]} | {seconds:F1} | {seconds / mb:F1} | {mb * 3600 / seconds:F2} | {chunks[r] / seconds:F2} | {modelTime[r].TotalSeconds:F1} | {passes[r]} | {loadBefore} → {loadAfter} |");
            }
            md.AppendLine(CultureInfo.InvariantCulture, $"| {set.Name} | **speed-up of shared spans + int8 over the path before issue #11** | | | | **{wall[0] / wall[^1]:F2}×** | | | | | | |");
            md.AppendLine(CultureInfo.InvariantCulture, $"| {set.Name} | shared spans (float) over the path before issue #11 | | | | {wall[0] / wall[1]:F2}× | | | | | | |");
            md.AppendLine(CultureInfo.InvariantCulture, $"| {set.Name} | int8 over float, both on shared spans (wall; model time {modelTime[1] / modelTime[^1]:F2}×) | | | | {wall[1] / wall[^1]:F2}× | | | | | | |");
            Console.Error.WriteLine(md.ToString());
            foreach (var run in runs)
            {
                await run.Database.DisposeAsync();
                Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
                Directory.Delete(run.Dir, recursive: true);
            }
        }
        md.AppendLine();
        md.AppendLine("MB of text: the documents' extracted text (overlap counted once), UTF-8. Wall time covers the whole pipeline (extraction, chunking, embedding, SQLite write).");
        md.AppendLine();
        return md.ToString();
    }

    /// <summary>
    /// Search latency at 3,000 and at 100,000 chunks in one run (issue #11), <c>max_num_results</c> 30: each store
    /// alone in its own database, real distinct texts (the machine's Python and Perl sources, chunked 800/400) with
    /// vectors perturbed from real MiniLM vectors; every question of both sets as a query (vectors precomputed), plus
    /// the query embedding itself timed on its own. The databases are kept in <c>$THREADLOOM_BENCH_DATA/latency</c>.
    /// </summary>
    private static async Task<string> LatencyAsync(List<LabelledSet> sets, MiniLmEmbeddingGenerator model, EmbeddingCache cache, string data, CancellationToken ct)
    {
        const int MaxResults = 30;
        var chunker = new TextChunker();
        var questions = sets.SelectMany(s => s.Questions).Select(q => q.Text).Distinct().ToList();
        var seedTexts = FileSearchBenchmark.DistinctSourceChunks(chunker).SelectMany(f => f.Texts).Take(300).ToList();
        var realVectors = (await cache.GenerateAsync(seedTexts, cancellationToken: ct)).Select(e => e.Vector.ToArray()).ToList();
        var queryVectors = new System.Collections.Concurrent.ConcurrentDictionary<string, ReadOnlyMemory<float>>();
        foreach (var (q, e) in questions.Zip(await cache.GenerateAsync(questions, cancellationToken: ct)))
        {
            queryVectors[q] = e.Vector;
        }
        var embedTimes = new List<double>();
        foreach (var q in questions.Take(200))
        {
            var clock = Stopwatch.StartNew();
            await model.GenerateAsync([q], cancellationToken: ct);
            embedTimes.Add(clock.Elapsed.TotalMilliseconds);
        }
        var dir = Path.Combine(data, "latency");
        Directory.CreateDirectory(dir);
        var md = new StringBuilder();
        md.AppendLine(CultureInfo.InvariantCulture, $"### Search latency at 3,000 and 100,000 chunks (max_num_results {MaxResults}; load {Load()})");
        md.AppendLine();
        md.AppendLine("| store | hybrid p50 | hybrid p99 | keyword p50 | keyword p99 | vector p50 | vector p99 | vector recall vs exact | first search |");
        md.AppendLine("|---|---|---|---|---|---|---|---|---|");
        foreach (var size in (int[])[3_000, 100_000])
        {
            var r = await FileSearchBenchmark.MeasureLatencyAsync(Path.Combine(dir, $"distinct-{size}.db"), FileSearchBenchmark.DistinctSourceChunks(chunker), realVectors,
                questions, queryVectors, null, size, MaxResults, ct);
            var P = FileSearchBenchmark.P;
            md.AppendLine(CultureInfo.InvariantCulture,
                $"| {size:N0} chunks | **{P(r.Hybrid, 50):F1} ms** | **{P(r.Hybrid, 99):F1} ms** | {P(r.Keyword, 50):F1} ms | {P(r.Keyword, 99):F1} ms | {P(r.Vector, 50):F1} ms | {P(r.Vector, 99):F1} ms | {r.VectorRecall.Recall:P1} | {r.WarmMs:F0} ms |");
            // The same store searched end to end, the question embedded by the real model on every search.
            await using (var database = new SqliteDatabase(Path.Combine(dir, $"distinct-{size}.db")))
            {
                var live = new HybridFileSearch(new SqliteChunkIndex(database), model);
                await live.SearchAsync(new FileSearchQuery("proj_bench", ["vs_latency"], [questions[0]], MaxResults), ct);
                var times = new List<double>();
                foreach (var q in questions.Take(200))
                {
                    var clock = Stopwatch.StartNew();
                    await live.SearchAsync(new FileSearchQuery("proj_bench", ["vs_latency"], [q], MaxResults), ct);
                    times.Add(clock.Elapsed.TotalMilliseconds);
                }
                md.AppendLine(CultureInfo.InvariantCulture, $"| {size:N0} chunks, hybrid including the query embedding (200 questions) | {P(times, 50):F1} ms | {P(times, 99):F1} ms | | | | | | |");
            }
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            Console.Error.WriteLine(md.ToString());
        }
        md.AppendLine(CultureInfo.InvariantCulture, $"| query embedding (MiniLM, one question; not in the rows above) | {FileSearchBenchmark.P(embedTimes, 50):F1} ms | {FileSearchBenchmark.P(embedTimes, 99):F1} ms | | | | | | |");
        md.AppendLine();
        md.AppendLine(CultureInfo.InvariantCulture, $"{questions.Count} distinct questions of both sets, hybrid twice each, keyword (top 50) and vector (top 50) once each; load after: {Load()}.");
        md.AppendLine();
        return md.ToString();
    }

    /// <summary>UTF-8 bytes of the documents' text: chunk text minus the overlap with the previous chunk of its file.</summary>
    private static async Task<long> TextBytesAsync(SqliteDatabase database, CancellationToken ct)
    {
        await using var connection = await database.OpenAsync(ct);
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT file_id, start_char, end_char, text FROM chunks ORDER BY file_id, chunk_index";
        await using var reader = await command.ExecuteReaderAsync(ct);
        long bytes = 0;
        string? file = null;
        var covered = 0;
        while (await reader.ReadAsync(ct))
        {
            var (f, start, end, text) = (reader.GetString(0), reader.GetInt32(1), reader.GetInt32(2), reader.GetString(3));
            if (f != file)
            {
                file = f;
                covered = 0;
            }
            var from = Math.Max(0, covered - start);
            if (from < text.Length)
            {
                bytes += Encoding.UTF8.GetByteCount(text.AsSpan(from));
            }
            covered = Math.Max(covered, end);
        }
        return bytes;
    }

    /// <summary>
    /// Whole-document BM25 baseline: each document's extracted text is one row of the same SQLite FTS5 index (same
    /// tokenizer, same query building), ranked by bm25, no chunking, no vectors.
    /// </summary>
    internal static async Task<(double Recall5, double Mrr10)> WholeDocumentBm25Async(LabelledSet set, CancellationToken ct)
    {
        var dir = Path.Combine(Path.GetTempPath(), "threadloom-bm25-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        try
        {
            await using var database = new SqliteDatabase(Path.Combine(dir, "b.db"));
            await new SqliteMigrator(database).MigrateAsync(ct);
            var index = new SqliteChunkIndex(database);
            var extractor = new TextExtractor(Options.Create(new IngestionOptions()));
            float[] unit = [1f];
            foreach (var (name, bytes) in set.Documents)
            {
                var extracted = await extractor.ExtractAsync(name, new MemoryStream(bytes), ct);
                if (extracted.Document is not { } document)
                {
                    throw new InvalidOperationException($"{set.Name}: {name} ({bytes.Length} bytes) could not be extracted: {extracted.Error?.Code} {extracted.Error?.Message}");
                }
                var text = document.Text;
                await index.ReplaceFileAsync(new ChunkSource(Project, Store, "file-" + name, name), "none", [new IndexedChunk(0, text, 0, text.Length, 0, null, null, unit)], ct);
            }
            double hits5 = 0, mrr = 0;
            foreach (var q in set.Questions)
            {
                var ranked = (await index.KeywordSearchAsync(Project, Store, q.Text, 10, null, ct)).Select(h => h.FileName).ToList();
                var rank = ranked.IndexOf(q.File) + 1;
                hits5 += rank is > 0 and <= 5 ? 1 : 0;
                mrr += rank > 0 ? 1.0 / rank : 0;
            }
            return (hits5 / set.Questions.Count, mrr / set.Questions.Count);
        }
        finally
        {
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            Directory.Delete(dir, recursive: true);
        }
    }

    private static async Task<LabelledSet> LoadManSetAsync(string repo, CancellationToken ct)
    {
        var labelled = FileSearchBenchmark.LoadQuestions(Path.Combine(repo, "bench", "retrieval", "questions.tsv"));
        var pages = await FileSearchBenchmark.RenderPagesAsync(labelled.Select(q => (q.Page, q.Section)).Distinct().ToList(), ct);
        // A page removed from the machine since the set was built renders empty: it and its question are left out.
        var present = pages.Where(p => p.Text.Trim().Length > 0).ToList();
        var names = present.Select(p => p.Name + ".txt").ToHashSet(StringComparer.Ordinal);
        var questions = labelled.Select(q => new Question(q.Id, FileSearchBenchmark.PageFile(q.Page, q.Section), q.Question, "plain", null)).Where(q => names.Contains(q.File)).ToList();
        var name = present.Count == pages.Count ? "man pages" : $"man pages ({pages.Count - present.Count} of {pages.Count} not installed, left out)";
        return new LabelledSet(name, present.Select(p => (p.Name + ".txt", Encoding.UTF8.GetBytes(p.Text))).ToList(), questions);
    }

    private static LabelledSet LoadPythonDocsSet(string repo, string data)
    {
        var corpus = Path.Combine(data, "pydoc", "corpus");
        if (!Directory.Exists(corpus))
        {
            throw new InvalidOperationException($"{corpus} is missing: apt-get install python3.11-doc chromium; bench/retrieval/python-docs/build_corpus.sh");
        }
        var questions = File.ReadLines(Path.Combine(repo, "bench", "retrieval", "python-docs", "questions.tsv"))
            .Where(l => !l.StartsWith('#') && !l.StartsWith("id\t", StringComparison.Ordinal) && l.Length > 0)
            .Select(l => l.Split('\t')).Select(f => new Question(f[0], f[1], f[3], f[2], f[4])).ToList();
        var documents = Directory.GetFiles(corpus).Order(StringComparer.Ordinal).Select(f => (Path.GetFileName(f), File.ReadAllBytes(f))).ToList();
        var missing = questions.Select(q => q.File).Distinct().Except(documents.Select(d => d.Item1)).ToList();
        if (missing.Count > 0)
        {
            throw new InvalidOperationException("Corpus files missing: " + string.Join(", ", missing));
        }
        return new LabelledSet("python docs", documents, questions);
    }

    private static string Normalize(string text) => Spaces().Replace(text, " ").Trim();

    internal static string Load()
    {
        try
        {
            var parts = File.ReadAllText("/proc/loadavg").Split(' ');
            return $"{parts[0]} {parts[1]} {parts[2]}";
        }
        catch (IOException)
        {
            return "?";
        }
    }

    [GeneratedRegex(@"\s+")]
    private static partial Regex Spaces();
}
