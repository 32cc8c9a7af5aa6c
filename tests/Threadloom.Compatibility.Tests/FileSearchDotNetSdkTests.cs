using System.ClientModel;
using System.Text;
using System.Text.RegularExpressions;
using OpenAI;
using OpenAI.Assistants;
using OpenAI.Files;
using OpenAI.VectorStores;
using Threadloom.Testing;

namespace Threadloom.Compatibility.Tests;

/// <summary>
/// Scenario 10 (HR bot) through the official .NET SDK: files, a vector store, an assistant with file_search and a
/// streamed run whose citations arrive as SDK annotation updates. Real ingestion (MiniLM), scripted model.
/// </summary>
public sealed partial class FileSearchDotNetSdkTests
{
    [Fact]
    public async Task Scenario10_StreamedRun_CitesBothConflictingPassagesAndDropsTheInventedMarker()
    {
        await using var server = await RunsServer.StartAsync();
        var openAI = new OpenAIClient(new ApiKeyCredential("sdk-key"), new OpenAIClientOptions { Endpoint = server.Server.OpenAIEndpoint });
        var files = openAI.GetOpenAIFileClient();
        var vectorStores = openAI.GetVectorStoreClient();
        var client = server.Assistants();

        var ids = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var name in new[] { "contoso-benefits.txt", "contoso-401k.txt", "contoso-medical_leave.txt" })
        {
            await using var content = File.OpenRead(RepoPaths.ScenarioData("HR/" + name));
            ids[name] = (await files.UploadFileAsync(content, name, FileUploadPurpose.Assistants)).Value.Id;
        }
        var store = (await vectorStores.CreateVectorStoreAsync(new VectorStoreCreationOptions { Name = "HR", FileIds = { ids["contoso-benefits.txt"], ids["contoso-401k.txt"], ids["contoso-medical_leave.txt"] } })).Value;
        using (var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(5)))
        {
            while (store.Status == VectorStoreStatus.InProgress)
            {
                await Task.Delay(100, timeout.Token);
                store = (await vectorStores.GetVectorStoreAsync(store.Id, timeout.Token)).Value;
            }
        }
        Assert.Equal(VectorStoreStatus.Completed, store.Status);
        Assert.Equal((3, 3, 0, 0, 0), (store.FileCounts.Total, store.FileCounts.Completed, store.FileCounts.InProgress, store.FileCounts.Failed, store.FileCounts.Cancelled));
        Assert.True(store.UsageBytes > 0);
        Assert.NotNull(store.LastActiveAt);
        var storeFile = (await vectorStores.GetVectorStoreFileAsync(store.Id, ids["contoso-401k.txt"])).Value;
        Assert.Equal(VectorStoreFileStatus.Completed, storeFile.Status);
        Assert.Null(storeFile.LastError);
        Assert.True(storeFile.UsageInBytes > 0);
        var chunking = Assert.IsType<StaticFileChunkingStrategy>(storeFile.ChunkingStrategy);
        Assert.Equal((800, 400), (chunking.MaxTokensPerChunk, chunking.OverlappingTokenCount));

        var assistant = (await client.CreateAssistantAsync("gpt4-1106-fta-assistants", new AssistantCreationOptions
        {
            Name = "HR Assistant",
            Instructions = "You HR support chatbot. Use your knowledge base to best respond to the employee queries.",
            Tools = { new FileSearchToolDefinition() },
            ToolResources = new ToolResources { FileSearch = new FileSearchToolResources { VectorStoreIds = { store.Id } } },
        })).Value;
        var thread = (await client.CreateThreadAsync(new ThreadCreationOptions { InitialMessages = { "What is the 401k matching percentage?" } })).Value;

        server.Model.Enqueue(Reply.ToolCalls(new ScriptedToolCall("file_search", """{"queries":["401k matching percentage"]}""", "call_fs")));
        server.Model.RespondWith(request =>
        {
            var output = request.Messages.Last(m => m.GetProperty("role").GetString() == "tool").GetProperty("content").ToString();
            var markers = MarkerPattern().Matches(output).Select(m => m.Value).ToList();
            var plan = markers.First(m => m.Contains("contoso-401k.txt", StringComparison.Ordinal));
            var overview = markers.First(m => m.Contains("contoso-benefits.txt", StringComparison.Ordinal));
            return Reply.Text($"The plan says up to 10% {plan}, the overview 50% up to 6% {overview}. Also 【7:7†made-up.txt】.", chunkSize: 5);
        });

        var text = new StringBuilder();
        var citations = new List<TextAnnotationUpdate>();
        var fileSearchStep = false;
        await using (var stream = await client.CreateRunStreamingAsync(thread.Id, assistant.Id))
        {
            await foreach (var update in stream)
            {
                switch (update)
                {
                    case MessageContentUpdate { TextAnnotation: { } annotation }:
                        citations.Add(annotation);
                        break;
                    case MessageContentUpdate content:
                        text.Append(content.Text);
                        break;
                    case RunStepDetailsUpdate details when details.ToolCallId == "call_fs":
                        fileSearchStep = true;
                        break;
                }
            }
        }

        Assert.True(fileSearchStep, "the file_search call was streamed as a step delta");
        var message = (await client.GetMessagesAsync(thread.Id, new MessageCollectionOptions { Order = MessageCollectionOrder.Descending }).FirstAsync()).Content[0];
        Assert.Equal(message.Text, text.ToString());
        Assert.DoesNotContain("made-up", message.Text, StringComparison.Ordinal);
        Assert.EndsWith("Also.", message.Text, StringComparison.Ordinal);

        Assert.Equal([ids["contoso-401k.txt"], ids["contoso-benefits.txt"]], citations.Select(c => c.InputFileId));
        Assert.Equal(message.TextAnnotations.Select(a => (a.InputFileId, a.StartIndex, a.EndIndex, a.TextToReplace)),
            citations.Select(c => (c.InputFileId, c.StartIndex ?? -1, c.EndIndex ?? -1, c.TextToReplace)));
        Assert.All(citations, c => Assert.Equal(c.TextToReplace, message.Text[(c.StartIndex ?? 0)..(c.EndIndex ?? 0)]));
    }

    [GeneratedRegex(@"【\d+:\d+†[^】]+】")]
    private static partial Regex MarkerPattern();
}
