using OpenAI.Assistants;
using OpenAI.Files;
using Threadloom.Core.Tools.CodeInterpreter;
using Threadloom.Sandbox;
using Threadloom.Testing;
using Xunit.Abstractions;

namespace Threadloom.Cluster.Tests;

/// <summary>
/// Issue #12 §3: a code interpreter session stays on the node that ran it. When that node dies, the thread's next run
/// (on another node) gets a fresh session with the thread's files, and the model is told the state was reset.
/// </summary>
public sealed class CodeInterpreterClusterTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(120);
    private const string Probe = "import os\nprint(sorted(os.listdir('/mnt/data')), 'x' in globals())";

    [SkippableFact]
    public async Task NodeHoldingTheSessionKilled_NextRunElsewhere_FreshSessionWithFiles_AndTheModelIsTold()
    {
        await using var model = await ScriptedModelServer.StartAsync();
        var toolOutputs = new List<(int Node, string Output)>();
        model.RespondWith(request =>
        {
            var last = request.Messages[^1];
            if (last.GetProperty("role").GetString() == "tool")
            {
                lock (toolOutputs)
                {
                    toolOutputs.Add((Cluster.NodeOf(request), last.GetProperty("content").ToString()));
                }
                return Reply.Text("Ran it.");
            }
            var code = request.LastUserText == "set" ? "x = 41\nopen('/mnt/data/made.txt', 'w').write('mine')\nprint('set')" : Probe;
            return Reply.ToolCalls(new ScriptedToolCall(CodeInterpreterTool.ToolName, System.Text.Json.JsonSerializer.Serialize(new { code })));
        });
        await using var cluster = await Cluster.StartAsync(model, output, 2);

        var file = (await cluster.OpenAI(0).GetOpenAIFileClient().UploadFileAsync(BinaryData.FromString("a,b\n1,2\n"), "data.csv", FileUploadPurpose.Assistants)).Value;
        var assistant = (await cluster.Assistants(1).CreateAssistantAsync("gpt-4o", new AssistantCreationOptions { Tools = { new CodeInterpreterToolDefinition() } })).Value;
        var thread = (await cluster.Assistants(0).CreateThreadAsync(new ThreadCreationOptions
        {
            ToolResources = new ToolResources { CodeInterpreter = new CodeInterpreterToolResources { FileIds = { file.Id } } },
        })).Value;

        async Task<(int Node, string Output)> AskAsync(int node, string text)
        {
            var before = toolOutputs.Count;
            await cluster.Assistants(node).CreateMessageAsync(thread.Id, MessageRole.User, [MessageContent.FromText(text)]);
            var run = (await cluster.Assistants(node).CreateRunAsync(thread.Id, assistant.Id)).Value;
            var done = await cluster.EventuallyAsync("the run", async n =>
            {
                var current = (await cluster.Assistants(n).GetRunAsync(thread.Id, run.Id)).Value;
                return current.Status.IsTerminal ? current : null;
            }, Patience);
            Assert.True(done.Status == RunStatus.Completed, $"{text}: {done.Status} {done.LastError?.Message}");
            lock (toolOutputs)
            {
                Assert.Equal(before + 1, toolOutputs.Count);
                return toolOutputs[^1];
            }
        }

        var (owner, first) = await AskAsync(0, "set");
        Assert.StartsWith("set\n[File written: sandbox:/mnt/data/made.txt", first, StringComparison.Ordinal);
        Assert.True(owner is 0 or 1, $"node {owner}");

        await cluster.KillAsync(owner);
        var survivor = 1 - owner;
        var (moved, reset) = await AskAsync(survivor, "probe");
        Assert.Equal(survivor, moved);
        Assert.Equal(BubblewrapSandbox.SessionResetNotice + "\n['data.csv'] False", reset);
        var (_, settled) = await AskAsync(survivor, "probe");
        Assert.Equal("['data.csv'] False", settled);
        Assert.Empty(model.UnexpectedCalls);
    }
}
