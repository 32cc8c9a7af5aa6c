using System.Diagnostics;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Threadloom.Testing;

namespace Threadloom.Bench.Foundation;

/// <summary>
/// Issue #2 targets, each measured in one run against a floor on the same machine: an ASP.NET Core endpoint that
/// returns a constant. Clients and server share the two cores, so ratios are what count.
/// </summary>
public static class FoundationBenchmark
{
    public static async Task<string> RunAsync(CancellationToken cancellationToken)
    {
        await using var server = await ThreadloomServer.StartAsync();
        await using var floor = await FloorServer.StartAsync();
        using var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 256 }) { BaseAddress = server.OpenAIEndpoint };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", "bench");

        var assistant = await PostAsync(http, "assistants", """{"model":"gpt-4o","name":"bench","instructions":"Be brief.","tools":[{"type":"code_interpreter"}],"metadata":{"a":"b"}}""");
        var assistantId = assistant["id"]!.GetValue<string>();

        var thread = await PostAsync(http, "threads", "{}");
        var threadId = thread["id"]!.GetValue<string>();
        var big = await PostAsync(http, "threads", "{}");
        var bigId = big["id"]!.GetValue<string>();
        await LoadAsync(16, TimeSpan.FromHours(1), 10_000, i => http.PostAsync($"threads/{bigId}/messages",
            new StringContent($$"""{"role":"user","content":"message {{i}}"}""", Encoding.UTF8, "application/json")));

        // wrk drives the load: an HttpClient in this process would spend more CPU than the server it measures.
        // Floor and target alternate in short slices, so a neighbour's load falls on both alike.
        var floorUrl = new Uri(floor.Client.BaseAddress!, "constant").ToString();
        var getUrl = new Uri(server.OpenAIEndpoint, $"assistants/{assistantId}").ToString();
        await Wrk.RunAsync(floorUrl, 16, 2);
        await Wrk.RunAsync(getUrl, 16, 2);
        double floorRps = 0, getRps = 0;
        for (var slice = 0; slice < 3; slice++)
        {
            floorRps += (await Wrk.RunAsync(floorUrl, 16, 3)).RequestsPerSecond / 3;
            getRps += (await Wrk.RunAsync(getUrl, 16, 3)).RequestsPerSecond / 3;
        }
        var create = await Wrk.RunAsync(new Uri(server.OpenAIEndpoint, $"threads/{threadId}/messages").ToString(), 16, 5,
            method: "POST", body: """{"role":"user","content":"hello from wrk"}""");
        var list = await Wrk.RunAsync(new Uri(server.OpenAIEndpoint, $"threads/{bigId}/messages?limit=20").ToString(), 1, 5);

        var uploadGrowth = await UploadGrowthAsync(http, 100L * 1024 * 1024);

        var report = new StringBuilder();
        report.AppendLine("### Foundation (issue #2)").AppendLine();
        report.AppendLine("| Measure | Result | Target |").AppendLine("|---|---|---|");
        report.AppendLine($"| floor: constant endpoint, 16 connections (wrk) | {floorRps:F0} req/s | — |");
        report.AppendLine($"| `GET /v1/assistants/{{id}}`, 16 connections (wrk), interleaved with the floor | {getRps:F0} req/s = **{getRps / floorRps:P0} of floor** | ≥ 40% |");
        report.AppendLine($"| message create, 16 clients (wrk), 5 s | **{create.RequestsPerSecond:F0} /s** | ≥ 5,000 /s |");
        report.AppendLine($"| list 20 of 10,000 messages, 1 client (wrk), 5 s | p50 {list.P50Ms:F2} ms, **p99 {list.P99Ms:F2} ms** | p99 ≤ 5 ms |");
        report.AppendLine($"| 100 MB upload, process working-set growth | **{uploadGrowth / 1024.0 / 1024.0:F1} MB** | < 20 MB |");
        return report.ToString();
    }

    private static async Task<JsonNode> PostAsync(HttpClient http, string path, string json)
    {
        using var response = await http.PostAsync(path, new StringContent(json, Encoding.UTF8, "application/json"));
        response.EnsureSuccessStatusCode();
        return JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
    }

    private static Task<double> LoadAsync(int clients, TimeSpan duration, Func<int, Task<HttpResponseMessage>> request) =>
        LoadAsync(clients, duration, int.MaxValue, request);

    /// <summary>Runs <paramref name="clients"/> loops until the duration or the total count is reached; returns requests per second.</summary>
    private static async Task<double> LoadAsync(int clients, TimeSpan duration, int count, Func<int, Task<HttpResponseMessage>> request)
    {
        var done = 0;
        var sw = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, clients).Select(async _ =>
        {
            while (sw.Elapsed < duration)
            {
                var i = Interlocked.Increment(ref done);
                if (i > count)
                {
                    return;
                }
                using var response = await request(i);
                await response.Content.ReadAsByteArrayAsync();
                if (!response.IsSuccessStatusCode)
                {
                    throw new InvalidOperationException($"{(int)response.StatusCode}");
                }
            }
        }));
        return Math.Min(done, count) / sw.Elapsed.TotalSeconds;
    }

    private static async Task<long> UploadGrowthAsync(HttpClient http, long size)
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        using var process = Process.GetCurrentProcess();
        process.Refresh();
        var baseline = process.WorkingSet64;
        var peak = baseline;
        using var stop = new CancellationTokenSource();
        var sampler = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                process.Refresh();
                peak = Math.Max(peak, process.WorkingSet64);
                await Task.Delay(5);
            }
        });
        using var form = new MultipartFormDataContent { { new StringContent("assistants"), "purpose" } };
        var file = new StreamContent(new PatternStream(size));
        file.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        form.Add(file, "file", "big.bin");
        using (var response = await http.PostAsync("files", form))
        {
            response.EnsureSuccessStatusCode();
        }
        await stop.CancelAsync();
        await sampler;
        return peak - baseline;
    }

    /// <summary>A readable stream of generated bytes, so the client never holds the file in memory.</summary>
    private sealed class PatternStream(long length) : Stream
    {
        private long _position;

        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => length;
        public override long Position { get => _position; set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count)
        {
            var n = (int)Math.Min(count, length - _position);
            for (var i = 0; i < n; i++)
            {
                buffer[offset + i] = (byte)((_position + i) * 31 % 251);
            }
            _position += n;
            return n;
        }

        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }

    /// <summary>The floor: the same framework and machine, returning a constant.</summary>
    private sealed class FloorServer : IAsyncDisposable
    {
        private readonly WebApplication _app;

        private FloorServer(WebApplication app, HttpClient client)
        {
            _app = app;
            Client = client;
        }

        public HttpClient Client { get; }

        public static async Task<FloorServer> StartAsync()
        {
            var builder = WebApplication.CreateBuilder(["--urls", "http://127.0.0.1:0"]);
            builder.Logging.SetMinimumLevel(LogLevel.Warning);
            var app = builder.Build();
            app.MapGet("/constant", () => Results.Text("""{"id":"asst_constant","object":"assistant"}""", "application/json"));
            await app.StartAsync();
            var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
            return new FloorServer(app, new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 256 }) { BaseAddress = new Uri(address + "/") });
        }

        public async ValueTask DisposeAsync()
        {
            Client.Dispose();
            await _app.StopAsync();
            await _app.DisposeAsync();
        }
    }
}
