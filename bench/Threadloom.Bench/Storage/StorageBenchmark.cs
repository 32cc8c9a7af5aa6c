using System.Diagnostics;
using System.Globalization;
using System.Numerics.Tensors;
using System.Text;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;
using Threadloom.Bench.Runs;
using Threadloom.Core.Storage;
using Threadloom.Storage.Postgres;

namespace Threadloom.Bench.Storage;

/// <summary>
/// SQLite against PostgreSQL on one node under the same run load, and pgvector HNSW search latency and recall@10
/// against exact search. Needs a PostgreSQL with pgvector at <c>THREADLOOM_BENCH_POSTGRES</c> (or
/// <c>THREADLOOM_TEST_POSTGRES</c>); each measure uses a fresh database that is dropped afterwards.
/// </summary>
public static class StorageBenchmark
{
    public static async Task<string> RunAsync(CancellationToken ct)
    {
        var admin = Environment.GetEnvironmentVariable("THREADLOOM_BENCH_POSTGRES") is { Length: > 0 } bench ? bench
            : Environment.GetEnvironmentVariable("THREADLOOM_TEST_POSTGRES") ?? throw new InvalidOperationException("Set THREADLOOM_BENCH_POSTGRES (or run `eval \"$(.ci/postgres.sh | tail -1)\"`).");
        var chunks = int.Parse(Environment.GetEnvironmentVariable("THREADLOOM_BENCH_CHUNKS") ?? "100000", CultureInfo.InvariantCulture);
        var report = new StringBuilder();
        report.AppendLine("### Storage: SQLite and PostgreSQL (issue #12)").AppendLine();
        report.AppendLine("| Measure | Result | Target |").AppendLine("|---|---|---|");

        var duration = TimeSpan.FromSeconds(10);
        var sqlite = await RunsBenchmark.ThroughputAsync(64, 64, duration, ct);
        var postgres = await WithDatabaseAsync(admin, cs => RunsBenchmark.ThroughputAsync(64, 64, duration, ct, new Dictionary<string, string?>
        {
            ["Storage:Provider"] = "postgres",
            ["Storage:ConnectionString"] = cs,
        }));
        report.AppendLine(Invariant($"| completed runs/s, one node, 64 clients, `Runs:MaxConcurrentRuns=64`, SQLite | **{sqlite.Rate:F0} /s** ({sqlite.Total} runs in {sqlite.Seconds:F1} s; {sqlite.CpuSeconds:F1} CPU-s in the bench process) | |"));
        report.AppendLine(Invariant($"| same load, PostgreSQL 15 on the same machine | **{postgres.Rate:F0} /s** ({postgres.Total} runs in {postgres.Seconds:F1} s; {postgres.CpuSeconds:F1} CPU-s in the bench process, PostgreSQL's own CPU not included) | |"));
        report.AppendLine(Invariant($"| PostgreSQL ÷ SQLite | **{postgres.Rate / sqlite.Rate:F2}×** | ≥ 0.7× |"));

        var search = await WithDatabaseAsync(admin, cs => SearchAsync(cs, chunks, ct));
        report.AppendLine(Invariant($"| insert {chunks:N0} chunks of 384 dimensions (COPY, HNSW and GIN maintained) | {search.InsertSeconds:F0} s ({chunks / search.InsertSeconds:F0} chunks/s) | |"));
        report.AppendLine(Invariant($"| vector search, top 10, one store of {chunks:N0} chunks, HNSW (m=16, ef_construction=64, ef_search={PostgresChunkIndex.EfSearch}), {search.Queries} queries | p50 **{search.P50:F1} ms**, p99 **{search.P99:F1} ms** | p50 ≤ 20 ms at 1,000,000 |"));
        report.AppendLine(Invariant($"| recall@10 of HNSW against exact search (brute force over the same vectors) | **{search.Recall:F3}** | ≥ 0.95 |"));
        report.AppendLine(Invariant($"| keyword search (tsvector, GIN, `ts_rank`), top 10, same store | p50 **{search.KeywordP50:F1} ms**, p99 **{search.KeywordP99:F1} ms** | |"));
        report.AppendLine().AppendLine(Invariant($"Vectors are synthetic: {chunks:N0} unit vectors around 2,000 random centres (noise 0.35 per coordinate before normalising), queries drawn the same way; chunk text is 60 words from a 5,000-word vocabulary."));
        return report.ToString();
    }

