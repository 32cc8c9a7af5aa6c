using System.Diagnostics;
using System.Globalization;
using System.Text;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Threadloom.Core.Ingestion;
using Threadloom.Core.Tools.FileSearch;
using Threadloom.Storage.Sqlite;

namespace Threadloom.Bench.FileSearch;

/// <summary>
/// Hybrid quality and the vector partition's recall at about 100,000 chunks whose vectors are all real (issue #11's
/// gaps: the other large stores hold perturbed copies of 300 real vectors, which flatters any clustering and leaves
/// hybrid quality at that size unmeasurable). One store: both labelled sets ingested through the real pipeline
/// (defaults, 800/400), then the machine's Python, Perl and C sources ingested through the same pipeline with a small
/// static strategy (<c>--real-scale-tokens</c>, default 128, and <c>--real-scale-overlap</c>, default 0), until the store holds
/// <c>--real-scale-chunks</c> (default 100,000). Every chunk is embedded by the server's default model (MiniLM int8)
/// through the bench's embedding cache, so the store's first build costs the model time of about 13 M tokens and a
/// rebuild almost none; the store is kept in <c>$THREADLOOM_BENCH_DATA/latency</c>.
/// </summary>
/// <remarks>
/// Short distractor chunks are a compromise of model time (800-token chunks would take hours here): their vectors are
/// real vectors of their real text, but of 128 tokens. Each set's questions are asked of the whole store (the other
/// set is a distractor too), with the frequent terms' scores cached by a first untimed round, for the full scan and
/// for each probed share of the partition.
/// </remarks>
internal static class RealScaleBenchmark
{
    private const string Project = "proj_bench";
    private const string Store = "vs_real_scale";

