using System.Net;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Threadloom.Core.Storage;
using Threadloom.Core.Tools.FileSearch;
using Threadloom.Server.Auth;
using Threadloom.Testing;

namespace Threadloom.Server.Tests.FileSearch;

public sealed class VectorStoreApiTests
{
    [Fact]
    public async Task CreateVectorStore_HrFiles_IngestsSearchesAndReportsState()
    {
        await using var server = await FileSearchServer.StartAsync();
        var benefits = await server.UploadScenarioFileAsync("HR/contoso-benefits.txt");
        var k401 = await server.UploadScenarioFileAsync("HR/contoso-401k.txt");
        var leave = await server.UploadScenarioFileAsync("HR/contoso-medical_leave.txt");

        var created = await server.OkAsync(server.PostAsync("vector_stores",
            $$$"""{"name":"HR","file_ids":["{{{benefits}}}","{{{k401}}}","{{{leave}}}"],"metadata":{"team":"hr"},"expires_after":{"anchor":"last_active_at","days":7} }"""));
        Assert.Equal("vector_store", created.GetProperty("object").GetString());
        Assert.Equal(3, created.GetProperty("file_counts").GetProperty("total").GetInt32());
        var id = created.GetProperty("id").GetString()!;
        Assert.StartsWith("vs_", id, StringComparison.Ordinal);

        var store = await server.WaitUntilDoneAsync($"vector_stores/{id}");
        Assert.Equal("completed", store.GetProperty("status").GetString());
        var counts = store.GetProperty("file_counts");
        Assert.Equal(3, counts.GetProperty("completed").GetInt32());
        Assert.Equal(0, counts.GetProperty("in_progress").GetInt32());
        Assert.Equal(0, counts.GetProperty("failed").GetInt32());
        Assert.True(store.GetProperty("usage_bytes").GetInt64() > 0);
        Assert.Equal(JsonValueKind.Number, store.GetProperty("last_active_at").ValueKind);
        Assert.Equal(7, store.GetProperty("expires_after").GetProperty("days").GetInt32());
        Assert.Equal("hr", store.GetProperty("metadata").GetProperty("team").GetString());

        var files = await server.OkAsync(server.GetAsync($"vector_stores/{id}/files?filter=completed"));
        Assert.Equal(3, files.GetProperty("data").GetArrayLength());
        var file = files.GetProperty("data")[0];
        Assert.Equal("vector_store.file", file.GetProperty("object").GetString());
        Assert.Equal(800, file.GetProperty("chunking_strategy").GetProperty("static").GetProperty("max_chunk_size_tokens").GetInt32());
        Assert.Equal(0, (await server.OkAsync(server.GetAsync($"vector_stores/{id}/files?filter=failed"))).GetProperty("data").GetArrayLength());

        var content = await server.OkAsync(server.GetAsync($"vector_stores/{id}/files/{k401}/content"));
        Assert.Equal("vector_store.file_content.page", content.GetProperty("object").GetString());
        Assert.Contains("401", string.Concat(content.GetProperty("data").EnumerateArray().Select(d => d.GetProperty("text").GetString())), StringComparison.Ordinal);

        var search = await server.OkAsync(server.PostAsync($"vector_stores/{id}/search", """{"query":"What is the 401k matching percentage?","max_num_results":5}"""));
        Assert.Equal("vector_store.search_results.page", search.GetProperty("object").GetString());
        var found = search.GetProperty("data").EnumerateArray().Select(r => r.GetProperty("file_id").GetString()).ToHashSet();
        Assert.Contains(k401, found);
        Assert.Contains(benefits, found);
        Assert.True(search.GetProperty("data").GetArrayLength() <= 5);
        Assert.Equal("What is the 401k matching percentage?", search.GetProperty("search_query")[0].GetString());

        // rewrite_query: the search runs on (and reports) the rewritten query, and still finds both passages.
        var rewritten = await server.OkAsync(server.PostAsync($"vector_stores/{id}/search",
            """{"query":"Hi! Can you please tell me what the 401k matching percentage is?","rewrite_query":true,"max_num_results":5}"""));
        Assert.Equal("401k matching percentage", rewritten.GetProperty("search_query")[0].GetString());
        var foundRewritten = rewritten.GetProperty("data").EnumerateArray().Select(r => r.GetProperty("file_id").GetString()).ToHashSet();
        Assert.Contains(k401, foundRewritten);
        Assert.Contains(benefits, foundRewritten);

        // Attributes filter the search.
        await server.OkAsync(server.PostAsync($"vector_stores/{id}/files/{k401}", """{"attributes":{"doc":"plan"}}"""));
        var filtered = await server.OkAsync(server.PostAsync($"vector_stores/{id}/search", """{"query":"401k match","filters":{"type":"eq","key":"doc","value":"plan"}}"""));
        Assert.All(filtered.GetProperty("data").EnumerateArray(), r => Assert.Equal(k401, r.GetProperty("file_id").GetString()));
        Assert.NotEqual(0, filtered.GetProperty("data").GetArrayLength());

        // Removing a file from the store keeps the file; deleting a file removes it from the store.
        var removed = await server.OkAsync(server.DeleteAsync($"vector_stores/{id}/files/{leave}"));
        Assert.Equal("vector_store.file.deleted", removed.GetProperty("object").GetString());
        await server.OkAsync(server.GetAsync($"files/{leave}"));
        await server.OkAsync(server.DeleteAsync($"files/{benefits}"));
        Assert.Equal(HttpStatusCode.NotFound, (await server.GetAsync($"vector_stores/{id}/files/{benefits}")).Status);
        var after = await server.OkAsync(server.GetAsync($"vector_stores/{id}"));
        Assert.Equal(1, after.GetProperty("file_counts").GetProperty("total").GetInt32());
        var rest = await server.OkAsync(server.PostAsync($"vector_stores/{id}/search", """{"query":"medical leave benefits 401k"}"""));
        Assert.All(rest.GetProperty("data").EnumerateArray(), r => Assert.Equal(k401, r.GetProperty("file_id").GetString()));

        var deleted = await server.OkAsync(server.DeleteAsync($"vector_stores/{id}"));
        Assert.True(deleted.GetProperty("deleted").GetBoolean());
        Assert.Equal(HttpStatusCode.NotFound, (await server.GetAsync($"vector_stores/{id}")).Status);
    }

