using System.Net.Http.Headers;

namespace Threadloom.Cluster.Tests;

/// <summary>
/// Issue #12 §5: every node is killed (SIGKILL) and restarted while a file batch is being ingested. Every file ends
/// <c>completed</c> or <c>failed</c>, none stays <c>in_progress</c>, and a file ingested twice (claimed again after
/// its node died) holds its chunks once.
/// </summary>
public sealed class IngestionRestartTests(ITestOutputHelper output)
{
    private const int Files = 8;
    private static readonly TimeSpan Patience = TimeSpan.FromMinutes(3);

    [SkippableFact]
    public async Task AllNodesKilledAndRestartedMidIngestion_EveryFileEndsCompletedOrFailed()
    {
        await using var model = await ScriptedModelServer.StartAsync();
        // A slow embeddings upstream, and two chunks a call: each file takes several seconds to ingest.
        model.EmbeddingDelay = TimeSpan.FromMilliseconds(400);
        await using var cluster = await Cluster.StartAsync(model, output, 3, _ =>
            ["--IngestionWorker:Lease", "00:00:04", "--Ingestion:EmbeddingBatchSize", "2"]);

        var ids = new List<string>();
        for (var i = 0; i < Files; i++)
        {
            using var http = cluster.Http(cluster.NextIndex());
            using var form = new MultipartFormDataContent
            {
                { new ByteArrayContent(Encoding.UTF8.GetBytes(Document(i))), "file", $"doc{i}.txt" },
                { new StringContent("assistants"), "purpose" },
            };
            ids.Add((await SendAsync(http, HttpMethod.Post, "files", form))["id"]!.GetValue<string>());
        }
        string store;
        using (var http = cluster.Http(0))
        {
            store = (await SendAsync(http, HttpMethod.Post, "vector_stores", Json("""{"name":"restart"}""")))["id"]!.GetValue<string>();
        }
        string batch;
        using (var http = cluster.Http(1))
        {
            var body = new JsonObject
            {
                ["file_ids"] = new JsonArray([.. ids.Select(id => JsonValue.Create(id))]),
                ["chunking_strategy"] = JsonNode.Parse("""{"type":"static","static":{"max_chunk_size_tokens":100,"chunk_overlap_tokens":0}}"""),
            };
            batch = (await SendAsync(http, HttpMethod.Post, $"vector_stores/{store}/file_batches", Json(body.ToJsonString())))["id"]!.GetValue<string>();
        }

        // Ingestion is under way on the nodes (embedding calls arrive) and files are still in progress: kill them all.
        await WaitAsync("ingestion to start", async () =>
        {
            if (model.EmbeddingRequests.Count < 3)
            {
                return false;
            }
            using var http = cluster.Http(cluster.NextIndex());
            return (await ListFilesAsync(http, store)).Any(f => f.Status == "in_progress");
        });
        var calls = model.EmbeddingRequests.Count;
        using (var http = cluster.Http(2))
        {
            output.WriteLine($"before the kill ({calls} embedding calls): {string.Join(", ", (await ListFilesAsync(http, store)).Select(f => f.Status))}");
        }
        for (var node = 0; node < cluster.Count; node++)
        {
            await cluster.KillAsync(node);
        }
        await Task.WhenAll(Enumerable.Range(0, cluster.Count).Select(cluster.StartNodeAsync));
        var restarted = Stopwatch.StartNew();

        List<(string Id, string Status, string? Error)> files = [];
        await WaitAsync("every file to end", async () =>
        {
            using var http = cluster.Http(cluster.NextIndex());
            files = await ListFilesAsync(http, store);
            return files.Count == Files && files.All(f => f.Status != "in_progress");
        });
        output.WriteLine($"every file ended {restarted.ElapsedMilliseconds} ms after the restart: {string.Join(", ", files.Select(f => f.Status + (f.Error is null ? "" : $" ({f.Error})")))}");
        Assert.Equal(ids.Order(), files.Select(f => f.Id).Order());
        Assert.All(files, f => Assert.True(f.Status is "completed" or "failed", $"{f.Id} ended {f.Status}"));
        Assert.True(model.EmbeddingRequests.Count > calls, "ingestion went on after the restart");

        using (var http = cluster.Http(0))
        {
            var batchNow = await SendAsync(http, HttpMethod.Get, $"vector_stores/{store}/file_batches/{batch}");
            Assert.NotEqual("in_progress", batchNow["status"]!.GetValue<string>());
            Assert.Equal(0, batchNow["file_counts"]!["in_progress"]!.GetValue<int>());
            var storeNow = await SendAsync(http, HttpMethod.Get, $"vector_stores/{store}");
            Assert.Equal(0, storeNow["file_counts"]!["in_progress"]!.GetValue<int>());
            Assert.Equal(Files, storeNow["file_counts"]!["completed"]!.GetValue<int>() + storeNow["file_counts"]!["failed"]!.GetValue<int>());
        }

        // A completed file is searchable, and holds each of its chunks once even if a dead node had started it.
        foreach (var (id, _, _) in files.Where(f => f.Status == "completed"))
        {
            var i = ids.IndexOf(id);
            using var http = cluster.Http(cluster.NextIndex());
            var found = await SendAsync(http, HttpMethod.Post, $"vector_stores/{store}/search",
                Json($$"""{"query":"{{Word(i)}}","max_num_results":50}"""));
            var texts = found["data"]!.AsArray().Where(r => r!["file_id"]!.GetValue<string>() == id)
                .Select(r => string.Concat(r!["content"]!.AsArray().Select(c => c!["text"]!.GetValue<string>()))).ToList();
            Assert.NotEmpty(texts);
            Assert.Equal(texts.Count, texts.Distinct(StringComparer.Ordinal).Count());
        }
        Assert.Empty(model.UnexpectedCalls);
    }

    private static string Word(int i) => "marker" + ((char)('a' + i)).ToString();

    /// <summary>About 1,300 tokens: 13 chunks of 100 tokens, so seven embedding calls of two chunks.</summary>
    private static string Document(int i)
    {
        var text = new StringBuilder();
        for (var s = 0; s < 60; s++)
        {
            text.Append(CultureInfo.InvariantCulture, $"Sentence {s} of document {i} talks about {Word(i)} and the harbour lights number {s * 7 + i}. ");
        }
        return text.ToString();
    }

    private static StringContent Json(string json) => new(json, Encoding.UTF8, new MediaTypeHeaderValue("application/json"));

    private static async Task<List<(string Id, string Status, string? Error)>> ListFilesAsync(HttpClient http, string store)
    {
        var list = await SendAsync(http, HttpMethod.Get, $"vector_stores/{store}/files?limit=100");
        return [.. list["data"]!.AsArray().Select(f => (f!["id"]!.GetValue<string>(), f["status"]!.GetValue<string>(), f["last_error"]?["message"]?.GetValue<string>()))];
    }

    private static async Task<JsonNode> SendAsync(HttpClient http, HttpMethod method, string path, HttpContent? content = null)
    {
        using var request = new HttpRequestMessage(method, path) { Content = content };
        using var response = await http.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"{method} {path} gave {(int)response.StatusCode}: {text}");
        return JsonNode.Parse(text)!;
    }

    private static Task WaitAsync(string what, Func<Task<bool>> done) => Cluster.UntilAsync(what, done, Patience);
}
