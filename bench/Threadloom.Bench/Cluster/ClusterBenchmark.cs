using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Headers;
using System.Text;
using Npgsql;
using Threadloom.Bench.Runs;
using Threadloom.Bench.Storage;
using Threadloom.Testing;

namespace Threadloom.Bench.Cluster;

/// <summary>
/// Issue #12 performance table for several nodes: completed runs per second with 1, 2 and 3 server processes on one
/// PostgreSQL against one on SQLite, CPU seconds per run of every node and of PostgreSQL, rows and bytes per run, and
/// the latency a client streaming from another node adds to the model's first token.
/// </summary>
/// <remarks>
/// Every node is the built server (<c>threadloom.dll</c>) as its own process (<see cref="ThreadloomProcess"/>),
/// each with its own data folder; on PostgreSQL they share one fresh database (<c>clusterbench_*</c>, dropped after).
/// The load generator and the instant <see cref="ScriptedModelServer"/> live in this process. CPU is read from
/// <c>/proc/&lt;pid&gt;/stat</c> (utime + stime) before and after the measured window, for each node process, for the
/// PostgreSQL backends of the bench database (found in <c>pg_stat_activity</c>) and, separately, for PostgreSQL's
/// shared processes (WAL writer, checkpointer, background writer), which also serve other databases on this server.
/// </remarks>
public static class ClusterBenchmark
{
    private const string ReplyText = "Hello from the bench model, answering at once.";
    private const int Clients = 64;
    // THREADLOOM_BENCH_WARMUP_SECONDS and THREADLOOM_BENCH_MEASURE_SECONDS change the windows: a node that just started
    // is still compiling its hot paths (tiered JIT) for its first ≈ 20–40 s under this load, which a 3 s warm-up
    // counts as the cost of a run; a longer window also leaves time to attach dotnet-trace or perf to a node.
    private static readonly TimeSpan WarmupTime = Seconds("THREADLOOM_BENCH_WARMUP_SECONDS", 3);
    private static readonly TimeSpan MeasureTime = Seconds("THREADLOOM_BENCH_MEASURE_SECONDS", 12);
    private static readonly double Tick = 100.0; // USER_HZ on Linux

