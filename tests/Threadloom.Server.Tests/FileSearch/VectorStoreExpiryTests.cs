using System.Net;
using System.Text;
using Threadloom.Testing;

namespace Threadloom.Server.Tests.FileSearch;

/// <summary>
/// <c>expires_after</c> with an injected clock: activity (search, runs) moves <c>last_active_at</c> and so
/// <c>expires_at</c>; past it the store is <c>expired</c> for good, and using it is a 400 until a new store is attached.
/// </summary>
public sealed class VectorStoreExpiryTests
{
    private static readonly long Day = (long)TimeSpan.FromDays(1).TotalSeconds;

    [Fact]
    public async Task ExpiredAssistantStore_IsRefusedForSearchFilesAndRuns_UntilANewStoreIsAttached()
    {
        var clock = new ManualTimeProvider();
        var t0 = clock.GetUtcNow().ToUnixTimeSeconds();
        await using var server = await FileSearchServer.StartWithClockAsync(clock);
        var k401 = await server.UploadScenarioFileAsync("HR/contoso-401k.txt");
        var store = (await server.OkAsync(server.PostAsync("vector_stores",
            $$$"""{"file_ids":["{{{k401}}}"],"expires_after":{"anchor":"last_active_at","days":1}}"""))).GetProperty("id").GetString()!;
        var created = await server.WaitUntilDoneAsync($"vector_stores/{store}");
        Assert.Equal(t0, created.GetProperty("last_active_at").GetInt64());
        Assert.Equal(t0 + Day, created.GetProperty("expires_at").GetInt64());

        // A search is activity: it moves last_active_at, and expires_at with it.
        clock.Advance(TimeSpan.FromHours(12));
        await server.OkAsync(server.PostAsync($"vector_stores/{store}/search", """{"query":"401k match"}"""));
        var searched = await server.OkAsync(server.GetAsync($"vector_stores/{store}"));
        Assert.Equal(t0 + (Day / 2), searched.GetProperty("last_active_at").GetInt64());
        Assert.Equal(t0 + (Day / 2) + Day, searched.GetProperty("expires_at").GetInt64());

        // So is a run that can search the store, even when the model does not call file_search.
        var assistant = (await server.OkAsync(server.PostAsync("assistants",
            $$$$"""{"model":"gpt-test","tools":[{"type":"file_search"}],"tool_resources":{"file_search":{"vector_store_ids":["{{{{store}}}}"]}}}"""))).GetProperty("id").GetString()!;
        var thread = (await server.OkAsync(server.PostAsync("threads", """{"messages":[{"role":"user","content":"Hi"}]}"""))).GetProperty("id").GetString()!;
        clock.Advance(TimeSpan.FromHours(12));
        server.Model.Enqueue(Reply.Text("Hello."));
        var run = (await server.OkAsync(server.PostAsync($"threads/{thread}/runs", $$"""{"assistant_id":"{{assistant}}"}"""))).GetProperty("id").GetString()!;
        Assert.Equal("completed", (await server.WaitForRunAsync(thread, run)).GetProperty("status").GetString());
        var lastActive = (await server.OkAsync(server.GetAsync($"vector_stores/{store}"))).GetProperty("last_active_at").GetInt64();
        Assert.Equal(t0 + Day, lastActive);

        clock.Advance(TimeSpan.FromDays(1) + TimeSpan.FromSeconds(1));
        var expired = await server.OkAsync(server.GetAsync($"vector_stores/{store}"));
        Assert.Equal("expired", expired.GetProperty("status").GetString());
        Assert.Equal(lastActive + Day, expired.GetProperty("expires_at").GetInt64());
        Assert.Equal(1, expired.GetProperty("file_counts").GetProperty("completed").GetInt32());
        Assert.Equal("expired", (await server.OkAsync(server.GetAsync("vector_stores"))).GetProperty("data")[0].GetProperty("status").GetString());

        var (_, search) = await FileSearchServer.BadRequest(server.PostAsync($"vector_stores/{store}/search", """{"query":"401k match"}"""));
        Assert.Contains("expired", search.GetProperty("error").GetProperty("message").GetString(), StringComparison.Ordinal);
        var other = await server.UploadAsync("more.txt", Encoding.UTF8.GetBytes("More plan details."));
        await FileSearchServer.BadRequest(server.PostAsync($"vector_stores/{store}/files", $$"""{"file_id":"{{other}}"}"""));
        await FileSearchServer.BadRequest(server.PostAsync($"vector_stores/{store}/file_batches", $$"""{"file_ids":["{{other}}"]}"""));
        var (_, runError) = await FileSearchServer.BadRequest(server.PostAsync($"threads/{thread}/runs", $$"""{"assistant_id":"{{assistant}}"}"""));
        var message = runError.GetProperty("error").GetProperty("message").GetString();
        Assert.Contains(store, message, StringComparison.Ordinal);
        Assert.Contains("expired", message, StringComparison.Ordinal);
        await FileSearchServer.BadRequest(server.PostAsync("threads/runs", $$$"""{"assistant_id":"{{{assistant}}}","thread":{"messages":[{"role":"user","content":"Hi"}]}}"""));
        Assert.Equal(1, (await server.OkAsync(server.GetAsync($"threads/{thread}/runs"))).GetProperty("data").GetArrayLength());
        await FileSearchServer.BadRequest(server.PostAsync("assistants",
            $$$$"""{"model":"gpt-test","tools":[{"type":"file_search"}],"tool_resources":{"file_search":{"vector_store_ids":["{{{{store}}}}"]}}}"""));
        await FileSearchServer.BadRequest(server.PostAsync($"vector_stores/{store}", """{"expires_after":{"anchor":"last_active_at","days":30}}"""));

        // Nothing above revived it; its name and metadata can still change, and it can be deleted.
        var renamed = await server.OkAsync(server.PostAsync($"vector_stores/{store}", """{"name":"old plan"}"""));
        Assert.Equal("expired", renamed.GetProperty("status").GetString());
        Assert.Equal(lastActive, renamed.GetProperty("last_active_at").GetInt64());
        Assert.Equal(HttpStatusCode.OK, (await server.GetAsync($"vector_stores/{store}/files/{k401}")).Status);

        // OpenAI's remedy: a new store with the same files, attached in place of the old one.
        var fresh = (await server.OkAsync(server.PostAsync("vector_stores", $$"""{"file_ids":["{{k401}}"]}"""))).GetProperty("id").GetString()!;
        await server.WaitUntilDoneAsync($"vector_stores/{fresh}");
        await server.OkAsync(server.PostAsync($"assistants/{assistant}", $$$$"""{"tool_resources":{"file_search":{"vector_store_ids":["{{{{fresh}}}}"]}}}"""));
        server.Model.Enqueue(Reply.Text("Hello again."));
        var again = (await server.OkAsync(server.PostAsync($"threads/{thread}/runs", $$"""{"assistant_id":"{{assistant}}"}"""))).GetProperty("id").GetString()!;
        Assert.Equal("completed", (await server.WaitForRunAsync(thread, again)).GetProperty("status").GetString());
    }

