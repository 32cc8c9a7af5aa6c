using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using Threadloom.Core.Runs;
using Threadloom.Core.Runs.Truncation;
using Threadloom.Testing;
using static Threadloom.Server.Tests.CodeInterpreter.CodeInterpreterKit;

namespace Threadloom.Server.Tests.Runs;

/// <summary>Issue #10 §2: every field of a run reaches the model, as the scripted upstream sees it.</summary>
public sealed class ModelFieldsTests
{
    /// <summary>A 1×1 PNG.</summary>
    internal static readonly byte[] Png = Convert.FromBase64String("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==");

    private const string Functions = """[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object","properties":{}}}},{"type":"function","function":{"name":"get_time","parameters":{"type":"object","properties":{}}}}]""";

    /// <summary>Routes: <c>o3-mini</c> is a reasoning model, <c>text-only</c> has no vision, everything else passes through.</summary>
    private static readonly string[] Routes =
    [
        "--Inference:Models:0:Name", "o3-mini", "--Inference:Models:0:Reasoning", "true",
        "--Inference:Models:1:Name", "text-only", "--Inference:Models:1:Vision", "false",
        "--Inference:Models:2:Name", "*",
    ];

    private static Task<RunTestServer> StartAsync(params string[] extra) => RunTestServer.StartAsync(extraArgs: [.. Routes, .. extra]);

    private static async Task<string> AssistantAsync(RunTestServer server, string model, string extra = "")
    {
        var body = await server.OkAsync(server.PostAsync("assistants", $$"""{"model":"{{model}}","instructions":"Be terse."{{extra}}}"""));
        return body.GetProperty("id").GetString()!;
    }

    private static async Task<JsonElement> RunAsync(RunTestServer server, string thread, string body)
    {
        var created = await server.OkAsync(server.PostAsync($"threads/{thread}/runs", body));
        return await server.WaitForRunAsync(thread, created.GetProperty("id").GetString()!, s => s is not ("queued" or "in_progress"));
    }

