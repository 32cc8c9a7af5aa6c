using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Threadloom.Testing;

namespace Threadloom.Server.Tests.Hostile;

/// <summary>JSON calls to a <see cref="ThreadloomProcess"/> with one project's key, for the crash and shutdown tests.</summary>
internal sealed class ProcessClient(ThreadloomProcess server, string key) : IDisposable
{
    private readonly HttpClient _http = server.CreateClient(key);

    public async Task<(HttpStatusCode Status, JsonNode? Body)> SendAsync(HttpMethod method, string path, string? json = null)
    {
        using var request = new HttpRequestMessage(method, path);
        if (json is not null)
        {
            request.Content = new StringContent(json, Encoding.UTF8, "application/json");
        }
        using var response = await _http.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        return (response.StatusCode, text.Length == 0 ? null : JsonNode.Parse(text));
    }

    public async Task<JsonNode> PostOkAsync(string path, string json)
    {
        var (status, body) = await SendAsync(HttpMethod.Post, path, json);
        Assert.True(status == HttpStatusCode.OK, $"POST {path} gave {(int)status}: {body?.ToJsonString()}");
        return body!;
    }

    public async Task<JsonNode> GetOkAsync(string path)
    {
        var (status, body) = await SendAsync(HttpMethod.Get, path);
        Assert.True(status == HttpStatusCode.OK, $"GET {path} gave {(int)status}: {body?.ToJsonString()}");
        return body!;
    }

    /// <summary>Starts a run on a new thread holding one user message; returns (thread id, run id).</summary>
    public async Task<(string ThreadId, string RunId)> StartRunAsync(string assistantId, string text)
    {
        var run = await PostOkAsync("threads/runs", new JsonObject
        {
            ["assistant_id"] = assistantId,
            ["thread"] = new JsonObject { ["messages"] = new JsonArray(new JsonObject { ["role"] = "user", ["content"] = text }) },
        }.ToJsonString());
        return (run["thread_id"]!.GetValue<string>(), run["id"]!.GetValue<string>());
    }

    public async Task<JsonNode> GetRunAsync(string threadId, string runId) => await GetOkAsync($"threads/{threadId}/runs/{runId}");

    /// <summary>Polls the run until <paramref name="done"/> holds for it, for at most <paramref name="timeout"/>.</summary>
    public async Task<JsonNode> WaitRunAsync(string threadId, string runId, Func<JsonNode, bool> done, TimeSpan timeout)
    {
        var waited = Stopwatch.StartNew();
        while (true)
        {
            var run = await GetRunAsync(threadId, runId);
            if (done(run))
            {
                return run;
            }
            Assert.True(waited.Elapsed < timeout, $"run {runId} is still {run["status"]} after {timeout}: {run.ToJsonString()}");
            await Task.Delay(200);
        }
    }

    public static bool IsStatus(JsonNode run, string status) => run["status"]!.GetValue<string>() == status;

    public void Dispose() => _http.Dispose();
}
