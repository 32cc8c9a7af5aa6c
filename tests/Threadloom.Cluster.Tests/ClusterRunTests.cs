using System.ClientModel;
using OpenAI.Assistants;

namespace Threadloom.Cluster.Tests;

/// <summary>
/// Issue #12 §5: three server processes on one database, every request of a conversation on another node. Nodes 0 and
/// 1 execute runs; node 2 serves the API only (<c>Runs:Enabled=false</c>), so a stream or a tool-output submission on
/// node 2 always follows a run that another process executes. The lease is ten minutes, so no heartbeat can stand in
/// for an event or a cancel crossing nodes within the test.
/// </summary>
public sealed class ClusterRunTests(ITestOutputHelper output)
{
    private const int ApiOnly = 2;
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(90);

    /// <summary>Answers from the last message the model was sent (see the markers in the test).</summary>
    private static Reply Respond(ScriptedRequest request, Task hold)
    {
        var last = request.Messages[^1];
        if (last.GetProperty("role").GetString() == "tool")
        {
            var outputs = request.Messages.Reverse().TakeWhile(m => m.GetProperty("role").GetString() == "tool")
                .Select(m => m.GetProperty("content").ToString()).Reverse();
            return Reply.Text("Done: " + string.Join(", ", outputs), chunkSize: 3).WithDelayPerChunk(TimeSpan.FromMilliseconds(20));
        }
        var text = request.LastUserText ?? "";
        return text switch
        {
            _ when text.StartsWith("STREAM", StringComparison.Ordinal) =>
                Reply.Text("Streamed across nodes: " + text, chunkSize: 3).WithDelayPerChunk(TimeSpan.FromMilliseconds(20)),
            _ when text.StartsWith("WEATHER", StringComparison.Ordinal) =>
                Reply.ToolCalls(new ScriptedToolCall("get_weather", """{"city":"Paris"}""", "call_weather")),
            _ when text.StartsWith("HOLD", StringComparison.Ordinal) =>
                Reply.Text("This answer is never finished because the run is cancelled.", chunkSize: 2).HoldAfter(2, hold),
            _ => Reply.Text("Echo: " + text),
        };
    }

