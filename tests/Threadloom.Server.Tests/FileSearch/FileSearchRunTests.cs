using System.Text.Json;
using System.Text.RegularExpressions;
using Threadloom.Testing;

namespace Threadloom.Server.Tests.FileSearch;

public sealed partial class FileSearchRunTests
{
    private const string Include = "include[]=step_details.tool_calls[*].file_search.results[*].content";

    [Fact]
    public async Task Scenario10_HrBotV1Retrieval_SearchesBothConflictingPassagesAndCites()
    {
        await using var server = await FileSearchServer.StartAsync();
        var benefits = await server.UploadScenarioFileAsync("HR/contoso-benefits.txt");
        var k401 = await server.UploadScenarioFileAsync("HR/contoso-401k.txt");
        var leave = await server.UploadScenarioFileAsync("HR/contoso-medical_leave.txt");

        // The notebook's assistant: Assistants v1 through AzureOpenAI (retrieval + file_ids).
        using var v1 = new HttpRequestMessage(HttpMethod.Post, new Uri(server.Http.BaseAddress!, "/openai/assistants?api-version=2024-02-15-preview"))
        {
            Content = new StringContent($$"""
                {"name":"HR Assistant","model":"gpt4-1106-fta-assistants","instructions":"You HR support chatbot. Use your knowledge base to best respond to the employee queries.",
                 "tools":[{"type":"retrieval"}],"file_ids":["{{benefits}}","{{k401}}","{{leave}}"]}
                """, System.Text.Encoding.UTF8, "application/json"),
        };
        v1.Headers.Add("api-key", "azure-key");
        using var v1Response = await server.Http.SendAsync(v1);
        var v1Body = JsonDocument.Parse(await v1Response.Content.ReadAsStringAsync()).RootElement;
        Assert.True(v1Response.IsSuccessStatusCode, v1Body.ToString());
        Assert.Equal("retrieval", v1Body.GetProperty("tools")[0].GetProperty("type").GetString());
        Assert.Equal(3, v1Body.GetProperty("file_ids").GetArrayLength());
        var assistantId = v1Body.GetProperty("id").GetString()!;

        var assistant = await server.OkAsync(server.GetAsync($"assistants/{assistantId}"));
        var storeId = assistant.GetProperty("tool_resources").GetProperty("file_search").GetProperty("vector_store_ids")[0].GetString()!;
        var store = await server.WaitUntilDoneAsync($"vector_stores/{storeId}");
        Assert.Equal(3, store.GetProperty("file_counts").GetProperty("completed").GetInt32());

        server.Model.Enqueue(Reply.ToolCalls(new ScriptedToolCall("file_search", """{"queries":["401k matching percentage"]}""", "call_fs")));
        string? toolOutput = null;
        server.Model.RespondWith(request =>
        {
            toolOutput = request.Messages.Last(m => m.GetProperty("role").GetString() == "tool").GetProperty("content").ToString();
            var markers = MarkerPattern().Matches(toolOutput).Select(m => m.Value).Distinct().ToList();
            var k401Marker = markers.First(m => m.Contains("contoso-401k.txt", StringComparison.Ordinal));
            var benefitsMarker = markers.First(m => m.Contains("contoso-benefits.txt", StringComparison.Ordinal));
            return Reply.Text($"The 401k plan document says up to 10% {k401Marker}, but the benefits overview says 50% up to 6% {benefitsMarker}. Made up 【9:9†fake.txt】.");
        });

        var thread = (await server.OkAsync(server.PostAsync("threads", """{"messages":[{"role":"user","content":"What is the 401k matching percentage?"}]}"""))).GetProperty("id").GetString()!;
        var runId = (await server.OkAsync(server.PostAsync($"threads/{thread}/runs", $$"""{"assistant_id":"{{assistantId}}"}"""))).GetProperty("id").GetString()!;
        var run = await server.WaitForRunAsync(thread, runId);
        Assert.True(run.GetProperty("status").GetString() == "completed", run.ToString());

        // The model was offered file_search and got passages under markers.
        var offered = server.Model.ChatRequests[0].Body.GetProperty("tools").EnumerateArray().Select(t => t.GetProperty("function").GetProperty("name").GetString());
        Assert.Contains("file_search", offered);
        Assert.NotNull(toolOutput);
        Assert.Contains("【0:0†", toolOutput, StringComparison.Ordinal);

        var steps = await server.OkAsync(server.GetAsync($"threads/{thread}/runs/{runId}/steps?order=asc&{Include}"));
        var call = steps.GetProperty("data")[0].GetProperty("step_details").GetProperty("tool_calls")[0];
        Assert.Equal("file_search", call.GetProperty("type").GetString());
        Assert.Equal("call_fs", call.GetProperty("id").GetString());
        Assert.Equal(0, call.GetProperty("file_search").GetProperty("ranking_options").GetProperty("score_threshold").GetDouble());
        var results = call.GetProperty("file_search").GetProperty("results").EnumerateArray().ToList();
        string TextOf(JsonElement r) => r.GetProperty("content")[0].GetProperty("text").GetString()!;
        var fromPlan = results.Where(r => r.GetProperty("file_id").GetString() == k401).Select(TextOf).ToList();
        var fromBenefits = results.Where(r => r.GetProperty("file_id").GetString() == benefits).Select(TextOf).ToList();
        Assert.Contains(fromPlan, t => t.Contains("10%", StringComparison.Ordinal));
        Assert.Contains(fromBenefits, t => t.Contains("50%", StringComparison.Ordinal) && t.Contains("6%", StringComparison.Ordinal));
        Assert.All(results, r => Assert.InRange(r.GetProperty("score").GetDouble(), 0, 1));

        var plain = await server.OkAsync(server.GetAsync($"threads/{thread}/runs/{runId}/steps?order=asc"));
        var plainResults = plain.GetProperty("data")[0].GetProperty("step_details").GetProperty("tool_calls")[0].GetProperty("file_search").GetProperty("results");
        Assert.All(plainResults.EnumerateArray(), r => Assert.False(r.TryGetProperty("content", out _)));

        var message = (await server.OkAsync(server.GetAsync($"threads/{thread}/messages?limit=1"))).GetProperty("data")[0];
        var text = message.GetProperty("content")[0].GetProperty("text");
        var value = text.GetProperty("value").GetString()!;
        Assert.DoesNotContain("fake.txt", value, StringComparison.Ordinal);
        Assert.EndsWith("Made up.", value, StringComparison.Ordinal);
        var annotations = text.GetProperty("annotations").EnumerateArray().ToList();
        Assert.Equal(2, annotations.Count);
        Assert.Equal([k401, benefits], annotations.Select(a => a.GetProperty("file_citation").GetProperty("file_id").GetString()));
        foreach (var a in annotations)
        {
            Assert.Equal("file_citation", a.GetProperty("type").GetString());
            var start = a.GetProperty("start_index").GetInt32();
            var end = a.GetProperty("end_index").GetInt32();
            Assert.Equal(a.GetProperty("text").GetString(), value[start..end]);
        }
    }