    [Fact]
    public async Task ExpiredThreadStore_RefusesAttachmentsAndRuns_WithoutWritingTheMessage()
    {
        var clock = new ManualTimeProvider();
        await using var server = await FileSearchServer.StartWithClockAsync(clock, "--IngestionWorker:Enabled", "false");
        var first = await server.UploadAsync("notes.md", Encoding.UTF8.GetBytes("# Notes\nThe office closes at 6pm."));
        var thread = (await server.OkAsync(server.PostAsync("threads",
            $$"""{"messages":[{"role":"user","content":"see file","attachments":[{"file_id":"{{first}}","tools":[{"type":"file_search"}]}]}]}"""))).GetProperty("id").GetString()!;
        var store = (await server.OkAsync(server.GetAsync($"threads/{thread}"))).GetProperty("tool_resources").GetProperty("file_search").GetProperty("vector_store_ids")[0].GetString()!;
        var assistant = (await server.OkAsync(server.PostAsync("assistants", """{"model":"gpt-test","tools":[{"type":"file_search"}]}"""))).GetProperty("id").GetString()!;

        clock.Advance(TimeSpan.FromDays(ThreadStoreExpiryDays) + TimeSpan.FromSeconds(1));
        Assert.Equal("expired", (await server.OkAsync(server.GetAsync($"vector_stores/{store}"))).GetProperty("status").GetString());

        var second = await server.UploadAsync("more.md", Encoding.UTF8.GetBytes("More notes."));
        var (_, attach) = await FileSearchServer.BadRequest(server.PostAsync($"threads/{thread}/messages",
            $$"""{"role":"user","content":"and this","attachments":[{"file_id":"{{second}}","tools":[{"type":"file_search"}]}]}"""));
        Assert.Contains(store, attach.GetProperty("error").GetProperty("message").GetString(), StringComparison.Ordinal);
        Assert.Equal(1, (await server.OkAsync(server.GetAsync($"threads/{thread}/messages"))).GetProperty("data").GetArrayLength());
        Assert.Equal(1, (await server.OkAsync(server.GetAsync($"vector_stores/{store}"))).GetProperty("file_counts").GetProperty("total").GetInt32());

        // A message without a file_search attachment is fine; a run that could search the thread's store is not.
        await server.OkAsync(server.PostAsync($"threads/{thread}/messages", """{"role":"user","content":"plain"}"""));
        var (_, run) = await FileSearchServer.BadRequest(server.PostAsync($"threads/{thread}/runs", $$"""{"assistant_id":"{{assistant}}"}"""));
        Assert.Contains("thread's", run.GetProperty("error").GetProperty("message").GetString(), StringComparison.Ordinal);

        // Attaching a new store to the thread makes both work again.
        var fresh = (await server.OkAsync(server.PostAsync("vector_stores", $$"""{"file_ids":["{{first}}"]}"""))).GetProperty("id").GetString()!;
        await server.OkAsync(server.PostAsync($"threads/{thread}", $$$$"""{"tool_resources":{"file_search":{"vector_store_ids":["{{{{fresh}}}}"]}}}"""));
        await server.OkAsync(server.PostAsync($"threads/{thread}/messages",
            $$"""{"role":"user","content":"and this","attachments":[{"file_id":"{{second}}","tools":[{"type":"file_search"}]}]}"""));
        Assert.Equal(2, (await server.OkAsync(server.GetAsync($"vector_stores/{fresh}"))).GetProperty("file_counts").GetProperty("total").GetInt32());
        server.Model.Enqueue(Reply.Text("Noted."));
        var ok = (await server.OkAsync(server.PostAsync($"threads/{thread}/runs", $$"""{"assistant_id":"{{assistant}}"}"""))).GetProperty("id").GetString()!;
        var finished = await server.WaitForRunAsync(thread, ok);
        Assert.True(finished.GetProperty("status").GetString() == "completed", finished.ToString());
    }

    private const int ThreadStoreExpiryDays = Features.VectorStores.ThreadFileSearch.ThreadStoreExpiryDays;
}
