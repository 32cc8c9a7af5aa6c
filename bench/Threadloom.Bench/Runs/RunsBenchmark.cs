using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Threadloom.Testing;

namespace Threadloom.Bench.Runs;

/// <summary>
/// Issue #3 performance targets for the run engine, against a real server (SQLite) and a real
/// <see cref="ScriptedModelServer"/> that answers at once. Clients, server and model share the machine's cores.
/// </summary>
/// <remarks>
/// Time to first delta is measured on one <see cref="Stopwatch"/> clock in one process: the model's responder stamps
/// the moment it is asked for a reply (just before it writes its first chunk), and the client stamps the moment it
/// reads the <c>event: thread.message.delta</c> line of the same run. The difference is what the server adds.
/// </remarks>
public static class RunsBenchmark
{
    private const string ReplyText = "Hello from the bench model, answering at once.";
    private const string ToolsJson = """[{"type":"function","function":{"name":"get_stock_price","parameters":{"type":"object","properties":{"symbol":{"type":"string"}}}}}]""";

    public static async Task<string> RunAsync(CancellationToken ct)
    {
        var report = new StringBuilder();
        report.AppendLine("### Runs (issue #3)").AppendLine();
        report.AppendLine("| Measure | Result | Target |").AppendLine("|---|---|---|");

        var (p50, p99, n) = await FirstDeltaAsync(ct);
        report.AppendLine(Invariant($"| streamed run: model's first chunk → client reads first `thread.message.delta`, {n} sequential runs | p50 **{p50:F2} ms**, p99 **{p99:F2} ms** | p50 ≤ 2 ms, p99 ≤ 10 ms |"));

        foreach (var slots in new[] { 32, 64 }) // 64 is the default
        {
            var (rate, total, seconds, cpu) = await ThroughputAsync(slots, clients: 64, TimeSpan.FromSeconds(10), ct);
            report.AppendLine(Invariant($"| completed runs/s, 64 clients (thread with its message + streamed run to `completed`), `Runs:MaxConcurrentRuns={slots}` | **{rate:F0} /s** ({total} runs in {seconds:F1} s, {cpu:F1} CPU-s used = {total / cpu:F0} runs per CPU-second, clients and model included) | ≥ 500 /s |"));
        }

        var (heapPerRun, rssPerRun, parked) = await ParkedMemoryAsync(10_000, ct);
        report.AppendLine(Invariant($"| memory per run parked in `requires_action`, {parked:N0} parked | GC heap **{heapPerRun / 1024.0:F2} KB**/run; RSS {rssPerRun / 1024.0:F2} KB/run | ≤ 20 KB |"));
        return report.ToString();
    }

    private static async Task<(double P50, double P99, int Count)> FirstDeltaAsync(CancellationToken ct)
    {
        var modelFirstChunk = new ConcurrentDictionary<string, long>(StringComparer.Ordinal);
        await using var model = await ScriptedModelServer.StartAsync(ct);
        model.RecordRequests = false;
        model.RespondWith(request =>
        {
            modelFirstChunk[request.LastUserText ?? ""] = Stopwatch.GetTimestamp();
            return Reply.Text(ReplyText, chunkSize: 8);
        });
        await using var server = await ThreadloomServer.StartAsync(Settings(model, slots: 4));
        using var http = Client(server);
        var assistant = await PostAsync(http, "assistants", """{"model":"gpt-4o","instructions":"Be brief."}""", ct);

        var samples = new List<double>();
        const int Warmup = 100, Measured = 1_000;
        for (var i = 0; i < Warmup + Measured; i++)
        {
            var key = "delta " + i.ToString(CultureInfo.InvariantCulture);
            var body = $$"""{"assistant_id":"{{assistant}}","thread":{"messages":[{"role":"user","content":"{{key}}"}]},"stream":true}""";
            var firstDelta = await StreamAsync(http, "threads/runs", body, ct);
            if (i >= Warmup)
            {
                samples.Add(Stopwatch.GetElapsedTime(modelFirstChunk[key], firstDelta).TotalMilliseconds);
            }
        }
        samples.Sort();
        return (Pct(samples, 0.5), Pct(samples, 0.99), samples.Count);
    }

    internal static async Task<(double Rate, int Total, double Seconds, double CpuSeconds)> ThroughputAsync(int slots, int clients, TimeSpan duration, CancellationToken ct,
        IReadOnlyDictionary<string, string?>? extraSettings = null)
    {
        await using var model = await ScriptedModelServer.StartAsync(ct);
        model.RecordRequests = false;
        model.RespondWith(_ => Reply.Text(ReplyText, chunkSize: 8));
        var settings = Settings(model, slots);
        foreach (var (key, value) in extraSettings ?? new Dictionary<string, string?>())
        {
            settings[key] = value;
        }
        await using var server = await ThreadloomServer.StartAsync(settings);
        using var http = Client(server);
        var assistant = await PostAsync(http, "assistants", """{"model":"gpt-4o","instructions":"Be brief."}""", ct);
        async Task<int> LoadAsync(TimeSpan length)
        {
            var completed = 0;
            var sw = Stopwatch.StartNew();
            await Task.WhenAll(Enumerable.Range(0, clients).Select(async _ =>
            {
                while (sw.Elapsed < length)
                {
                    // A fresh thread per run, created with its user message: a reused thread grows by two messages
                    // a run, and every prompt replays the whole thread, so the rate would fall as the benchmark runs.
                    var thread = await PostAsync(http, "threads", """{"messages":[{"role":"user","content":"How are you?"}]}""", ct);
                    await StreamAsync(http, $"threads/{thread}/runs", $$"""{"assistant_id":"{{assistant}}","stream":true}""", ct, expectCompleted: true);
                    Interlocked.Increment(ref completed);
                }
            }));
            return completed;
        }

        await LoadAsync(TimeSpan.FromSeconds(2));
        using var process = Process.GetCurrentProcess();
        var cpuBefore = process.TotalProcessorTime;
        var timer = Stopwatch.StartNew();
        var total = await LoadAsync(duration);
        var seconds = timer.Elapsed.TotalSeconds;
        process.Refresh();
        return (total / seconds, total, seconds, (process.TotalProcessorTime - cpuBefore).TotalSeconds);
    }