    public static async Task<string> RunAsync(List<RetrievalBenchmark.LabelledSet> sets, IEmbeddingGenerator<string, Embedding<float>> embeddings, string data, IReadOnlyList<string> args, CancellationToken ct)
    {
        int Arg(string name, int fallback) => args.SkipWhile(a => a != name).Skip(1).Select(a => int.Parse(a, CultureInfo.InvariantCulture)).FirstOrDefault(fallback);
        var target = Arg("--real-scale-chunks", 100_000);
        var tokens = Arg("--real-scale-tokens", 128);
        var overlap = Arg("--real-scale-overlap", 0);
        var file = Path.Combine(data, "latency", overlap == 0 ? $"real-{target}-{tokens}.db" : $"real-{target}-{tokens}-{overlap}.db");
        var buildSeconds = File.Exists(file) ? 0 : await BuildAsync(file, sets, embeddings, new StaticChunkingStrategy(tokens, overlap), target, ct);

        await using var database = new SqliteDatabase(file);
        await new SqliteMigrator(database).MigrateAsync(ct);
        var chunks = (await new SqliteChunkIndex(database).GetUsageAsync(Project, Store, ct)).ChunkCount;
        var questions = sets.SelectMany(s => s.Questions).Select(q => q.Text).Distinct().ToList();
        var queryVectors = (await embeddings.EmbedAsQueriesAsync(questions, ct)).Select(e => e.Vector).ToList();
        var depth = HybridFileSearch.CandidateDepth;

        var md = new StringBuilder();
        md.AppendLine(CultureInfo.InvariantCulture, $"### Both sets inside {chunks:N0} chunks of real vectors ({DateTimeOffset.UtcNow:yyyy-MM-dd HH:mm} UTC; load {RetrievalBenchmark.Load()})");
        md.AppendLine();
        md.AppendLine(CultureInfo.InvariantCulture, $"Store: both labelled sets (real pipeline, defaults), then the machine's Python, Perl and C sources chunked {tokens}/{overlap}, every chunk embedded by MiniLM int8 (build {(buildSeconds > 0 ? $"{buildSeconds:F0} s" : "reused")}). Vector recall: the partitioned vector list's top {depth} / top 5 against the full scan's, over {questions.Count} questions of both sets. The keyword list is the same in every row (warm cache of term scores).");
        md.AppendLine();
        md.AppendLine("| vector list | lists | set | hybrid recall@5 | hybrid MRR@10 | vector-only recall@5 | vector-only MRR@10 | keyword-only recall@5 | vector recall@50 against the full scan | vector recall@5 against the full scan | hybrid search p50 / p99 (query vectors cached) |");
        md.AppendLine("|---|---|---|---|---|---|---|---|---|---|---|");

        SqliteChunkIndex? exact = null;
        Dictionary<string, RetrievalBenchmark.Score> keywordScores = [];
        var fullScanMrr = new List<double>();
        foreach (var share in (double[])[0, 0.10, 0.20, 0.30, 0.40])
        {
            // MinRows 1: a store under the default's 20,000 rows (a trial run) is partitioned too.
            var rule = share == 0 ? VectorPartitioning.Off : VectorPartitioning.Default with { ProbedShare = share, MinRows = 1 };
            var index = new SqliteChunkIndex(database) { Partitioning = rule };
            await index.VectorSearchAsync(Project, Store, queryVectors[0], depth, null, ct);
            await index.WhenPartitionedAsync(Store);
            if (share > 0 && !index.IsPartitioned(Store))
            {
                throw new InvalidOperationException($"The store of {chunks} chunks was not partitioned.");
            }
            foreach (var q in questions)
            {
                await index.KeywordSearchAsync(Project, Store, q, depth, null, ct);
            }
            await index.WhenKeywordTermsCachedAsync();
            exact ??= index;

            double r50 = 0, r5 = 0;
            for (var i = 0; i < questions.Count; i++)
            {
                var truth = (await exact.VectorSearchAsync(Project, Store, queryVectors[i], depth, null, ct)).Select(h => h.ChunkId).ToList();
                var found = (await index.VectorSearchAsync(Project, Store, queryVectors[i], depth, null, ct)).Select(h => h.ChunkId).ToList();
                r50 += truth.Count == 0 ? 1 : (double)found.Intersect(truth).Count() / truth.Count;
                r5 += truth.Count == 0 ? 1 : (double)found.Intersect(truth.Take(5)).Count() / Math.Min(5, truth.Count);
            }

            var search = new HybridFileSearch(index, embeddings);
            foreach (var set in sets)
            {
                var hybrid = await RetrievalBenchmark.ScoreAsync(set, search, FileSearchMode.Hybrid, false, ct, project: Project, store: Store);
                if (share == 0)
                {
                    fullScanMrr.Add(hybrid.Mrr10);
                }
                var vector = await RetrievalBenchmark.ScoreAsync(set, search, FileSearchMode.VectorOnly, false, ct, project: Project, store: Store);
                if (!keywordScores.TryGetValue(set.Name, out var keyword))
                {
                    keywordScores[set.Name] = keyword = await RetrievalBenchmark.ScoreAsync(set, search, FileSearchMode.KeywordOnly, false, ct, project: Project, store: Store);
                }
                var times = new List<double>();
                foreach (var q in set.Questions)
                {
                    var clock = Stopwatch.StartNew();
                    await search.SearchAsync(new FileSearchQuery(Project, [Store], [q.Text], 30), ct);
                    times.Add(clock.Elapsed.TotalMilliseconds);
                }
                var label = share == 0 ? "full scan" : $"partition, {share:P0} probed{(share == VectorPartitioning.Default.ProbedShare ? " (default)" : "")}";
                md.AppendLine(CultureInfo.InvariantCulture,
                    $"| {label} | {(share == 0 ? "–" : rule.ListsFor(chunks).ToString(CultureInfo.InvariantCulture))} | {set.Name} | {hybrid.Recall5:F3} | {hybrid.Mrr10:F3} | {vector.Recall5:F3} | {vector.Mrr10:F3} | {keyword.Recall5:F3} | {(share == 0 ? "1" : (r50 / questions.Count).ToString("F3", CultureInfo.InvariantCulture))} | {(share == 0 ? "1" : (r5 / questions.Count).ToString("F3", CultureInfo.InvariantCulture))} | {FileSearchBenchmark.P(times, 50):F1} / {FileSearchBenchmark.P(times, 99):F1} ms |");
            }
            Console.Error.WriteLine($"real scale: {share:P0} done (load {RetrievalBenchmark.Load()})");
        }
        md.AppendLine();
        var distractors = await DistractorFilesAsync(file, ct);
        md.AppendLine(CultureInfo.InvariantCulture, $"Whole-document BM25 inside the same corpus (each set's documents, the other set's, and the {distractors.Count:N0} source files, each file one document; bm25 over every term):");
        md.AppendLine();
        md.AppendLine("| set | BM25 whole-document recall@5 | MRR@10 | hybrid (full scan) MRR@10 − BM25 MRR@10 |");
        md.AppendLine("|---|---|---|---|");
        foreach (var (set, hybridMrr) in sets.Zip(fullScanMrr))
        {
            var others = sets.Where(s => s != set).SelectMany(s => s.Documents).Concat(distractors);
            var (r5, mrr) = await RetrievalBenchmark.WholeDocumentBm25Async(set, ct, others);
            md.AppendLine(CultureInfo.InvariantCulture, $"| {set.Name} | {r5:F3} | {mrr:F3} | {hybridMrr - mrr:+0.000;-0.000} |");
        }
        md.AppendLine();
        md.Append(await MissesAsync(sets, new HybridFileSearch(exact!, embeddings), ct));
        md.AppendLine();
        md.AppendLine("Vector recall of a share is over both sets' questions (one figure, repeated on each set's row). The timing column is each set's questions once more through the same search, its query vectors already cached by the model's query cache: the index and fusion, not the model pass.");
        md.AppendLine();
        return md.ToString();
    }

