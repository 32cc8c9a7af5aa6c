using System.ClientModel;
using System.Net;
using System.Text;
using System.Text.Json;
using OpenAI.Assistants;
using Threadloom.Testing;

namespace Threadloom.Compatibility.Tests;

/// <summary>
/// Runs through the official .NET SDK (OpenAI 2.15.0, <see cref="AssistantClient"/>) against a real server whose model
/// is a real <see cref="ScriptedModelServer"/>. Each test starts its own pair so it can script the model freely.
/// </summary>
public sealed class RunsDotNetSdkTests
{
    private static readonly string[] Symbols = ["MSFT", "NVDA", "AAPL", "NVO", "MELI", "TW", "TSLA"];
    private static readonly string[] Prices = ["388.99", "560.53", "182.52", "104.25", "1690.43", "68.41", "219.91"];

    [Fact]
    public async Task CreateRun_Polling_CompletesWithAssistantReply()
    {
        await using var server = await RunsServer.StartAsync();
        server.Model.Enqueue(Reply.Text("x = 1, Jane Doe."));
        var client = server.Assistants();
        var assistant = await CreateAssistantAsync(client);
        var thread = (await client.CreateThreadAsync(new ThreadCreationOptions { InitialMessages = { "Solve 3x + 11 = 14." } })).Value;

        var created = (await client.CreateRunAsync(thread.Id, assistant.Id)).Value;
        Assert.Equal(RunStatus.Queued, created.Status);
        var run = await PollAsync(client, created);

        Assert.Equal(RunStatus.Completed, run.Status);
        Assert.NotNull(run.CompletedAt);
        var messages = await ListMessagesAsync(client, thread.Id);
        Assert.Equal(MessageRole.Assistant, messages[0].Role);
        Assert.Equal(run.Id, messages[0].RunId);
        Assert.Equal("x = 1, Jane Doe.", messages[0].Content[0].Text);
        var steps = await ListStepsAsync(client, thread.Id, run.Id);
        var step = Assert.Single(steps);
        Assert.Equal(RunStepKind.CreatedMessage, step.Kind);
        Assert.Equal(RunStepStatus.Completed, step.Status);
    }

    [Fact]
    public async Task CreateRunStreaming_Text_UpdatesInOrderAndFinalText()
    {
        await using var server = await RunsServer.StartAsync();
        server.Model.Enqueue(Reply.Text("Hello from the stream.", chunkSize: 3));
        var client = server.Assistants();
        var assistant = await CreateAssistantAsync(client);
        var thread = (await client.CreateThreadAsync(new ThreadCreationOptions { InitialMessages = { "Hi" } })).Value;

        var kinds = new List<StreamingUpdateReason>();
        var text = new StringBuilder();
        ThreadRun? last = null;
        await using var stream = await client.CreateRunStreamingAsync(thread.Id, assistant.Id);
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

        Assert.Equal(
        [
            StreamingUpdateReason.RunCreated, StreamingUpdateReason.RunQueued, StreamingUpdateReason.RunInProgress,
            StreamingUpdateReason.RunStepCreated, StreamingUpdateReason.RunStepInProgress,
            StreamingUpdateReason.MessageCreated, StreamingUpdateReason.MessageInProgress, StreamingUpdateReason.MessageUpdated,
            StreamingUpdateReason.MessageCompleted, StreamingUpdateReason.RunStepCompleted, StreamingUpdateReason.RunCompleted,
        ], Collapse(kinds.Where(k => k != StreamingUpdateReason.Done)));
        Assert.True(kinds.Count(k => k == StreamingUpdateReason.MessageUpdated) > 1, "text arrives in several deltas");
        Assert.Equal("Hello from the stream.", text.ToString());
        Assert.Equal(RunStatus.Completed, last!.Status);
        Assert.Equal("Hello from the stream.", (await ListMessagesAsync(client, thread.Id))[0].Content[0].Text);
    }