    private static async Task<T> WithDatabaseAsync<T>(string admin, Func<string, Task<T>> body)
    {
        var name = "threadloom_bench_" + Guid.NewGuid().ToString("N")[..12];
        await ExecuteAsync(admin, $"CREATE DATABASE {name}");
        try
        {
            return await body(new NpgsqlConnectionStringBuilder(admin) { Database = name, MaxPoolSize = 100 }.ToString());
        }
        finally
        {
            NpgsqlConnection.ClearAllPools();
            await ExecuteAsync(admin, $"DROP DATABASE {name} WITH (FORCE)");
        }
    }

    private static async Task ExecuteAsync(string connectionString, string sql)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
    }

    private static async Task<(double InsertSeconds, double P50, double P99, double Recall, double KeywordP50, double KeywordP99, int Queries)> SearchAsync(
        string connectionString, int count, CancellationToken ct)
    {
        const int Centres = 2_000, PerFile = 1_000, Queries = 200, Warmup = 20;
        var random = new Random(12);
        var centres = Enumerable.Range(0, Centres).Select(_ => RandomUnit(random, null, 0)).ToArray();
        var vectors = new float[count][];
        for (var i = 0; i < count; i++)
        {
            vectors[i] = RandomUnit(random, centres[random.Next(Centres)], 0.35f);
        }
        var vocabulary = Enumerable.Range(0, 5_000).Select(i => "w" + i.ToString("x", CultureInfo.InvariantCulture)).ToArray();

        await using var database = new PostgresDatabase(connectionString);
        await new PostgresMigrator(database, NullLogger<PostgresMigrator>.Instance).MigrateAsync(ct);
        var index = new PostgresChunkIndex(database);
        var insert = Stopwatch.StartNew();
        for (var file = 0; file * PerFile < count; file++)
        {
            var batch = Enumerable.Range(file * PerFile, Math.Min(PerFile, count - file * PerFile)).Select(i =>
            {
                var text = string.Join(' ', Enumerable.Range(0, 60).Select(_ => vocabulary[random.Next(vocabulary.Length)]));
                return new IndexedChunk(i - file * PerFile, text, 0, text.Length, 80, null, null, vectors[i]);
            }).ToList();
            await index.ReplaceFileAsync(new ChunkSource("proj_bench", "vs_bench", $"file-{file}", $"f{file}.txt"), "bench-model", batch, ct);
        }
        var insertSeconds = insert.Elapsed.TotalSeconds;
        await ExecuteAsync(connectionString, "VACUUM ANALYZE chunks");

        var latencies = new List<double>();
        var keywordLatencies = new List<double>();
        var recall = 0.0;
        for (var q = 0; q < Warmup + Queries; q++)
        {
            var query = RandomUnit(random, centres[random.Next(Centres)], 0.35f);
            var sw = Stopwatch.StartNew();
            var hits = await index.VectorSearchAsync("proj_bench", "vs_bench", query, 10, null, ct);
            var ms = sw.Elapsed.TotalMilliseconds;
            var words = string.Join(' ', Enumerable.Range(0, 4).Select(_ => vocabulary[random.Next(vocabulary.Length)]));
            sw.Restart();
            await index.KeywordSearchAsync("proj_bench", "vs_bench", words, 10, null, ct);
            var keywordMs = sw.Elapsed.TotalMilliseconds;
            if (q < Warmup)
            {
                continue;
            }
            latencies.Add(ms);
            keywordLatencies.Add(keywordMs);
            var exact = Enumerable.Range(0, count).Select(i => (i, Score: TensorPrimitives.Dot(vectors[i], query)))
                .OrderByDescending(x => x.Score).Take(10).Select(x => (File: $"file-{x.i / PerFile}", Index: x.i % PerFile)).ToHashSet();
            recall += hits.Count(h => exact.Contains((h.FileId, h.ChunkIndex))) / 10.0;
        }
        latencies.Sort();
        keywordLatencies.Sort();
        return (insertSeconds, Pct(latencies, 0.5), Pct(latencies, 0.99), recall / Queries, Pct(keywordLatencies, 0.5), Pct(keywordLatencies, 0.99), Queries);
    }

    private static float[] RandomUnit(Random random, float[]? centre, float noise)
    {
        var v = new float[384];
        for (var i = 0; i < v.Length; i++)
        {
            v[i] = centre is null ? (float)(random.NextDouble() * 2 - 1) : centre[i] + (float)(random.NextDouble() * 2 - 1) * noise;
        }
        var norm = TensorPrimitives.Norm(v);
        TensorPrimitives.Divide(v, norm, v);
        return v;
    }

    private static double Pct(List<double> sorted, double p) => sorted[Math.Min(sorted.Count - 1, (int)(p * sorted.Count))];

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
