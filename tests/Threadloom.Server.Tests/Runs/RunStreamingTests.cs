using System.Text.Json;
using Threadloom.Testing;

namespace Threadloom.Server.Tests.Runs;

public sealed class RunStreamingTests
{
    private const string Tools = """[{"type":"function","function":{"name":"get_time","parameters":{"type":"object","properties":{}}}}]""";

    [Fact]
    public async Task CreateRun_StreamText_EmitsEventsInOpenAIOrder()
    {
        await using var server = await RunTestServer.StartAsync();
        server.Model.Enqueue(Reply.Text("Hello world!", chunkSize: 3));
        var assistant = await server.CreateAssistantAsync();
        var thread = await server.CreateThreadAsync("Hi");

        var events = await server.StreamAsync($"threads/{thread}/runs", $$"""{"assistant_id":"{{assistant}}","stream":true}""");

        var names = Collapse(events.Select(e => e.Event));
        Assert.Equal(
        [
            "thread.run.created", "thread.run.queued", "thread.run.in_progress", "thread.run.step.created", "thread.run.step.in_progress",
            "thread.message.created", "thread.message.in_progress", "thread.message.delta", "thread.message.completed",
            "thread.run.step.completed", "thread.run.completed", "done",
        ], names);
        Assert.Equal("[DONE]", events[^1].Data);
        var deltas = events.Where(e => e.Event == "thread.message.delta").Select(e => JsonDocument.Parse(e.Data).RootElement).ToList();
        Assert.True(deltas.Count > 1);
        Assert.All(deltas, d => Assert.Equal(0, d.GetProperty("delta").GetProperty("content")[0].GetProperty("index").GetInt32()));
        Assert.Equal("Hello world!", string.Concat(deltas.Select(d => d.GetProperty("delta").GetProperty("content")[0].GetProperty("text").GetProperty("value").GetString())));
        var completed = JsonDocument.Parse(events.Single(e => e.Event == "thread.run.completed").Data).RootElement;
        Assert.Equal("completed", completed.GetProperty("status").GetString());
    }

    [Fact]
    public async Task CreateRun_StreamFunctionCall_EndsAtRequiresAction_ThenSubmitStreamContinues()
    {
        await using var server = await RunTestServer.StartAsync();
        server.Model.Enqueue(
            Reply.ToolCalls(new ScriptedToolCall("get_time", """{"zone":"UTC"}""", "call_z")).WithArgumentChunkSize(4),
            Reply.Text("It is noon."));
        var assistant = await server.CreateAssistantAsync(Tools);
        var thread = await server.CreateThreadAsync("Time?");

        var events = await server.StreamAsync($"threads/{thread}/runs", $$"""{"assistant_id":"{{assistant}}","stream":true}""");

        Assert.Equal(
        [
            "thread.run.created", "thread.run.queued", "thread.run.in_progress", "thread.run.step.created", "thread.run.step.in_progress",
            "thread.run.step.delta", "thread.run.requires_action", "done",
        ], Collapse(events.Select(e => e.Event)));
        var deltas = events.Where(e => e.Event == "thread.run.step.delta")
            .Select(e => JsonDocument.Parse(e.Data).RootElement.GetProperty("delta").GetProperty("step_details").GetProperty("tool_calls")[0]).ToList();
        var first = deltas[0];
        Assert.Equal(0, first.GetProperty("index").GetInt32());
        Assert.Equal("call_z", first.GetProperty("id").GetString());
        Assert.Equal("function", first.GetProperty("type").GetString());
        Assert.Equal("get_time", first.GetProperty("function").GetProperty("name").GetString());
        Assert.Equal("", first.GetProperty("function").GetProperty("arguments").GetString());
        Assert.Equal(JsonValueKind.Null, first.GetProperty("function").GetProperty("output").ValueKind);
        Assert.All(deltas, d => Assert.Equal(0, d.GetProperty("index").GetInt32()));
        Assert.Equal("""{"zone":"UTC"}""", string.Concat(deltas.Select(d => d.GetProperty("function").GetProperty("arguments").GetString())));
        var runId = JsonDocument.Parse(events[0].Data).RootElement.GetProperty("id").GetString();

        var resumed = await server.StreamAsync($"threads/{thread}/runs/{runId}/submit_tool_outputs",
            """{"tool_outputs":[{"tool_call_id":"call_z","output":"12:00"}],"stream":true}""");

        Assert.Equal(
        [
            "thread.run.step.completed", "thread.run.queued", "thread.run.in_progress", "thread.run.step.created", "thread.run.step.in_progress",
            "thread.message.created", "thread.message.in_progress", "thread.message.delta", "thread.message.completed",
            "thread.run.step.completed", "thread.run.completed", "done",
        ], Collapse(resumed.Select(e => e.Event)));
        var toolStep = JsonDocument.Parse(resumed[0].Data).RootElement;
        Assert.Equal("12:00", toolStep.GetProperty("step_details").GetProperty("tool_calls")[0].GetProperty("function").GetProperty("output").GetString());
    }

    [Fact]
    public async Task CreateThreadAndRun_Stream_StartsWithThreadCreated()
    {
        await using var server = await RunTestServer.StartAsync();
        server.Model.Enqueue(Reply.Text("Hi back"));
        var assistant = await server.CreateAssistantAsync();

        var events = await server.StreamAsync("threads/runs",
            $$"""{"assistant_id":"{{assistant}}","thread":{"messages":[{"role":"user","content":"Hi"}]},"stream":true}""");

        Assert.Equal("thread.created", events[0].Event);
        Assert.Equal("thread.run.created", events[1].Event);
        Assert.Equal("thread.run.completed", events[^2].Event);
        var threadId = JsonDocument.Parse(events[0].Data).RootElement.GetProperty("id").GetString();
        Assert.Equal(threadId, JsonDocument.Parse(events[1].Data).RootElement.GetProperty("thread_id").GetString());
        Assert.Equal("Hi", server.Model.ChatRequests.Single().LastUserText);
    }

    [Fact]
    public async Task CreateThreadAndRun_WithoutStream_ReturnsQueuedRunThatCompletes()
    {
        await using var server = await RunTestServer.StartAsync();
        server.Model.Enqueue(Reply.Text("Hi back"));
        var assistant = await server.CreateAssistantAsync();

        var run = await server.OkAsync(server.PostAsync("threads/runs", $$$"""{"assistant_id":"{{{assistant}}}","thread":{"messages":[{"role":"user","content":"Hi"}]}}"""));

        var thread = run.GetProperty("thread_id").GetString()!;
        await server.WaitForStatusAsync(thread, run.GetProperty("id").GetString()!, "completed");
    }

    /// <summary>Runs of the same delta event collapse into one name, so the order check does not depend on chunking.</summary>
    private static string[] Collapse(IEnumerable<string> names)
    {
        var result = new List<string>();
        foreach (var name in names)
        {
            if (result.Count == 0 || result[^1] != name || !name.EndsWith(".delta", StringComparison.Ordinal))
            {
                result.Add(name);
            }
        }
        return [.. result];
    }
}
