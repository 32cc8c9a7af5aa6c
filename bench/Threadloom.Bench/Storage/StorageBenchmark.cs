using System.Diagnostics;
using System.Globalization;
using System.Numerics.Tensors;
using System.Text;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;
using Pgvector;
using Threadloom.Storage.Postgres;

namespace Threadloom.Bench.Storage;

/// <summary>
/// pgvector HNSW search through <see cref="PostgresChunkIndex"/> at 100,000 and 1,000,000 chunks: latency, recall@10
/// against exact search, load and index build times, and bytes per chunk. Needs a PostgreSQL with pgvector at
/// <c>THREADLOOM_BENCH_POSTGRES</c> (or <c>THREADLOOM_TEST_POSTGRES</c>); each size uses a fresh database
/// (<c>clusterbench_search_N</c>) that is dropped afterwards unless <c>THREADLOOM_BENCH_KEEP=1</c>.
/// </summary>
/// <remarks>
/// The chunks are loaded the way a bulk import would be, not file by file: the migrated schema's chunk indexes are
/// dropped, the rows go in through one binary COPY, and the indexes are built afterwards with the definitions of
/// migration 0002 (HNSW m=16, ef_construction=64, the pgvector defaults) under a large <c>maintenance_work_mem</c>.
/// Vectors are synthetic but not isotropic (random 384-dimensional vectors have no meaningful neighbours, and HNSW
/// recall on them says nothing about text embeddings): 2,000 cluster centres in a 32-dimensional latent space, each
/// point its centre plus Gaussian noise (σ 0.5 a coordinate), mapped to 384 dimensions by one fixed random Gaussian
/// matrix, plus isotropic noise (σ 0.1 a coordinate, about 9 % of the energy), then normalised. Two points of one
/// cluster have a cosine of about 0.7, of two clusters about 0, as sentence embeddings of related and unrelated text
/// roughly do. Queries are fresh points drawn the same way.
/// </remarks>
public static class StorageBenchmark
{
    private const int Dimensions = 384, Latent = 32, Centres = 2_000, PerFile = 1_000, Queries = 200, Warmup = 20;
    private const string Project = "proj_bench", Store = "vs_bench";