    [SkippableFact]
    public async Task ThreeNodes_RoundRobin_AssistantThreadStreamPollToolOutputsAndCancel_EachOnAnotherNode()
    {
        await using var model = await ScriptedModelServer.StartAsync();
        var hold = new TaskCompletionSource();
        model.RespondWith(request => Respond(request, hold.Task));
        await using var cluster = await Cluster.StartAsync(model, output, 3, node => node == ApiOnly
            ? ["--Runs:Enabled", "false", "--Runs:Lease", "00:10:00"]
            : ["--Runs:Lease", "00:10:00"]);
        try
        {
            // Assistant on node 0, thread on node 1.
            var assistant = (await cluster.Assistants(0).CreateAssistantAsync("gpt-4o", new AssistantCreationOptions
            {
                Name = "cluster",
                Instructions = "Answer briefly.",
                Tools =
                {
                    ToolDefinition.CreateFunction("get_weather", "The weather in a city.",
                        BinaryData.FromString("""{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}""")),
                },
            })).Value;
            var thread = (await cluster.Assistants(1).CreateThreadAsync(new ThreadCreationOptions { InitialMessages = { "STREAM hello from node 1" } })).Value;
            Assert.Equal(assistant.Id, (await cluster.Assistants(ApiOnly).GetAssistantAsync(assistant.Id)).Value.Id);

            // A run created and streamed on node 2, which executes nothing: every event crossed from another process.
            var (streamed, last, kinds) = await ReadAsync(cluster.Assistants(ApiOnly).CreateRunStreamingAsync(thread.Id, assistant.Id));
            Assert.NotNull(last);
            Assert.Equal(RunStatus.Completed, last.Status);
            Assert.Equal("Streamed across nodes: STREAM hello from node 1", streamed);
            Assert.True(kinds.Count(k => k == StreamingUpdateReason.MessageUpdated) > 3, "the text arrived in several deltas");
            Assert.Equal(StreamingUpdateReason.RunCompleted, kinds.Last(k => k != StreamingUpdateReason.Done));
            var executor = Cluster.NodeOf(Assert.Single(model.ChatRequests));
            Assert.True(executor is 0 or 1, $"the run was executed by node {executor}");
            // Polled from node 0 and listed from node 1: the same run and message.
            Assert.Equal(RunStatus.Completed, (await cluster.Assistants(0).GetRunAsync(thread.Id, last.Id)).Value.Status);
            var reply = await cluster.Assistants(1).GetMessagesAsync(thread.Id, new MessageCollectionOptions { Order = MessageCollectionOrder.Descending }).FirstAsync();
            Assert.Equal(streamed, reply.Content[0].Text);

            // Function calling: run created on node 0, polled on node 1, outputs submitted (and streamed) on node 2.
            await cluster.Assistants(ApiOnly).CreateMessageAsync(thread.Id, MessageRole.User, [MessageContent.FromText("WEATHER in Paris?")]);
            var toolRun = (await cluster.Assistants(0).CreateRunAsync(thread.Id, assistant.Id)).Value;
            var waiting = await cluster.EventuallyAsync("requires_action", async node =>
            {
                var run = (await cluster.Assistants(node).GetRunAsync(thread.Id, toolRun.Id)).Value;
                Assert.False(run.Status.IsTerminal, $"the tool run ended {run.Status}");
                return run.Status == RunStatus.RequiresAction ? run : null;
            }, Patience);
            var action = Assert.Single(waiting.RequiredActions);
            Assert.Equal(("get_weather", "call_weather"), (action.FunctionName, action.ToolCallId));
            var (afterTools, toolLast, _) = await ReadAsync(cluster.Assistants(ApiOnly).SubmitToolOutputsToRunStreamingAsync(thread.Id, toolRun.Id, [new ToolOutput(action.ToolCallId, "18 C and sunny")]));
            Assert.Equal("Done: 18 C and sunny", afterTools);
            Assert.Equal(RunStatus.Completed, toolLast?.Status);
            Assert.Equal(RunStatus.Completed, (await cluster.Assistants(1).GetRunAsync(thread.Id, toolRun.Id)).Value.Status);
            var toolCalls = model.ChatRequests.Skip(1).ToList();
            Assert.Equal(2, toolCalls.Count);
            Assert.All(toolCalls, r => Assert.True(Cluster.NodeOf(r) is 0 or 1));

            // Cancel through a node that does not execute the run. The lease (ten minutes) renews every 200 s, so only
            // the cross-node cancel can end the run while the test waits.
            await cluster.Assistants(1).CreateMessageAsync(thread.Id, MessageRole.User, [MessageContent.FromText("HOLD this one")]);
            var held = (await cluster.Assistants(ApiOnly).CreateRunAsync(thread.Id, assistant.Id)).Value;
            var holdCall = await cluster.EventuallyAsync("the held model call", _ =>
                Task.FromResult(model.ChatRequests.FirstOrDefault(r => r.LastUserText == "HOLD this one")), Patience);
            // The model call arriving is not the run's message existing: wait for the first chunks to be written, so
            // the cancel ends a message that was started (it raced the first delta before).
            await cluster.EventuallyAsync("the held run's message", async node =>
            {
                var newest = await cluster.Assistants(node).GetMessagesAsync(thread.Id, new MessageCollectionOptions { Order = MessageCollectionOrder.Descending }).FirstAsync();
                return newest.RunId == held.Id ? newest : null;
            }, Patience);
            var owner = Cluster.NodeOf(holdCall);
            Assert.True(owner is 0 or 1, $"the held run was executed by node {owner}");
            var other = 1 - owner;
            Assert.Equal(RunStatus.InProgress, (await cluster.Assistants(other).GetRunAsync(thread.Id, held.Id)).Value.Status);
            var cancelling = (await cluster.Assistants(other).CancelRunAsync(thread.Id, held.Id)).Value;
            Assert.True(cancelling.Status == RunStatus.Cancelling || cancelling.Status == RunStatus.Cancelled, cancelling.Status.ToString());
            var cancelled = await cluster.EventuallyAsync("cancelled", async node =>
            {
                var run = (await cluster.Assistants(node).GetRunAsync(thread.Id, held.Id)).Value;
                return run.Status == RunStatus.Cancelled ? run : null;
            }, Patience);
            Assert.NotNull(cancelled.CancelledAt);
            var partial = await cluster.Assistants(ApiOnly).GetMessagesAsync(thread.Id, new MessageCollectionOptions { Order = MessageCollectionOrder.Descending }).FirstAsync();
            Assert.Equal(held.Id, partial.RunId);
            Assert.Equal(MessageStatus.Incomplete, partial.Status);

            // The thread is free again; a last run created on node 1 completes, polled from node 2.
            await cluster.Assistants(0).CreateMessageAsync(thread.Id, MessageRole.User, [MessageContent.FromText("final question")]);
            var final = (await cluster.Assistants(1).CreateRunAsync(thread.Id, assistant.Id)).Value;
            var done = await cluster.EventuallyAsync("the final run", async node =>
            {
                var run = (await cluster.Assistants(node).GetRunAsync(thread.Id, final.Id)).Value;
                return run.Status.IsTerminal ? run : null;
            }, Patience);
            Assert.Equal(RunStatus.Completed, done.Status);
            Assert.Empty(model.UnexpectedCalls);
            // Every message, from every node, in the same order.
            var lists = new List<string[]>();
            for (var node = 0; node < cluster.Count; node++)
            {
                lists.Add([.. (await cluster.Assistants(node).GetMessagesAsync(thread.Id).ToListAsync()).Select(m => m.Id)]);
            }
            Assert.Equal(8, lists[0].Length);
            Assert.All(lists, l => Assert.Equal(lists[0], l));
        }
        finally
        {
            hold.TrySetResult();
        }
    }

    /// <summary>Reads a run's stream to its end: the message text it streamed, the last run it reported, and every update's kind.</summary>
    private static async Task<(string Text, ThreadRun? Last, List<StreamingUpdateReason> Kinds)> ReadAsync(Task<AsyncStreamingResult<StreamingUpdate>> starting)
    {
        var text = new StringBuilder();
        var kinds = new List<StreamingUpdateReason>();
        ThreadRun? last = null;
        await using var stream = await starting;
        await foreach (var update in stream)
        {
            kinds.Add(update.UpdateKind);
            switch (update)
            {
                case MessageContentUpdate content:
                    text.Append(content.Text);
                    break;
                case RunUpdate run:
                    last = run.Value;
                    break;
            }
        }
        return (text.ToString(), last, kinds);
    }
}
