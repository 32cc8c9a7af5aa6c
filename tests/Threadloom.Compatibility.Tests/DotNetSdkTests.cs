using System.ClientModel;
using OpenAI;
using OpenAI.Assistants;
using OpenAI.Files;
using Threadloom.Testing;

namespace Threadloom.Compatibility.Tests;

public sealed class ServerFixture : IAsyncLifetime
{
    public ThreadloomServer Server { get; private set; } = null!;

    public async Task InitializeAsync() => Server = await ThreadloomServer.StartAsync();

    public async Task DisposeAsync() => await Server.DisposeAsync();

    public OpenAIClient OpenAI() => new(new ApiKeyCredential("sdk-key"), new OpenAIClientOptions { Endpoint = Server.OpenAIEndpoint });
}

/// <summary>The official .NET SDK (OpenAI 2.15.0) unchanged, against a running server.</summary>
public sealed class DotNetSdkTests(ServerFixture fixture) : IClassFixture<ServerFixture>
{
    [Fact]
    public async Task Assistants_CreateListModifyDelete()
    {
        var client = fixture.OpenAI().GetAssistantClient();
        var created = (await client.CreateAssistantAsync("gpt-4o", new AssistantCreationOptions
        {
            Name = "Math Tutor",
            Instructions = "You are a personal math tutor. Write and run code to answer math questions.",
            Tools = { ToolDefinition.CreateCodeInterpreter(), ToolDefinition.CreateFileSearch(7), ToolDefinition.CreateFunction("get_stock_price", "price", BinaryData.FromString("""{"type":"object","properties":{"symbol":{"type":"string"}}}""")) },
            Metadata = { ["team"] = "math" },
            Temperature = 0.3f,
        })).Value;
        Assert.StartsWith("asst_", created.Id);
        Assert.Equal("Math Tutor", created.Name);
        Assert.Equal(3, created.Tools.Count);
        Assert.IsType<CodeInterpreterToolDefinition>(created.Tools[0]);
        Assert.Equal(7, Assert.IsType<FileSearchToolDefinition>(created.Tools[1]).MaxResults);
        Assert.Equal("get_stock_price", Assert.IsType<FunctionToolDefinition>(created.Tools[2]).FunctionName);
        Assert.Equal("math", created.Metadata["team"]);
        Assert.Equal(0.3f, created.Temperature!.Value, 3);

        var modified = (await client.ModifyAssistantAsync(created.Id, new AssistantModificationOptions { Name = "Algebra Tutor" })).Value;
        Assert.Equal("Algebra Tutor", modified.Name);
        Assert.Equal(created.Instructions, modified.Instructions);

        var listed = new List<string>();
        await foreach (var a in client.GetAssistantsAsync())
        {
            listed.Add(a.Id);
        }
        Assert.Contains(created.Id, listed);

        Assert.True((await client.DeleteAssistantAsync(created.Id)).Value.Deleted);
        var error = await Assert.ThrowsAsync<ClientResultException>(() => client.GetAssistantAsync(created.Id));
        Assert.Equal(404, error.Status);
    }

    [Fact]
    public async Task ThreadsAndMessages_WithPagination()
    {
        var client = fixture.OpenAI().GetAssistantClient();
        var thread = (await client.CreateThreadAsync(new ThreadCreationOptions { InitialMessages = { "I need to solve the equation `3x + 11 = 14`. Can you help me?" }, Metadata = { ["user"] = "jane" } })).Value;
        Assert.StartsWith("thread_", thread.Id);
        for (var i = 0; i < 25; i++)
        {
            await client.CreateMessageAsync(thread.Id, MessageRole.User, [MessageContent.FromText($"message {i}")]);
        }
        var texts = new List<string>();
        await foreach (var message in client.GetMessagesAsync(thread.Id, new MessageCollectionOptions { Order = MessageCollectionOrder.Ascending, PageSizeLimit = 10 }))
        {
            texts.Add(message.Content[0].Text);
        }
        Assert.Equal(26, texts.Count);
        Assert.StartsWith("I need to solve", texts[0]);
        Assert.Equal("message 24", texts[^1]);

        var modified = (await client.ModifyThreadAsync(thread.Id, new ThreadModificationOptions { Metadata = { ["user"] = "john" } })).Value;
        Assert.Equal("john", modified.Metadata["user"]);
        Assert.True((await client.DeleteThreadAsync(thread.Id)).Value.Deleted);
    }

    [Fact]
    public async Task Files_UploadDownloadDelete()
    {
        var files = fixture.OpenAI().GetOpenAIFileClient();
        var csv = await File.ReadAllBytesAsync(RepoPaths.ScenarioData("finance/fta-portfolio.csv"));
        var uploaded = (await files.UploadFileAsync(new MemoryStream(csv), "fta-portfolio.csv", FileUploadPurpose.Assistants)).Value;
        Assert.StartsWith("file-", uploaded.Id);
        Assert.Equal(csv.Length, uploaded.SizeInBytesLong);
        Assert.Equal("fta-portfolio.csv", uploaded.Filename);
        var downloaded = (await files.DownloadFileAsync(uploaded.Id)).Value;
        Assert.Equal(csv, downloaded.ToArray());
        var all = (await files.GetFilesAsync(FilePurpose.Assistants)).Value;
        Assert.Contains(all, f => f.Id == uploaded.Id);
        Assert.True((await files.DeleteFileAsync(uploaded.Id)).Value.Deleted);
    }
}
