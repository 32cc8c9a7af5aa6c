using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using Threadloom.Testing.Schemas;

namespace Threadloom.Server.Tests.V1;

/// <summary>
/// What the seed's notebooks send: the Azure route set (<c>/openai/…?api-version=2024-02-15-preview</c>) with an
/// <c>api-key</c> header, so the Assistants v1 dialect. Every response goes through <see cref="SchemaCheckingHandler"/>
/// and is checked against the v1 spec.
/// </summary>
internal sealed class AzureV1Client : IDisposable
{
    private readonly SchemaCheckingHandler _checker = new();
    private readonly HttpClient _http;

    public AzureV1Client(Uri serverRoot, string apiVersion = "2024-02-15-preview")
    {
        ApiVersion = apiVersion;
        _http = new HttpClient(_checker) { BaseAddress = new Uri(serverRoot, "/openai/") };
        _http.DefaultRequestHeaders.Add("api-key", "azure-key");
    }

    public string ApiVersion { get; }

    /// <summary>How many bodies and stream events were checked against the spec.</summary>
    public int Checked => _checker.Checked;

    private string Url(string path) => path + (path.Contains('?', StringComparison.Ordinal) ? "&" : "?") + "api-version=" + ApiVersion;

    public async Task<(HttpStatusCode Status, JsonNode? Body)> SendAsync(HttpMethod method, string path, string? json = null)
    {
        using var request = new HttpRequestMessage(method, Url(path));
        if (json is not null)
        {
            request.Content = new StringContent(json, Encoding.UTF8, "application/json");
        }
        using var response = await _http.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        return (response.StatusCode, text.Length == 0 ? null : JsonNode.Parse(text));
    }

    public async Task<JsonNode> OkAsync(HttpMethod method, string path, string? json = null)
    {
        var (status, body) = await SendAsync(method, path, json);
        Assert.True(status == HttpStatusCode.OK, $"{method} {path} gave {(int)status}: {body?.ToJsonString()}");
        return body!;
    }

    public Task<JsonNode> GetAsync(string path) => OkAsync(HttpMethod.Get, path);

    public Task<JsonNode> PostAsync(string path, string json = "{}") => OkAsync(HttpMethod.Post, path, json);

    public async Task<string> UploadAsync(string fileName, byte[] content)
    {
        using var form = new MultipartFormDataContent { { new StringContent("assistants"), "purpose" } };
        var file = new ByteArrayContent(content);
        file.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        form.Add(file, "file", fileName);
        using var response = await _http.PostAsync(Url("files"), form);
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, text);
        return JsonNode.Parse(text)!["id"]!.GetValue<string>();
    }

    /// <summary>Polls <c>runs.retrieve</c> as the notebooks do until the run leaves queued/in_progress.</summary>
    public async Task<JsonNode> WaitForRunAsync(string threadId, string runId)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        while (true)
        {
            var run = await GetAsync($"threads/{threadId}/runs/{runId}");
            if (run["status"]!.GetValue<string>() is not ("queued" or "in_progress"))
            {
                return run;
            }
            await Task.Delay(50, timeout.Token);
        }
    }

    /// <summary>Posts with <c>stream:true</c> and reads the whole stream: (event, data) pairs, each checked as it arrived.</summary>
    public async Task<List<(string Event, JsonNode? Data)>> StreamAsync(string path, string json)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, Url(path)) { Content = new StringContent(json, Encoding.UTF8, "application/json") };
        using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var text = await response.Content.ReadAsStringAsync();
        var events = new List<(string, JsonNode?)>();
        foreach (var block in text.Split("\n\n", StringSplitOptions.RemoveEmptyEntries))
        {
            var lines = block.Split('\n');
            var name = lines.FirstOrDefault(l => l.StartsWith("event: ", StringComparison.Ordinal))?[7..];
            var data = lines.FirstOrDefault(l => l.StartsWith("data: ", StringComparison.Ordinal))?[6..];
            if (name is not null)
            {
                events.Add((name, data is null or "[DONE]" ? null : JsonNode.Parse(data)));
            }
        }
        return events;
    }

    public void Dispose() => _http.Dispose();
}