    public static async Task<string> RunAsync(CancellationToken ct)
    {
        var admin = Environment.GetEnvironmentVariable("THREADLOOM_BENCH_POSTGRES") is { Length: > 0 } bench ? bench
            : Environment.GetEnvironmentVariable("THREADLOOM_TEST_POSTGRES") ?? throw new InvalidOperationException("Set THREADLOOM_BENCH_POSTGRES (or run `eval \"$(.ci/postgres.sh | tail -1)\"`).");
        var report = new StringBuilder();
        report.AppendLine("### Cluster: nodes on one PostgreSQL (issue #12)").AppendLine();
        report.AppendLine(Invariant($"Server: `{ThreadloomProcess.ServerDll}`; load at start: {StorageBenchmark.Load()}.")).AppendLine();
        report.AppendLine(Invariant($"Throughput: {Clients} clients in this process, spread round-robin over the nodes, each looping: `POST /threads` with a user message, then a streamed `POST /threads/{{id}}/runs` read until `done` (counted when it carried `thread.run.completed`). {WarmupTime.TotalSeconds:F0} s warm-up, {MeasureTime.TotalSeconds:F0} s measured; `Runs:MaxConcurrentRuns=64` a node; the model answers at once. CPU-s per run = CPU seconds in the measured window ÷ runs completed in it."));
        report.AppendLine();
        report.AppendLine("| configuration | runs/s | runs | CPU ms per run: nodes (each) | PostgreSQL: bench database's backends | PostgreSQL: shared processes | bench process (clients + model) | load average |");
        report.AppendLine("|---|---|---|---|---|---|---|---|");

        var results = new List<(string Name, Throughput Result)>();
        string? sizes = null;
        // THREADLOOM_BENCH_CLUSTER picks the configurations, in order (e.g. "sqlite:1,postgres:1,postgres:1,sqlite:1");
        // a "base-" prefix runs that configuration on THREADLOOM_BENCH_BASELINE_DLL (an older build's threadloom.dll),
        // so old and new builds interleave in one run. THREADLOOM_BENCH_LATENCY=0 skips the cross-node latency part.
        var configurations = Environment.GetEnvironmentVariable("THREADLOOM_BENCH_CLUSTER") is { Length: > 0 } chosen
            ? chosen.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(c => c.Split(':')).Select(c => (c[0], int.Parse(c[1], CultureInfo.InvariantCulture))).ToArray()
            : [("sqlite", 1), ("postgres", 1), ("postgres", 2), ("postgres", 3), ("postgres", 1), ("sqlite", 1)];
        var baseline = Environment.GetEnvironmentVariable("THREADLOOM_BENCH_BASELINE_DLL");
        var current = Environment.GetEnvironmentVariable("THREADLOOM_TEST_SERVER_DLL");
        foreach (var (configured, nodes) in configurations)
        {
            var isBaseline = configured.StartsWith("base-", StringComparison.Ordinal);
            var provider = isBaseline ? configured["base-".Length..] : configured;
            if (isBaseline && string.IsNullOrEmpty(baseline))
            {
                throw new InvalidOperationException("A base- configuration needs THREADLOOM_BENCH_BASELINE_DLL.");
            }
            Environment.SetEnvironmentVariable("THREADLOOM_TEST_SERVER_DLL", isBaseline ? baseline : current);
            var name = (provider == "sqlite" ? "SQLite, 1 node" : $"PostgreSQL, {nodes} node{(nodes > 1 ? "s" : "")}") + (isBaseline ? " (baseline build)" : "");
            Progress($"throughput {name}");
            var result = await ThroughputAsync(admin, provider, nodes, collectSizes: provider == "postgres" && sizes is null && !isBaseline, ct);
            sizes ??= result.Sizes;
            results.Add((name, result));
            report.AppendLine(Invariant(
                $"| {name} | **{result.Rate:F0}** | {result.Runs} | {string.Join(" + ", result.NodeCpu.Select(c => (c / result.Runs * 1000).ToString("F2", CultureInfo.InvariantCulture)))} = {result.NodeCpu.Sum() / result.Runs * 1000:F2} | {result.PostgresCpu / result.Runs * 1000:F2} | {result.SharedCpu / result.Runs * 1000:F2} | {result.BenchCpu / result.Runs * 1000:F2} | {result.Load} |"));
        }
        double Rate(string name) => results.Where(r => r.Name == name).Select(r => r.Result.Rate).DefaultIfEmpty(double.NaN).Average();
        var sqlite = Rate("SQLite, 1 node");
        var pg1 = Rate("PostgreSQL, 1 node");
        report.AppendLine();
        report.AppendLine(Invariant($"- PostgreSQL ÷ SQLite, one node (mean of the runs of each, interleaved): **{pg1 / sqlite:F2}×** (target ≥ 0.7×)."));
        if (results.Any(r => r.Name.EndsWith("(baseline build)", StringComparison.Ordinal)))
        {
            report.AppendLine(Invariant($"- baseline build: PostgreSQL ÷ SQLite {Rate("PostgreSQL, 1 node (baseline build)") / Rate("SQLite, 1 node (baseline build)"):F2}×; this build ÷ baseline on PostgreSQL, one node: {pg1 / Rate("PostgreSQL, 1 node (baseline build)"):F2}×."));
        }
        report.AppendLine(Invariant($"- 2 nodes ÷ 1 node: {Rate("PostgreSQL, 2 nodes") / pg1:F2}×; 3 nodes ÷ 1 node: {Rate("PostgreSQL, 3 nodes") / pg1:F2}× (all processes share the same 2 cores)."));
        foreach (var (name, r) in results.Where(r => r.Name.StartsWith("PostgreSQL", StringComparison.Ordinal)))
        {
            var total = (r.NodeCpu.Sum() + r.PostgresCpu + r.SharedCpu + r.BenchCpu) / r.Runs * 1000;
            report.AppendLine(Invariant($"- {name}: all measured CPU {total:F2} ms per run; the window used {(r.NodeCpu.Sum() + r.PostgresCpu + r.SharedCpu + r.BenchCpu) / r.Seconds:F2} cores of 2."));
        }
        report.AppendLine();
        report.AppendLine(sizes ?? "");

        if (Environment.GetEnvironmentVariable("THREADLOOM_BENCH_LATENCY") != "0")
        {
            Progress("cross-node latency");
            report.AppendLine(await LatencyAsync(admin, ct));
        }
        report.AppendLine().AppendLine(Invariant($"Load at end: {StorageBenchmark.Load()}."));
        return report.ToString();
    }

