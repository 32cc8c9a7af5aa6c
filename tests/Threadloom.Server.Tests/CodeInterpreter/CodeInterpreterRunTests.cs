using System.Text.Json;
using Threadloom.Server.Tests.Runs;
using Threadloom.Testing;
using static Threadloom.Server.Tests.CodeInterpreter.CodeInterpreterKit;

namespace Threadloom.Server.Tests.CodeInterpreter;

/// <summary>code_interpreter inside runs, with the real sandbox: sessions, outputs, annotations, streaming, cancel, failures.</summary>
public sealed class CodeInterpreterRunTests
{
    [Fact]
    public async Task TwoRunsOnOneThread_ShareTheSession()
    {
        await using var server = await RunTestServer.StartAsync();
        server.Model.Enqueue(
            Reply.ToolCalls(Code("x = 41", "call_set")), Reply.Text("Stored."),
            Reply.ToolCalls(Code("print(x + 1)", "call_get")), Reply.Text("It is 42."));
        var assistant = await server.CreateAssistantAsync(CodeTool);
        var thread = await server.CreateThreadAsync("Remember 41.");

        var (first, run1) = await server.RunUntilSettledAsync(thread, $$"""{"assistant_id":"{{assistant}}"}""");
        Assert.True(run1.GetProperty("status").GetString() == "completed", run1.ToString());
        await server.OkAsync(server.PostAsync($"threads/{thread}/messages", """{"role":"user","content":"Add one."}"""));
        var (second, run2) = await server.RunUntilSettledAsync(thread, $$"""{"assistant_id":"{{assistant}}"}""");

        Assert.True(run2.GetProperty("status").GetString() == "completed", run2.ToString());
        Assert.Equal("42", Logs(Assert.Single(await server.CodeCallsAsync(thread, second))).Trim());
        Assert.Empty(Assert.Single(await server.CodeCallsAsync(thread, first)).GetProperty("code_interpreter").GetProperty("outputs").EnumerateArray());
    }