    [Fact]
    public async Task Pptx_IngestedThroughTheApi_IsSearchableAndChunksCarryTheirSlideNumber()
    {
        await using var server = await FileSearchServer.StartAsync();
        // Each slide is long enough (~150 tokens of filler before its fact) that with 100-token chunks every chunk
        // holding a fact starts on that fact's slide, so its page number must be the slide number.
        static IReadOnlyList<string> Filler(string topic) =>
            [.. Enumerable.Range(1, 6).Select(i => $"Background point {i} about {topic}: the team reviewed the numbers again and agreed to keep the current approach for now.")];
        var pptx = OfficeFixtures.Presentation([
            ("Quarterly review", [.. Filler("revenue"), "Revenue grew twelve percent because the Oslo warehouse reopened."]),
            ("Hiring plan", [.. Filler("hiring"), "We will hire four platform engineers for the Tbilisi office."]),
            ("Risks", [.. Filler("risk"), "The Lisbon data centre lease ends in 2027 and must be renegotiated."]),
        ]);
        var pptxId = await server.UploadAsync("q3-review.pptx", pptx);
        var other = await server.UploadScenarioFileAsync("HR/contoso-benefits.txt");
        var id = (await server.OkAsync(server.PostAsync("vector_stores",
            $$$$"""{"file_ids":["{{{{pptxId}}}}","{{{{other}}}}"],"chunking_strategy":{"type":"static","static":{"max_chunk_size_tokens":100,"chunk_overlap_tokens":0}}}"""))).GetProperty("id").GetString()!;

        var store = await server.WaitUntilDoneAsync($"vector_stores/{id}");
        Assert.Equal(2, store.GetProperty("file_counts").GetProperty("completed").GetInt32());
        var file = await server.OkAsync(server.GetAsync($"vector_stores/{id}/files/{pptxId}"));
        Assert.True(file.GetProperty("usage_bytes").GetInt64() > 0);

        var search = await server.OkAsync(server.PostAsync($"vector_stores/{id}/search", """{"query":"When does the Lisbon data centre lease end?","max_num_results":3}"""));
        var hit = search.GetProperty("data")[0];
        Assert.Equal(pptxId, hit.GetProperty("file_id").GetString());
        Assert.Equal("q3-review.pptx", hit.GetProperty("filename").GetString());
        Assert.Contains("Lisbon data centre lease ends in 2027", hit.GetProperty("content")[0].GetProperty("text").GetString(), StringComparison.Ordinal);

        var project = await server.Services.GetRequiredService<IProjectStore>().GetOrCreateAsync(ApiKeys.DefaultProjectName, CancellationToken.None);
        var engine = server.Services.GetRequiredService<HybridFileSearch>();
        foreach (var (fact, slide) in new[] { ("Oslo", 1), ("Tbilisi", 2), ("Lisbon", 3) })
        {
            var results = await engine.SearchAsync(new FileSearchQuery(project.Id, [id], [fact], 50), CancellationToken.None);
            var holding = results.Where(r => r.FileId == pptxId && r.Text.Contains(fact, StringComparison.Ordinal)).ToList();
            Assert.NotEmpty(holding);
            Assert.All(holding, r => Assert.Equal(slide, r.PageNumber));
        }
    }