    private static async Task<string> UploadImageAsync(RunTestServer server, byte[] bytes, string purpose = "vision")
    {
        using var form = new MultipartFormDataContent { { new StringContent(purpose), "purpose" } };
        var file = new ByteArrayContent(bytes);
        file.Headers.ContentType = new MediaTypeHeaderValue("image/png");
        form.Add(file, "file", "pixel.png");
        using var response = await server.Http.PostAsync("files", form);
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, text);
        return JsonDocument.Parse(text).RootElement.GetProperty("id").GetString()!;
    }

    [Fact]
    public async Task ReasoningEffort_ReasoningRoute_SentUpstreamWithoutSampling_OtherRoutesNever()
    {
        await using var server = await StartAsync();
        server.Model.Enqueue(Reply.Text("thought"), Reply.Text("plain"));
        var reasoning = await AssistantAsync(server, "o3-mini", ""","reasoning_effort":"low" """);
        var plain = await AssistantAsync(server, "gpt-test", ""","reasoning_effort":"high" """);
        var thread = await server.CreateThreadAsync("Think.");

        var first = await RunAsync(server, thread, $$"""{"assistant_id":"{{reasoning}}","reasoning_effort":"high"}""");
        Assert.Equal("completed", first.GetProperty("status").GetString());
        var second = await RunAsync(server, thread, $$"""{"assistant_id":"{{plain}}"}""");
        Assert.Equal("completed", second.GetProperty("status").GetString());

        var calls = server.Model.ChatRequests;
        Assert.Equal("high", calls[0].ReasoningEffort);
        Assert.False(calls[0].Body.TryGetProperty("temperature", out _));
        Assert.False(calls[0].Body.TryGetProperty("top_p", out _));
        Assert.Null(calls[1].ReasoningEffort);
        Assert.True(calls[1].Body.TryGetProperty("temperature", out _));
    }

    [Fact]
    public async Task ReasoningEffort_AssistantDefault_UsedWhenTheRunGivesNone()
    {
        await using var server = await StartAsync();
        server.Model.Enqueue(Reply.Text("thought"));
        var reasoning = await AssistantAsync(server, "o3-mini", ""","reasoning_effort":"minimal" """);
        var thread = await server.CreateThreadAsync("Think.");

        Assert.Equal("completed", (await RunAsync(server, thread, $$"""{"assistant_id":"{{reasoning}}"}""")).GetProperty("status").GetString());

        Assert.Equal("minimal", Assert.Single(server.Model.ChatRequests).ReasoningEffort);
    }

    [Theory]
    [InlineData("assistants", """{"model":"o3-mini","reasoning_effort":"extreme"}""")]
    [InlineData("threads/runs", """{"assistant_id":"ASSISTANT","reasoning_effort":"HIGH"}""")]
    public async Task ReasoningEffort_NotInTheEnum_400WithParam(string path, string body)
    {
        await using var server = await StartAsync();
        var assistant = await AssistantAsync(server, "o3-mini");

        var (status, error) = await server.PostAsync(path, body.Replace("ASSISTANT", assistant, StringComparison.Ordinal));

        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Equal("reasoning_effort", error.GetProperty("error").GetProperty("param").GetString());
        Assert.Equal("invalid_value", error.GetProperty("error").GetProperty("code").GetString());
    }

    [Fact]
    public async Task ImageFile_SentAsDataUrlWithDetail_AndImageUrlKeepsDetail()
    {
        await using var server = await StartAsync();
        server.Model.Enqueue(Reply.Text("A pixel."));
        var assistant = await AssistantAsync(server, "gpt-test");
        var fileId = await UploadImageAsync(server, Png);
        var thread = (await server.OkAsync(server.PostAsync("threads", $$$"""
            {"messages":[{"role":"user","content":[
              {"type":"text","text":"What is this?"},
              {"type":"image_file","image_file":{"file_id":"{{{fileId}}}","detail":"low"}},
              {"type":"image_url","image_url":{"url":"https://example.com/cat.png","detail":"high"}}]}]}
            """))).GetProperty("id").GetString()!;

        Assert.Equal("completed", (await RunAsync(server, thread, $$"""{"assistant_id":"{{assistant}}"}""")).GetProperty("status").GetString());

        var images = Assert.Single(server.Model.ChatRequests).ImageParts;
        Assert.Equal(2, images.Count);
        Assert.Equal("data:image/png;base64," + Convert.ToBase64String(Png), images[0].GetProperty("url").GetString());
        Assert.Equal("low", images[0].GetProperty("detail").GetString());
        Assert.Equal("https://example.com/cat.png", images[1].GetProperty("url").GetString());
        Assert.Equal("high", images[1].GetProperty("detail").GetString());
    }

    [Fact]
    public async Task ImageFile_RouteWithoutVision_FailsRunWithInvalidPrompt_AndNoModelCall()
    {
        await using var server = await StartAsync();
        var assistant = await AssistantAsync(server, "text-only");
        var fileId = await UploadImageAsync(server, Png);
        var thread = (await server.OkAsync(server.PostAsync("threads", $$$"""
            {"messages":[{"role":"user","content":[{"type":"text","text":"Look"},{"type":"image_file","image_file":{"file_id":"{{{fileId}}}"}}]}]}
            """))).GetProperty("id").GetString()!;

        var run = await RunAsync(server, thread, $$"""{"assistant_id":"{{assistant}}"}""");

        Assert.Equal("failed", run.GetProperty("status").GetString());
        Assert.Equal("invalid_prompt", run.GetProperty("last_error").GetProperty("code").GetString());
        Assert.Contains("Invalid content type", run.GetProperty("last_error").GetProperty("message").GetString());
        Assert.Empty(server.Model.ChatRequests);
    }

    [Fact]
    public async Task ImageFile_AboveMaxImageBytes_FailsRunNamingTheLimit()
    {
        await using var server = await StartAsync("--Runs:MaxImageBytes", "2048");
        var assistant = await AssistantAsync(server, "gpt-test");
        var big = Png.Concat(new byte[4096]).ToArray();
        var fileId = await UploadImageAsync(server, big);
        var thread = (await server.OkAsync(server.PostAsync("threads", $$$"""
            {"messages":[{"role":"user","content":[{"type":"image_file","image_file":{"file_id":"{{{fileId}}}"}}]}]}
            """))).GetProperty("id").GetString()!;

        var run = await RunAsync(server, thread, $$"""{"assistant_id":"{{assistant}}"}""");

        Assert.Equal("failed", run.GetProperty("status").GetString());
        Assert.Contains("Runs:MaxImageBytes", run.GetProperty("last_error").GetProperty("message").GetString());
        Assert.Empty(server.Model.ChatRequests);
    }

    [Fact]
    public async Task ImageFile_PurposeNotForImages_400()
    {
        await using var server = await StartAsync();
        var fileId = await UploadImageAsync(server, Png, purpose: "batch");
        var thread = await server.CreateThreadAsync("Hi");

        var (status, error) = await server.PostAsync($"threads/{thread}/messages",
            $$$"""{"role":"user","content":[{"type":"image_file","image_file":{"file_id":"{{{fileId}}}"}}]}""");

        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Equal("content.image_file.file_id", error.GetProperty("error").GetProperty("param").GetString());
    }

    [Theory]
    [InlineData("gpt-test", true)]
    [InlineData("text-only", false)]
    public async Task CodeInterpreterImage_ShownToTheModelInLaterTurns_OnlyWithVision(string model, bool shown)
    {
        await using var server = await StartAsync();
        server.Model.Enqueue(
            Reply.ToolCalls(Code("import matplotlib.pyplot as plt\nplt.plot([1, 2], [2, 1])\nprint('ok')", "call_plot")),
            Reply.Text("Here is the chart."),
            Reply.Text("It goes down."));
        var assistant = await AssistantAsync(server, model, ""","tools":[{"type":"code_interpreter"}]""");
        var thread = await server.CreateThreadAsync("Plot.");
        Assert.Equal("completed", (await RunAsync(server, thread, $$"""{"assistant_id":"{{assistant}}"}""")).GetProperty("status").GetString());
        await server.OkAsync(server.PostAsync($"threads/{thread}/messages", """{"role":"user","content":"Describe it."}"""));
        Assert.Equal("completed", (await RunAsync(server, thread, $$"""{"assistant_id":"{{assistant}}"}""")).GetProperty("status").GetString());

        var calls = server.Model.ChatRequests;
        Assert.Equal(3, calls.Count);
        foreach (var call in calls.Skip(1))
        {
            var images = call.ImageParts;
            if (shown)
            {
                var image = Assert.Single(images);
                Assert.StartsWith("data:image/png;base64,iVBOR", image.GetProperty("url").GetString());
                Assert.Contains(call.Messages, m => m.GetProperty("role").GetString() == "user" && ScriptedText(m).Contains(PromptBuilder.CodeImagesCaption, StringComparison.Ordinal));
            }
            else
            {
                Assert.Empty(images);
            }
        }
    }

    [Fact]
    public async Task MaxCompletionTokens_UpstreamIgnoresTheCap_StreamStoppedAtIt_RunIncomplete()
    {
        await using var server = await StartAsync();
        var words = string.Join(' ', Enumerable.Range(0, 3000).Select(i => $"word{i}"));
        server.Model.Enqueue(Reply.Text(words, chunkSize: 40));
        var assistant = await AssistantAsync(server, "gpt-test");
        var thread = await server.CreateThreadAsync("Talk.");

        var run = await RunAsync(server, thread, $$"""{"assistant_id":"{{assistant}}","max_completion_tokens":256}""");

        Assert.Equal("incomplete", run.GetProperty("status").GetString());
        Assert.Equal("max_completion_tokens", run.GetProperty("incomplete_details").GetProperty("reason").GetString());
        Assert.Equal(256, Assert.Single(server.Model.ChatRequests).MaxCompletionTokens);
        var message = (await server.OkAsync(server.GetAsync($"threads/{thread}/messages"))).GetProperty("data")[0];
        Assert.Equal("incomplete", message.GetProperty("status").GetString());
        var text = message.GetProperty("content")[0].GetProperty("text").GetProperty("value").GetString()!;
        Assert.StartsWith("word0 word1", text);
        var tokens = TokenCounter.ForEncoding("o200k_base").CountText(text);
        Assert.InRange(tokens, 200, 256);
        Assert.True(run.GetProperty("usage").GetProperty("completion_tokens").GetInt32() <= 256);
    }

    [Fact]
    public async Task ToolChoiceNamedFunction_StillForcedAfterAnotherToolWasCalled_ThenAuto()
    {
        await using var server = await StartAsync();
        server.Model.Enqueue(
            Reply.ToolCalls(new ScriptedToolCall("get_time", "{}", "call_time")),
            Reply.ToolCalls(new ScriptedToolCall("get_weather", "{}", "call_weather")),
            Reply.Text("Sunny at noon."));
        var assistant = await AssistantAsync(server, "gpt-test", $$""","tools":{{Functions}}""");
        var thread = await server.CreateThreadAsync("Weather?");
        var created = await server.OkAsync(server.PostAsync($"threads/{thread}/runs",
            $$"""{"assistant_id":"{{assistant}}","tool_choice":{"type":"function","function":{"name":"get_weather"} } }"""));
        var runId = created.GetProperty("id").GetString()!;

        await server.WaitForStatusAsync(thread, runId, "requires_action");
        await server.OkAsync(server.PostAsync($"threads/{thread}/runs/{runId}/submit_tool_outputs", """{"tool_outputs":[{"tool_call_id":"call_time","output":"noon"}]}"""));
        await server.WaitForStatusAsync(thread, runId, "requires_action");
        await server.OkAsync(server.PostAsync($"threads/{thread}/runs/{runId}/submit_tool_outputs", """{"tool_outputs":[{"tool_call_id":"call_weather","output":"sunny"}]}"""));
        var done = await server.WaitForRunAsync(thread, runId, s => s is "completed" or "failed" or "incomplete");

        Assert.Equal("completed", done.GetProperty("status").GetString());
        var choices = server.Model.ChatRequests.Select(r => r.ToolChoice!.Value).ToList();
        Assert.Equal(3, choices.Count);
        Assert.Equal("get_weather", choices[0].GetProperty("function").GetProperty("name").GetString());
        Assert.Equal("get_weather", choices[1].GetProperty("function").GetProperty("name").GetString());
        Assert.Equal("auto", choices[2].GetString());
        // The run echoes the tool_choice it was created with.
        Assert.Equal("get_weather", done.GetProperty("tool_choice").GetProperty("function").GetProperty("name").GetString());
    }

    [Fact]
    public async Task ToolChoiceRequired_GovernsUntilAToolWasCalled_ThenAuto()
    {
        await using var server = await StartAsync();
        server.Model.Enqueue(Reply.ToolCalls(new ScriptedToolCall("get_time", "{}", "call_time")), Reply.Text("Noon."));
        var assistant = await AssistantAsync(server, "gpt-test", $$""","tools":{{Functions}}""");
        var thread = await server.CreateThreadAsync("Time?");
        var runId = (await server.OkAsync(server.PostAsync($"threads/{thread}/runs", $$"""{"assistant_id":"{{assistant}}","tool_choice":"required"}"""))).GetProperty("id").GetString()!;

        await server.WaitForStatusAsync(thread, runId, "requires_action");
        await server.OkAsync(server.PostAsync($"threads/{thread}/runs/{runId}/submit_tool_outputs", """{"tool_outputs":[{"tool_call_id":"call_time","output":"noon"}]}"""));
        await server.WaitForStatusAsync(thread, runId, "completed");

        var choices = server.Model.ChatRequests.Select(r => r.ToolChoice!.Value.GetString()).ToList();
        Assert.Equal(["required", "auto"], choices);
    }

    private static string ScriptedText(JsonElement message) =>
        message.GetProperty("content") is { ValueKind: JsonValueKind.String } s ? s.GetString()!
        : string.Concat(message.GetProperty("content").EnumerateArray().Where(p => p.TryGetProperty("text", out _)).Select(p => p.GetProperty("text").GetString()));
}