    private static async Task<(double HeapPerRun, double RssPerRun, int Count)> ParkedMemoryAsync(int count, CancellationToken ct)
    {
        await using var model = await ScriptedModelServer.StartAsync(ct);
        model.RecordRequests = false;
        model.RespondWith(_ => Reply.ToolCalls(("get_stock_price", """{"symbol":"MSFT"}""")));
        await using var server = await ThreadloomServer.StartAsync(Settings(model, slots: 64));
        using var http = Client(server);
        var assistant = await PostAsync(http, "assistants", $$"""{"model":"gpt-4o","tools":{{ToolsJson}}}""", ct);
        var body = $$"""{"assistant_id":"{{assistant}}","thread":{"messages":[{"role":"user","content":"MSFT?"}]},"stream":true}""";

        // Warm every path first, so the baseline already holds JIT code, pools and caches.
        await ParkAsync(http, body, 500, ct);
        var (heapBefore, rssBefore) = Measure();
        await ParkAsync(http, body, count, ct);
        var (heapAfter, rssAfter) = Measure();
        return ((heapAfter - heapBefore) / (double)count, (rssAfter - rssBefore) / (double)count, count);
    }

    private static async Task ParkAsync(HttpClient http, string body, int count, CancellationToken ct)
    {
        var next = 0;
        await Task.WhenAll(Enumerable.Range(0, 64).Select(async _ =>
        {
            while (Interlocked.Increment(ref next) <= count)
            {
                await StreamAsync(http, "threads/runs", body, ct, expectRequiresAction: true);
            }
        }));
    }

    private static (long Heap, long Rss) Measure()
    {
        for (var i = 0; i < 3; i++)
        {
            GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: true);
            GC.WaitForPendingFinalizers();
        }
        using var process = Process.GetCurrentProcess();
        return (GC.GetTotalMemory(forceFullCollection: true), process.WorkingSet64);
    }

    /// <summary>Reads one SSE response to its end; returns the timestamp at which the first message delta was read.</summary>
    internal static async Task<long> StreamAsync(HttpClient http, string path, string json, CancellationToken ct, bool expectCompleted = false, bool expectRequiresAction = false)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = new StringContent(json, Encoding.UTF8, "application/json") };
        using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ct);
        response.EnsureSuccessStatusCode();
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(ct));
        long firstDelta = 0;
        var completed = false;
        var requiresAction = false;
        while (await reader.ReadLineAsync(ct) is { } line)
        {
            if (firstDelta == 0 && line == "event: thread.message.delta")
            {
                firstDelta = Stopwatch.GetTimestamp();
            }
            completed |= line == "event: thread.run.completed";
            requiresAction |= line == "event: thread.run.requires_action";
        }
        if ((expectCompleted && !completed) || (expectRequiresAction && !requiresAction))
        {
            throw new InvalidOperationException($"Stream of {path} did not end as expected.");
        }
        return firstDelta;
    }

    private static Dictionary<string, string?> Settings(ScriptedModelServer model, int slots) => new()
    {
        ["Inference:Providers:default:BaseUrl"] = model.OpenAIBaseAddress.ToString(),
        ["Inference:Providers:default:ApiKey"] = "bench",
        ["Runs:MaxConcurrentRuns"] = slots.ToString(CultureInfo.InvariantCulture),
    };

    private static HttpClient Client(ThreadloomServer server)
    {
        var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 256 }) { BaseAddress = server.OpenAIEndpoint };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", "bench");
        http.DefaultRequestHeaders.Add("OpenAI-Beta", "assistants=v2");
        return http;
    }

    /// <summary>POSTs JSON and returns the created object's id (shared with the cluster bench).</summary>
    internal static async Task<string> PostAsync(HttpClient http, string path, string json, CancellationToken ct)
    {
        using var response = await http.PostAsync(path, new StringContent(json, Encoding.UTF8, "application/json"), ct);
        var text = await response.Content.ReadAsStringAsync(ct);
        if (!response.IsSuccessStatusCode)
        {
            throw new InvalidOperationException($"{path}: {(int)response.StatusCode} {text}");
        }
        using var document = JsonDocument.Parse(text);
        return document.RootElement.GetProperty("id").GetString()!;
    }

    private static double Pct(List<double> sorted, double p) => sorted[Math.Min(sorted.Count - 1, (int)(p * sorted.Count))];

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
