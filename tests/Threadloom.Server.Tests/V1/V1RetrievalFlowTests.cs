using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Threadloom.Server.Tests.FileSearch;
using Threadloom.Testing;

namespace Threadloom.Server.Tests.V1;

/// <summary>
/// Scenario 10 (the HR notebook) exactly as the seed sends it: AzureOpenAI at 2024-02-15-preview, the retrieval tool
/// and file_ids, three prompts on one thread, with the real ingestion and search. Every response and stream event is
/// checked against the v1 spec by <see cref="AzureV1Client"/>; the model is scripted to search, then cite what it saw.
/// </summary>
public sealed partial class V1RetrievalFlowTests
{
    private static readonly string[] Prompts =
    [
        "Can you list some company benefits? Can you provide a summary for requesting medical leave?",
        "Can you provide me a complete list of company benefits benefits?",
        "What is the 401k matching percentage?",
    ];

    private static readonly string[] HrFiles = ["HR/contoso-benefits.txt", "HR/contoso-401k.txt", "HR/contoso-medical_leave.txt"];

    /// <summary>Search with the user's question, then answer citing the first two passages shown.</summary>
    private static void ScriptSearchThenCite(FileSearchServer server)
    {
        var calls = 0;
        server.Model.RespondWith(request =>
        {
            var last = request.Messages[^1];
            if (last.GetProperty("role").GetString() == "tool")
            {
                var markers = MarkerPattern().Matches(last.GetProperty("content").ToString()).Select(m => m.Value).Distinct().Take(2).ToList();
                return Reply.Text("Here is what I found " + string.Join(" and ", markers) + ".", chunkSize: 7);
            }
            var question = request.LastUserText ?? "";
            return Reply.ToolCalls(new ScriptedToolCall("file_search", JsonSerializer.Serialize(new { queries = new[] { question } }), $"call_fs{++calls}"));
        });
    }

    private static async Task<(AzureV1Client Client, string AssistantId, string[] FileIds)> HrAssistantAsync(FileSearchServer server)
    {
        var client = new AzureV1Client(new Uri(server.Http.BaseAddress!, "/"));
        var fileIds = new string[HrFiles.Length];
        for (var i = 0; i < HrFiles.Length; i++)
        {
            fileIds[i] = await client.UploadAsync(Path.GetFileName(HrFiles[i]), await File.ReadAllBytesAsync(RepoPaths.ScenarioData(HrFiles[i])));
        }
        var assistant = await client.PostAsync("assistants", $$"""
            {"name":"HR Assistant","model":"gpt4-1106-fta-assistants",
             "instructions":"You HR support chatbot. Use your knowledge base to best respond to the employee queries. Be friendly, professional, and helpful. If you don't know the answer, please say, 'contact HR for more information.'",
             "tools":[{"type":"retrieval"}],"file_ids":{{JsonSerializer.Serialize(fileIds)}}}
            """);
        return (client, assistant["id"]!.GetValue<string>(), fileIds);
    }

    private static string Collapse(string text) => WhitespacePattern().Replace(text, " ").Trim();

