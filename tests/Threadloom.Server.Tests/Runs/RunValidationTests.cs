using System.Net;
using System.Text.Json;
using Threadloom.Testing;

namespace Threadloom.Server.Tests.Runs;

public sealed class RunValidationTests
{
    private const string Tools = """[{"type":"function","function":{"name":"get_time","parameters":{"type":"object","properties":{}}}}]""";

    [Theory]
    [InlineData("""{"assistant_id":"ASSISTANT","tools":[{"type":"function","function":{"name":"code_interpreter"}}]}""", "tools[0].function.name")]
    [InlineData("""{"assistant_id":"ASSISTANT","tool_choice":{"type":"function","function":{"name":"nope"}}}""", "tool_choice.function.name")]
    [InlineData("""{"assistant_id":"ASSISTANT","max_prompt_tokens":255}""", "max_prompt_tokens")]
    [InlineData("""{"assistant_id":"ASSISTANT","max_completion_tokens":100}""", "max_completion_tokens")]
    [InlineData("""{"assistant_id":"ASSISTANT","truncation_strategy":{"type":"last_messages","last_messages":0}}""", "truncation_strategy.last_messages")]
    [InlineData("""{"assistant_id":"ASSISTANT","bogus":1}""", "bogus")]
    public async Task CreateRun_InvalidInput_Returns400AndCreatesNothing(string body, string param)
    {
        await using var server = await RunTestServer.StartAsync();
        var assistant = await server.CreateAssistantAsync(Tools);
        var thread = await server.CreateThreadAsync("Hi");

        var (status, error) = await server.PostAsync($"threads/{thread}/runs", body.Replace("ASSISTANT", assistant, StringComparison.Ordinal));

        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Equal("invalid_request_error", error.GetProperty("error").GetProperty("type").GetString());
        Assert.Equal(param, error.GetProperty("error").GetProperty("param").GetString());
        Assert.Equal(0, (await server.OkAsync(server.GetAsync($"threads/{thread}/runs"))).GetProperty("data").GetArrayLength());
        Assert.Equal(0, server.Model.ChatCallCount);
    }

    [Fact]
    public async Task CreateRun_UnknownAssistant_Returns404()
    {
        await using var server = await RunTestServer.StartAsync();
        var thread = await server.CreateThreadAsync("Hi");

        var (status, error) = await server.PostAsync($"threads/{thread}/runs", """{"assistant_id":"asst_missing"}""");

        Assert.Equal(HttpStatusCode.NotFound, status);
        Assert.Equal("No assistant found with id 'asst_missing'.", error.GetProperty("error").GetProperty("message").GetString());
        Assert.Equal(0, (await server.OkAsync(server.GetAsync($"threads/{thread}/runs"))).GetProperty("data").GetArrayLength());
    }

    [Fact]
    public async Task SubmitToolOutputs_BadOutputs_Returns400AndRunStaysRequiresAction()
    {
        await using var server = await RunTestServer.StartAsync();
        server.Model.Enqueue(Reply.ToolCalls(new ScriptedToolCall("get_time", "{}", "call_1"), new ScriptedToolCall("get_time", "{}", "call_2")));
        var assistant = await server.CreateAssistantAsync(Tools);
        var thread = await server.CreateThreadAsync("Hi");
        var runId = (await server.OkAsync(server.PostAsync($"threads/{thread}/runs", $$"""{"assistant_id":"{{assistant}}"}"""))).GetProperty("id").GetString()!;
        await server.WaitForStatusAsync(thread, runId, "requires_action");

        string[] bad =
        [
            """{"tool_outputs":[{"tool_call_id":"call_1","output":"a"}]}""",
            """{"tool_outputs":[{"tool_call_id":"call_1","output":"a"},{"tool_call_id":"call_9","output":"b"}]}""",
            """{"tool_outputs":[{"tool_call_id":"call_1","output":"a"},{"tool_call_id":"call_1","output":"b"}]}""",
            """{}""",
        ];
        foreach (var body in bad)
        {
            var (status, _) = await server.PostAsync($"threads/{thread}/runs/{runId}/submit_tool_outputs", body);
            Assert.Equal(HttpStatusCode.BadRequest, status);
        }

        var run = await server.OkAsync(server.GetAsync($"threads/{thread}/runs/{runId}"));
        Assert.Equal("requires_action", run.GetProperty("status").GetString());
        var step = (await server.OkAsync(server.GetAsync($"threads/{thread}/runs/{runId}/steps"))).GetProperty("data")[0];
        Assert.Equal("in_progress", step.GetProperty("status").GetString());
        Assert.Equal(JsonValueKind.Null, step.GetProperty("step_details").GetProperty("tool_calls")[0].GetProperty("function").GetProperty("output").ValueKind);
    }