    [Fact]
    public async Task MatplotlibChart_BecomesImageOutputAndImageFileContent_WithRealPng()
    {
        await using var server = await RunTestServer.StartAsync();
        server.Model.Enqueue(
            Reply.ToolCalls(Code("import matplotlib.pyplot as plt\nplt.plot([1, 2, 3], [3, 1, 2])\nplt.title('demo')\nprint('plotted')", "call_plot")),
            Reply.Text("Here is your chart."));
        var assistant = await server.CreateAssistantAsync(CodeTool);
        var thread = await server.CreateThreadAsync("Plot something.");

        var (runId, run) = await server.RunUntilSettledAsync(thread, $$"""{"assistant_id":"{{assistant}}"}""");

        Assert.True(run.GetProperty("status").GetString() == "completed", run.ToString());
        var outputs = Assert.Single(await server.CodeCallsAsync(thread, runId)).GetProperty("code_interpreter").GetProperty("outputs");
        Assert.Equal("logs", outputs[0].GetProperty("type").GetString());
        Assert.Equal("plotted", outputs[0].GetProperty("logs").GetString()!.Trim());
        var image = outputs.EnumerateArray().Single(o => o.GetProperty("type").GetString() == "image");
        var imageFileId = image.GetProperty("image").GetProperty("file_id").GetString()!;

        var message = await server.LastAssistantMessageAsync(thread);
        var content = message.GetProperty("content");
        Assert.Equal(2, content.GetArrayLength());
        Assert.Equal("image_file", content[0].GetProperty("type").GetString());
        Assert.Equal(imageFileId, content[0].GetProperty("image_file").GetProperty("file_id").GetString());
        Assert.Equal("Here is your chart.", content[1].GetProperty("text").GetProperty("value").GetString());

        var png = await server.DownloadAsync(imageFileId);
        Assert.True(png.Length > 1000, $"PNG of {png.Length} bytes");
        Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A }, png[..8]);
        var file = await server.OkAsync(server.GetAsync($"files/{imageFileId}"));
        Assert.Equal("assistants_output", file.GetProperty("purpose").GetString());
    }

    [Fact]
    public async Task GeneratedCsv_LinkedInAnswer_GetsFilePathAnnotation_AndDownloadsIntact()
    {
        await using var server = await RunTestServer.StartAsync();
        const string Answer = "Your file is ready: [Download out.csv](sandbox:/mnt/data/out.csv). Thanks!";
        server.Model.Enqueue(
            Reply.ToolCalls(Code("import pandas as pd\npd.DataFrame({'n': range(1, 6), 'sq': [i * i for i in range(1, 6)]}).to_csv('/mnt/data/out.csv', index=False)", "call_csv")),
            Reply.Text(Answer));
        var assistant = await server.CreateAssistantAsync(CodeTool);
        var thread = await server.CreateThreadAsync("Make me a CSV of squares.");

        var (_, run) = await server.RunUntilSettledAsync(thread, $$"""{"assistant_id":"{{assistant}}"}""");

        Assert.True(run.GetProperty("status").GetString() == "completed", run.ToString());
        Assert.Contains("sandbox:/mnt/data/out.csv", server.ToolResultSeenByModel("call_csv"), StringComparison.Ordinal);
        var text = (await server.LastAssistantMessageAsync(thread)).GetProperty("content")[0].GetProperty("text");
        Assert.Equal(Answer, text.GetProperty("value").GetString());
        var annotation = Assert.Single(text.GetProperty("annotations").EnumerateArray());
        Assert.Equal("file_path", annotation.GetProperty("type").GetString());
        Assert.Equal("sandbox:/mnt/data/out.csv", annotation.GetProperty("text").GetString());
        var start = annotation.GetProperty("start_index").GetInt32();
        var end = annotation.GetProperty("end_index").GetInt32();
        Assert.Equal("sandbox:/mnt/data/out.csv", Answer[start..end]);
        var fileId = annotation.GetProperty("file_path").GetProperty("file_id").GetString()!;
        var csv = System.Text.Encoding.UTF8.GetString(await server.DownloadAsync(fileId));
        Assert.Equal("n,sq\n1,1\n2,4\n3,9\n4,16\n5,25\n", csv.Replace("\r\n", "\n", StringComparison.Ordinal));
        var file = await server.OkAsync(server.GetAsync($"files/{fileId}"));
        Assert.Equal("out.csv", file.GetProperty("filename").GetString());
        Assert.Equal("assistants_output", file.GetProperty("purpose").GetString());
    }

    [Fact]
    public async Task Streaming_CodeInterpreterStepDeltas_CarryInputThenOutputs()
    {
        await using var server = await RunTestServer.StartAsync();
        const string Source = "s = \"a\\tb\"\nprint(len(s), 'é')";
        server.Model.Enqueue(Reply.ToolCalls(Code(Source, "call_stream")).WithArgumentChunkSize(3), Reply.Text("Done."));
        var assistant = await server.CreateAssistantAsync(CodeTool);
        var thread = await server.CreateThreadAsync("Count.");

        var events = await server.StreamAsync($"threads/{thread}/runs", $$"""{"assistant_id":"{{assistant}}","stream":true}""");

        Assert.Equal("done", events[^1].Event);
        Assert.Contains(events, e => e.Event == "thread.run.completed");
        var deltas = events.Where(e => e.Event == "thread.run.step.delta")
            .Select(e => JsonDocument.Parse(e.Data).RootElement.GetProperty("delta").GetProperty("step_details").GetProperty("tool_calls")[0])
            .ToList();
        Assert.All(deltas, d => Assert.Equal("code_interpreter", d.GetProperty("type").GetString()));
        Assert.All(deltas, d => Assert.Equal(0, d.GetProperty("index").GetInt32()));
        Assert.Equal("call_stream", deltas[0].GetProperty("id").GetString());
        Assert.Single(deltas, d => d.TryGetProperty("id", out _));
        var inputs = deltas.Where(d => d.GetProperty("code_interpreter").TryGetProperty("input", out _)).ToList();
        Assert.True(inputs.Count > 3, $"expected the input in several increments, got {inputs.Count}");
        Assert.Equal(Source, string.Concat(inputs.Select(d => d.GetProperty("code_interpreter").GetProperty("input").GetString())));
        var withOutputs = Assert.Single(deltas, d => d.GetProperty("code_interpreter").TryGetProperty("outputs", out var o) && o.GetArrayLength() > 0);
        Assert.Equal(withOutputs.GetRawText(), deltas[^1].GetRawText());
        var output = withOutputs.GetProperty("code_interpreter").GetProperty("outputs")[0];
        Assert.Equal(0, output.GetProperty("index").GetInt32());
        Assert.Equal("logs", output.GetProperty("type").GetString());
        Assert.Equal("3 é", output.GetProperty("logs").GetString()!.Trim());
        var completedStep = events.Where(e => e.Event == "thread.run.step.completed").Select(e => JsonDocument.Parse(e.Data).RootElement)
            .Single(s => s.GetProperty("type").GetString() == "tool_calls");
        Assert.Equal(Source, completedStep.GetProperty("step_details").GetProperty("tool_calls")[0].GetProperty("code_interpreter").GetProperty("input").GetString());
    }

    [Fact]
    public async Task Cancel_DuringLongExecution_KillsIt_AndTheThreadStillWorks()
    {
        await using var server = await RunTestServer.StartAsync();
        server.Model.Enqueue(
            Reply.ToolCalls(Code("x = 41", "call_warm")), Reply.Text("ok"),
            Reply.ToolCalls(Code("import time\ntime.sleep(600)", "call_sleep")),
            Reply.ToolCalls(Code("print('alive')\nprint(x)", "call_after")), Reply.Text("after"));
        var assistant = await server.CreateAssistantAsync(CodeTool);
        var thread = await server.CreateThreadAsync("Go.");
        var (_, warm) = await server.RunUntilSettledAsync(thread, $$"""{"assistant_id":"{{assistant}}"}""");
        Assert.True(warm.GetProperty("status").GetString() == "completed", warm.ToString());

        var sleeping = (await server.OkAsync(server.PostAsync($"threads/{thread}/runs", $$"""{"assistant_id":"{{assistant}}"}"""))).GetProperty("id").GetString()!;
        await WaitForToolStepAsync(server, thread, sleeping);
        // Give the (warm) kernel a moment to start sleeping; the assertions below do not depend on this timing.
        await Task.Delay(TimeSpan.FromSeconds(1));
        var cancelling = await server.OkAsync(server.PostAsync($"threads/{thread}/runs/{sleeping}/cancel"));
        Assert.Contains(cancelling.GetProperty("status").GetString(), new[] { "cancelling", "cancelled" });
        // If the execution were not killed it would sleep 600 s and this wait (60 s guard) would throw.
        var cancelled = await server.SettleAsync(thread, sleeping);
        Assert.Equal("cancelled", cancelled.GetProperty("status").GetString());

        var (after, run) = await server.RunUntilSettledAsync(thread, $$"""{"assistant_id":"{{assistant}}"}""");
        Assert.True(run.GetProperty("status").GetString() == "completed", run.ToString());
        var logs = Logs(Assert.Single(await server.CodeCallsAsync(thread, after)));
        Assert.StartsWith("alive", logs, StringComparison.Ordinal);
        // The kernel was killed mid-execution, so the variables of the first run are gone.
        Assert.Contains("NameError", logs, StringComparison.Ordinal);
    }

    [Fact]
    public async Task FailingCode_IsReportedToTheModel_AndTheStepCompletes()
    {
        await using var server = await RunTestServer.StartAsync();
        server.Model.Enqueue(Reply.ToolCalls(Code("1 / 0", "call_fail")), Reply.Text("Division by zero is undefined."));
        var assistant = await server.CreateAssistantAsync(CodeTool);
        var thread = await server.CreateThreadAsync("Divide.");

        var (runId, run) = await server.RunUntilSettledAsync(thread, $$"""{"assistant_id":"{{assistant}}"}""");

        Assert.True(run.GetProperty("status").GetString() == "completed", run.ToString());
        Assert.Contains("ZeroDivisionError", Logs(Assert.Single(await server.CodeCallsAsync(thread, runId))), StringComparison.Ordinal);
        var seen = server.ToolResultSeenByModel("call_fail");
        Assert.Contains("ZeroDivisionError", seen, StringComparison.Ordinal);
        Assert.Contains("[The execution failed.]", seen, StringComparison.Ordinal);
    }

    [Fact]
    public async Task SandboxUnavailable_ServerStarts_RunFailsWithClearLastError()
    {
        await using var server = await RunTestServer.StartAsync(extraArgs: ["--CodeInterpreter:BubblewrapPath", "/nonexistent/bwrap"]);
        server.Model.Enqueue(Reply.ToolCalls(Code("print('never runs')", "call_x")), Reply.Text("unreachable"));
        var assistant = await server.CreateAssistantAsync(CodeTool);
        var thread = await server.CreateThreadAsync("Run code.");

        var (runId, run) = await server.RunUntilSettledAsync(thread, $$"""{"assistant_id":"{{assistant}}"}""");

        Assert.Equal("failed", run.GetProperty("status").GetString());
        var error = run.GetProperty("last_error");
        Assert.Equal("server_error", error.GetProperty("code").GetString());
        Assert.Contains("code interpreter sandbox is unavailable", error.GetProperty("message").GetString(), StringComparison.Ordinal);
        Assert.Contains("/nonexistent/bwrap", error.GetProperty("message").GetString(), StringComparison.Ordinal);
        Assert.Equal(1, server.Model.ChatCallCount);
        Assert.Empty(await server.CodeCallsAsync(thread, runId));
    }

    private static async Task WaitForToolStepAsync(RunTestServer server, string thread, string runId)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        while (true)
        {
            var steps = await server.OkAsync(server.GetAsync($"threads/{thread}/runs/{runId}/steps"));
            if (steps.GetProperty("data").EnumerateArray().Any(s => s.GetProperty("type").GetString() == "tool_calls"))
            {
                return;
            }
            await Task.Delay(20, timeout.Token);
        }
    }
}
