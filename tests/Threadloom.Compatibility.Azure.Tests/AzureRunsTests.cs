using System.ClientModel;
using Azure.AI.OpenAI;
using OpenAI.Assistants;

namespace Threadloom.Compatibility.Azure.Tests;

/// <summary>
/// Runs through Azure.AI.OpenAI 2.9.0-beta.1 (<c>/openai/...?api-version=</c>, <c>api-key</c>) against the server
/// executable, whose model is <see cref="ModelResponder"/>: message text scripts it.
/// </summary>
public sealed class AzureRunsTests(ServerProcess server) : IClassFixture<ServerProcess>
{
    private AssistantClient Client() => new AzureOpenAIClient(server.BaseAddress, new ApiKeyCredential("azure-key")).GetAssistantClient();

    [Fact]
    public async Task CreateRun_Polling_Completes()
    {
        var client = Client();
        var assistant = (await client.CreateAssistantAsync("gpt4-1106-fta-assistants", new AssistantCreationOptions { Name = "Math Tutor" })).Value;
        var thread = (await client.CreateThreadAsync(new ThreadCreationOptions { InitialMessages = { "Solve 3x + 11 = 14." } })).Value;

        var run = await PollAsync(client, (await client.CreateRunAsync(thread.Id, assistant.Id,
            new RunCreationOptions { InstructionsOverride = "Please address the user as Jane Doe." })).Value);

        Assert.Equal(RunStatus.Completed, run.Status);
        Assert.Equal("Please address the user as Jane Doe.", run.Instructions);
        var messages = new List<ThreadMessage>();
        await foreach (var message in client.GetMessagesAsync(thread.Id))
        {
            messages.Add(message);
        }
        Assert.Equal("Echo: Solve 3x + 11 = 14.", messages[0].Content[0].Text);
    }

    [Fact]
    public async Task FunctionCalling_RoundTrip_ThroughSubmitToolOutputs()
    {
        var client = Client();
        var assistant = (await client.CreateAssistantAsync("gpt4-1106-fta-assistants", new AssistantCreationOptions
        {
            Name = "fta-Securities Trading Assistant",
            Tools =
            {
                ToolDefinition.CreateFunction("get_stock_price", "Retrieve the latest closing price of a stock using its ticker symbol.",
                    BinaryData.FromString("""{"type":"object","properties":{"symbol":{"type":"string"}},"required":["symbol"]}""")),
            },
        })).Value;
        var thread = (await client.CreateThreadAsync(new ThreadCreationOptions
        {
            InitialMessages = { """CALL get_stock_price {"symbol":"MSFT"} | get_stock_price {"symbol":"NVDA"}""" },
        })).Value;

        var run = await PollAsync(client, (await client.CreateRunAsync(thread.Id, assistant.Id)).Value);
        Assert.Equal(RunStatus.RequiresAction, run.Status);
        Assert.Equal(["get_stock_price", "get_stock_price"], run.RequiredActions.Select(a => a.FunctionName).ToArray());
        Assert.Contains("NVDA", run.RequiredActions[1].FunctionArguments, StringComparison.Ordinal);

        var submitted = (await client.SubmitToolOutputsToRunAsync(thread.Id, run.Id,
            [new ToolOutput(run.RequiredActions[0].ToolCallId, "388.99"), new ToolOutput(run.RequiredActions[1].ToolCallId, "560.53")])).Value;
        Assert.True(submitted.Status == RunStatus.Queued || submitted.Status == RunStatus.InProgress, $"status after submit: {submitted.Status}");
        run = await PollAsync(client, submitted);

        Assert.Equal(RunStatus.Completed, run.Status);
        await foreach (var message in client.GetMessagesAsync(thread.Id))
        {
            Assert.Equal("Done: 388.99, 560.53", message.Content[0].Text);
            break;
        }
    }

    private static async Task<ThreadRun> PollAsync(AssistantClient client, ThreadRun run)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        while (!run.Status.IsTerminal && run.Status != RunStatus.RequiresAction)
        {
            await Task.Delay(20, timeout.Token);
            run = (await client.GetRunAsync(run.ThreadId, run.Id, timeout.Token)).Value;
        }
        return run;
    }
}
