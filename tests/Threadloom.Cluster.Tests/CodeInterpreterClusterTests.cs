using OpenAI.Assistants;
using OpenAI.Files;
using Threadloom.Core.Tools.CodeInterpreter;
using Threadloom.Sandbox;

namespace Threadloom.Cluster.Tests;

/// <summary>
/// Issue #12 §3: a code interpreter session stays on the node that ran it. When that node dies, the thread's next run
/// (on another node) gets a fresh session with the thread's files, and the model is told the state was reset.
/// </summary>
public sealed class CodeInterpreterClusterTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(120);
    private const string Probe = "import os\nprint(sorted(os.listdir('/mnt/data')), 'x' in globals())";

    /// <summary>Two nodes, an assistant with code_interpreter and a thread with one file; "set" writes x and made.txt.</summary>
    private sealed class Setup(ScriptedModelServer model, Cluster cluster, string threadId, string assistantId, List<(int Node, string Output)> outputs)
        : IAsyncDisposable
    {
        public ScriptedModelServer Model => model;
        public Cluster Cluster => cluster;
        public string ThreadId => threadId;

        public static async Task<Setup> StartAsync(ITestOutputHelper output)
        {
            var model = await ScriptedModelServer.StartAsync();
            var outputs = new List<(int Node, string Output)>();
            model.RespondWith(request =>
            {
                var last = request.Messages[^1];
                if (last.GetProperty("role").GetString() == "tool")
                {
                    lock (outputs)
                    {
                        outputs.Add((Cluster.NodeOf(request), last.GetProperty("content").ToString()));
                    }
                    return Reply.Text("Ran it.");
                }
                var code = request.LastUserText == "set" ? "x = 41\nopen('/mnt/data/made.txt', 'w').write('mine')\nprint('set')" : Probe;
                return Reply.ToolCalls(new ScriptedToolCall(CodeInterpreterTool.ToolName, System.Text.Json.JsonSerializer.Serialize(new { code })));
            });
            var cluster = await Cluster.StartAsync(model, output, 2);
            var file = (await cluster.OpenAI(0).GetOpenAIFileClient().UploadFileAsync(BinaryData.FromString("a,b\n1,2\n"), "data.csv", FileUploadPurpose.Assistants)).Value;
            var assistant = (await cluster.Assistants(1).CreateAssistantAsync("gpt-4o", new AssistantCreationOptions { Tools = { new CodeInterpreterToolDefinition() } })).Value;
            var thread = (await cluster.Assistants(0).CreateThreadAsync(new ThreadCreationOptions
            {
                ToolResources = new ToolResources { CodeInterpreter = new CodeInterpreterToolResources { FileIds = { file.Id } } },
            })).Value;
            return new Setup(model, cluster, thread.Id, assistant.Id, outputs);
        }

        /// <summary>Posts <paramref name="text"/> and runs it through node <paramref name="node"/>: the node whose sandbox ran the code, and its output.</summary>
        public async Task<(int Node, string Output)> AskAsync(int node, string text)
        {
            int before;
            lock (outputs)
            {
                before = outputs.Count;
            }
            await cluster.Assistants(node).CreateMessageAsync(threadId, MessageRole.User, [MessageContent.FromText(text)]);
            var run = (await cluster.Assistants(node).CreateRunAsync(threadId, assistantId)).Value;
            var done = await cluster.EventuallyAsync("the run", async n =>
            {
                var current = (await cluster.Assistants(n).GetRunAsync(threadId, run.Id)).Value;
                return current.Status.IsTerminal ? current : null;
            }, Patience);
            Assert.True(done.Status == RunStatus.Completed, $"{text}: {done.Status} {done.LastError?.Message}");
            lock (outputs)
            {
                Assert.Equal(before + 1, outputs.Count);
                return outputs[^1];
            }
        }

        public async ValueTask DisposeAsync()
        {
            await cluster.DisposeAsync();
            await model.DisposeAsync();
        }
    }

    [SkippableFact]
    public async Task NodeHoldingTheSessionKilled_NextRunElsewhere_FreshSessionWithFiles_AndTheModelIsTold()
    {
        await using var setup = await Setup.StartAsync(output);

        var (owner, first) = await setup.AskAsync(0, "set");
        Assert.StartsWith("set\n[File written: sandbox:/mnt/data/made.txt", first, StringComparison.Ordinal);
        Assert.True(owner is 0 or 1, $"node {owner}");

        await setup.Cluster.KillAsync(owner);
        var survivor = 1 - owner;
        var (moved, reset) = await setup.AskAsync(survivor, "probe");
        Assert.Equal(survivor, moved);
        Assert.Equal(BubblewrapSandbox.SessionResetNotice + "\n['data.csv'] False", reset);
        var (_, settled) = await setup.AskAsync(survivor, "probe");
        Assert.Equal("['data.csv'] False", settled);
        Assert.Empty(setup.Model.UnexpectedCalls);
    }

    [SkippableFact]
    public async Task ThreadDeletedThroughAnotherNode_EndsTheSessionOnTheNodeHoldingIt()
    {
        await using var setup = await Setup.StartAsync(output);
        var (owner, first) = await setup.AskAsync(0, "set");
        Assert.StartsWith("set\n", first, StringComparison.Ordinal);
        var sessions = Path.Combine(setup.Cluster.SandboxRoot(owner), "sessions");
        Assert.NotEmpty(FilesWritten(sessions));

        var other = 1 - owner;
        var deleted = await setup.Cluster.Assistants(other).DeleteThreadAsync(setup.ThreadId);
        Assert.True(deleted.Value.Deleted);

        // The session (its kernel and /mnt/data) goes on the owner, not only where the delete was served; without the
        // broadcast it would stay for CodeInterpreter:IdleTimeout (an hour).
        await setup.Cluster.EventuallyAsync("the owner's session folder gone", _ =>
            Task.FromResult(FilesWritten(sessions).Count == 0 ? "gone" : null), TimeSpan.FromSeconds(30));
    }

    /// <summary>The made.txt files under a node's session folders (one per session that ran "set").</summary>
    private static List<string> FilesWritten(string sessions) =>
        Directory.Exists(sessions) ? [.. Directory.EnumerateFiles(sessions, "made.txt", SearchOption.AllDirectories)] : [];
}