    private sealed record Throughput(double Rate, int Runs, double Seconds, double[] NodeCpu, double PostgresCpu, double SharedCpu, double BenchCpu, string Load, string? Sizes);

    private static async Task<Throughput> ThroughputAsync(string admin, string provider, int count, bool collectSizes, CancellationToken ct)
    {
        await using var model = await ScriptedModelServer.StartAsync(ct);
        model.RecordRequests = false;
        model.RespondWith(_ => Reply.Text(ReplyText, chunkSize: 8));
        var database = provider == "postgres" ? await CreateDatabaseAsync(admin, $"clusterbench_runs_{count}") : null;
        var folders = Enumerable.Range(0, count).Select(_ => ThreadloomProcess.NewDataDirectory()).ToList();
        var nodes = new List<ThreadloomProcess>();
        Throughput result;
        try
        {
            foreach (var folder in folders)
            {
                nodes.Add(ThreadloomProcess.Start(folder, NodeArguments(model, database, slots: 64)));
            }
            await Task.WhenAll(nodes.Select(n => n.WaitHealthyAsync(TimeSpan.FromMinutes(3))));
            Progress($"node pids {string.Join(' ', nodes.Select(n => n.ProcessId))}");
            var clients = nodes.Select(Client).ToList();
            var assistant = await RunsBenchmark.PostAsync(clients[0], "assistants", """{"model":"gpt-4o","instructions":"Be brief."}""", ct);

            async Task<int> LoadAsync(TimeSpan length)
            {
                var completed = 0;
                var sw = Stopwatch.StartNew();
                await Task.WhenAll(Enumerable.Range(0, Clients).Select(async c =>
                {
                    var http = clients[c % clients.Count];
                    while (sw.Elapsed < length)
                    {
                        var thread = await RunsBenchmark.PostAsync(http, "threads", """{"messages":[{"role":"user","content":"How are you?"}]}""", ct);
                        if (await StreamAsync(http, $"threads/{thread}/runs", $$"""{"assistant_id":"{{assistant}}","stream":true}""", ct) is { Completed: true })
                        {
                            Interlocked.Increment(ref completed);
                        }
                    }
                }));
                return completed;
            }

            await LoadAsync(WarmupTime);
            var pgBefore = database is null ? null : await PostgresCpuAsync(admin, database);
            var nodesBefore = nodes.Select(n => CpuSeconds(n.ProcessId) ?? 0).ToArray();
            using var self = Process.GetCurrentProcess();
            var benchBefore = self.TotalProcessorTime;
            var timer = Stopwatch.StartNew();
            var runs = await LoadAsync(MeasureTime);
            var seconds = timer.Elapsed.TotalSeconds;
            self.Refresh();
            var benchCpu = (self.TotalProcessorTime - benchBefore).TotalSeconds;
            var nodeCpu = nodes.Select((n, i) => (CpuSeconds(n.ProcessId) ?? 0) - nodesBefore[i]).ToArray();
            var load = StorageBenchmark.Load().Replace("load average ", "", StringComparison.Ordinal);
            double pgCpu = 0, sharedCpu = 0;
            if (database is not null)
            {
                var pgAfter = await PostgresCpuAsync(admin, database);
                (pgCpu, sharedCpu) = Difference(pgBefore!, pgAfter);
            }
            foreach (var client in clients)
            {
                client.Dispose();
            }
            result = new Throughput(runs / seconds, runs, seconds, nodeCpu, pgCpu, sharedCpu, benchCpu, load, null);
        }
        finally
        {
            foreach (var node in nodes)
            {
                await node.DisposeAsync();
            }
            foreach (var folder in folders)
            {
                ThreadloomProcess.DeleteDataDirectory(folder);
            }
            if (database is not null && !collectSizes)
            {
                await DropDatabaseAsync(admin, database);
            }
        }
        if (collectSizes && database is not null)
        {
            try
            {
                result = result with { Sizes = await SizesAsync(admin, database, ct) };
            }
            finally
            {
                await DropDatabaseAsync(admin, database);
            }
        }
        return result;
    }