    [Fact]
    public async Task CreateRun_InstructionsOverride_ReplacesAssistantInstructions()
    {
        await using var server = await RunsServer.StartAsync();
        server.Model.Enqueue(Reply.Text("Hello Jane Doe."));
        var client = server.Assistants();
        var assistant = await CreateAssistantAsync(client);
        var thread = (await client.CreateThreadAsync(new ThreadCreationOptions { InitialMessages = { "I need to solve the equation `3x + 11 = 14`. Can you help me?" } })).Value;
        const string Override = "Please address the user as Jane Doe. The user has a premium account.";

        var run = await PollAsync(client, (await client.CreateRunAsync(thread.Id, assistant.Id, new RunCreationOptions { InstructionsOverride = Override })).Value);

        Assert.Equal(RunStatus.Completed, run.Status);
        Assert.Equal(Override, run.Instructions);
        var system = Assert.Single(server.Model.ChatRequests).Messages[0];
        Assert.Equal("system", system.GetProperty("role").GetString());
        Assert.Equal(Override, system.GetProperty("content").GetString());
    }

    [Fact]
    public async Task Scenario04_SevenParallelCalls_ThenSendEmail_ThenFinalAnswer()
    {
        await using var server = await RunsServer.StartAsync();
        server.Model.Enqueue(
            Reply.ToolCalls([.. Symbols.Select((s, i) => new ScriptedToolCall("get_stock_price", $$"""{"symbol":"{{s}}"}""", $"call_price_{i}"))]),
            Reply.ToolCalls(new ScriptedToolCall("send_email", """{"to":"jane@contoso.com","content":"<html><body>Summary</body></html>"}""", "call_email")),
            Reply.Text("I have emailed the summary with today's closing prices."));
        var client = server.Assistants();
        var assistant = (await client.CreateAssistantAsync("gpt4-1106-fta-assistants", new AssistantCreationOptions
        {
            Name = "fta-Securities Trading Assistant",
            Instructions = "You are a personal securities trading assistant. Please be polite, professional, helpful, and friendly.",
            Tools =
            {
                ToolDefinition.CreateFunction("get_stock_price", "Retrieve the latest closing price of a stock using its ticker symbol.",
                    BinaryData.FromString("""{"type":"object","properties":{"symbol":{"type":"string"}},"required":["symbol"]}""")),
                ToolDefinition.CreateFunction("send_email", "Sends an email to a recipient(s).",
                    BinaryData.FromString("""{"type":"object","properties":{"to":{"type":"string"},"content":{"type":"string"}},"required":["to","content"]}""")),
            },
        })).Value;
        var thread = (await client.CreateThreadAsync()).Value;
        await client.CreateMessageAsync(thread.Id, MessageRole.User, [MessageContent.FromText("Today is: 2024-02-20 10:00\n\nSummarise the article and email it to jane@contoso.com.")]);

        var run = await PollAsync(client, (await client.CreateRunAsync(thread.Id, assistant.Id)).Value);
        Assert.Equal(RunStatus.RequiresAction, run.Status);
        Assert.Equal(7, run.RequiredActions.Count);
        Assert.All(run.RequiredActions, a => Assert.Equal("get_stock_price", a.FunctionName));
        Assert.Equal(Symbols, run.RequiredActions.Select(a => JsonDocument.Parse(a.FunctionArguments).RootElement.GetProperty("symbol").GetString()).ToArray());

        // The SDK sends every output as a JSON string.
        var outputs = run.RequiredActions.Select((a, i) => new ToolOutput(a.ToolCallId, Prices[i]));
        var submitted = (await client.SubmitToolOutputsToRunAsync(thread.Id, run.Id, outputs)).Value;
        Assert.True(submitted.Status == RunStatus.Queued || submitted.Status == RunStatus.InProgress, $"status after submit: {submitted.Status}");

        run = await PollAsync(client, submitted);
        Assert.Equal(RunStatus.RequiresAction, run.Status);
        var email = Assert.Single(run.RequiredActions);
        Assert.Equal("send_email", email.FunctionName);
        Assert.Equal("jane@contoso.com", JsonDocument.Parse(email.FunctionArguments).RootElement.GetProperty("to").GetString());
        run = await PollAsync(client, (await client.SubmitToolOutputsToRunAsync(thread.Id, run.Id, [new ToolOutput(email.ToolCallId, "Email sent")])).Value);

        Assert.Equal(RunStatus.Completed, run.Status);
        var messages = await ListMessagesAsync(client, thread.Id);
        Assert.Equal("I have emailed the summary with today's closing prices.", messages[0].Content[0].Text);
        var requests = server.Model.ChatRequests;
        Assert.Equal(3, requests.Count);
        var toolResults = requests[1].Messages.Where(m => m.GetProperty("role").GetString() == "tool").ToList();
        Assert.Equal(Prices, toolResults.Select(m => m.GetProperty("content").GetString()).ToArray());
        var steps = await ListStepsAsync(client, thread.Id, run.Id, ascending: true);
        Assert.Equal([RunStepKind.ToolCall, RunStepKind.ToolCall, RunStepKind.CreatedMessage], steps.Select(s => s.Kind).ToArray());
        Assert.Equal(Prices, steps[0].Details.ToolCalls.Select(c => c.FunctionOutput ?? "").ToArray());
    }