    [Fact]
    public async Task Streaming_FileSearchRun_SendsStepDeltaAndCitationsWithTheirMarkerText_NeverInventedMarkers()
    {
        await using var server = await FileSearchServer.StartAsync();
        var k401 = await server.UploadScenarioFileAsync("HR/contoso-401k.txt");
        var assistant = (await server.OkAsync(server.PostAsync("assistants",
            $$$$$"""{"model":"gpt-test","tools":[{"type":"file_search","file_search":{"max_num_results":3}}],"tool_resources":{"file_search":{"vector_stores":[{"file_ids":["{{{{{k401}}}}}"]}]}}}"""))).GetProperty("id").GetString()!;
        var storeId = (await server.OkAsync(server.GetAsync($"assistants/{assistant}"))).GetProperty("tool_resources").GetProperty("file_search").GetProperty("vector_store_ids")[0].GetString()!;
        await server.WaitUntilDoneAsync($"vector_stores/{storeId}");
        // Three characters per model delta, so both markers arrive cut into pieces.
        server.Model.Enqueue(
            Reply.ToolCalls(new ScriptedToolCall("file_search", """{"queries":["employer match"]}""", "call_1")),
            Reply.Text("Up to 10% 【0:0†contoso-401k.txt】, not 4% 【3:1†invented.txt】. Ask HR.", chunkSize: 3));

        var thread = (await server.OkAsync(server.PostAsync("threads", """{"messages":[{"role":"user","content":"Match?"}]}"""))).GetProperty("id").GetString()!;
        using var request = new HttpRequestMessage(HttpMethod.Post, $"threads/{thread}/runs")
        {
            Content = new StringContent($$"""{"assistant_id":"{{assistant}}","stream":true}""", System.Text.Encoding.UTF8, "application/json"),
        };
        using var response = await server.Http.SendAsync(request);
        var events = (await response.Content.ReadAsStringAsync()).Split("\n\n", StringSplitOptions.RemoveEmptyEntries)
            .Select(block => (Name: block.Split('\n').First(l => l.StartsWith("event: ", StringComparison.Ordinal))[7..],
                Data: block.Split('\n').FirstOrDefault(l => l.StartsWith("data: ", StringComparison.Ordinal))?[6..] ?? ""))
            .ToList();

        var stepDelta = events.Where(e => e.Name == "thread.run.step.delta").Select(e => JsonDocument.Parse(e.Data).RootElement)
            .Select(d => d.GetProperty("delta").GetProperty("step_details").GetProperty("tool_calls")[0])
            .Single(c => c.GetProperty("type").GetString() == "file_search");
        Assert.Equal(0, stepDelta.GetProperty("index").GetInt32());
        Assert.True(stepDelta.GetProperty("file_search").GetProperty("results").GetArrayLength() is > 0 and <= 3);

        var deltas = events.Where(e => e.Name == "thread.message.delta")
            .Select(e => JsonDocument.Parse(e.Data).RootElement.GetProperty("delta").GetProperty("content")[0].GetProperty("text")).ToList();
        var streamed = string.Concat(deltas.Select(t => t.TryGetProperty("value", out var v) ? v.GetString() : ""));
        var stored = (await server.OkAsync(server.GetAsync($"threads/{thread}/messages?limit=1"))).GetProperty("data")[0].GetProperty("content")[0].GetProperty("text");
        Assert.Equal("Up to 10% 【0:0†contoso-401k.txt】, not 4%. Ask HR.", stored.GetProperty("value").GetString());
        Assert.Equal(stored.GetProperty("value").GetString(), streamed);
        Assert.DoesNotContain(deltas, t => t.TryGetProperty("value", out var v) && v.GetString()!.Contains('【', StringComparison.Ordinal) && !v.GetString()!.Contains('】', StringComparison.Ordinal));

        // The citation comes in the delta that carries its marker, as OpenAI streams it, indexed like the stored one.
        var cited = Assert.Single(deltas, t => t.GetProperty("annotations").GetArrayLength() > 0);
        Assert.Contains("【0:0†contoso-401k.txt】", cited.GetProperty("value").GetString(), StringComparison.Ordinal);
        var annotation = Assert.Single(cited.GetProperty("annotations").EnumerateArray());
        var storedAnnotation = Assert.Single(stored.GetProperty("annotations").EnumerateArray());
        Assert.Equal(0, annotation.GetProperty("index").GetInt32());
        Assert.Equal("file_citation", annotation.GetProperty("type").GetString());
        Assert.Equal(k401, annotation.GetProperty("file_citation").GetProperty("file_id").GetString());
        Assert.Equal("【0:0†contoso-401k.txt】", annotation.GetProperty("text").GetString());
        Assert.Equal(10, annotation.GetProperty("start_index").GetInt32());
        foreach (var field in new[] { "text", "start_index", "end_index" })
        {
            Assert.Equal(storedAnnotation.GetProperty(field).ToString(), annotation.GetProperty(field).ToString());
        }
        var completedAt = events.FindIndex(e => e.Name == "thread.message.completed");
        Assert.True(events.FindIndex(e => e.Name == "thread.message.delta" && e.Data.Contains("file_citation", StringComparison.Ordinal)) < completedAt);
    }