    /// <summary>
    /// Node A has one run slot, held by a slow run for the whole measurement, so every run created on A is executed
    /// by node B: streaming it through A crosses nodes (B's events reach A through <c>run_events</c> and NOTIFY),
    /// streaming a run created on B does not. Each node has its own scripted model, so the owner of each measured run
    /// is checked, not assumed. Runs alternate between A and B, one at a time.
    /// </summary>
    private static async Task<string> LatencyAsync(string admin, CancellationToken ct)
    {
        const int Warmup = 50, Measured = 500;
        var stamps = new ConcurrentDictionary<string, (long Stamp, char Node)>(StringComparer.Ordinal);
        await using var modelA = await ScriptedModelServer.StartAsync(ct);
        await using var modelB = await ScriptedModelServer.StartAsync(ct);
        var holdStarted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        foreach (var (model, node) in new[] { (modelA, 'A'), (modelB, 'B') })
        {
            model.RecordRequests = false;
            model.RespondWith(request =>
            {
                var key = request.LastUserText ?? "";
                if (key == "hold")
                {
                    holdStarted.TrySetResult();
                    return Reply.Text(new string('x', 1_000), chunkSize: 1).WithDelayPerChunk(TimeSpan.FromSeconds(1));
                }
                stamps[key] = (Stopwatch.GetTimestamp(), node);
                return Reply.Text(ReplyText, chunkSize: 8);
            });
        }
        var sqlite = new List<double>();
        var sqliteFolder = ThreadloomProcess.NewDataDirectory();
        try
        {
            await using var node = ThreadloomProcess.Start(sqliteFolder, NodeArguments(modelB, null, slots: 64));
            await node.WaitHealthyAsync(TimeSpan.FromMinutes(3));
            using var http = Client(node);
            var sqliteAssistant = await RunsBenchmark.PostAsync(http, "assistants", """{"model":"gpt-4o","instructions":"Be brief."}""", ct);
            for (var i = 0; i < Warmup + Measured; i++)
            {
                var key = $"sqlite {i}";
                var body = $$"""{"assistant_id":"{{sqliteAssistant}}","thread":{"messages":[{"role":"user","content":"{{key}}"}]},"stream":true}""";
                var (firstDelta, completed) = await StreamAsync(http, "threads/runs", body, ct);
                if (i >= Warmup && completed)
                {
                    sqlite.Add(Stopwatch.GetElapsedTime(stamps[key].Stamp, firstDelta).TotalMilliseconds);
                }
            }
            sqlite.Sort();
        }
        finally
        {
            ThreadloomProcess.DeleteDataDirectory(sqliteFolder);
        }

        var database = await CreateDatabaseAsync(admin, "clusterbench_latency");
        var folders = new[] { ThreadloomProcess.NewDataDirectory(), ThreadloomProcess.NewDataDirectory() };
        var nodes = new List<ThreadloomProcess>();
        try
        {
            nodes.Add(ThreadloomProcess.Start(folders[0], NodeArguments(modelA, database, slots: 1)));
            await nodes[0].WaitHealthyAsync(TimeSpan.FromMinutes(3));
            using var a = Client(nodes[0]);
            var assistant = await RunsBenchmark.PostAsync(a, "assistants", """{"model":"gpt-4o","instructions":"Be brief."}""", ct);
            await RunsBenchmark.PostAsync(a, "threads/runs", $$$"""{"assistant_id":"{{{assistant}}}","thread":{"messages":[{"role":"user","content":"hold"}]}}""", ct);
            await holdStarted.Task.WaitAsync(TimeSpan.FromSeconds(60), ct);
            nodes.Add(ThreadloomProcess.Start(folders[1], NodeArguments(modelB, database, slots: 64)));
            await nodes[1].WaitHealthyAsync(TimeSpan.FromMinutes(3));
            using var b = Client(nodes[1]);

            var cross = new List<double>();
            var local = new List<double>();
            var misplaced = 0;
            for (var i = 0; i < Warmup + Measured; i++)
            {
                foreach (var (http, streamedOn) in i % 2 == 0 ? new[] { (a, 'A'), (b, 'B') } : [(b, 'B'), (a, 'A')])
                {
                    var key = $"latency {i} via {streamedOn}";
                    var body = $$"""{"assistant_id":"{{assistant}}","thread":{"messages":[{"role":"user","content":"{{key}}"}]},"stream":true}""";
                    var (firstDelta, completed) = await StreamAsync(http, "threads/runs", body, ct);
                    if (!completed || !stamps.TryGetValue(key, out var stamp) || stamp.Node != 'B')
                    {
                        misplaced++;
                        continue;
                    }
                    if (i >= Warmup)
                    {
                        (streamedOn == 'A' ? cross : local).Add(Stopwatch.GetElapsedTime(stamp.Stamp, firstDelta).TotalMilliseconds);
                    }
                }
            }
            cross.Sort();
            local.Sort();
            var text = new StringBuilder();
            text.AppendLine(Invariant($"Cross-node first token, 2 nodes on one PostgreSQL, {Measured} runs each way after {Warmup} warm-up pairs, one at a time, alternating (load {StorageBenchmark.Load()}): the model's responder stamps the moment it is asked (just before its first chunk), the client stamps when it reads the first `thread.message.delta`. Every measured run was executed by node B (its own model saw it; {misplaced} runs were not, and are left out)."));
            text.AppendLine();
            text.AppendLine("| streamed from | p50 | p99 |").AppendLine("|---|---|---|");
            text.AppendLine(Invariant($"| the owning node (B) | {Pct(local, 0.5):F2} ms | {Pct(local, 0.99):F2} ms |"));
            text.AppendLine(Invariant($"| another node (A) | {Pct(cross, 0.5):F2} ms | {Pct(cross, 0.99):F2} ms |"));
            text.AppendLine(Invariant($"| **added by crossing** | **{Pct(cross, 0.5) - Pct(local, 0.5):F2} ms** | {Pct(cross, 0.99) - Pct(local, 0.99):F2} ms |"));
            text.AppendLine(Invariant($"| for reference: one node on SQLite (in-process event hub), same measure, just before | {Pct(sqlite, 0.5):F2} ms | {Pct(sqlite, 0.99):F2} ms |"));
            return text.ToString();
        }
        finally
        {
            foreach (var node in nodes)
            {
                await node.DisposeAsync();
            }
            foreach (var folder in folders)
            {
                ThreadloomProcess.DeleteDataDirectory(folder);
            }
            await DropDatabaseAsync(admin, database);
        }
    }