    /// <summary>Each citation quotes a passage of the file it names.</summary>
    private static void AssertQuotesComeFromTheirFiles(JsonNode text, Dictionary<string, string> fileTexts)
    {
        var annotations = text["annotations"]!.AsArray();
        Assert.NotEmpty(annotations);
        foreach (var annotation in annotations)
        {
            var citation = annotation!["file_citation"]!;
            var quote = citation["quote"]?.GetValue<string>();
            Assert.False(string.IsNullOrWhiteSpace(quote), $"a v1 file_citation needs its quote: {annotation.ToJsonString()}");
            var source = fileTexts[citation["file_id"]!.GetValue<string>()];
            var head = Collapse(quote!);
            Assert.Contains(head[..Math.Min(60, head.Length)], source, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task Issue10_HrNotebookV1_RepliesStepsAndRunsParseAsV1()
    {
        await using var server = await FileSearchServer.StartAsync();
        ScriptSearchThenCite(server);
        var (client, assistantId, fileIds) = await HrAssistantAsync(server);
        using var _ = client;
        var fileTexts = fileIds.Zip(HrFiles).ToDictionary(p => p.First, p => Collapse(File.ReadAllText(RepoPaths.ScenarioData(p.Second))));

        var thread = (await client.PostAsync("threads"))["id"]!.GetValue<string>();
        foreach (var prompt in Prompts)
        {
            await client.PostAsync($"threads/{thread}/messages", JsonSerializer.Serialize(new { role = "user", content = "Today is: 2024-02-20 10:00\n\n" + prompt }));
            var created = await client.PostAsync($"threads/{thread}/runs", $$"""{"assistant_id":"{{assistantId}}"}""");
            Assert.Equal(fileIds, created["file_ids"]!.AsArray().Select(f => f!.GetValue<string>()));
            var run = await client.WaitForRunAsync(thread, created["id"]!.GetValue<string>());
            Assert.True(run["status"]!.GetValue<string>() == "completed", run.ToJsonString());
            Assert.Equal(fileIds, run["file_ids"]!.AsArray().Select(f => f!.GetValue<string>()));
            Assert.Equal("retrieval", run["tools"]![0]!["type"]!.GetValue<string>());

            var steps = await client.GetAsync($"threads/{thread}/runs/{run["id"]}/steps?order=asc");
            var call = steps["data"]![0]!["step_details"]!["tool_calls"]![0]!.AsObject();
            Assert.Equal("retrieval", call["type"]!.GetValue<string>());
            Assert.Empty(call["retrieval"]!.AsObject());
            Assert.False(call.ContainsKey("file_search"));
            var single = await client.GetAsync($"threads/{thread}/runs/{run["id"]}/steps/{steps["data"]![0]!["id"]}");
            Assert.Equal("retrieval", single["step_details"]!["tool_calls"]![0]!["type"]!.GetValue<string>());

            // What the notebook reads: messages.list(thread).data[0].content[0].text.value.
            var reply = (await client.GetAsync($"threads/{thread}/messages"))["data"]![0]!;
            Assert.Equal("assistant", reply["role"]!.GetValue<string>());
            var text = reply["content"]![0]!["text"]!;
            Assert.StartsWith("Here is what I found 【", text["value"]!.GetValue<string>(), StringComparison.Ordinal);
            AssertQuotesComeFromTheirFiles(text, fileTexts);
            Assert.Empty(reply["file_ids"]!.AsArray());
        }
        Assert.True(client.Checked >= 30, $"only {client.Checked} bodies were checked against the v1 spec");
    }

    [Fact]
    public async Task Issue10_HrNotebookV1_StreamedStepDeltasAreRetrievalAndCitationsQuote()
    {
        await using var server = await FileSearchServer.StartAsync();
        ScriptSearchThenCite(server);
        var (client, assistantId, fileIds) = await HrAssistantAsync(server);
        using var _ = client;
        var fileTexts = fileIds.Zip(HrFiles).ToDictionary(p => p.First, p => Collapse(File.ReadAllText(RepoPaths.ScenarioData(p.Second))));

        var events = await client.StreamAsync("threads/runs", JsonSerializer.Serialize(new
        {
            assistant_id = assistantId,
            stream = true,
            thread = new { messages = new[] { new { role = "user", content = Prompts[2] } } },
        }));

        Assert.Equal("thread.created", events[0].Event);
        Assert.False(events[0].Data!.AsObject().ContainsKey("tool_resources"));
        Assert.Equal("done", events[^1].Event);
        Assert.Equal("thread.run.completed", events[^2].Event);
        Assert.Equal(fileIds, events[^2].Data!["file_ids"]!.AsArray().Select(f => f!.GetValue<string>()));
        var stepDelta = events.First(e => e.Event == "thread.run.step.delta").Data!;
        var call = stepDelta["delta"]!["step_details"]!["tool_calls"]![0]!.AsObject();
        Assert.Equal("retrieval", call["type"]!.GetValue<string>());
        Assert.Equal(0, call["index"]!.GetValue<int>());
        Assert.False(call.ContainsKey("file_search"));
        var completedStep = events.First(e => e.Event == "thread.run.step.completed").Data!;
        Assert.Equal("retrieval", completedStep["step_details"]!["tool_calls"]![0]!["type"]!.GetValue<string>());

        var cited = events.Where(e => e.Event == "thread.message.delta")
            .SelectMany(e => e.Data!["delta"]!["content"]![0]!["text"]!["annotations"]!.AsArray())
            .ToList();
        Assert.NotEmpty(cited);
        Assert.All(cited, a => Assert.False(string.IsNullOrWhiteSpace(a!["file_citation"]!["quote"]?.GetValue<string>())));
        var completed = events.Single(e => e.Event == "thread.message.completed").Data!;
        Assert.False(completed.AsObject().ContainsKey("attachments"));
        AssertQuotesComeFromTheirFiles(completed["content"]![0]!["text"]!, fileTexts);
        Assert.True(client.Checked >= events.Count, "every stream event was checked against the v1 spec");
    }

    [GeneratedRegex(@"【[0-9]+:[0-9]+†[^】\n]*】")]
    private static partial Regex MarkerPattern();

    [GeneratedRegex(@"\s+")]
    private static partial Regex WhitespacePattern();
}
