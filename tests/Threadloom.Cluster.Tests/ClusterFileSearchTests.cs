using OpenAI.Assistants;
using OpenAI.Files;
using OpenAI.VectorStores;

namespace Threadloom.Cluster.Tests;

/// <summary>Issue #12 §5: file search on three nodes: files and the store made on one node, searched and used by a run on others.</summary>
public sealed class ClusterFileSearchTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(120);

    [SkippableFact]
    public async Task ThreeNodes_UploadAndStoreOnOneNode_SearchAndFileSearchRunOnOthers()
    {
        await using var model = await ScriptedModelServer.StartAsync();
        await using var cluster = await Cluster.StartAsync(model, output, 3);

        // Files and the vector store on node 0; their bytes live in the database (Storage:Blobs=database).
        var files = cluster.OpenAI(0).GetOpenAIFileClient();
        var texts = new Dictionary<string, string>
        {
            ["cafeteria.txt"] = "The Contoso cafeteria opens at 7:30 and closes at 15:00 on weekdays.",
            ["parking.txt"] = "Visitor parking is in garage B, level two, free for the first three hours.",
            ["holidays.txt"] = "Employees get twenty-five days of paid holiday a year, plus public holidays.",
        };
        var ids = new Dictionary<string, string>();
        foreach (var (name, text) in texts)
        {
            ids[name] = (await files.UploadFileAsync(BinaryData.FromString(text), name, FileUploadPurpose.Assistants)).Value.Id;
        }
        var store = (await cluster.OpenAI(0).GetVectorStoreClient().CreateVectorStoreAsync(new VectorStoreCreationOptions
        {
            Name = "handbook",
            FileIds = { ids["cafeteria.txt"], ids["parking.txt"], ids["holidays.txt"] },
        })).Value;

        // Polled on node 1 until every file is ingested (by whichever nodes claimed them).
        store = await cluster.EventuallyAsync("the store's ingestion", async node =>
        {
            var current = (await cluster.OpenAI(node).GetVectorStoreClient().GetVectorStoreAsync(store.Id)).Value;
            return current.Status == VectorStoreStatus.InProgress ? null : current;
        }, Patience);
        Assert.Equal((3, 3, 0), (store.FileCounts.Total, store.FileCounts.Completed, store.FileCounts.Failed));
        // The bytes uploaded on node 0 are served by node 2.
        Assert.Equal(texts["parking.txt"], (await cluster.OpenAI(2).GetOpenAIFileClient().DownloadFileAsync(ids["parking.txt"])).Value.ToString());

        // Search on node 2.
        using (var http = cluster.Http(2))
        {
            using var response = await http.PostAsync($"vector_stores/{store.Id}/search",
                new StringContent("""{"query":"where is visitor parking garage","max_num_results":2}""", Encoding.UTF8, "application/json"));
            var body = JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
            Assert.True(response.IsSuccessStatusCode, body.ToJsonString());
            Assert.Equal(ids["parking.txt"], body["data"]![0]!["file_id"]!.GetValue<string>());
        }

        // A file_search run: assistant on node 1, thread and run on node 2, polled on node 0.
        model.Enqueue(Reply.ToolCalls(new ScriptedToolCall("file_search", """{"queries":["cafeteria opening hours"]}""", "call_fs")));
        model.RespondWith(request =>
        {
            var tool = request.Messages.Last(m => m.GetProperty("role").GetString() == "tool").GetProperty("content").ToString();
            return Reply.Text(tool.Contains("7:30", StringComparison.Ordinal) ? "It opens at 7:30." : "The search found nothing.");
        });
        var assistant = (await cluster.Assistants(1).CreateAssistantAsync("gpt-4o", new AssistantCreationOptions
        {
            Tools = { new FileSearchToolDefinition() },
            ToolResources = new ToolResources { FileSearch = new FileSearchToolResources { VectorStoreIds = { store.Id } } },
        })).Value;
        var started = (await cluster.Assistants(2).CreateThreadAndRunAsync(assistant.Id,
            new ThreadCreationOptions { InitialMessages = { "When does the cafeteria open?" } })).Value;
        var run = await cluster.EventuallyAsync("the file search run", async node =>
        {
            var current = (await cluster.Assistants(node).GetRunAsync(started.ThreadId, started.Id)).Value;
            return current.Status.IsTerminal ? current : null;
        }, Patience);
        Assert.Equal(RunStatus.Completed, run.Status);
        var answer = await cluster.Assistants(0).GetMessagesAsync(started.ThreadId, new MessageCollectionOptions { Order = MessageCollectionOrder.Descending }).FirstAsync();
        Assert.StartsWith("It opens at 7:30.", answer.Content[0].Text, StringComparison.Ordinal);
        var step = (await cluster.Assistants(1).GetRunStepsAsync(started.ThreadId, started.Id).ToListAsync())
            .Single(s => s.Kind == RunStepKind.ToolCall);
        Assert.Equal("call_fs", Assert.Single(step.Details.ToolCalls).Id);
        Assert.Empty(model.UnexpectedCalls);
    }
}