    /// <summary>Rows and bytes per run and per message after the throughput load, as left and after VACUUM FULL.</summary>
    private static async Task<string> SizesAsync(string admin, string database, CancellationToken ct)
    {
        await Task.Delay(TimeSpan.FromSeconds(2), ct); // the killed nodes' backends exit and flush their statistics
        var cs = new NpgsqlConnectionStringBuilder(admin) { Database = database, CommandTimeout = 0 }.ToString();
        await using var connection = new NpgsqlConnection(cs);
        await connection.OpenAsync(ct);
        async Task<List<(string Table, long Rows, long Bytes)>> TablesAsync()
        {
            var tables = new List<(string, long, long)>();
            var names = new List<string>();
            await using (var list = new NpgsqlCommand("SELECT relname FROM pg_stat_user_tables WHERE relname <> 'schema_migrations' ORDER BY relname", connection))
            await using (var reader = await list.ExecuteReaderAsync(ct))
            {
                while (await reader.ReadAsync(ct))
                {
                    names.Add(reader.GetString(0));
                }
            }
            foreach (var name in names)
            {
                await using var command = new NpgsqlCommand($"SELECT (SELECT COUNT(*) FROM \"{name}\"), pg_total_relation_size('\"{name}\"')", connection);
                await using var reader = await command.ExecuteReaderAsync(ct);
                await reader.ReadAsync(ct);
                tables.Add((name, reader.GetInt64(0), reader.GetInt64(1)));
            }
            return tables;
        }
        var before = await TablesAsync();
        var allRuns = before.Single(t => t.Table == "runs").Rows;
        var activity = new StringBuilder();
        await using (var stats = new NpgsqlCommand("SELECT xact_commit, xact_rollback, tup_returned, tup_fetched, tup_inserted, tup_updated, tup_deleted FROM pg_stat_database WHERE datname = current_database()", connection))
        await using (var reader = await stats.ExecuteReaderAsync(ct))
        {
            await reader.ReadAsync(ct);
            string[] names = ["transactions committed", "rolled back", "rows returned (scans)", "rows fetched (index)", "rows inserted", "rows updated", "rows deleted"];
            activity.AppendJoin("; ", names.Select((n, i) => Invariant($"{n} {reader.GetInt64(i) / (double)allRuns:F1}")));
        }
        await using (var vacuum = new NpgsqlCommand("VACUUM FULL ANALYZE", connection) { CommandTimeout = 0 })
        {
            await vacuum.ExecuteNonQueryAsync(ct);
        }
        var after = await TablesAsync();
        var runs = before.Single(t => t.Table == "runs").Rows;
        var messages = before.Single(t => t.Table == "messages").Rows;
        var text = new StringBuilder();
        text.AppendLine(Invariant($"Rows and bytes on PostgreSQL after the first 1-node load ({runs:N0} runs, each a new thread with one user message and one assistant message; `pg_total_relation_size`: heap, TOAST and indexes). \"As left\" includes dead row versions not yet vacuumed; \"live\" is after `VACUUM FULL`."));
        text.AppendLine();
        text.AppendLine("| table | rows | rows per run | bytes as left | bytes per run as left | bytes per run live | bytes per row live |");
        text.AppendLine("|---|---|---|---|---|---|---|");
        foreach (var (table, rows, bytes) in before.Where(t => t.Rows > 0 || t.Bytes > 16_384))
        {
            var live = after.Single(t => t.Table == table);
            text.AppendLine(Invariant($"| `{table}` | {rows:N0} | {rows / (double)runs:F2} | {bytes:N0} | {bytes / (double)runs:F0} | {live.Bytes / (double)runs:F0} | {(live.Rows > 0 ? (live.Bytes / (double)live.Rows).ToString("F0", CultureInfo.InvariantCulture) : "—")} |"));
        }
        text.AppendLine(Invariant($"| **all tables** | | | {before.Sum(t => t.Bytes):N0} | **{before.Sum(t => t.Bytes) / (double)runs:F0}** | **{after.Sum(t => t.Bytes) / (double)runs:F0}** | |"));
        text.AppendLine();
        text.AppendLine(Invariant($"Database work per run (`pg_stat_database` of the bench database since it was created, migrations and warm-up included, over its {allRuns:N0} runs; each statement outside a transaction is one transaction): {activity}."));
        text.AppendLine();
        text.AppendLine(Invariant($"Per message: `messages` holds {messages / (double)runs:F2} rows a run, {after.Single(t => t.Table == "messages").Bytes / (double)Math.Max(1, messages):F0} bytes a message live (short texts: 12 and 46 characters)."));
        return text.ToString();
    }