    [Fact]
    public async Task SubmitToolOutputs_RunNotRequiringAction_Returns400()
    {
        await using var server = await RunTestServer.StartAsync();
        server.Model.Enqueue(Reply.Text("done"));
        var assistant = await server.CreateAssistantAsync();
        var thread = await server.CreateThreadAsync("Hi");
        var runId = (await server.OkAsync(server.PostAsync($"threads/{thread}/runs", $$"""{"assistant_id":"{{assistant}}"}"""))).GetProperty("id").GetString()!;
        await server.WaitForStatusAsync(thread, runId, "completed");

        var (status, error) = await server.PostAsync($"threads/{thread}/runs/{runId}/submit_tool_outputs", """{"tool_outputs":[{"tool_call_id":"call_1","output":"a"}]}""");

        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Equal("Runs in status \"completed\" do not accept tool outputs.", error.GetProperty("error").GetProperty("message").GetString());
    }

    [Fact]
    public async Task CancelRun_Completed_Returns400AndStaysCompleted()
    {
        await using var server = await RunTestServer.StartAsync();
        server.Model.Enqueue(Reply.Text("done"));
        var assistant = await server.CreateAssistantAsync();
        var thread = await server.CreateThreadAsync("Hi");
        var runId = (await server.OkAsync(server.PostAsync($"threads/{thread}/runs", $$"""{"assistant_id":"{{assistant}}"}"""))).GetProperty("id").GetString()!;
        await server.WaitForStatusAsync(thread, runId, "completed");

        var (status, error) = await server.PostAsync($"threads/{thread}/runs/{runId}/cancel");

        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Equal("Cannot cancel run with status 'completed'.", error.GetProperty("error").GetProperty("message").GetString());
        Assert.Equal("completed", (await server.OkAsync(server.GetAsync($"threads/{thread}/runs/{runId}"))).GetProperty("status").GetString());
    }

    [Fact]
    public async Task CancelRun_RequiresAction_CancelsImmediately()
    {
        await using var server = await RunTestServer.StartAsync();
        server.Model.Enqueue(Reply.ToolCalls(("get_time", "{}")));
        var assistant = await server.CreateAssistantAsync(Tools);
        var thread = await server.CreateThreadAsync("Hi");
        var runId = (await server.OkAsync(server.PostAsync($"threads/{thread}/runs", $$"""{"assistant_id":"{{assistant}}"}"""))).GetProperty("id").GetString()!;
        await server.WaitForStatusAsync(thread, runId, "requires_action");

        var cancelled = await server.OkAsync(server.PostAsync($"threads/{thread}/runs/{runId}/cancel"));

        Assert.Equal("cancelled", cancelled.GetProperty("status").GetString());
        Assert.Equal(JsonValueKind.Null, cancelled.GetProperty("required_action").ValueKind);
        var step = (await server.OkAsync(server.GetAsync($"threads/{thread}/runs/{runId}/steps"))).GetProperty("data")[0];
        Assert.Equal("cancelled", step.GetProperty("status").GetString());
    }

    [Fact]
    public async Task ModifyRun_Metadata_IsStored_AndPollHeaderIsSent()
    {
        await using var server = await RunTestServer.StartAsync();
        server.Model.Enqueue(Reply.Text("done"));
        var assistant = await server.CreateAssistantAsync();
        var thread = await server.CreateThreadAsync("Hi");
        var runId = (await server.OkAsync(server.PostAsync($"threads/{thread}/runs", $$"""{"assistant_id":"{{assistant}}"}"""))).GetProperty("id").GetString()!;
        await server.WaitForStatusAsync(thread, runId, "completed");

        var modified = await server.OkAsync(server.PostAsync($"threads/{thread}/runs/{runId}", """{"metadata":{"k":"v"}}"""));
        Assert.Equal("v", modified.GetProperty("metadata").GetProperty("k").GetString());
        using var response = await server.Http.GetAsync($"threads/{thread}/runs/{runId}");
        Assert.True(response.Headers.TryGetValues("openai-poll-after-ms", out var values));
        Assert.Equal("200", Assert.Single(values));
    }
}