    /// <summary>
    /// What ranks above the answering file when hybrid search (full scan) misses the top 5: the first five files, each
    /// marked as labelled (the other set's, or another of this set's) or a distractor source file.
    /// </summary>
    private static async Task<string> MissesAsync(List<RetrievalBenchmark.LabelledSet> sets, HybridFileSearch search, CancellationToken ct)
    {
        var md = new StringBuilder();
        md.AppendLine("Misses of hybrid search (full scan): the question, then the first five files (* = a distractor source file):");
        md.AppendLine();
        var labelled = sets.SelectMany(s => s.Documents).Select(d => d.FileName).ToHashSet(StringComparer.Ordinal);
        foreach (var set in sets)
        {
            var distractorAbove = 0;
            var misses = 0;
            foreach (var q in set.Questions)
            {
                var files = (await search.SearchAsync(new FileSearchQuery(Project, [Store], [q.Text], 50), ct)).DistinctBy(r => r.FileId).Select(r => r.FileName).Take(5).ToList();
                if (files.Contains(q.File))
                {
                    continue;
                }
                misses++;
                distractorAbove += files.Any(f => !labelled.Contains(f)) ? 1 : 0;
                md.AppendLine(CultureInfo.InvariantCulture, $"- {set.Name}, `{q.File}`: \"{q.Text}\" → {string.Join(", ", files.Select(f => labelled.Contains(f) ? f : f + "*"))}");
            }
            md.AppendLine(CultureInfo.InvariantCulture, $"- **{set.Name}: {misses} misses, {distractorAbove} with a distractor in the top 5.**");
        }
        return md.ToString();
    }

    /// <summary>.pm and .pod are not file search types; their text goes in as plain text.</summary>
    private static string DistractorName(string path) =>
        Path.GetFileName(path) is var n && (n.EndsWith(".pm", StringComparison.Ordinal) || n.EndsWith(".pod", StringComparison.Ordinal)) ? n + ".txt" : n;