    private static List<string> NodeArguments(ScriptedModelServer model, string? database, int slots)
    {
        List<string> args =
        [
            "--Inference:Providers:default:BaseUrl", model.OpenAIBaseAddress.ToString(),
            "--Inference:Providers:default:ApiKey", "bench",
            "--Runs:MaxConcurrentRuns", slots.ToString(CultureInfo.InvariantCulture),
            "--Runs:ShutdownGracePeriod", "00:00:00",
        ];
        if (database is not null)
        {
            var admin = Environment.GetEnvironmentVariable("THREADLOOM_BENCH_POSTGRES") is { Length: > 0 } bench ? bench : Environment.GetEnvironmentVariable("THREADLOOM_TEST_POSTGRES")!;
            args.AddRange(["--Storage:Provider", "postgres", "--Storage:ConnectionString", new NpgsqlConnectionStringBuilder(admin) { Database = database }.ToString()]);
        }
        return args;
    }

    private static async Task<string> CreateDatabaseAsync(string admin, string name)
    {
        await StorageBenchmark.ExecuteAsync(admin, $"DROP DATABASE IF EXISTS {name} WITH (FORCE)");
        await StorageBenchmark.ExecuteAsync(admin, $"CREATE DATABASE {name}");
        return name;
    }

    private static async Task DropDatabaseAsync(string admin, string name)
    {
        NpgsqlConnection.ClearAllPools();
        await StorageBenchmark.ExecuteAsync(admin, $"DROP DATABASE IF EXISTS {name} WITH (FORCE)");
    }