    [Fact]
    public async Task FileBatch_WhileIngesting_FileCountsAndEachFileStatusMove()
    {
        await using var server = await FileSearchServer.StartAsync();
        var text = System.Text.Encoding.UTF8.GetString(System.IO.File.ReadAllBytes(RepoPaths.ScenarioData("HR/contoso-benefits.txt")));
        var ids = new List<string>();
        for (var i = 0; i < 8; i++)
        {
            ids.Add(await server.UploadAsync($"benefits-{i}.txt", System.Text.Encoding.UTF8.GetBytes($"Copy {i}.\n{text}\n{text}")));
        }
        var store = (await server.OkAsync(server.PostAsync("vector_stores", """{"name":"progress"}"""))).GetProperty("id").GetString()!;
        var batch = (await server.OkAsync(server.PostAsync($"vector_stores/{store}/file_batches",
            "{\"file_ids\":[" + string.Join(",", ids.Select(f => $"\"{f}\"")) + "]}"))).GetProperty("id").GetString()!;

        // Poll until done: the counts must pass through states where some files are done and others are not, and a
        // file listed completed stays completed (files finish one by one, not all at the end).
        var seen = new HashSet<(int Completed, int InProgress)>();
        var completedBefore = new HashSet<string>();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(5));
        while (true)
        {
            var counts = (await server.OkAsync(server.GetAsync($"vector_stores/{store}/file_batches/{batch}"))).GetProperty("file_counts");
            var state = (counts.GetProperty("completed").GetInt32(), counts.GetProperty("in_progress").GetInt32());
            seen.Add(state);
            var files = (await server.OkAsync(server.GetAsync($"vector_stores/{store}/file_batches/{batch}/files?limit=100"))).GetProperty("data").EnumerateArray()
                .ToDictionary(f => f.GetProperty("id").GetString()!, f => f.GetProperty("status").GetString()!);
            Assert.All(completedBefore, id => Assert.Equal("completed", files[id]));
            completedBefore.UnionWith(files.Where(f => f.Value == "completed").Select(f => f.Key));
            if (state.Item2 == 0)
            {
                break;
            }
            await Task.Delay(20, timeout.Token);
        }
        Assert.Equal(8, completedBefore.Count);
        Assert.Contains(seen, s => s.Completed > 0 && s.InProgress > 0);
        Assert.True(seen.Select(s => s.Completed).Distinct().Count() >= 3, string.Join(" ", seen));
    }

    [Fact]
    public async Task FileBatch_BadFiles_FailWithTheirCodeWhileTheGoodFileCompletes()
    {
        await using var server = await FileSearchServer.StartAsync();
        var good = await server.UploadScenarioFileAsync("travel/flight_itinerary.txt");
        var binary = await server.UploadAsync("notes.txt", [0x00, 0x01, 0x02, 0xFF, 0xFE, 0x00, 0x10]);
        var corruptPdf = await server.UploadAsync("report.pdf", Encoding.ASCII.GetBytes("%PDF-1.7\n1 0 obj << /Type /Catalog >> garbage without xref"));
        var empty = await server.UploadAsync("empty.txt", []);
        var encryptedPdf = await server.UploadAsync("bands.pdf", PdfFixtures.Encrypted("Salary bands for 2027", "secret"));
        const long hugeSize = 200L * 1024 * 1024;
        var huge = await server.UploadAsync("one-line.txt", new RepeatedByteContent((byte)'a', hugeSize));
        Assert.Equal(hugeSize, (await server.OkAsync(server.GetAsync($"files/{huge}"))).GetProperty("bytes").GetInt64());
        var id = (await server.OkAsync(server.PostAsync("vector_stores", """{"name":"travel"}"""))).GetProperty("id").GetString()!;

        var batch = await server.OkAsync(server.PostAsync($"vector_stores/{id}/file_batches",
            $$"""{"file_ids":["{{good}}","{{binary}}","{{corruptPdf}}","{{empty}}","{{encryptedPdf}}","{{huge}}"]}"""));
        Assert.Equal("vector_store.files_batch", batch.GetProperty("object").GetString());
        Assert.StartsWith("vsfb_", batch.GetProperty("id").GetString(), StringComparison.Ordinal);
        var batchId = batch.GetProperty("id").GetString()!;

        var done = await server.WaitUntilDoneAsync($"vector_stores/{id}/file_batches/{batchId}");
        Assert.Equal(1, done.GetProperty("file_counts").GetProperty("completed").GetInt32());
        Assert.Equal(5, done.GetProperty("file_counts").GetProperty("failed").GetInt32());
        Assert.Equal("completed", done.GetProperty("status").GetString());

        string ErrorCode(JsonElement file) => file.GetProperty("last_error").GetProperty("code").GetString()!;
        Assert.Equal("unsupported_file", ErrorCode(await server.OkAsync(server.GetAsync($"vector_stores/{id}/files/{binary}"))));
        Assert.Equal("invalid_file", ErrorCode(await server.OkAsync(server.GetAsync($"vector_stores/{id}/files/{corruptPdf}"))));
        Assert.Equal("invalid_file", ErrorCode(await server.OkAsync(server.GetAsync($"vector_stores/{id}/files/{empty}"))));
        Assert.Equal("invalid_file", ErrorCode(await server.OkAsync(server.GetAsync($"vector_stores/{id}/files/{encryptedPdf}"))));
        var hugeFile = await server.OkAsync(server.GetAsync($"vector_stores/{id}/files/{huge}"));
        Assert.Equal("invalid_file", ErrorCode(hugeFile));
        Assert.Contains("larger than", hugeFile.GetProperty("last_error").GetProperty("message").GetString(), StringComparison.Ordinal);
        var ok = await server.OkAsync(server.GetAsync($"vector_stores/{id}/files/{good}"));
        Assert.Equal("completed", ok.GetProperty("status").GetString());
        Assert.Equal(JsonValueKind.Null, ok.GetProperty("last_error").ValueKind);

        var failed = await server.OkAsync(server.GetAsync($"vector_stores/{id}/file_batches/{batchId}/files?filter=failed"));
        Assert.Equal(5, failed.GetProperty("data").GetArrayLength());
        var store = await server.OkAsync(server.GetAsync($"vector_stores/{id}"));
        Assert.Equal("completed", store.GetProperty("status").GetString());
        Assert.Equal(6, store.GetProperty("file_counts").GetProperty("total").GetInt32());

        // Scenario 11, retrieval half: the itinerary is searchable for the travel dates.
        var search = await server.OkAsync(server.PostAsync($"vector_stores/{id}/search", """{"query":["When do I fly to Frankfurt?","return flight date"]}"""));
        var hit = search.GetProperty("data")[0];
        Assert.Equal(good, hit.GetProperty("file_id").GetString());
        Assert.Equal("flight_itinerary.txt", hit.GetProperty("filename").GetString());
        var text = hit.GetProperty("content")[0].GetProperty("text").GetString()!;
        Assert.Contains("FRA", text, StringComparison.Ordinal);
        Assert.Equal(2, search.GetProperty("search_query").GetArrayLength());
    }

    [Fact]
    public async Task FileBatch_Cancel_CancelsItsFilesStillInProgress_AndTheyAreCountedAndNeverIngested()
    {
        var directory = Path.Combine(Path.GetTempPath(), "threadloom-cancel-" + Guid.NewGuid().ToString("N"));
        string id, batchId, outside;
        await using (var first = await FileSearchServer.StartAsync(directory, keepData: true, "--IngestionWorker:Enabled", "false"))
        {
            outside = await first.UploadScenarioFileAsync("HR/contoso-401k.txt");
            var a = await first.UploadScenarioFileAsync("HR/contoso-benefits.txt");
            var b = await first.UploadScenarioFileAsync("HR/contoso-medical_leave.txt");
            id = (await first.OkAsync(first.PostAsync("vector_stores", $$"""{"file_ids":["{{outside}}"]}"""))).GetProperty("id").GetString()!;
            batchId = (await first.OkAsync(first.PostAsync($"vector_stores/{id}/file_batches", $$"""{"file_ids":["{{a}}","{{b}}"]}"""))).GetProperty("id").GetString()!;

            var cancelled = await first.OkAsync(first.PostAsync($"vector_stores/{id}/file_batches/{batchId}/cancel"));
            Assert.Equal("cancelled", cancelled.GetProperty("status").GetString());
            Assert.Equal(2, cancelled.GetProperty("file_counts").GetProperty("cancelled").GetInt32());
            Assert.Equal(0, cancelled.GetProperty("file_counts").GetProperty("in_progress").GetInt32());
            await FileSearchServer.BadRequest(first.PostAsync($"vector_stores/{id}/file_batches/{batchId}/cancel"));
            var store = await first.OkAsync(first.GetAsync($"vector_stores/{id}"));
            Assert.Equal("in_progress", store.GetProperty("status").GetString());
            var counts = store.GetProperty("file_counts");
            Assert.Equal((1, 2, 3), (counts.GetProperty("in_progress").GetInt32(), counts.GetProperty("cancelled").GetInt32(), counts.GetProperty("total").GetInt32()));
            var listed = await first.OkAsync(first.GetAsync($"vector_stores/{id}/files?filter=cancelled"));
            Assert.Equal(new[] { a, b }.Order(StringComparer.Ordinal), listed.GetProperty("data").EnumerateArray().Select(f => f.GetProperty("id").GetString()!).Order(StringComparer.Ordinal));
        }

        // A worker that starts later ingests the file outside the batch and leaves the cancelled ones alone.
        await using var second = await FileSearchServer.StartAsync(directory);
        var done = await second.WaitUntilDoneAsync($"vector_stores/{id}");
        Assert.Equal("completed", done.GetProperty("status").GetString());
        var final = done.GetProperty("file_counts");
        Assert.Equal((1, 2, 0), (final.GetProperty("completed").GetInt32(), final.GetProperty("cancelled").GetInt32(), final.GetProperty("in_progress").GetInt32()));
        Assert.Equal("cancelled", (await second.OkAsync(second.GetAsync($"vector_stores/{id}/file_batches/{batchId}"))).GetProperty("status").GetString());
        var search = await second.OkAsync(second.PostAsync($"vector_stores/{id}/search", """{"query":"medical leave benefits 401k"}"""));
        Assert.All(search.GetProperty("data").EnumerateArray(), r => Assert.Equal(outside, r.GetProperty("file_id").GetString()));
    }

    [Fact]
    public async Task BadInput_IsRefusedWith400()
    {
        await using var server = await FileSearchServer.StartAsync();
        var file = await server.UploadAsync("a.txt", Encoding.UTF8.GetBytes("hello"));
        var empty = (await server.OkAsync(server.PostAsync("vector_stores", "{}"))).GetProperty("id").GetString()!;

        var search = await server.OkAsync(server.PostAsync($"vector_stores/{empty}/search", """{"query":"anything"}"""));
        Assert.Equal(0, search.GetProperty("data").GetArrayLength());

        var (_, small) = await FileSearchServer.BadRequest(server.PostAsync("vector_stores",
            $$$$$"""{"file_ids":["{{{{{file}}}}}"],"chunking_strategy":{"type":"static","static":{"max_chunk_size_tokens":50,"chunk_overlap_tokens":0}}}"""));
        Assert.Equal("chunking_strategy.static.max_chunk_size_tokens", small.GetProperty("error").GetProperty("param").GetString());
        var (_, overlap) = await FileSearchServer.BadRequest(server.PostAsync($"vector_stores/{empty}/files",
            $$$$$"""{"file_id":"{{{{{file}}}}}","chunking_strategy":{"type":"static","static":{"max_chunk_size_tokens":400,"chunk_overlap_tokens":201}}}"""));
        Assert.Equal("chunking_strategy.static.chunk_overlap_tokens", overlap.GetProperty("error").GetProperty("param").GetString());
        await FileSearchServer.BadRequest(server.PostAsync("vector_stores", """{"chunking_strategy":{"type":"fancy"}}"""));

        var tooMany = string.Join(",", Enumerable.Repeat($"\"{file}\"", 10_001));
        var (_, batch) = await FileSearchServer.BadRequest(server.PostAsync($"vector_stores/{empty}/file_batches", $$"""{"file_ids":[{{tooMany}}]}"""));
        Assert.Equal("array_above_max_length", batch.GetProperty("error").GetProperty("code").GetString());
        await FileSearchServer.BadRequest(server.PostAsync($"vector_stores/{empty}/file_batches", $$"""{"file_ids":["{{file}}"],"files":[{"file_id":"{{file}}"}]}"""));
        await FileSearchServer.BadRequest(server.PostAsync($"vector_stores/{empty}/files", """{"file_id":"file-nope"}"""));
        await FileSearchServer.BadRequest(server.PostAsync($"vector_stores/{empty}/search", """{"query":"x","max_num_results":51}"""));
        await FileSearchServer.BadRequest(server.PostAsync($"vector_stores/{empty}/search", """{"query":"x","filters":{"type":"near","key":"a","value":1}}"""));
        await FileSearchServer.BadRequest(server.PostAsync("vector_stores", """{"expires_after":{"anchor":"created_at","days":3}}"""));
        await FileSearchServer.BadRequest(server.PostAsync("assistants", """{"model":"m","tools":[{"type":"file_search"}],"tool_resources":{"file_search":{"vector_store_ids":["vs_missing"]}}}"""));
        // A deleted store is refused where it is named: on assistant and thread updates (and at run creation, see FileSearchRunTests).
        var assistant = (await server.OkAsync(server.PostAsync("assistants",
            $$$$"""{"model":"m","tools":[{"type":"file_search"}],"tool_resources":{"file_search":{"vector_store_ids":["{{{{empty}}}}"]}}}"""))).GetProperty("id").GetString()!;
        var doomed = (await server.OkAsync(server.PostAsync("vector_stores", "{}"))).GetProperty("id").GetString()!;
        await server.OkAsync(server.DeleteAsync($"vector_stores/{doomed}"));
        var (_, modify) = await FileSearchServer.BadRequest(server.PostAsync($"assistants/{assistant}",
            $$$$"""{"tool_resources":{"file_search":{"vector_store_ids":["{{{{doomed}}}}"]}}}"""));
        Assert.Equal("tool_resources.file_search.vector_store_ids[0]", modify.GetProperty("error").GetProperty("param").GetString());
        Assert.Equal(empty, (await server.OkAsync(server.GetAsync($"assistants/{assistant}"))).GetProperty("tool_resources").GetProperty("file_search").GetProperty("vector_store_ids")[0].GetString());
        await FileSearchServer.BadRequest(server.PostAsync("threads", $$$$"""{"tool_resources":{"file_search":{"vector_store_ids":["{{{{doomed}}}}"]}}}"""));
        Assert.Equal(HttpStatusCode.NotFound, (await server.GetAsync("vector_stores/vs_missing")).Status);
        Assert.Equal(HttpStatusCode.BadRequest, (await server.GetAsync($"vector_stores/{empty}/files?filter=done")).Status);
    }

    /// <summary>One byte repeated <c>length</c> times, written in 1 MiB blocks: a huge single-line file without holding it in memory.</summary>
    private sealed class RepeatedByteContent(byte value, long length) : HttpContent
    {
        protected override async Task SerializeToStreamAsync(Stream stream, System.Net.TransportContext? context)
        {
            var block = new byte[1024 * 1024];
            Array.Fill(block, value);
            for (var left = length; left > 0; left -= block.Length)
            {
                await stream.WriteAsync(block.AsMemory(0, (int)Math.Min(block.Length, left)));
            }
        }

        protected override bool TryComputeLength(out long size)
        {
            size = length;
            return true;
        }
    }
}
