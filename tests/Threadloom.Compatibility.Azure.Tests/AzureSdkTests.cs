using System.ClientModel;
using Azure.AI.OpenAI;
using OpenAI.Assistants;
using OpenAI.Files;

namespace Threadloom.Compatibility.Azure.Tests;

/// <summary>Azure.AI.OpenAI 2.9.0-beta.1, unchanged: <c>/openai/...?api-version=</c> with an <c>api-key</c> header.</summary>
public sealed class AzureSdkTests(ServerProcess server) : IClassFixture<ServerProcess>
{
    private AzureOpenAIClient Client() => new(server.BaseAddress, new ApiKeyCredential("azure-key"));

    [Fact]
    public async Task Assistants_ThreadsMessagesFiles()
    {
        var azure = Client();
        var client = azure.GetAssistantClient();
        var assistant = (await client.CreateAssistantAsync("gpt4-1106-fta-assistants", new AssistantCreationOptions
        {
            Name = "HR Assistant",
            Instructions = "You HR support chatbot.",
            Tools = { ToolDefinition.CreateFileSearch(), ToolDefinition.CreateCodeInterpreter() },
        })).Value;
        Assert.StartsWith("asst_", assistant.Id);
        Assert.Equal("HR Assistant", (await client.GetAssistantAsync(assistant.Id)).Value.Name);

        var thread = (await client.CreateThreadAsync()).Value;
        var message = (await client.CreateMessageAsync(thread.Id, MessageRole.User, [MessageContent.FromText("What is the 401k matching percentage?")])).Value;
        Assert.Equal(thread.Id, message.ThreadId);
        var texts = new List<string>();
        await foreach (var m in client.GetMessagesAsync(thread.Id))
        {
            texts.Add(m.Content[0].Text);
        }
        Assert.Equal(["What is the 401k matching percentage?"], texts);

        var files = azure.GetOpenAIFileClient();
        var uploaded = (await files.UploadFileAsync(new MemoryStream("Lodging,5000.00\n"u8.ToArray()), "airbnb_bills.csv", FileUploadPurpose.Assistants)).Value;
        Assert.StartsWith("file-", uploaded.Id);
        Assert.Equal("airbnb_bills.csv", (await files.GetFileAsync(uploaded.Id)).Value.Filename);

        Assert.True((await client.DeleteThreadAsync(thread.Id)).Value.Deleted);
        Assert.True((await client.DeleteAssistantAsync(assistant.Id)).Value.Deleted);
        var error = await Assert.ThrowsAsync<ClientResultException>(() => client.GetAssistantAsync(assistant.Id));
        Assert.Equal(404, error.Status);
    }
}