    /// <summary>CPU seconds of each PostgreSQL process: the bench database's backends, and the shared processes.</summary>
    private static async Task<Dictionary<int, (bool Mine, double Cpu)>> PostgresCpuAsync(string admin, string database)
    {
        var result = new Dictionary<int, (bool, double)>();
        await using var connection = new NpgsqlConnection(admin);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("SELECT pid, datname, backend_type FROM pg_stat_activity WHERE pid <> pg_backend_pid()", connection);
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            var pid = reader.GetInt32(0);
            var mine = !reader.IsDBNull(1) && reader.GetString(1) == database;
            var shared = reader.IsDBNull(1) && reader.GetString(2) is "walwriter" or "checkpointer" or "background writer" or "autovacuum launcher" or "logical replication launcher";
            if ((mine || shared) && CpuSeconds(pid) is { } cpu)
            {
                result[pid] = (mine, cpu);
            }
        }
        return result;
    }

    private static (double Mine, double Shared) Difference(Dictionary<int, (bool Mine, double Cpu)> before, Dictionary<int, (bool Mine, double Cpu)> after)
    {
        double mine = 0, shared = 0;
        foreach (var (pid, (isMine, cpu)) in after)
        {
            var delta = cpu - (before.TryGetValue(pid, out var b) ? b.Cpu : 0);
            if (isMine)
            {
                mine += delta;
            }
            else
            {
                shared += delta;
            }
        }
        return (mine, shared);
    }

    /// <summary>utime + stime of a process from <c>/proc/&lt;pid&gt;/stat</c>, in seconds; null when it is gone.</summary>
    private static double? CpuSeconds(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            return (long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture)) / Tick;
        }
        catch (IOException)
        {
            return null;
        }
    }

    private static HttpClient Client(ThreadloomProcess node)
    {
        var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 256 }) { BaseAddress = new Uri(node.BaseAddress, "v1/"), Timeout = TimeSpan.FromSeconds(60) };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", "bench");
        http.DefaultRequestHeaders.Add("OpenAI-Beta", "assistants=v2");
        return http;
    }

    private static async Task<(long FirstDelta, bool Completed)> StreamAsync(HttpClient http, string path, string json, CancellationToken ct)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = new StringContent(json, Encoding.UTF8, "application/json") };
        using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ct);
        response.EnsureSuccessStatusCode();
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(ct));
        long firstDelta = 0;
        var completed = false;
        while (await reader.ReadLineAsync(ct) is { } line)
        {
            if (firstDelta == 0 && line == "event: thread.message.delta")
            {
                firstDelta = Stopwatch.GetTimestamp();
            }
            completed |= line == "event: thread.run.completed";
        }
        return (firstDelta, completed);
    }

    private static void Progress(string line) => Console.Error.WriteLine($"[{DateTime.UtcNow:HH:mm:ss}] cluster {line} ({StorageBenchmark.Load()})");

    private static double Pct(List<double> sorted, double p) => sorted.Count == 0 ? double.NaN : sorted[Math.Min(sorted.Count - 1, (int)(p * sorted.Count))];

    private static TimeSpan Seconds(string variable, double fallback) => TimeSpan.FromSeconds(
        Environment.GetEnvironmentVariable(variable) is { Length: > 0 } value ? double.Parse(value, CultureInfo.InvariantCulture) : fallback);

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