    [Fact]
    public async Task CreateRun_AssistantVectorStoreDeleted_Returns400()
    {
        await using var server = await FileSearchServer.StartAsync();
        var store = (await server.OkAsync(server.PostAsync("vector_stores", """{"name":"soon gone"}"""))).GetProperty("id").GetString()!;
        var assistant = (await server.OkAsync(server.PostAsync("assistants",
            $$$$$"""{"model":"gpt-test","tools":[{"type":"file_search"}],"tool_resources":{"file_search":{"vector_store_ids":["{{{{{store}}}}}"]}}}"""))).GetProperty("id").GetString()!;
        await server.OkAsync(server.DeleteAsync($"vector_stores/{store}"));
        var thread = (await server.OkAsync(server.PostAsync("threads", "{}"))).GetProperty("id").GetString()!;

        var (_, body) = await FileSearchServer.BadRequest(server.PostAsync($"threads/{thread}/runs", $$"""{"assistant_id":"{{assistant}}"}"""));
        Assert.Contains(store, body.GetProperty("error").GetProperty("message").GetString(), StringComparison.Ordinal);
        Assert.Equal(0, (await server.OkAsync(server.GetAsync($"threads/{thread}/runs"))).GetProperty("data").GetArrayLength());
    }

    [Fact]
    public async Task MessageAttachment_FileSearch_CreatesTheThreadStore()
    {
        await using var server = await FileSearchServer.StartAsync(extraArgs: ["--IngestionWorker:Enabled", "false"]);
        var file = await server.UploadAsync("notes.md", System.Text.Encoding.UTF8.GetBytes("# Notes\nThe office closes at 6pm."));
        var thread = (await server.OkAsync(server.PostAsync("threads", "{}"))).GetProperty("id").GetString()!;
        await server.OkAsync(server.PostAsync($"threads/{thread}/messages",
            $$"""{"role":"user","content":"see file","attachments":[{"file_id":"{{file}}","tools":[{"type":"file_search"}]}]}"""));

        var ids = (await server.OkAsync(server.GetAsync($"threads/{thread}"))).GetProperty("tool_resources").GetProperty("file_search").GetProperty("vector_store_ids");
        var storeId = Assert.Single(ids.EnumerateArray()).GetString()!;
        var storeFile = await server.OkAsync(server.GetAsync($"vector_stores/{storeId}/files/{file}"));
        Assert.Equal("in_progress", storeFile.GetProperty("status").GetString());
        Assert.Equal(7, (await server.OkAsync(server.GetAsync($"vector_stores/{storeId}"))).GetProperty("expires_after").GetProperty("days").GetInt32());

        // A second attachment goes to the same store.
        var second = await server.UploadAsync("more.md", System.Text.Encoding.UTF8.GetBytes("More notes."));
        await server.OkAsync(server.PostAsync($"threads/{thread}/messages",
            $$"""{"role":"user","content":"and this","attachments":[{"file_id":"{{second}}","tools":[{"type":"file_search"}]}]}"""));
        Assert.Equal(2, (await server.OkAsync(server.GetAsync($"vector_stores/{storeId}"))).GetProperty("file_counts").GetProperty("total").GetInt32());
    }

