using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using Npgsql;
using Threadloom.Bench.Runs;
using Threadloom.Bench.Storage;
using Threadloom.Testing;

namespace Threadloom.Bench.Cluster;

/// <summary>
/// What one run costs on PostgreSQL, statement by statement: one node in this process on a fresh database, the same
/// load as <see cref="ClusterBenchmark"/> (a thread with its message, then a streamed run to <c>completed</c>), with
/// an <see cref="ActivityListener"/> on Npgsql's <c>ActivitySource</c> counting every command and batch it executes,
/// grouped by SQL text, and <c>pg_stat_database</c> counting the transactions. Node CPU is not separated from the
/// clients' and the model's here; <c>-- cluster</c> measures that.
/// </summary>
public static partial class StatementProbe
{
    private const string ReplyText = "Hello from the bench model, answering at once.";

    public static async Task<string> RunAsync(int clients, int runsWanted, CancellationToken ct)
    {
        var admin = Environment.GetEnvironmentVariable("THREADLOOM_BENCH_POSTGRES") is { Length: > 0 } bench ? bench
            : Environment.GetEnvironmentVariable("THREADLOOM_TEST_POSTGRES") ?? throw new InvalidOperationException("Set THREADLOOM_BENCH_POSTGRES or THREADLOOM_TEST_POSTGRES.");
        var database = "clusterbench_probe";
        await StorageBenchmark.ExecuteAsync(admin, $"DROP DATABASE IF EXISTS {database} WITH (FORCE)");
        await StorageBenchmark.ExecuteAsync(admin, $"CREATE DATABASE {database}");
        var counts = new ConcurrentDictionary<string, int>(StringComparer.Ordinal);
        var counting = false;
        using var listener = new ActivityListener
        {
            ShouldListenTo = s => s.Name.StartsWith("Npgsql", StringComparison.Ordinal),
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllData,
            ActivityStopped = a =>
            {
                if (!Volatile.Read(ref counting))
                {
                    return;
                }
                var text = a.GetTagItem("db.query.text") as string ?? a.GetTagItem("db.statement") as string ?? a.DisplayName;
                counts.AddOrUpdate(Normalize(text), 1, (_, n) => n + 1);
            },
        };
        ActivitySource.AddActivityListener(listener);
        try
        {
            await using var model = await ScriptedModelServer.StartAsync(ct);
            model.RecordRequests = false;
            model.RespondWith(_ => Reply.Text(ReplyText, chunkSize: 8));
            var cs = new NpgsqlConnectionStringBuilder(admin) { Database = database }.ToString();
            await using var server = await ThreadloomServer.StartAsync(new Dictionary<string, string?>
            {
                ["Inference:Providers:default:BaseUrl"] = model.OpenAIBaseAddress.ToString(),
                ["Inference:Providers:default:ApiKey"] = "bench",
                ["Runs:MaxConcurrentRuns"] = "64",
                ["Storage:Provider"] = "postgres",
                ["Storage:ConnectionString"] = cs,
            });
            using var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 256 }) { BaseAddress = server.OpenAIEndpoint };
            http.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", "bench");
            http.DefaultRequestHeaders.Add("OpenAI-Beta", "assistants=v2");
            var assistant = await RunsBenchmark.PostAsync(http, "assistants", """{"model":"gpt-4o","instructions":"Be brief."}""", ct);

            async Task<int> LoadAsync(int total)
            {
                var left = total;
                var completed = 0;
                await Task.WhenAll(Enumerable.Range(0, clients).Select(async _ =>
                {
                    while (Interlocked.Decrement(ref left) >= 0)
                    {
                        var thread = await RunsBenchmark.PostAsync(http, "threads", """{"messages":[{"role":"user","content":"How are you?"}]}""", ct);
                        await RunsBenchmark.StreamAsync(http, $"threads/{thread}/runs", $$"""{"assistant_id":"{{assistant}}","stream":true}""", ct, expectCompleted: true);
                        Interlocked.Increment(ref completed);
                    }
                }));
                return completed;
            }

            await LoadAsync(Math.Max(100, runsWanted / 4));
            await Task.Delay(TimeSpan.FromSeconds(1), ct);
            var before = await StatsAsync(cs);
            using var self = Process.GetCurrentProcess();
            var cpuBefore = self.TotalProcessorTime;
            var sw = Stopwatch.StartNew();
            Volatile.Write(ref counting, true);
            var runs = await LoadAsync(runsWanted);
            var seconds = sw.Elapsed.TotalSeconds;
            await Task.Delay(TimeSpan.FromMilliseconds(500), ct); // tails and writer settle
            Volatile.Write(ref counting, false);
            self.Refresh();
            var cpu = (self.TotalProcessorTime - cpuBefore).TotalSeconds;
            var after = await StatsAsync(cs);
            var report = new StringBuilder();
            report.AppendLine(Invariant($"### Statements per run on PostgreSQL, one node in-process ({runs} runs, {clients} clients, {runs / seconds:F0} runs/s, process CPU {cpu / runs * 1000:F2} ms/run incl. clients and model; {StorageBenchmark.Load()})")).AppendLine();
            report.AppendLine(Invariant($"pg_stat_database per run: transactions committed {(after.Commits - before.Commits) / (double)runs:F1}, rows inserted {(after.Inserted - before.Inserted) / (double)runs:F1}, updated {(after.Updated - before.Updated) / (double)runs:F1}, fetched {(after.Fetched - before.Fetched) / (double)runs:F1}, returned {(after.Returned - before.Returned) / (double)runs:F1}.")).AppendLine();
            report.AppendLine(Invariant($"Npgsql commands per run: **{counts.Values.Sum() / (double)runs:F2}**")).AppendLine();
            report.AppendLine("| per run | statement |").AppendLine("|---|---|");
            foreach (var (sql, n) in counts.OrderByDescending(kv => kv.Value))
            {
                report.AppendLine(Invariant($"| {n / (double)runs:F2} | `{sql}` |"));
            }
            return report.ToString();
        }
        finally
        {
            NpgsqlConnection.ClearAllPools();
            await StorageBenchmark.ExecuteAsync(admin, $"DROP DATABASE IF EXISTS {database} WITH (FORCE)");
        }
    }

    private static string Normalize(string sql)
    {
        var flat = Whitespace().Replace(sql, " ").Trim();
        return (flat.Length > 110 ? flat[..110] + "…" : flat).Replace("|", "\\|", StringComparison.Ordinal);
    }

    private static async Task<(long Commits, long Inserted, long Updated, long Fetched, long Returned)> StatsAsync(string cs)
    {
        await using var connection = new NpgsqlConnection(cs);
        await connection.OpenAsync();
        await using var clear = new NpgsqlCommand("SELECT pg_stat_clear_snapshot()", connection);
        await clear.ExecuteNonQueryAsync();
        await using var command = new NpgsqlCommand("SELECT xact_commit, tup_inserted, tup_updated, tup_fetched, tup_returned FROM pg_stat_database WHERE datname = current_database()", connection);
        await using var reader = await command.ExecuteReaderAsync();
        await reader.ReadAsync();
        return (reader.GetInt64(0), reader.GetInt64(1), reader.GetInt64(2), reader.GetInt64(3), reader.GetInt64(4));
    }

    [GeneratedRegex(@"\s+")]
    private static partial Regex Whitespace();

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
