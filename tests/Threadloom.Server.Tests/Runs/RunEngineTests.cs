using System.Net;
using System.Text.Json;
using Threadloom.Testing;

namespace Threadloom.Server.Tests.Runs;

public sealed class RunEngineTests
{
    private const string WeatherTools = """[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object","properties":{"city":{"type":"string"}}}}},{"type":"function","function":{"name":"get_time","parameters":{"type":"object","properties":{}}}}]""";

    [Fact]
    public async Task CreateRun_PlainReply_CompletesWithAssistantMessageAndStep()
    {
        await using var server = await RunTestServer.StartAsync();
        server.Model.Enqueue(Reply.Text("Hello there, friend.").WithUsage(12, 5));
        var assistant = await server.CreateAssistantAsync(instructions: "Be kind.");
        var thread = await server.CreateThreadAsync("Hi!");

        var created = await server.OkAsync(server.PostAsync($"threads/{thread}/runs", $$"""{"assistant_id":"{{assistant}}"}"""));
        Assert.Equal("queued", created.GetProperty("status").GetString());
        var run = await server.WaitForRunAsync(thread, created.GetProperty("id").GetString()!, s => s is not ("queued" or "in_progress"));

        Assert.Equal("completed", run.GetProperty("status").GetString());
        Assert.Equal(JsonValueKind.Number, run.GetProperty("completed_at").ValueKind);
        Assert.Equal(JsonValueKind.Null, run.GetProperty("expires_at").ValueKind);
        Assert.Equal(17, run.GetProperty("usage").GetProperty("total_tokens").GetInt32());
        var messages = await server.OkAsync(server.GetAsync($"threads/{thread}/messages?order=asc"));
        var reply = messages.GetProperty("data")[1];
        Assert.Equal("assistant", reply.GetProperty("role").GetString());
        Assert.Equal("completed", reply.GetProperty("status").GetString());
        Assert.Equal("Hello there, friend.", reply.GetProperty("content")[0].GetProperty("text").GetProperty("value").GetString());
        Assert.Equal(run.GetProperty("id").GetString(), reply.GetProperty("run_id").GetString());
        var steps = await server.OkAsync(server.GetAsync($"threads/{thread}/runs/{run.GetProperty("id").GetString()}/steps"));
        var step = Assert.Single(steps.GetProperty("data").EnumerateArray());
        Assert.Equal("message_creation", step.GetProperty("type").GetString());
        Assert.Equal("completed", step.GetProperty("status").GetString());
        Assert.Equal(reply.GetProperty("id").GetString(), step.GetProperty("step_details").GetProperty("message_creation").GetProperty("message_id").GetString());

        var call = Assert.Single(server.Model.ChatRequests);
        Assert.Equal("system", call.Messages[0].GetProperty("role").GetString());
        Assert.Equal("Be kind.", call.Messages[0].GetProperty("content").GetString());
        Assert.Equal("Hi!", call.LastUserText);
    }

    [Fact]
    public async Task CreateRun_InstructionsOverride_ReplacesAssistantInstructionsAndAppendsAdditional()
    {
        await using var server = await RunTestServer.StartAsync();
        server.Model.Enqueue(Reply.Text("ok"));
        var assistant = await server.CreateAssistantAsync(instructions: "Original.");
        var thread = await server.CreateThreadAsync("Hi");

        var created = await server.OkAsync(server.PostAsync($"threads/{thread}/runs",
            $$"""{"assistant_id":"{{assistant}}","instructions":"Override.","additional_instructions":"Also this.","temperature":0.5}"""));
        var run = await server.WaitForStatusAsync(thread, created.GetProperty("id").GetString()!, "completed");

        Assert.Equal("Override.\n\nAlso this.", run.GetProperty("instructions").GetString());
        Assert.Equal(0.5, run.GetProperty("temperature").GetDouble());
        var call = Assert.Single(server.Model.ChatRequests);
        Assert.Equal("Override.\n\nAlso this.", call.Messages[0].GetProperty("content").GetString());
        Assert.Equal(0.5, call.Body.GetProperty("temperature").GetDouble());
    }

