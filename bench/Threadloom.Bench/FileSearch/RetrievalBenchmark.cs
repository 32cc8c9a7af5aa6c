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
        // --set man|python: one set only (while iterating; a decision's check on the other set is a full run).
        if (args.SkipWhile(a => a != "--set").Skip(1).FirstOrDefault() is { } only)
        {
            sets = sets.Where(s => s.Name.StartsWith(only, StringComparison.OrdinalIgnoreCase)).ToList();
        }
        // --variants 0,3: only those ingestion variants (indexes into Variants), e.g. when the model time is scarce.
        var chosen = args.SkipWhile(a => a != "--variants").Skip(1).Select(a => a.Split(',').Select(v => Variants[int.Parse(v, CultureInfo.InvariantCulture)]).ToList())
            .FirstOrDefault(Variants.ToList());
        // --models minilm,arctic: the local models to score, side by side in this run (default: the built-in default),
        // each with the weights a server gives its new stores (MiniLM: int8).
        // --float: MiniLM with float weights beside them (its own cache entries: another model id).
        var models = args.SkipWhile(a => a != "--models").Skip(1).Select(a => a.Split(',').Select(ModelNamed).ToList()).FirstOrDefault([LocalEmbeddingModel.MiniLm]);
        var generators = models.Select(m => new MiniLmEmbeddingGenerator(m, m.DefaultRuntime)).ToList();
        var labels = models.Select(m => m.OffersInt8 ? $"{m.Alias} int8" : m.Alias).ToList();
        if (args.Contains("--float"))
        {
            generators.Add(new MiniLmEmbeddingGenerator(LocalEmbeddingModel.MiniLm, MiniLmRuntime.Default));
            labels.Add(LocalEmbeddingModel.MiniLm.Alias + " float");
        }
        var caches = generators.Select(g => new EmbeddingCache(g, Path.Combine(data, "embeddings.db"))).ToList();
        using var disposeModels = new Disposables([.. generators, .. caches]);
        var model = generators[0];
        var cache = caches[0];
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
            md.Append(await LatencyAsync(sets, cache, data, args, ct));
        }

        if (args.Contains("--keyword-scale"))
        {
            md.Append(await KeywordScaleBenchmark.RunAsync(sets, data, ct));
        }

        if (args.Contains("--real-scale"))
        {
            // The server's default model (int8), whatever --models says: the store's vectors are what a server would hold.
            using var int8 = new MiniLmEmbeddingGenerator(LocalEmbeddingModel.MiniLm, MiniLmRuntime.DefaultInt8);
            using var int8Cache = new EmbeddingCache(int8, Path.Combine(data, "embeddings.db"));
            md.Append(await RealScaleBenchmark.RunAsync(sets, int8Cache, data, args, ct));
        }

        if (args.Contains("--no-quality"))
        {
            return md.ToString();
        }
        md.AppendLine("| set | variant | mode | recall@5 | MRR@10 | passage in top-5 chunks |");
        md.AppendLine("|---|---|---|---|---|---|");
        var grids = new List<(string Set, string Model, Dictionary<RescoreWeights, Score> Grid)>();
        var fusionGrids = new List<(string Set, string Model, Dictionary<string, Score> Grid)>();
        foreach (var set in sets)
        {
            var (r5, mrr) = await WholeDocumentBm25Async(set, ct);
            md.AppendLine(CultureInfo.InvariantCulture, $"| {set.Name} | whole documents | BM25 baseline | {r5:F3} | {mrr:F3} | |");
            Console.Error.WriteLine($"| {set.Name} | whole documents | BM25 baseline | {r5:F3} | {mrr:F3} | | (load {Load()}, {DateTimeOffset.UtcNow:HH:mm})");
            foreach (var (modelLabel, modelCache, baseVariant) in labels.Zip(caches).SelectMany(m => chosen.Select(v => (m.First, m.Second, v))))
            {
                var variant = labels.Count == 1 ? baseVariant : baseVariant with { Name = $"{modelLabel}: {baseVariant.Name}" };
                await using var built = await BuildAsync(set, variant, modelCache, ct);
                foreach (var (label, mode, rewrite) in Modes)
                {
                    var score = await ScoreAsync(set, built.Search, mode, rewrite, ct);
                    md.AppendLine(CultureInfo.InvariantCulture, $"| {set.Name} | {variant.Name} | {label} | {Row(score)}");
                    Console.Error.WriteLine($"| {set.Name} | {variant.Name} | {label} | {Row(score)} (load {Load()}, {DateTimeOffset.UtcNow:HH:mm})");
                }
                var conversational = set.Questions.Where(q => q.Style == "conv").ToList();
                // rewrite_query on its own: without it, and with what the vectors embed under it (the cleaned question,
                // the default; the rewritten keywords; the question as asked), with the re-scoring pass and without it;
                // on the conversational questions (python) and on all questions.
                foreach (var (rescoreLabel, rescore) in (ValueTuple<string, RescoreWeights>[])[("", RescoreWeights.Default), (", re-scoring off", RescoreWeights.None)])
                {
                    if (conversational.Count > 0)
                    {
                        var plain = await ScoreAsync(set, built.With(new HybridFusion(Rescore: rescore)), FileSearchMode.Hybrid, false, ct, conversational);
                        md.AppendLine(CultureInfo.InvariantCulture, $"| {set.Name} | {variant.Name} | hybrid{rescoreLabel}, no rewrite, the {conversational.Count} conversational questions only | {Row(plain)}");
                        Console.Error.WriteLine($"| {set.Name} | {variant.Name} | hybrid{rescoreLabel}, no rewrite, conversational | {Row(plain)}");
                    }
                    foreach (var embedding in (RewriteEmbedding[])[RewriteEmbedding.Cleaned, RewriteEmbedding.Keywords, RewriteEmbedding.Original])
                    {
                        var search = built.With(new HybridFusion(RewriteEmbedding: embedding, Rescore: rescore));
                        var what = $"hybrid + rewrite_query{rescoreLabel}, vectors embed the {embedding.ToString().ToLowerInvariant()} question";
                        if (conversational.Count > 0)
                        {
                            var conv = await ScoreAsync(set, search, FileSearchMode.Hybrid, true, ct, conversational);
                            md.AppendLine(CultureInfo.InvariantCulture, $"| {set.Name} | {variant.Name} | {what}, the {conversational.Count} conversational questions only | {Row(conv)}");
                            Console.Error.WriteLine($"| {set.Name} | {variant.Name} | {what}, conversational | {Row(conv)}");
                        }
                        var all = await ScoreAsync(set, search, FileSearchMode.Hybrid, true, ct);
                        md.AppendLine(CultureInfo.InvariantCulture, $"| {set.Name} | {variant.Name} | {what}, all questions | {Row(all)}");
                        Console.Error.WriteLine($"| {set.Name} | {variant.Name} | {what}, all | {Row(all)}");
                    }
                }
                // --misses DIR: the questions hybrid search does not rank first, with each list's rank (for reading, not scoring).
                if (args.SkipWhile(a => a != "--misses").Skip(1).FirstOrDefault() is { } missesDir)
                {
                    await WriteMissesAsync(set, built.Search, Path.Combine(missesDir, $"misses-{set.Name.Split(' ')[0]}-{modelLabel}.tsv"), ct);
                }
                if (args.Contains("--tune-rewrite"))
                {
                    Console.Error.WriteLine(FusionGrid.Table([(set.Name, modelLabel, await FusionGrid.RewriteAsync(set, built, Project, Store, ct))]));
                }
                if (args.Contains("--tune-fusion"))
                {
                    fusionGrids.Add((set.Name, modelLabel, await FusionGrid.RunAsync(set, built, Project, Store, ct)));
                }
                if (args.Contains("--tune-rescore"))
                {
                    grids.Add((set.Name, modelLabel, await RescoreGridAsync(set, built.With(new HybridFusion(Rescore: RescoreWeights.None)), ct)));
                }
                if (baseVariant == Variants[^1] || baseVariant == chosen[^1])
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
        md.Append(GridTable(grids));
        md.Append(FusionGrid.Table(fusionGrids));
        md.AppendLine();
        md.AppendLine(CultureInfo.InvariantCulture, $"Embedding cache: {caches.Sum(c => c.Hits)} hits, {caches.Sum(c => c.Misses)} misses. Load at the end: {Load()}.");
        return md.ToString();
    }

    private static LocalEmbeddingModel ModelNamed(string name) =>
        name.ToLowerInvariant() switch
        {
            "minilm" => LocalEmbeddingModel.MiniLm,
            "arctic" => LocalEmbeddingModel.ArcticXs,
            _ => LocalEmbeddingModel.Find(name) ?? throw new ArgumentException($"Unknown local model '{name}' (minilm, arctic)."),
        };

    private sealed class Disposables(IEnumerable<IDisposable> items) : IDisposable
    {
        public void Dispose()
        {
            foreach (var item in items.Reverse())
            {
                item.Dispose();
            }
        }
    }

    /// <summary>The re-scoring weights tried by <c>--tune-rescore</c>: every combination of a few strengths per feature.</summary>
    private static IEnumerable<RescoreWeights> RescoreGrid()
    {
        return from depth in (int[])[10, 30]
               from c in (double[])[0, 0.05, 0.1]
               from p in (double[])[0, 0.1, 0.2, 0.3, 0.5, 0.8]
               from x in (double[])[0, 0.05, 0.1, 0.2]
               from t in (double[])[0, 0.05, 0.1]
               select new RescoreWeights(c, p, x, t, depth);
    }

    /// <summary>
    /// Every weight setting of <see cref="RescoreGrid"/> scored in memory: each question searched once without the pass
    /// (top 50 chunks), the pass's features measured once per candidate, then each setting re-ranks those lists.
    /// Exactly what the search does with the setting (the pass runs on the fused list before the cut to 50).
    /// </summary>
    private static async Task<Dictionary<RescoreWeights, Score>> RescoreGridAsync(LabelledSet set, HybridFileSearch search, CancellationToken ct)
    {
        var lists = new List<(Question Q, List<FileSearchResult> Results, List<PhraseRescoring.Features> Features)>();
        foreach (var q in set.Questions)
        {
            var results = (await search.SearchAsync(new FileSearchQuery(Project, [Store], [q.Text], 50), ct)).ToList();
            var terms = PhraseRescoring.Prepare(q.Text);
            lists.Add((q, results, results.Select(r => PhraseRescoring.Measure(terms, r.Text, r.FileName, r.Heading)).ToList()));
        }
        var grid = new Dictionary<RescoreWeights, Score>();
        foreach (var w in RescoreGrid())
        {
            double hits5 = 0, mrr = 0;
            foreach (var (q, results, features) in lists)
            {
                var depth = Math.Min(w.Depth, results.Count);
                var order = Enumerable.Range(0, depth).Select(i => (i, Score: results[i].Score + PhraseRescoring.Bonus(features[i], w)))
                    .OrderByDescending(x => x.Score).ThenBy(x => x.i).Select(x => results[x.i].FileName).Concat(results.Skip(depth).Select(r => r.FileName));
                var rank = order.Distinct().ToList().IndexOf(q.File) + 1;
                hits5 += rank is > 0 and <= 5 ? 1 : 0;
                mrr += rank is > 0 and <= 10 ? 1.0 / rank : 0;
            }
            grid[w] = new Score(hits5 / lists.Count, mrr / lists.Count, null);
        }
        return grid;
    }

    /// <summary>The best settings by the man-page set's MRR@10 (the set the pass is tuned on), with the other set beside.</summary>
    private static string GridTable(List<(string Set, string Model, Dictionary<RescoreWeights, Score> Grid)> grids)
    {
        if (grids.Count == 0)
        {
            return "";
        }
        var md = new StringBuilder();
        foreach (var modelGrids in grids.GroupBy(g => g.Model))
        {
            var tuneOn = modelGrids.First(g => g.Set.StartsWith("man", StringComparison.Ordinal));
            var others = modelGrids.Where(g => g != tuneOn).ToList();
            md.AppendLine();
            md.AppendLine(CultureInfo.InvariantCulture, $"Re-scoring grid ({modelGrids.Key}), sorted by the man-page set's MRR@10 (tuned there), top 25 and the pass off:");
            md.AppendLine();
            md.AppendLine("| coverage | phrase | proximity | title | depth | " + string.Join(" | ", modelGrids.Select(g => $"{g.Set} recall@5 | {g.Set} MRR@10")) + " |");
            md.AppendLine("|---|---|---|---|---|" + string.Concat(modelGrids.Select(_ => "---|---|")));
            var rows = tuneOn.Grid.OrderByDescending(kv => kv.Value.Mrr10).ThenByDescending(kv => kv.Value.Recall5).Take(25).Select(kv => kv.Key)
                .Prepend(new RescoreWeights(Depth: 30));
            foreach (var w in rows)
            {
                md.AppendLine(string.Create(CultureInfo.InvariantCulture, $"| {w.Coverage} | {w.Phrase} | {w.Proximity} | {w.Title} | {w.Depth} | ")
                    + string.Join(" | ", modelGrids.Select(g => string.Create(CultureInfo.InvariantCulture, $"{g.Grid[w].Recall5:F3} | {g.Grid[w].Mrr10:F3}"))) + " |");
            }
        }
        Console.Error.WriteLine(md.ToString());
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
        ("scores, keyword 0.45 / vector 0.55, depth 50, re-scoring coverage 0.1 / pairs 1.0 (default)", new HybridFusion()),
        ("scores, depth 100", new HybridFusion(CandidateDepth: 100)),
        ("scores, keyword 0.5 / vector 0.5", new HybridFusion(KeywordWeight: 0.5, VectorWeight: 0.5)),
        ("scores, re-scoring off", new HybridFusion(Rescore: RescoreWeights.None)),
        ("ranks (RRF k 20, 1/1) with the re-scoring pass tuned for it (the default before score fusion)", HybridFusion.RankFusion),
        ("ranks, k 60 (the default before issue #11)", HybridFusion.RankFusion with { K = 60 }),
        ("ranks, vector weight 1.5", HybridFusion.RankFusion with { VectorWeight = 1.5 }),
        ("ranks, re-scoring off (before issue #11's re-scoring)", HybridFusion.RankFusion with { Rescore = RescoreWeights.None }),
    ];

    private static async Task WriteMissesAsync(LabelledSet set, HybridFileSearch search, string path, CancellationToken ct)
    {
        async Task<List<string>> Files(Question q, FileSearchMode mode) =>
            (await search.SearchAsync(new FileSearchQuery(Project, [Store], [q.Text], 50, Mode: mode), ct)).Select(r => r.FileName).Distinct().ToList();
        var tsv = new StringBuilder("id\tfile\thybrid\tkeyword\tvector\ttop3\tquestion\n");
        foreach (var q in set.Questions)
        {
            var hybrid = await Files(q, FileSearchMode.Hybrid);
            var rank = hybrid.IndexOf(q.File) + 1;
            if (rank == 1)
            {
                continue;
            }
            var keyword = (await Files(q, FileSearchMode.KeywordOnly)).IndexOf(q.File) + 1;
            var vector = (await Files(q, FileSearchMode.VectorOnly)).IndexOf(q.File) + 1;
            tsv.AppendLine(CultureInfo.InvariantCulture, $"{q.Id}\t{q.File}\t{rank}\t{keyword}\t{vector}\t{string.Join(' ', hybrid.Take(3))}\t{q.Text}");
        }
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        await File.WriteAllTextAsync(path, tsv.ToString(), ct);
    }

    internal static async Task<Score> ScoreAsync(LabelledSet set, HybridFileSearch search, FileSearchMode mode, bool rewrite, CancellationToken ct, IReadOnlyList<Question>? only = null,
        string project = Project, string store = Store)
    {
        var questions = only ?? set.Questions;
        double hits5 = 0, mrr = 0, passage = 0;
        var withPassage = 0;
        foreach (var q in questions)
        {
            var results = await search.SearchAsync(new FileSearchQuery(project, [store], [q.Text], 50, Mode: mode, RewriteQuery: rewrite), ct);
            // Ranked by file, not by name: in a store with distractors many files share a name (__init__.py).
            var rank = results.DistinctBy(r => r.FileId).Select(r => r.FileName).ToList().IndexOf(q.File) + 1;
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

        public IChunkIndex Index => index;

        public IEmbeddingGenerator<string, Embedding<float>> Embeddings => embeddings;

        /// <summary>A search query's vector, computed as the store's search computes it.</summary>
        public async Task<ReadOnlyMemory<float>> EmbedQueryAsync(string query, CancellationToken ct) => (await embeddings.EmbedAsQueriesAsync([query], ct))[0].Vector;

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
        // The frequent terms' cached scores (docs/adr/0011) warmed by the set's own questions, as a server that has
        // seen them: the quality is the steady state's. A cold cache ranks as the path before it did.
        foreach (var q in set.Questions)
        {
            await index.KeywordSearchAsync(Project, Store, q.Text, HybridFileSearch.CandidateDepth, null, ct);
        }
        await index.WhenKeywordTermsCachedAsync();
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
        using var legacy = new MiniLmEmbeddingGenerator(MiniLmRuntime.Default with { SimilarLengthBatches = false });
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
    /// Search latency at every size in one run (issue #11; <see cref="LatencyBenchmark"/>): the seed vectors the
    /// stores' vectors are perturbed from, and every question of both sets embedded once (through the cache).
    /// </summary>
    private static async Task<string> LatencyAsync(List<LabelledSet> sets, EmbeddingCache cache, string data, IReadOnlyList<string> args, CancellationToken ct)
    {
        var chunker = new TextChunker();
        var questions = sets.SelectMany(s => s.Questions).Select(q => q.Text).Distinct().ToList();
        var seedTexts = FileSearchBenchmark.DistinctSourceChunks(chunker).SelectMany(f => f.Texts).Take(300).ToList();
        var realVectors = (await cache.GenerateAsync(seedTexts, cancellationToken: ct)).Select(e => e.Vector.ToArray()).ToList();
        var queryVectors = new System.Collections.Concurrent.ConcurrentDictionary<string, ReadOnlyMemory<float>>();
        foreach (var (q, e) in questions.Zip(await cache.EmbedQueriesAsync(questions, ct)))
        {
            queryVectors[q] = e.Vector;
        }
        var man = sets.First(s => s.Name.StartsWith("man pages", StringComparison.Ordinal));
        return await LatencyBenchmark.RunAsync(man, questions, realVectors, queryVectors, data, args, ct);
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
    /// <remarks>
    /// With <paramref name="distractors"/>, those documents are indexed beside the set's (whole, as the set's are), and
    /// the ranking is bm25 over every term in one pass: at that size the fast path's term budget would drop terms.
    /// </remarks>
    internal static async Task<(double Recall5, double Mrr10)> WholeDocumentBm25Async(LabelledSet set, CancellationToken ct,
        IEnumerable<(string FileName, byte[] Bytes)>? distractors = null)
    {
        var dir = Path.Combine(Path.GetTempPath(), "threadloom-bm25-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        try
        {
            await using var database = new SqliteDatabase(Path.Combine(dir, "b.db"));
            await new SqliteMigrator(database).MigrateAsync(ct);
            var index = new SqliteChunkIndex(database) { KeywordTuning = distractors is null ? KeywordPathTuning.Default : KeywordScaleBenchmark.EveryTermInOnePass };
            var extractor = new TextExtractor(Options.Create(new IngestionOptions()));
            float[] unit = [1f];
            foreach (var (name, bytes) in set.Documents.Concat(distractors ?? []))
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
