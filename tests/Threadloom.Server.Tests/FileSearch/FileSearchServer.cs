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

namespace Threadloom.Server.Tests.FileSearch;

/// <summary>
/// A real server with the real ingestion pipeline (MiniLM) and a scripted chat model, over HTTP. The data folder can
/// be handed to a second server, to test restarts.
/// </summary>
internal sealed class FileSearchServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly bool _keepData;

    private FileSearchServer(WebApplication app, ScriptedModelServer model, HttpClient http, string directory, bool keepData)
    {
        _app = app;
        Model = model;
        Http = http;
        DataDirectory = directory;
        _keepData = keepData;
    }

    public ScriptedModelServer Model { get; }

    public HttpClient Http { get; }

    public string DataDirectory { get; }

    public IServiceProvider Services => _app.Services;

    public static Task<FileSearchServer> StartAsync(string? dataDirectory = null, bool keepData = false, params string[] extraArgs) =>
        StartAsync(dataDirectory, keepData, null, extraArgs);

    /// <summary>A server whose <see cref="TimeProvider"/> is <paramref name="clock"/> (expiry tests move it between requests, while nothing runs).</summary>
    public static Task<FileSearchServer> StartWithClockAsync(ManualTimeProvider clock, params string[] extraArgs) => StartAsync(null, false, clock, extraArgs);

    private static async Task<FileSearchServer> StartAsync(string? dataDirectory, bool keepData, ManualTimeProvider? clock, string[] extraArgs)
    {
        var model = await ScriptedModelServer.StartAsync();
        var directory = dataDirectory ?? Path.Combine(Path.GetTempPath(), "threadloom-fs-" + Guid.NewGuid().ToString("N"));
        var builder = ThreadloomApp.CreateBuilder([
            "--urls", "http://127.0.0.1:0",
            "--Server:DataDirectory", directory,
            "--Runs:SweepInterval", "00:00:00.050",
            "--IngestionWorker:SweepInterval", "00:00:00.100",
            "--Inference:MaxRetries", "1",
            "--Inference:Providers:default:BaseUrl", model.OpenAIBaseAddress.ToString(),
            "--Inference:Providers:default:ApiKey", "test-key",
            .. extraArgs,
        ]);
        builder.Logging.ClearProviders();
        if (clock is not null)
        {
            builder.Services.AddSingleton<TimeProvider>(clock);
        }
        var app = await ThreadloomApp.BuildAsync(builder);
        await app.StartAsync();
        var http = new HttpClient(new SchemaCheckingHandler()) { BaseAddress = new Uri(app.Urls.First().TrimEnd('/') + "/v1/") };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", "sk-test");
        http.DefaultRequestHeaders.Add("OpenAI-Beta", "assistants=v2");
        return new FileSearchServer(app, model, http, directory, keepData);
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

    public Task<(HttpStatusCode Status, JsonElement Body)> DeleteAsync(string path) => SendAsync(HttpMethod.Delete, path);

    public async Task<JsonElement> OkAsync(Task<(HttpStatusCode Status, JsonElement Body)> call)
    {
        var (status, body) = await call;
        Assert.True(status == HttpStatusCode.OK, $"Expected 200, got {(int)status}: {body}");
        return body;
    }

    public static async Task<(HttpStatusCode Status, JsonElement Body)> BadRequest(Task<(HttpStatusCode Status, JsonElement Body)> call)
    {
        var (status, body) = await call;
        Assert.True(status == HttpStatusCode.BadRequest, $"Expected 400, got {(int)status}: {body}");
        Assert.Equal("invalid_request_error", body.GetProperty("error").GetProperty("type").GetString());
        return (status, body);
    }

    public Task<string> UploadScenarioFileAsync(string relative) =>
        UploadAsync(Path.GetFileName(relative), File.ReadAllBytes(RepoPaths.ScenarioData(relative)));

    public Task<string> UploadAsync(string fileName, byte[] content) => UploadAsync(fileName, new ByteArrayContent(content));

    public async Task<string> UploadAsync(string fileName, HttpContent file)
    {
        using var form = new MultipartFormDataContent();
        form.Add(new StringContent("assistants"), "purpose");
        file.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        form.Add(file, "file", fileName);
        using var response = await Http.PostAsync("files", form);
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, text);
        return JsonDocument.Parse(text).RootElement.GetProperty("id").GetString()!;
    }

    /// <summary>Polls until the object at <paramref name="path"/> has left <c>in_progress</c>; the timeout only guards against a hang.</summary>
    public async Task<JsonElement> WaitUntilDoneAsync(string path)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(5));
        while (true)
        {
            var body = await OkAsync(GetAsync(path));
            if (body.GetProperty("status").GetString() != "in_progress")
            {
                return body;
            }
            await Task.Delay(100, timeout.Token);
        }
    }

    public async Task<JsonElement> WaitForRunAsync(string threadId, string runId)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        while (true)
        {
            var run = await OkAsync(GetAsync($"threads/{threadId}/runs/{runId}"));
            if (run.GetProperty("status").GetString() is not ("queued" or "in_progress"))
            {
                return run;
            }
            await Task.Delay(50, timeout.Token);
        }
    }

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        await _app.StopAsync();
        await _app.DisposeAsync();
        await Model.DisposeAsync();
        if (!_keepData)
        {
            try
            {
                Directory.Delete(DataDirectory, recursive: true);
            }
            catch (IOException)
            {
                // SQLite may still hold the file briefly; the temp folder is cleaned by the OS.
            }
        }
    }
}
