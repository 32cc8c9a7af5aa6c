using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Threadloom.Server.Tests.Runs;
using Threadloom.Testing;

namespace Threadloom.Server.Tests.CodeInterpreter;

/// <summary>Helpers for driving code_interpreter runs against a <see cref="RunTestServer"/> (real sandbox, scripted model).</summary>
internal static class CodeInterpreterKit
{
    public const string CodeTool = """[{"type":"code_interpreter"}]""";

    /// <summary>A scripted <c>code_interpreter</c> call whose arguments are <c>{"code": …}</c>.</summary>
    public static ScriptedToolCall Code(string code, string id = "call_code") =>
        new("code_interpreter", $$"""{"code":{{JsonSerializer.Serialize(code)}}}""", id);

    public static async Task<string> UploadAsync(this RunTestServer server, string fileName, byte[] content)
    {
        using var form = new MultipartFormDataContent { { new StringContent("assistants"), "purpose" } };
        var file = new ByteArrayContent(content);
        file.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        form.Add(file, "file", fileName);
        using var response = await server.Http.PostAsync("files", form);
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, text);
        return JsonDocument.Parse(text).RootElement.GetProperty("id").GetString()!;
    }

    /// <summary>A call on the Azure v1 dialect route (<c>/openai/…?api-version=2024-02-15-preview</c>).</summary>
    public static async Task<JsonElement> AzureV1PostAsync(this RunTestServer server, string path, string json)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(server.Http.BaseAddress!, $"/openai/{path}?api-version=2024-02-15-preview"))
        {
            Content = new StringContent(json, Encoding.UTF8, "application/json"),
        };
        request.Headers.Add("api-key", "azure-key");
        using var response = await server.Http.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, text);
        return JsonDocument.Parse(text).RootElement.Clone();
    }

    public static async Task<(string RunId, JsonElement Run)> RunUntilSettledAsync(this RunTestServer server, string threadId, string body)
    {
        var runId = (await server.OkAsync(server.PostAsync($"threads/{threadId}/runs", body))).GetProperty("id").GetString()!;
        return (runId, await server.SettleAsync(threadId, runId));
    }

    public static Task<JsonElement> SettleAsync(this RunTestServer server, string threadId, string runId) =>
        server.WaitForRunAsync(threadId, runId, s => s is not ("queued" or "in_progress" or "cancelling"));

    /// <summary>The code_interpreter items of the run's tool-calls steps, in order.</summary>
    public static async Task<List<JsonElement>> CodeCallsAsync(this RunTestServer server, string threadId, string runId)
    {
        var steps = await server.OkAsync(server.GetAsync($"threads/{threadId}/runs/{runId}/steps?order=asc"));
        return [.. steps.GetProperty("data").EnumerateArray()
            .Where(s => s.GetProperty("type").GetString() == "tool_calls")
            .SelectMany(s => s.GetProperty("step_details").GetProperty("tool_calls").EnumerateArray())
            .Where(c => c.GetProperty("type").GetString() == "code_interpreter")];
    }

    /// <summary>The logs outputs of a code_interpreter item, joined.</summary>
    public static string Logs(JsonElement codeCall) => string.Concat(codeCall.GetProperty("code_interpreter").GetProperty("outputs").EnumerateArray()
        .Where(o => o.GetProperty("type").GetString() == "logs")
        .Select(o => o.GetProperty("logs").GetString()));

    public static async Task<JsonElement> LastAssistantMessageAsync(this RunTestServer server, string threadId)
    {
        var messages = await server.OkAsync(server.GetAsync($"threads/{threadId}/messages?order=desc&limit=1"));
        var message = messages.GetProperty("data")[0];
        Assert.Equal("assistant", message.GetProperty("role").GetString());
        return message;
    }

    public static async Task<byte[]> DownloadAsync(this RunTestServer server, string fileId)
    {
        using var response = await server.Http.GetAsync($"files/{fileId}/content");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return await response.Content.ReadAsByteArrayAsync();
    }

    /// <summary>The content of the tool message the model received for <paramref name="callId"/> in its latest request.</summary>
    public static string? ToolResultSeenByModel(this RunTestServer server, string callId) =>
        server.Model.ChatRequests[^1].Messages
            .Where(m => m.GetProperty("role").GetString() == "tool" && m.GetProperty("tool_call_id").GetString() == callId)
            .Select(m => m.GetProperty("content").ValueKind == JsonValueKind.String
                ? m.GetProperty("content").GetString()
                : string.Concat(m.GetProperty("content").EnumerateArray().Select(p => p.GetProperty("text").GetString())))
            .SingleOrDefault();
}
