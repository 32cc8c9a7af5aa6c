using System.ClientModel;
using OpenAI;
using OpenAI.Assistants;
using OpenAI.Files;
using Threadloom.Testing;

namespace Threadloom.Compatibility.Tests;

/// <summary>
/// Issue #10 §2 through the official .NET SDK (OpenAI 2.15.0): image content, <c>MaxOutputTokenCount</c> and
/// <c>ToolConstraint</c> reach the model as the scripted upstream records them.
/// </summary>
public sealed class FieldsDotNetSdkTests
{
    /// <summary>A 1×1 PNG.</summary>
    private static readonly byte[] Png = Convert.FromBase64String("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==");

    [Fact]
    public async Task ImageFileContent_VisionUpload_ReachesTheModelAsDataUrlWithDetail()
    {
        await using var server = await RunsServer.StartAsync();
        server.Model.Enqueue(Reply.Text("One pixel."));
        var files = new OpenAIClient(new ApiKeyCredential("sdk-key"), new OpenAIClientOptions { Endpoint = server.Server.OpenAIEndpoint }).GetOpenAIFileClient();
        var uploaded = (await files.UploadFileAsync(BinaryData.FromBytes(Png), "pixel.png", FileUploadPurpose.Vision)).Value;
        var client = server.Assistants();
        var assistant = (await client.CreateAssistantAsync("gpt-4o")).Value;
        var thread = (await client.CreateThreadAsync()).Value;
        await client.CreateMessageAsync(thread.Id, MessageRole.User,
        [
            MessageContent.FromText("What is in these?"),
            MessageContent.FromImageFileId(uploaded.Id, MessageImageDetail.Low),
            MessageContent.FromImageUri(new Uri("https://example.com/cat.png"), MessageImageDetail.High),
        ]);

        var run = await PollAsync(client, (await client.CreateRunAsync(thread.Id, assistant.Id)).Value);

        Assert.Equal(RunStatus.Completed, run.Status);
        var images = Assert.Single(server.Model.ChatRequests).ImageParts;
        Assert.Equal(2, images.Count);
        Assert.Equal("data:image/png;base64," + Convert.ToBase64String(Png), images[0].GetProperty("url").GetString());
        Assert.Equal("low", images[0].GetProperty("detail").GetString());
        Assert.Equal("https://example.com/cat.png", images[1].GetProperty("url").GetString());
        Assert.Equal("high", images[1].GetProperty("detail").GetString());
    }

    [Fact]
    public async Task MaxOutputTokenCount_UpstreamIgnoresIt_RunIncompleteAtTheCap()
    {
        await using var server = await RunsServer.StartAsync();
        server.Model.Enqueue(Reply.Text(string.Join(' ', Enumerable.Range(0, 2000).Select(i => $"token{i}")), chunkSize: 50));
        var client = server.Assistants();
        var assistant = (await client.CreateAssistantAsync("gpt-4o")).Value;
        var thread = (await client.CreateThreadAsync(new ThreadCreationOptions { InitialMessages = { "Say a lot." } })).Value;

        var run = await PollAsync(client, (await client.CreateRunAsync(thread.Id, assistant.Id, new RunCreationOptions { MaxOutputTokenCount = 300 })).Value);

        Assert.Equal(RunStatus.Incomplete, run.Status);
        Assert.Equal(RunIncompleteReason.MaxOutputTokenCount, run.IncompleteDetails!.Reason);
        Assert.Equal(300, Assert.Single(server.Model.ChatRequests).MaxCompletionTokens);
        Assert.True(run.Usage!.OutputTokenCount <= 300);
    }

    [Fact]
    public async Task ToolConstraint_NamedFunction_HoldsUntilThatFunctionWasCalled()
    {
        await using var server = await RunsServer.StartAsync();
        server.Model.Enqueue(
            Reply.ToolCalls(new ScriptedToolCall("get_time", "{}", "call_time")),
            Reply.ToolCalls(new ScriptedToolCall("get_weather", "{}", "call_weather")),
            Reply.Text("Sunny at noon."));
        var client = server.Assistants();
        var weather = ToolDefinition.CreateFunction("get_weather", "Weather now.", BinaryData.FromString("""{"type":"object","properties":{}}"""));
        var time = ToolDefinition.CreateFunction("get_time", "Time now.", BinaryData.FromString("""{"type":"object","properties":{}}"""));
        var assistant = (await client.CreateAssistantAsync("gpt-4o", new AssistantCreationOptions { Tools = { weather, time } })).Value;
        var thread = (await client.CreateThreadAsync(new ThreadCreationOptions { InitialMessages = { "Weather?" } })).Value;

        var run = await PollAsync(client, (await client.CreateRunAsync(thread.Id, assistant.Id, new RunCreationOptions { ToolConstraint = new ToolConstraint(weather) })).Value);
        run = await PollAsync(client, (await client.SubmitToolOutputsToRunAsync(thread.Id, run.Id, [new ToolOutput("call_time", "noon")])).Value);
        run = await PollAsync(client, (await client.SubmitToolOutputsToRunAsync(thread.Id, run.Id, [new ToolOutput("call_weather", "sunny")])).Value);

        Assert.Equal(RunStatus.Completed, run.Status);
        var choices = server.Model.ChatRequests.Select(r => r.ToolChoice!.Value).ToList();
        Assert.Equal("get_weather", choices[0].GetProperty("function").GetProperty("name").GetString());
        Assert.Equal("get_weather", choices[1].GetProperty("function").GetProperty("name").GetString());
        Assert.Equal("auto", choices[2].GetString());
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