    [Fact]
    public async Task FileSearch_AttachmentStillIngesting_WaitsForItBeforeSearching()
    {
        // Ingestion embeds through the fake upstream model and is held until the run's file_search call has started:
        // a search that did not wait would find nothing.
        using var gate = new ManualResetEventSlim(false);
        await using var server = await FileSearchServer.StartAsync(null, false,
            ["--Embeddings:Provider", "default", "--Embeddings:Model", "text-embedding-3-small", "--Inference:RetryBaseDelay", "00:00:00.010"]);
        server.Model.EmbeddingFunction = text =>
        {
            if (text.StartsWith("opening-hours.txt", StringComparison.Ordinal))
            {
                gate.Wait(TimeSpan.FromSeconds(50));
            }
            return ScriptedModelServer.HashEmbedding(text, 16);
        };
        var file = await server.UploadAsync("opening-hours.txt", System.Text.Encoding.UTF8.GetBytes("The office closes at 6pm on Fridays."));
        var assistant = (await server.OkAsync(server.PostAsync("assistants", """{"model":"gpt-4o","tools":[{"type":"file_search"}]}"""))).GetProperty("id").GetString()!;
        var thread = (await server.OkAsync(server.PostAsync("threads",
            $$"""{"messages":[{"role":"user","content":"When does the office close on Fridays?","attachments":[{"file_id":"{{file}}","tools":[{"type":"file_search"}]}]}]}"""))).GetProperty("id").GetString()!;
        server.Model.Enqueue(Reply.ToolCalls(new ScriptedToolCall("file_search", """{"queries":["office closing time Friday"]}""", "call_fs")));
        server.Model.Enqueue(Reply.Text("It closes at 6pm."));

        var runId = (await server.OkAsync(server.PostAsync($"threads/{thread}/runs", $$"""{"assistant_id":"{{assistant}}"}"""))).GetProperty("id").GetString()!;
        for (var i = 0; i < 200 && (await server.OkAsync(server.GetAsync($"threads/{thread}/runs/{runId}/steps"))).GetProperty("data").GetArrayLength() == 0; i++)
        {
            await Task.Delay(50);
        }
        await Task.Delay(300); // the file_search call is running now (its step exists); let a search that does not wait finish first
        gate.Set();
        var run = await server.WaitForRunAsync(thread, runId);

        Assert.Equal("completed", run.GetProperty("status").GetString());
        var steps = await server.OkAsync(server.GetAsync($"threads/{thread}/runs/{runId}/steps?{Include}"));
        var search = steps.GetProperty("data").EnumerateArray().Select(s => s.GetProperty("step_details"))
            .Where(d => d.GetProperty("type").GetString() == "tool_calls").SelectMany(d => d.GetProperty("tool_calls").EnumerateArray())
            .Single(c => c.GetProperty("type").GetString() == "file_search");
        var result = Assert.Single(search.GetProperty("file_search").GetProperty("results").EnumerateArray());
        Assert.Equal(file, result.GetProperty("file_id").GetString());
    }

    [GeneratedRegex(@"【\d+:\d+†[^】]+】")]
    private static partial Regex MarkerPattern();
}
