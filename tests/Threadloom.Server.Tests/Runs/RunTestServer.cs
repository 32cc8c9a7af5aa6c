using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Threadloom.Server.Hosting;
using Threadloom.Testing;
using Threadloom.Testing.Schemas;

namespace Threadloom.Server.Tests.Runs;

/// <summary>A real Threadloom server on 127.0.0.1:0 whose model provider is a <see cref="ScriptedModelServer"/>, driven over plain HTTP.</summary>
internal sealed class RunTestServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly string _directory;
    private string? _workRoot;

    private RunTestServer(WebApplication app, ScriptedModelServer model, HttpClient http, string directory, ManualTimeProvider? clock)
    {
        _app = app;
        Model = model;
        Http = http;
        _directory = directory;
        Clock = clock;
    }

    public ScriptedModelServer Model { get; }

    public HttpClient Http { get; }

    public ManualTimeProvider? Clock { get; }

    /// <param name="extraArgs">More configuration, e.g. <c>--CodeInterpreter:BubblewrapPath</c>.</param>
    /// <param name="configureServices">Registrations made before the server's own, which then stand (they are TryAdd).</param>
    public static async Task<RunTestServer> StartAsync(bool fakeClock = false, bool withProvider = true, IEnumerable<string>? extraArgs = null, Action<IServiceCollection>? configureServices = null)
    {
        var model = await ScriptedModelServer.StartAsync();
        var directory = Path.Combine(Path.GetTempPath(), "threadloom-runs-" + Guid.NewGuid().ToString("N"));
        // Each server gets its own sandbox work root (under /tmp, traversable by the sandbox uids) and host uid range,
        // and no warm pool: servers run in parallel in one test process.
        List<string> args =
        [
            "--urls", "http://127.0.0.1:0",
            "--Server:DataDirectory", directory,
            "--CodeInterpreter:WorkRoot", Path.Combine(Path.GetTempPath(), "tl-sbx-" + Guid.NewGuid().ToString("N")),
            "--CodeInterpreter:HostUidBase", (1_000_000_000 + (Random.Shared.Next(0, 14_000) * 1024)).ToString(System.Globalization.CultureInfo.InvariantCulture),
            "--CodeInterpreter:HostUidCount", "1024",
            "--CodeInterpreter:WarmPoolSize", "0",
            "--Runs:SweepInterval", "00:00:00.050",
            "--Inference:MaxRetries", "1",
            "--Inference:RetryBaseDelay", "00:00:00.010",
        ];
        args.AddRange(extraArgs ?? []);
        if (withProvider)
        {
            args.AddRange(["--Inference:Providers:default:BaseUrl", model.OpenAIBaseAddress.ToString(), "--Inference:Providers:default:ApiKey", "test-key"]);
        }
        var builder = ThreadloomApp.CreateBuilder([.. args]);
        builder.Logging.ClearProviders();
        var clock = fakeClock ? new ManualTimeProvider() : null;
        if (clock is not null)
        {
            builder.Services.AddSingleton<TimeProvider>(clock);
        }
        configureServices?.Invoke(builder.Services);
        var app = await ThreadloomApp.BuildAsync(builder);
        var workRoot = app.Configuration["CodeInterpreter:WorkRoot"]!;
        await app.StartAsync();
        var http = new HttpClient(new SchemaCheckingHandler()) { BaseAddress = new Uri(app.Urls.First().TrimEnd('/') + "/v1/") };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", "sk-test");
        http.DefaultRequestHeaders.Add("OpenAI-Beta", "assistants=v2");
        return new RunTestServer(app, model, http, directory, clock) { _workRoot = workRoot };
    }

    public async Task<(HttpStatusCode Status, JsonElement Body)> SendAsync(HttpMethod method, string path, string? json = null)
    {
        using var request = new HttpRequestMessage(method, path);
        if (json is not null)
        {
            request.Content = new StringContent(json, Encoding.UTF8, "application/json");
        }
        using var response = await Http.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        return (response.StatusCode, text.Length == 0 ? default : JsonDocument.Parse(text).RootElement.Clone());
    }

    public Task<(HttpStatusCode Status, JsonElement Body)> PostAsync(string path, string json = "{}") => SendAsync(HttpMethod.Post, path, json);

    public Task<(HttpStatusCode Status, JsonElement Body)> GetAsync(string path) => SendAsync(HttpMethod.Get, path);

    public async Task<JsonElement> OkAsync(Task<(HttpStatusCode Status, JsonElement Body)> call)
    {
        var (status, body) = await call;
        Assert.True(status == HttpStatusCode.OK, $"Expected 200, got {(int)status}: {body}");
        return body;
    }

    public async Task<string> CreateAssistantAsync(string tools = "[]", string instructions = "You are terse.")
    {
        var body = await OkAsync(PostAsync("assistants", $$"""{"model":"gpt-test","instructions":{{JsonSerializer.Serialize(instructions)}},"tools":{{tools}}}"""));
        return body.GetProperty("id").GetString()!;
    }

    public async Task<string> CreateThreadAsync(params string[] userMessages)
    {
        var messages = string.Join(",", userMessages.Select(m => $$"""{"role":"user","content":{{JsonSerializer.Serialize(m)}}}"""));
        var body = await OkAsync(PostAsync("threads", $$"""{"messages":[{{messages}}]}"""));
        return body.GetProperty("id").GetString()!;
    }

    /// <summary>Polls the run until <paramref name="done"/> holds; the timeout only guards against a hang.</summary>
    public async Task<JsonElement> WaitForRunAsync(string threadId, string runId, Func<string, bool> done)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        while (true)
        {
            var run = await OkAsync(GetAsync($"threads/{threadId}/runs/{runId}"));
            if (done(run.GetProperty("status").GetString()!))
            {
                return run;
            }
            await Task.Delay(20, timeout.Token);
        }
    }

    public Task<JsonElement> WaitForStatusAsync(string threadId, string runId, string status) => WaitForRunAsync(threadId, runId, s => s == status);

    /// <summary>Posts with <c>stream:true</c> and reads the whole SSE body: (event, data) pairs.</summary>
    public async Task<List<(string Event, string Data)>> StreamAsync(string path, string json)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = new StringContent(json, Encoding.UTF8, "application/json") };
        using var response = await Http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        var text = await response.Content.ReadAsStringAsync();
        var events = new List<(string, string)>();
        foreach (var block in text.Split("\n\n", StringSplitOptions.RemoveEmptyEntries))
        {
            string? name = null, data = null;
            foreach (var line in block.Split('\n'))
            {
                if (line.StartsWith("event: ", StringComparison.Ordinal))
                {
                    name = line[7..];
                }
                else if (line.StartsWith("data: ", StringComparison.Ordinal))
                {
                    data = data is null ? line[6..] : data + "\n" + line[6..];
                }
            }
            if (name is not null)
            {
                events.Add((name, data ?? ""));
            }
        }
        return events;
    }

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        await _app.StopAsync();
        await _app.DisposeAsync();
        await Model.DisposeAsync();
        try
        {
            Directory.Delete(_directory, recursive: true);
            if (_workRoot is not null && Directory.Exists(_workRoot))
            {
                Directory.Delete(_workRoot, recursive: true);
            }
        }
        catch (IOException)
        {
            // SQLite may still hold the file briefly; the temp folder is cleaned by the OS.
        }
    }
}