    public static async Task<string> RunAsync(CancellationToken ct)
    {
        var admin = Environment.GetEnvironmentVariable("THREADLOOM_BENCH_POSTGRES") is { Length: > 0 } bench ? bench
            : Environment.GetEnvironmentVariable("THREADLOOM_TEST_POSTGRES") ?? throw new InvalidOperationException("Set THREADLOOM_BENCH_POSTGRES (or run `eval \"$(.ci/postgres.sh | tail -1)\"`).");
        var sizes = (Environment.GetEnvironmentVariable("THREADLOOM_BENCH_CHUNKS") ?? "100000,1000000")
            .Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(s => int.Parse(s, CultureInfo.InvariantCulture)).ToList();
        var report = new StringBuilder();
        report.AppendLine("### Search: pgvector HNSW (issue #12)").AppendLine();
        report.AppendLine(Invariant($"Load at start: {Load()}; PostgreSQL shared_buffers {await ScalarAsync(admin, "SHOW shared_buffers")}."));
        report.AppendLine();
        report.AppendLine("| chunks | COPY | btree + GIN | HNSW build | vector p50 / p99 | recall@10 | keyword p50 / p99 | bytes per chunk (heap+TOAST / HNSW / GIN / btree) |");
        report.AppendLine("|---|---|---|---|---|---|---|---|");
        var sweeps = new StringBuilder();
        foreach (var size in sizes)
        {
            var name = "clusterbench_search_" + size.ToString(CultureInfo.InvariantCulture);
            await ExecuteAsync(admin, $"DROP DATABASE IF EXISTS {name} WITH (FORCE)");
            await ExecuteAsync(admin, $"CREATE DATABASE {name}");
            try
            {
                var cs = new NpgsqlConnectionStringBuilder(admin) { Database = name, CommandTimeout = 0 }.ToString();
                var r = await SearchAsync(cs, size, ct);
                report.AppendLine(Invariant(
                    $"| {size:N0} | {r.CopySeconds:F0} s | {r.BtreeGinSeconds:F0} s | {r.HnswSeconds:F0} s | **{r.P50:F1} / {r.P99:F1} ms** | **{r.Recall:F3}** | {r.KeywordP50:F1} / {r.KeywordP99:F1} ms | {r.Heap / (double)size:F0} / {r.Hnsw / (double)size:F0} / {r.Gin / (double)size:F0} / {r.Btree / (double)size:F0} |"));
                sweeps.AppendLine(Invariant($"- {size:N0} chunks, `hnsw.ef_search` sweep (raw SQL, same query shape, {Queries} queries): {r.Sweep}"));
            }
            finally
            {
                NpgsqlConnection.ClearAllPools();
                if (Environment.GetEnvironmentVariable("THREADLOOM_BENCH_KEEP") != "1")
                {
                    await ExecuteAsync(admin, $"DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                }
            }
        }
        report.AppendLine().Append(sweeps);
        report.AppendLine().AppendLine(Invariant(
            $"Vector search is `PostgresChunkIndex.VectorSearchAsync`, top 10, one store, `ef_search={PostgresChunkIndex.EfSearch}`, iterative scan (relaxed order), {Queries} queries after {Warmup} warm-up, one at a time; recall@10 against exact float32 cosine over the same vectors. Keyword search is `KeywordSearchAsync` with four random vocabulary words. Chunk text is 60 words from a 5,000-word vocabulary (about 300 bytes; a real 800-token chunk is about 4 KB). Load at end: {Load()}."));
        return report.ToString();
    }

    private sealed record SearchResult(double CopySeconds, double BtreeGinSeconds, double HnswSeconds, double P50, double P99, double Recall,
        double KeywordP50, double KeywordP99, long Heap, long Hnsw, long Gin, long Btree, string Sweep);

    private static async Task<SearchResult> SearchAsync(string connectionString, int count, CancellationToken ct)
    {
        var random = new Random(12);
        var generator = new ClusteredVectors(random);
        var vectors = new float[count][];
        for (var i = 0; i < count; i++)
        {
            vectors[i] = generator.Next();
        }
        var vocabulary = Enumerable.Range(0, 5_000).Select(i => "w" + i.ToString("x", CultureInfo.InvariantCulture)).ToArray();

        await using var database = new PostgresDatabase(connectionString);
        await new PostgresMigrator(database, NullLogger<PostgresMigrator>.Instance).MigrateAsync(ct);
        await ExecuteAsync(connectionString, "DROP INDEX ix_chunks_file; DROP INDEX ix_chunks_tsv; DROP INDEX ix_chunks_hnsw_384");
        Progress($"{count:N0}: vectors generated, COPY");

        var sw = Stopwatch.StartNew();
        await using (var connection = await database.OpenAsync(ct))
        {
            await using var importer = await connection.BeginBinaryImportAsync(
                "COPY chunks (project_id, vector_store_id, file_id, filename, chunk_index, text, context, start_char, end_char, token_count, page, heading, dimensions, embedding) FROM STDIN (FORMAT BINARY)", ct);
            var text = new StringBuilder();
            for (var i = 0; i < count; i++)
            {
                text.Clear();
                for (var w = 0; w < 60; w++)
                {
                    text.Append(w == 0 ? "" : " ").Append(vocabulary[random.Next(vocabulary.Length)]);
                }
                var file = i / PerFile;
                var body = text.ToString();
                importer.StartRow();
                importer.Write(Project);
                importer.Write(Store);
                importer.Write($"file-{file}");
                importer.Write($"f{file}.txt");
                importer.Write(i % PerFile);
                importer.Write(body);
                importer.Write($"f{file}.txt");
                importer.Write(0);
                importer.Write(body.Length);
                importer.Write(80);
                importer.WriteNull();
                importer.WriteNull();
                importer.Write(Dimensions);
                importer.Write(new Vector(vectors[i]), "vector");
            }
            await importer.CompleteAsync(ct);
        }
        var copySeconds = sw.Elapsed.TotalSeconds;
        var files = (count + PerFile - 1) / PerFile;
        await ExecuteAsync(connectionString,
            $"INSERT INTO chunk_stores VALUES ('{Store}', '{Project}', 'bench-model', {Dimensions}); " +
            $"INSERT INTO chunk_files SELECT '{Store}', 'file-' || f, '{Project}', 'f' || f || '.txt', NULL, LEAST({PerFile}, {count} - f * {PerFile}), 0 FROM generate_series(0, {files - 1}) f");
        Progress($"{count:N0}: COPY {copySeconds:F0} s; btree and GIN");

        // The index definitions of migration 0002, built after the load.
        const string Settings = "SET maintenance_work_mem = '8GB'; SET max_parallel_maintenance_workers = 1; ";
        sw.Restart();
        await ExecuteAsync(connectionString, Settings + "CREATE INDEX ix_chunks_file ON chunks(vector_store_id, file_id, chunk_index)");
        await ExecuteAsync(connectionString, Settings + "CREATE INDEX ix_chunks_tsv ON chunks USING gin (tsv)");
        var btreeGinSeconds = sw.Elapsed.TotalSeconds;
        Progress($"{count:N0}: btree + GIN {btreeGinSeconds:F0} s; HNSW");
        sw.Restart();
        await ExecuteAsync(connectionString, Settings + "CREATE INDEX ix_chunks_hnsw_384 ON chunks USING hnsw ((embedding::vector(384)) vector_cosine_ops) WHERE dimensions = 384");
        var hnswSeconds = sw.Elapsed.TotalSeconds;
        Progress($"{count:N0}: HNSW {hnswSeconds:F0} s; VACUUM ANALYZE");
        await ExecuteAsync(connectionString, "VACUUM ANALYZE chunks");
        var heap = await SizeAsync(connectionString, "pg_table_size('chunks')");
        var hnsw = await SizeAsync(connectionString, "pg_relation_size('ix_chunks_hnsw_384')");
        var gin = await SizeAsync(connectionString, "pg_relation_size('ix_chunks_tsv')");
        var btree = await SizeAsync(connectionString, "pg_relation_size('ix_chunks_file') + pg_relation_size('chunks_pkey')");

        var index = new PostgresChunkIndex(database);
        var queries = Enumerable.Range(0, Warmup + Queries).Select(_ => generator.Next()).ToArray();
        var exact = new HashSet<(string File, int Index)>[queries.Length];
        Parallel.For(Warmup, queries.Length, q => exact[q] = ExactTop10(vectors, queries[q]));
        var latencies = new List<double>();
        var keywordLatencies = new List<double>();
        var recall = 0.0;
        for (var q = 0; q < queries.Length; q++)
        {
            sw.Restart();
            var hits = await index.VectorSearchAsync(Project, Store, queries[q], 10, null, ct);
            var ms = sw.Elapsed.TotalMilliseconds;
            var words = string.Join(' ', Enumerable.Range(0, 4).Select(_ => vocabulary[random.Next(vocabulary.Length)]));
            sw.Restart();
            await index.KeywordSearchAsync(Project, Store, words, 10, null, ct);
            var keywordMs = sw.Elapsed.TotalMilliseconds;
            if (q < Warmup)
            {
                continue;
            }
            latencies.Add(ms);
            keywordLatencies.Add(keywordMs);
            recall += hits.Count(h => exact[q].Contains((h.FileId, h.ChunkIndex))) / 10.0;
        }
        latencies.Sort();
        keywordLatencies.Sort();

        var sweep = new List<string>();
        foreach (var ef in new[] { 40, 100, 200 })
        {
            var (p50, sweepRecall) = await SweepAsync(database, queries, exact, ef, ct);
            sweep.Add(Invariant($"ef {ef}: recall {sweepRecall:F3}, p50 {p50:F1} ms"));
        }
        Progress($"{count:N0}: searched");
        return new SearchResult(copySeconds, btreeGinSeconds, hnswSeconds, Pct(latencies, 0.5), Pct(latencies, 0.99), recall / Queries,
            Pct(keywordLatencies, 0.5), Pct(keywordLatencies, 0.99), heap, hnsw, gin, btree, string.Join("; ", sweep));
    }

    private static async Task<(double P50, double Recall)> SweepAsync(PostgresDatabase database, float[][] queries, HashSet<(string, int)>[] exact, int ef, CancellationToken ct)
    {
        await using var connection = await database.OpenAsync(ct);
        await using (var set = new NpgsqlCommand($"SET hnsw.ef_search = {ef}; SET hnsw.iterative_scan = relaxed_order", connection))
        {
            await set.ExecuteNonQueryAsync(ct);
        }
        var latencies = new List<double>();
        var recall = 0.0;
        for (var q = Warmup; q < queries.Length; q++)
        {
            var sw = Stopwatch.StartNew();
            var hits = new List<(string, int)>();
            await using (var command = new NpgsqlCommand(
                "SELECT c.file_id, c.chunk_index FROM chunks c WHERE c.vector_store_id = $1 AND c.project_id = $2 AND c.dimensions = 384 " +
                "ORDER BY c.embedding::vector(384) <=> $3::vector(384) LIMIT 10", connection))
            {
                command.Parameters.Add(new NpgsqlParameter { Value = Store });
                command.Parameters.Add(new NpgsqlParameter { Value = Project });
                command.Parameters.Add(new NpgsqlParameter { Value = new Vector(queries[q]) });
                await using var reader = await command.ExecuteReaderAsync(ct);
                while (await reader.ReadAsync(ct))
                {
                    hits.Add((reader.GetString(0), reader.GetInt32(1)));
                }
            }
            latencies.Add(sw.Elapsed.TotalMilliseconds);
            recall += hits.Count(exact[q].Contains) / 10.0;
        }
        latencies.Sort();
        return (Pct(latencies, 0.5), recall / Queries);
    }

    private static HashSet<(string File, int Index)> ExactTop10(float[][] vectors, float[] query)
    {
        var best = new PriorityQueue<int, float>();
        for (var i = 0; i < vectors.Length; i++)
        {
            var score = TensorPrimitives.Dot(vectors[i], query);
            if (best.Count < 10)
            {
                best.Enqueue(i, score);
            }
            else if (best.TryPeek(out _, out var lowest) && score > lowest)
            {
                best.DequeueEnqueue(i, score);
            }
        }
        var top = new HashSet<(string, int)>();
        while (best.TryDequeue(out var i, out _))
        {
            top.Add(($"file-{i / PerFile}", i % PerFile));
        }
        return top;
    }

    /// <summary>Clustered points of low intrinsic dimension, embedded in 384 dimensions (see the class remarks).</summary>
    private sealed class ClusteredVectors
    {
        private readonly Random _random;
        private readonly float[][] _centres;
        private readonly float[][] _projection;

        public ClusteredVectors(Random random)
        {
            _random = random;
            _centres = Enumerable.Range(0, Centres).Select(_ => Gaussians(Latent, 1)).ToArray();
            _projection = Enumerable.Range(0, Latent).Select(_ => Gaussians(Dimensions, 1 / MathF.Sqrt(Dimensions))).ToArray();
        }

        public float[] Next()
        {
            var centre = _centres[_random.Next(Centres)];
            var v = Gaussians(Dimensions, 0.1f);
            for (var k = 0; k < Latent; k++)
            {
                var coordinate = centre[k] + 0.5f * Gaussian();
                TensorPrimitives.MultiplyAdd(_projection[k], coordinate, v, v);
            }
            TensorPrimitives.Divide(v, TensorPrimitives.Norm(v), v);
            return v;
        }

        private float[] Gaussians(int length, float sigma)
        {
            var v = new float[length];
            for (var i = 0; i < length; i++)
            {
                v[i] = sigma * Gaussian();
            }
            return v;
        }

        private float Gaussian() => (float)(Math.Sqrt(-2 * Math.Log(1 - _random.NextDouble())) * Math.Cos(2 * Math.PI * _random.NextDouble()));
    }

    internal static string Load() => File.ReadAllText("/proc/loadavg").Split(' ')[..3] is var l ? $"load average {l[0]} {l[1]} {l[2]}" : "";

    private static void Progress(string line) => Console.Error.WriteLine($"[{DateTime.UtcNow:HH:mm:ss}] storage {line} ({Load()})");

    private static async Task<long> SizeAsync(string connectionString, string expression) =>
        Convert.ToInt64(await ScalarAsync(connectionString, "SELECT " + expression), CultureInfo.InvariantCulture);

    private static async Task<object?> ScalarAsync(string connectionString, string sql)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection) { CommandTimeout = 0 };
        return await command.ExecuteScalarAsync();
    }

    internal static async Task ExecuteAsync(string connectionString, string sql)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection) { CommandTimeout = 0 };
        await command.ExecuteNonQueryAsync();
    }

    private static double Pct(List<double> sorted, double p) => sorted[Math.Min(sorted.Count - 1, (int)(p * sorted.Count))];

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