    /// <summary>The store's distractor files, whole, in the order they were ingested (the first files of at least 200 bytes).</summary>
    private static async Task<List<(string FileName, byte[] Bytes)>> DistractorFilesAsync(string file, CancellationToken ct)
    {
        long count;
        await using (var connection = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={file};Mode=ReadOnly;Pooling=False"))
        {
            await connection.OpenAsync(ct);
            await using var command = connection.CreateCommand();
            command.CommandText = "SELECT COUNT(*) FROM chunk_files WHERE project_id = $p AND vector_store_id = $s AND file_id LIKE 'source-%'";
            command.Parameters.AddWithValue("$p", Project);
            command.Parameters.AddWithValue("$s", Store);
            count = (long)(await command.ExecuteScalarAsync(ct))!;
        }
        var files = new List<(string FileName, byte[] Bytes)>();
        foreach (var path in FileSearchBenchmark.SourcePaths())
        {
            if (files.Count == count)
            {
                break;
            }
            var bytes = await File.ReadAllBytesAsync(path, ct);
            if (bytes.Length >= 200)
            {
                files.Add((DistractorName(path), bytes));
            }
        }
        return files;
    }

    /// <summary>Ingests the store into <paramref name="file"/> (through a temporary name, so an interrupted build is not reused); returns its seconds.</summary>
    private static async Task<double> BuildAsync(string file, List<RetrievalBenchmark.LabelledSet> sets, IEmbeddingGenerator<string, Embedding<float>> embeddings,
        StaticChunkingStrategy distractorChunks, int target, CancellationToken ct)
    {
        var building = file + ".building";
        foreach (var stale in new[] { building, building + "-wal", building + "-shm" }.Where(File.Exists))
        {
            File.Delete(stale);
        }
        var clock = Stopwatch.StartNew();
        await using (var database = new SqliteDatabase(building))
        {
            await new SqliteMigrator(database).MigrateAsync(ct);
            var index = new SqliteChunkIndex(database);
            var options = Options.Create(new IngestionOptions());
            var ingestor = new FileIngestor(new TextExtractor(options), new TextChunker(), embeddings, index, options, NullLogger<FileIngestor>.Instance);
            async Task<int> IngestAsync(string fileId, string name, byte[] bytes, StaticChunkingStrategy? strategy)
            {
                var result = await ingestor.IngestAsync(new IngestionRequest(Project, Store, fileId, name, new MemoryStream(bytes), strategy), ct);
                return result.Succeeded ? result.ChunkCount : throw new InvalidOperationException($"{name}: {result.Error?.Message}");
            }
            foreach (var set in sets)
            {
                foreach (var (name, bytes) in set.Documents)
                {
                    await IngestAsync("labelled-" + name, name, bytes, null);
                }
            }
            var count = (await index.GetUsageAsync(Project, Store, ct)).ChunkCount;
            var reported = count;
            var labelled = count;
            var distractorClock = Stopwatch.StartNew();
            var files = 0;
            foreach (var path in FileSearchBenchmark.SourcePaths())
            {
                if (count >= target)
                {
                    break;
                }
                var bytes = await File.ReadAllBytesAsync(path, ct);
                if (bytes.Length < 200)
                {
                    continue;
                }
                count += await IngestAsync("source-" + files++, DistractorName(path), bytes, distractorChunks);
                if (count - reported >= 2_000)
                {
                    reported = count;
                    Console.Error.WriteLine($"real scale: {count:N0} chunks, distractors at {(count - labelled) / distractorClock.Elapsed.TotalSeconds:F1} chunks/s (load {RetrievalBenchmark.Load()})");
                }
            }
            if (count < target)
            {
                throw new InvalidOperationException($"Only {count} chunks of text found for {target}.");
            }
        }
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        foreach (var suffix in new[] { "-wal", "-shm", "" }.Where(s => File.Exists(building + s)))
        {
            File.Move(building + suffix, file + suffix);
        }
        return clock.Elapsed.TotalSeconds;
    }
}