    [Fact]
    public async Task Scenario04_ParallelFunctionCalls_ThenSecondCall_ThenFinalAnswer()
    {
        await using var server = await RunTestServer.StartAsync();
        server.Model.Enqueue(
            Reply.ToolCalls(new ScriptedToolCall("get_weather", """{"city":"Paris"}""", "call_a"), new ScriptedToolCall("get_time", "{}", "call_b")),
            Reply.ToolCalls(new ScriptedToolCall("get_weather", """{"city":"Rome"}""", "call_c")),
            Reply.Text("Paris is 21 degrees at noon; Rome is 25."));
        var assistant = await server.CreateAssistantAsync(WeatherTools);
        var thread = await server.CreateThreadAsync("Weather in Paris and Rome?");
        var runId = (await server.OkAsync(server.PostAsync($"threads/{thread}/runs", $$"""{"assistant_id":"{{assistant}}"}"""))).GetProperty("id").GetString()!;

        var waiting = await server.WaitForRunAsync(thread, runId, s => s is not ("queued" or "in_progress"));
        Assert.Equal("requires_action", waiting.GetProperty("status").GetString());
        var calls = waiting.GetProperty("required_action").GetProperty("submit_tool_outputs").GetProperty("tool_calls");
        Assert.Equal(new[] { "call_a", "call_b" }, calls.EnumerateArray().Select(c => c.GetProperty("id").GetString()!).ToArray());
        Assert.Equal("""{"city":"Paris"}""", calls[0].GetProperty("function").GetProperty("arguments").GetString());

        // Numbers are coerced to strings, as the scenario notebooks send them.
        var submitted = await server.OkAsync(server.PostAsync($"threads/{thread}/runs/{runId}/submit_tool_outputs",
            """{"tool_outputs":[{"tool_call_id":"call_b","output":"noon"},{"tool_call_id":"call_a","output":21}]}"""));
        Assert.Equal("queued", submitted.GetProperty("status").GetString());
        Assert.Equal(JsonValueKind.Null, submitted.GetProperty("required_action").ValueKind);

        waiting = await server.WaitForRunAsync(thread, runId, s => s is not ("queued" or "in_progress"));
        Assert.Equal("requires_action", waiting.GetProperty("status").GetString());
        Assert.Equal("call_c", waiting.GetProperty("required_action").GetProperty("submit_tool_outputs").GetProperty("tool_calls")[0].GetProperty("id").GetString());
        await server.OkAsync(server.PostAsync($"threads/{thread}/runs/{runId}/submit_tool_outputs", """{"tool_outputs":[{"tool_call_id":"call_c","output":{"celsius":25}}]}"""));

        var done = await server.WaitForRunAsync(thread, runId, s => s is not ("queued" or "in_progress"));
        Assert.Equal("completed", done.GetProperty("status").GetString());

        var requests = server.Model.ChatRequests;
        Assert.Equal(3, requests.Count);
        var second = requests[1].Messages;
        var toolMessages = second.Where(m => m.GetProperty("role").GetString() == "tool").ToList();
        Assert.Equal(2, toolMessages.Count);
        Assert.Contains(toolMessages, m => m.GetProperty("tool_call_id").GetString() == "call_a" && ScriptedText(m) == "21");
        var third = requests[2].Messages;
        Assert.Contains(third, m => m.GetProperty("role").GetString() == "tool" && ScriptedText(m) == """{"celsius":25}""");

        var steps = await server.OkAsync(server.GetAsync($"threads/{thread}/runs/{runId}/steps?order=asc"));
        var data = steps.GetProperty("data").EnumerateArray().ToList();
        Assert.Equal(new[] { "tool_calls", "tool_calls", "message_creation" }, data.Select(s => s.GetProperty("type").GetString()!).ToArray());
        Assert.All(data, s => Assert.Equal("completed", s.GetProperty("status").GetString()));
        var first = data[0].GetProperty("step_details").GetProperty("tool_calls");
        Assert.Equal("21", first[0].GetProperty("function").GetProperty("output").GetString());
        Assert.Equal("noon", first[1].GetProperty("function").GetProperty("output").GetString());
    }

