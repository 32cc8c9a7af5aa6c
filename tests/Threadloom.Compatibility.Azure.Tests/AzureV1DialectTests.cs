using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Threadloom.Testing.Schemas;

namespace Threadloom.Compatibility.Azure.Tests;

/// <summary>
/// The seed's Azure v1 calls (<c>api-version=2024-02-15-preview</c>, <c>api-key</c>) against the server executable,
/// every body checked against the v1 spec by <see cref="SchemaCheckingHandler"/>. Azure.AI.OpenAI speaks v2 only, so
/// these go over plain HTTP; the model is <see cref="ModelResponder"/>, scripted by message text.
/// </summary>
public sealed class AzureV1DialectTests(ServerProcess server) : IClassFixture<ServerProcess>
{
    private async Task<(HttpStatusCode Status, JsonNode? Body, int Checked)> SendAsync(HttpMethod method, string path, string? json = null, string apiVersion = "2024-02-15-preview")
    {
        var checker = new SchemaCheckingHandler();
        using var http = new HttpClient(checker) { BaseAddress = new Uri(server.BaseAddress, "/openai/") };
        using var request = new HttpRequestMessage(method, $"{path}{(path.Contains('?', StringComparison.Ordinal) ? '&' : '?')}api-version={apiVersion}");
        request.Headers.Add("api-key", "azure-key");
        if (json is not null)
        {
            request.Content = new StringContent(json, Encoding.UTF8, "application/json");
        }
        using var response = await http.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        return (response.StatusCode, text.Length == 0 ? null : JsonNode.Parse(text), checker.Checked);
    }

    private async Task<JsonNode> OkAsync(HttpMethod method, string path, string? json = null)
    {
        var (status, body, checkedCount) = await SendAsync(method, path, json);
        Assert.True(status == HttpStatusCode.OK, $"{method} {path}: {(int)status} {body?.ToJsonString()}");
        Assert.Equal(1, checkedCount);
        return body!;
    }

    [Fact]
    public async Task Issue10_Notebook04V1_FunctionCallingRoundTrip_EveryBodyIsV1()
    {
        var assistant = await OkAsync(HttpMethod.Post, "assistants", """
            {"name":"fta-Securities Trading Assistant","model":"gpt4-1106-fta-assistants","instructions":"You are a personal securities trading assistant.",
             "tools":[{"type":"function","function":{"name":"get_stock_price","description":"Retrieve the latest closing price of a stock using its ticker symbol.","parameters":{"type":"object","properties":{"symbol":{"type":"string"}},"required":["symbol"]}}}]}
            """);
        Assert.Empty(assistant["file_ids"]!.AsArray());
        var thread = await OkAsync(HttpMethod.Post, "threads", "{}");
        var threadId = thread["id"]!.GetValue<string>();
        await OkAsync(HttpMethod.Post, $"threads/{threadId}/messages", """{"role":"user","content":"CALL get_stock_price {\"symbol\":\"MSFT\"} | get_stock_price {\"symbol\":\"TSLA\"}"}""");
        var run = await OkAsync(HttpMethod.Post, $"threads/{threadId}/runs", $$"""{"assistant_id":"{{assistant["id"]}}"}""");
        var runId = run["id"]!.GetValue<string>();

        run = await PollAsync(threadId, runId);
        Assert.Equal("requires_action", run["status"]!.GetValue<string>());
        var calls = run["required_action"]!["submit_tool_outputs"]!["tool_calls"]!.AsArray();
        var queued = await OkAsync(HttpMethod.Post, $"threads/{threadId}/runs/{runId}/submit_tool_outputs",
            $$"""{"tool_outputs":[{"tool_call_id":"{{calls[0]!["id"]}}","output":388.99},{"tool_call_id":"{{calls[1]!["id"]}}","output":219.45}]}""");
        Assert.Contains(queued["status"]!.GetValue<string>(), (string[])["queued", "in_progress"]);
        run = await PollAsync(threadId, runId);
        Assert.Equal("completed", run["status"]!.GetValue<string>());
        Assert.Empty(run["file_ids"]!.AsArray());

        var messages = await OkAsync(HttpMethod.Get, $"threads/{threadId}/messages");
        Assert.Equal("Done: 388.99, 219.45", messages["data"]![0]!["content"]![0]!["text"]!["value"]!.GetValue<string>());
        var steps = await OkAsync(HttpMethod.Get, $"threads/{threadId}/runs/{runId}/steps?order=asc");
        Assert.Equal(["388.99", "219.45"], steps["data"]![0]!["step_details"]!["tool_calls"]!.AsArray().Select(c => c!["function"]!["output"]!.GetValue<string>()));
    }

    [Fact]
    public async Task Issue10_AssistantFilesV1_AttachThenListOnTheAzureRoutes()
    {
        using var form = new MultipartFormDataContent { { new StringContent("assistants"), "purpose" }, { new ByteArrayContent("Ticker,QTY\n"u8.ToArray()), "file", "fta-portfolio.csv" } };
        using var http = new HttpClient { BaseAddress = server.BaseAddress };
        http.DefaultRequestHeaders.Add("api-key", "azure-key");
        using var uploaded = await http.PostAsync("openai/files?api-version=2024-02-15-preview", form);
        var fileId = JsonNode.Parse(await uploaded.Content.ReadAsStringAsync())!["id"]!.GetValue<string>();
        var assistant = await OkAsync(HttpMethod.Post, "assistants", """{"model":"gpt4-1106-fta-assistants","tools":[{"type":"code_interpreter"}]}""");
        var attached = await OkAsync(HttpMethod.Post, $"assistants/{assistant["id"]}/files", $$"""{"file_id":"{{fileId}}"}""");
        Assert.Equal("assistant.file", attached["object"]!.GetValue<string>());
        var list = await OkAsync(HttpMethod.Get, $"assistants/{assistant["id"]}/files");
        Assert.Equal(fileId, list["data"]![0]!["id"]!.GetValue<string>());
        Assert.Equal(fileId, (await OkAsync(HttpMethod.Get, $"assistants/{assistant["id"]}"))["file_ids"]![0]!.GetValue<string>());
    }

    [Theory]
    [InlineData("2024-04-15")]
    [InlineData("2023-05-15")]
    public async Task Issue10_ApiVersion_NotShippedForAssistants_Is400(string apiVersion)
    {
        var (status, body, checkedCount) = await SendAsync(HttpMethod.Get, "assistants", apiVersion: apiVersion);
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Equal("API version not supported", body!["error"]!["message"]!.GetValue<string>());
        Assert.Equal(1, checkedCount);
    }

    private async Task<JsonNode> PollAsync(string threadId, string runId)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        while (true)
        {
            var run = await OkAsync(HttpMethod.Get, $"threads/{threadId}/runs/{runId}");
            if (run["status"]!.GetValue<string>() is not ("queued" or "in_progress"))
            {
                return run;
            }
            await Task.Delay(50, timeout.Token);
        }
    }
}