    [Fact]
    public async Task SubmitToolOutputs_RawJsonNumber_IsCoercedToString()
    {
        await using var server = await RunsServer.StartAsync();
        server.Model.Enqueue(Reply.ToolCalls(new ScriptedToolCall("get_stock_price", """{"symbol":"MSFT"}""", "call_msft")), Reply.Text("MSFT closed at 388.99."));
        var client = server.Assistants();
        var assistant = await CreateAssistantAsync(client, withPriceTool: true);
        var thread = (await client.CreateThreadAsync(new ThreadCreationOptions { InitialMessages = { "MSFT?" } })).Value;
        var run = await PollAsync(client, (await client.CreateRunAsync(thread.Id, assistant.Id)).Value);
        Assert.Equal(RunStatus.RequiresAction, run.Status);

        // As the scenario notebooks do (Python SDK, "output": 388.99): a JSON number, not a string.
        using var http = server.Server.CreateClient();
        using var response = await http.PostAsync($"threads/{thread.Id}/runs/{run.Id}/submit_tool_outputs",
            new StringContent("""{"tool_outputs":[{"tool_call_id":"call_msft","output":388.99}]}""", Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        run = await PollAsync(client, run, until: s => s.IsTerminal);

        Assert.Equal(RunStatus.Completed, run.Status);
        var toolStep = (await ListStepsAsync(client, thread.Id, run.Id, ascending: true))[0];
        Assert.Equal("388.99", Assert.Single(toolStep.Details.ToolCalls).FunctionOutput);
        var tool = server.Model.ChatRequests[1].Messages.Single(m => m.GetProperty("role").GetString() == "tool");
        Assert.Equal("388.99", tool.GetProperty("content").GetString());
    }

    [Fact]
    public async Task CancelRun_DuringSlowStream_StreamEndsCancelled()
    {
        await using var server = await RunsServer.StartAsync();
        server.Model.Enqueue(Reply.Text(new string('x', 400), chunkSize: 1).WithDelayPerChunk(TimeSpan.FromMilliseconds(25)));
        var client = server.Assistants();
        var assistant = await CreateAssistantAsync(client);
        var thread = (await client.CreateThreadAsync(new ThreadCreationOptions { InitialMessages = { "Talk a lot." } })).Value;

        var kinds = new List<StreamingUpdateReason>();
        var cancelRequested = false;
        ThreadRun? last = null;
        await using var stream = await client.CreateRunStreamingAsync(thread.Id, assistant.Id);
        await foreach (var update in stream)
        {
            kinds.Add(update.UpdateKind);
            if (update is RunUpdate run)
            {
                last = run.Value;
            }
            if (update is MessageContentUpdate && !cancelRequested)
            {
                cancelRequested = true;
                var cancel = (await client.CancelRunAsync(thread.Id, last!.Id)).Value;
                Assert.True(cancel.Status == RunStatus.Cancelling || cancel.Status == RunStatus.Cancelled, $"status after cancel: {cancel.Status}");
            }
        }

        Assert.True(cancelRequested);
        Assert.Equal(StreamingUpdateReason.RunCancelled, kinds.Last(k => k != StreamingUpdateReason.Done));
        Assert.Equal(RunStatus.Cancelled, last!.Status);
        Assert.True(kinds.Count(k => k == StreamingUpdateReason.MessageUpdated) < 400, "the model stream was cut short");
        var message = (await ListMessagesAsync(client, thread.Id))[0];
        Assert.Equal(MessageStatus.Incomplete, message.Status);
        Assert.Equal(RunStatus.Cancelled, (await client.GetRunAsync(thread.Id, last.Id)).Value.Status);
    }

    [Fact]
    public async Task RequiresAction_PastExpiresAt_ExpiresAndRejectsLateOutputs()
    {
        await using var server = await RunsServer.StartAsync(fakeClock: true);
        server.Model.Enqueue(Reply.ToolCalls(new ScriptedToolCall("get_stock_price", """{"symbol":"TSLA"}""", "call_tsla")));
        var client = server.Assistants();
        var assistant = await CreateAssistantAsync(client, withPriceTool: true);
        var thread = (await client.CreateThreadAsync(new ThreadCreationOptions { InitialMessages = { "TSLA?" } })).Value;
        var run = await PollAsync(client, (await client.CreateRunAsync(thread.Id, assistant.Id)).Value);
        Assert.Equal(RunStatus.RequiresAction, run.Status);
        Assert.Equal(run.CreatedAt.AddMinutes(10), run.ExpiresAt);

        server.Clock!.Advance(TimeSpan.FromMinutes(11));
        run = await PollAsync(client, run, until: s => s != RunStatus.RequiresAction);

        Assert.Equal(RunStatus.Expired, run.Status);
        var error = await Assert.ThrowsAsync<ClientResultException>(() => client.SubmitToolOutputsToRunAsync(thread.Id, run.Id, [new ToolOutput("call_tsla", "219.91")]));
        Assert.Equal(400, error.Status);
    }

    [Theory]
    [InlineData(500, "server_error")]
    [InlineData(429, "rate_limit_exceeded")]
    public async Task UpstreamError_FailsRunWithErrorCode(int upstreamStatus, string code)
    {
        await using var server = await RunsServer.StartAsync();
        server.Model.Enqueue(Reply.Error(upstreamStatus, "upstream says no"), Reply.Error(upstreamStatus, "upstream says no"));
        var client = server.Assistants();
        var assistant = await CreateAssistantAsync(client);
        var thread = (await client.CreateThreadAsync(new ThreadCreationOptions { InitialMessages = { "Hi" } })).Value;

        var run = await PollAsync(client, (await client.CreateRunAsync(thread.Id, assistant.Id)).Value);

        Assert.Equal(RunStatus.Failed, run.Status);
        Assert.Equal(new RunErrorCode(code), run.LastError.Code);
        Assert.False(string.IsNullOrEmpty(run.LastError.Message));
        Assert.NotNull(run.FailedAt);
        Assert.Empty(server.Model.UnexpectedCalls);
    }

    [Fact]
    public async Task TruncationLastMessages_ModelSeesOnlyTheNewest()
    {
        await using var server = await RunsServer.StartAsync();
        server.Model.Enqueue(Reply.Text("ok"));
        var client = server.Assistants();
        var assistant = await CreateAssistantAsync(client);
        var thread = (await client.CreateThreadAsync(new ThreadCreationOptions { InitialMessages = { "first", "second", "third" } })).Value;

        var run = await PollAsync(client, (await client.CreateRunAsync(thread.Id, assistant.Id,
            new RunCreationOptions { TruncationStrategy = RunTruncationStrategy.CreateLastMessagesStrategy(2) })).Value);

        Assert.Equal(RunStatus.Completed, run.Status);
        Assert.Equal(2, run.TruncationStrategy.LastMessages);
        var sent = Assert.Single(server.Model.ChatRequests).Messages.Where(m => m.GetProperty("role").GetString() != "system");
        Assert.Equal(["second", "third"], sent.Select(m => m.GetProperty("content") is { ValueKind: JsonValueKind.String } s
            ? s.GetString()! : string.Concat(m.GetProperty("content").EnumerateArray().Select(p => p.GetProperty("text").GetString()))).ToArray());
    }

    [Fact]
    public async Task ThreadLock_CreateMessageDuringActiveRun_Throws400()
    {
        await using var server = await RunsServer.StartAsync();
        server.Model.Enqueue(Reply.ToolCalls(new ScriptedToolCall("get_stock_price", """{"symbol":"AAPL"}""", "call_aapl")), Reply.Text("AAPL: 182.52"));
        var client = server.Assistants();
        var assistant = await CreateAssistantAsync(client, withPriceTool: true);
        var thread = (await client.CreateThreadAsync(new ThreadCreationOptions { InitialMessages = { "AAPL?" } })).Value;
        var run = await PollAsync(client, (await client.CreateRunAsync(thread.Id, assistant.Id)).Value);
        Assert.Equal(RunStatus.RequiresAction, run.Status);

        var error = await Assert.ThrowsAsync<ClientResultException>(() => client.CreateMessageAsync(thread.Id, MessageRole.User, [MessageContent.FromText("hello?")]));
        Assert.Equal(400, error.Status);
        Assert.Contains("while a run", error.Message, StringComparison.Ordinal);

        run = await PollAsync(client, (await client.SubmitToolOutputsToRunAsync(thread.Id, run.Id, [new ToolOutput("call_aapl", "182.52")])).Value);
        Assert.Equal(RunStatus.Completed, run.Status);
        await client.CreateMessageAsync(thread.Id, MessageRole.User, [MessageContent.FromText("thanks")]);
    }

    private static async Task<Assistant> CreateAssistantAsync(AssistantClient client, bool withPriceTool = false)
    {
        var options = new AssistantCreationOptions { Name = "Math Tutor", Instructions = "You are a personal math tutor. Write and run code to answer math questions." };
        if (withPriceTool)
        {
            options.Tools.Add(ToolDefinition.CreateFunction("get_stock_price", "Retrieve the latest closing price of a stock using its ticker symbol.",
                BinaryData.FromString("""{"type":"object","properties":{"symbol":{"type":"string"}},"required":["symbol"]}""")));
        }
        return (await client.CreateAssistantAsync("gpt-4o", options)).Value;
    }

    /// <summary>Polls as the notebooks do (faster): until terminal or <c>requires_action</c>, unless told otherwise.</summary>
    private static async Task<ThreadRun> PollAsync(AssistantClient client, ThreadRun run, Func<RunStatus, bool>? until = null)
    {
        until ??= s => s.IsTerminal || s == RunStatus.RequiresAction;
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        while (!until(run.Status))
        {
            await Task.Delay(20, timeout.Token);
            run = (await client.GetRunAsync(run.ThreadId, run.Id, timeout.Token)).Value;
        }
        return run;
    }

    private static async Task<List<ThreadMessage>> ListMessagesAsync(AssistantClient client, string threadId)
    {
        var messages = new List<ThreadMessage>();
        await foreach (var message in client.GetMessagesAsync(threadId))
        {
            messages.Add(message);
        }
        return messages;
    }

    private static async Task<List<RunStep>> ListStepsAsync(AssistantClient client, string threadId, string runId, bool ascending = false)
    {
        var steps = new List<RunStep>();
        var options = new RunStepCollectionOptions { Order = ascending ? RunStepCollectionOrder.Ascending : RunStepCollectionOrder.Descending };
        await foreach (var step in client.GetRunStepsAsync(threadId, runId, options))
        {
            steps.Add(step);
        }
        return steps;
    }

    /// <summary>Repeated delta updates collapse into one, so the order check does not depend on chunking.</summary>
    private static StreamingUpdateReason[] Collapse(IEnumerable<StreamingUpdateReason> kinds)
    {
        var result = new List<StreamingUpdateReason>();
        foreach (var kind in kinds)
        {
            if (result.Count == 0 || result[^1] != kind || kind is not (StreamingUpdateReason.MessageUpdated or StreamingUpdateReason.RunStepUpdated))
            {
                result.Add(kind);
            }
        }
        return [.. result];
    }
}