    [Fact]
    public async Task CancelRun_DuringSlowStream_EndsCancelledWithIncompleteMessage()
    {
        await using var server = await RunTestServer.StartAsync();
        server.Model.Enqueue(Reply.Text(new string('x', 400), chunkSize: 1).WithDelayPerChunk(TimeSpan.FromMilliseconds(50)));
        var assistant = await server.CreateAssistantAsync();
        var thread = await server.CreateThreadAsync("Talk a lot.");
        var runId = (await server.OkAsync(server.PostAsync($"threads/{thread}/runs", $$"""{"assistant_id":"{{assistant}}"}"""))).GetProperty("id").GetString()!;

        // Wait until the assistant message exists: the model call is streaming.
        using (var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60)))
        {
            while ((await server.OkAsync(server.GetAsync($"threads/{thread}/messages"))).GetProperty("data").GetArrayLength() < 2)
            {
                await Task.Delay(20, timeout.Token);
            }
        }
        var cancel = await server.OkAsync(server.PostAsync($"threads/{thread}/runs/{runId}/cancel"));
        Assert.Contains(cancel.GetProperty("status").GetString(), new[] { "cancelling", "cancelled" });

        var run = await server.WaitForRunAsync(thread, runId, s => s is not ("queued" or "in_progress" or "cancelling"));
        Assert.Equal("cancelled", run.GetProperty("status").GetString());
        Assert.Equal(JsonValueKind.Number, run.GetProperty("cancelled_at").ValueKind);
        var message = (await server.OkAsync(server.GetAsync($"threads/{thread}/messages"))).GetProperty("data")[0];
        Assert.Equal("incomplete", message.GetProperty("status").GetString());
        Assert.Equal("run_cancelled", message.GetProperty("incomplete_details").GetProperty("reason").GetString());
        var step = (await server.OkAsync(server.GetAsync($"threads/{thread}/runs/{runId}/steps"))).GetProperty("data")[0];
        Assert.Equal("cancelled", step.GetProperty("status").GetString());

        // The thread lock is released: messages may be added again.
        await server.OkAsync(server.PostAsync($"threads/{thread}/messages", """{"role":"user","content":"again"}"""));
    }

    [Fact]
    public async Task RequiresAction_PastExpiresAt_ExpiresRunAndStep()
    {
        await using var server = await RunTestServer.StartAsync(fakeClock: true);
        server.Model.Enqueue(Reply.ToolCalls(("get_time", "{}")));
        var assistant = await server.CreateAssistantAsync(WeatherTools);
        var thread = await server.CreateThreadAsync("Time?");
        var runId = (await server.OkAsync(server.PostAsync($"threads/{thread}/runs", $$"""{"assistant_id":"{{assistant}}"}"""))).GetProperty("id").GetString()!;
        var waiting = await server.WaitForStatusAsync(thread, runId, "requires_action");
        Assert.Equal(waiting.GetProperty("created_at").GetInt64() + 600, waiting.GetProperty("expires_at").GetInt64());

        server.Clock!.Advance(TimeSpan.FromMinutes(11));
        var run = await server.WaitForRunAsync(thread, runId, s => s != "requires_action");

        Assert.Equal("expired", run.GetProperty("status").GetString());
        var step = (await server.OkAsync(server.GetAsync($"threads/{thread}/runs/{runId}/steps"))).GetProperty("data")[0];
        Assert.Equal("expired", step.GetProperty("status").GetString());
        Assert.Equal(JsonValueKind.Number, step.GetProperty("expired_at").ValueKind);
        var callId = waiting.GetProperty("required_action").GetProperty("submit_tool_outputs").GetProperty("tool_calls")[0].GetProperty("id").GetString();
        var (status, _) = await server.PostAsync($"threads/{thread}/runs/{runId}/submit_tool_outputs", $$"""{"tool_outputs":[{"tool_call_id":"{{callId}}","output":"x"}]}""");
        Assert.Equal(HttpStatusCode.BadRequest, status);
    }

    [Theory]
    [InlineData(500, "server_error")]
    [InlineData(429, "rate_limit_exceeded")]
    public async Task UpstreamError_AfterRetries_FailsRunWithCodeAndReleasesThread(int upstreamStatus, string code)
    {
        await using var server = await RunTestServer.StartAsync();
        server.Model.Enqueue(Reply.Error(upstreamStatus, "upstream says no"), Reply.Error(upstreamStatus, "upstream says no"));
        var assistant = await server.CreateAssistantAsync();
        var thread = await server.CreateThreadAsync("Hi");
        var runId = (await server.OkAsync(server.PostAsync($"threads/{thread}/runs", $$"""{"assistant_id":"{{assistant}}"}"""))).GetProperty("id").GetString()!;

        var run = await server.WaitForRunAsync(thread, runId, s => s is not ("queued" or "in_progress"));

        Assert.Equal("failed", run.GetProperty("status").GetString());
        Assert.Equal(code, run.GetProperty("last_error").GetProperty("code").GetString());
        Assert.Equal(JsonValueKind.Number, run.GetProperty("failed_at").ValueKind);
        Assert.Equal(2, server.Model.ChatCallCount);
        await server.OkAsync(server.PostAsync($"threads/{thread}/messages", """{"role":"user","content":"still there?"}"""));
    }

    [Fact]
    public async Task CreateRun_NoProviderConfigured_FailsWithHowToConfigure()
    {
        await using var server = await RunTestServer.StartAsync(withProvider: false);
        var assistant = await server.CreateAssistantAsync();
        var thread = await server.CreateThreadAsync("Hi");
        var runId = (await server.OkAsync(server.PostAsync($"threads/{thread}/runs", $$"""{"assistant_id":"{{assistant}}"}"""))).GetProperty("id").GetString()!;

        var run = await server.WaitForRunAsync(thread, runId, s => s is not ("queued" or "in_progress"));

        Assert.Equal("failed", run.GetProperty("status").GetString());
        Assert.Contains("OPENAI_BASE_URL", run.GetProperty("last_error").GetProperty("message").GetString(), StringComparison.Ordinal);
        Assert.Equal(0, server.Model.ChatCallCount);
    }

    [Fact]
    public async Task TruncationLastMessages_SendsOnlyTheNewestMessages()
    {
        await using var server = await RunTestServer.StartAsync();
        server.Model.Enqueue(Reply.Text("ok"));
        var assistant = await server.CreateAssistantAsync();
        var thread = await server.CreateThreadAsync("first", "second", "third");

        var runId = (await server.OkAsync(server.PostAsync($"threads/{thread}/runs",
            $$$"""{"assistant_id":"{{{assistant}}}","truncation_strategy":{"type":"last_messages","last_messages":1}}"""))).GetProperty("id").GetString()!;
        var run = await server.WaitForStatusAsync(thread, runId, "completed");

        Assert.Equal(1, run.GetProperty("truncation_strategy").GetProperty("last_messages").GetInt32());
        var sent = Assert.Single(server.Model.ChatRequests).Messages.Where(m => m.GetProperty("role").GetString() != "system").ToList();
        Assert.Equal("third", ScriptedText(Assert.Single(sent)));
    }

    [Fact]
    public async Task ThreadLock_WhileRunActive_RejectsMessagesAndSecondRun_ReleasedAfterCompletion()
    {
        await using var server = await RunTestServer.StartAsync();
        server.Model.Enqueue(Reply.ToolCalls(new ScriptedToolCall("get_time", "{}", "call_t")), Reply.Text("It is noon."));
        var assistant = await server.CreateAssistantAsync(WeatherTools);
        var thread = await server.CreateThreadAsync("Time?");
        var runId = (await server.OkAsync(server.PostAsync($"threads/{thread}/runs", $$"""{"assistant_id":"{{assistant}}"}"""))).GetProperty("id").GetString()!;
        await server.WaitForStatusAsync(thread, runId, "requires_action");

        var (messageStatus, messageError) = await server.PostAsync($"threads/{thread}/messages", """{"role":"user","content":"hello?"}""");
        Assert.Equal(HttpStatusCode.BadRequest, messageStatus);
        Assert.Equal($"Can't add messages to {thread} while a run {runId} is active.", messageError.GetProperty("error").GetProperty("message").GetString());
        var (runStatus, runError) = await server.PostAsync($"threads/{thread}/runs", $$"""{"assistant_id":"{{assistant}}"}""");
        Assert.Equal(HttpStatusCode.BadRequest, runStatus);
        Assert.Equal($"Thread {thread} already has an active run {runId}.", runError.GetProperty("error").GetProperty("message").GetString());
        Assert.Equal(1, (await server.OkAsync(server.GetAsync($"threads/{thread}/runs"))).GetProperty("data").GetArrayLength());

        await server.OkAsync(server.PostAsync($"threads/{thread}/runs/{runId}/submit_tool_outputs", """{"tool_outputs":[{"tool_call_id":"call_t","output":"12:00"}]}"""));
        await server.WaitForStatusAsync(thread, runId, "completed");
        await server.OkAsync(server.PostAsync($"threads/{thread}/messages", """{"role":"user","content":"thanks"}"""));
    }

    private static string? ScriptedText(JsonElement message) =>
        message.GetProperty("content") is { ValueKind: JsonValueKind.String } s ? s.GetString()
        : string.Concat(message.GetProperty("content").EnumerateArray().Select(p => p.GetProperty("text").GetString()));
}
