using System.Net;

namespace Threadloom.Server.Tests;

public sealed class ThreadsAndMessagesApiTests(ServerFixture fixture) : IClassFixture<ServerFixture>
{
    private readonly ApiClient _api = fixture.Api;

    [Fact]
    public async Task CreateThread_WithMessagesAndMetadata_MessagesListedNewestFirst()
    {
        var thread = await _api.CreateAsync("threads", """{"messages":[{"role":"user","content":"one"},{"role":"assistant","content":[{"type":"text","text":"two"}]}],"metadata":{"user":"jane"}}""");
        var id = thread["id"]!.GetValue<string>();
        Assert.StartsWith("thread_", id);
        Assert.Equal("jane", thread["metadata"]!["user"]!.GetValue<string>());
        var list = (await _api.GetAsync($"threads/{id}/messages")).Body!;
        Assert.Equal("two", list["data"]![0]!["content"]![0]!["text"]!["value"]!.GetValue<string>());
        Assert.Equal("one", list["data"]![1]!["content"]![0]!["text"]!["value"]!.GetValue<string>());
        Assert.Equal("thread.message", list["data"]![0]!["object"]!.GetValue<string>());
        Assert.Equal("completed", list["data"]![0]!["status"]!.GetValue<string>());
        Assert.Empty(list["data"]![0]!["content"]![0]!["text"]!["annotations"]!.AsArray());
    }

    [Fact]
    public async Task CreateThread_EmptyBody_Works()
    {
        var (status, body) = await _api.SendAsync(HttpMethod.Post, "threads");
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal("thread", body!["object"]!.GetValue<string>());
    }

    [Fact]
    public async Task Message_ContentPartsAndAttachments_RoundTrip()
    {
        var file = await _api.UploadAsync("data.csv", "a,b\n1,2\n"u8.ToArray());
        var fileId = file["id"]!.GetValue<string>();
        var thread = await _api.CreateAsync("threads", "{}");
        var tid = thread["id"]!.GetValue<string>();
        var message = await _api.CreateAsync($"threads/{tid}/messages", $$$"""
            {"role":"user","content":[{"type":"text","text":"look"},{"type":"image_file","image_file":{"file_id":"{{{fileId}}}","detail":"low"}},{"type":"image_url","image_url":{"url":"https://example.com/a.png"}}],
             "attachments":[{"file_id":"{{{fileId}}}","tools":[{"type":"code_interpreter"}]}],"metadata":{"m":"1"}}
            """);
        Assert.Equal("image_file", message["content"]![1]!["type"]!.GetValue<string>());
        Assert.Equal("low", message["content"]![1]!["image_file"]!["detail"]!.GetValue<string>());
        Assert.Equal("https://example.com/a.png", message["content"]![2]!["image_url"]!["url"]!.GetValue<string>());
        Assert.Equal(fileId, message["attachments"]![0]!["file_id"]!.GetValue<string>());
        Assert.Null(message["run_id"]);

        var mid = message["id"]!.GetValue<string>();
        var modified = await _api.CreateAsync($"threads/{tid}/messages/{mid}", """{"metadata":{"m":"2"}}""");
        Assert.Equal("2", modified["metadata"]!["m"]!.GetValue<string>());
        Assert.Equal("thread.message.deleted", (await _api.DeleteAsync($"threads/{tid}/messages/{mid}")).Body!["object"]!.GetValue<string>());
        ErrorAssert.IsClientError(await _api.GetAsync($"threads/{tid}/messages/{mid}"), HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task DeleteThread_RemovesItsMessages()
    {
        var thread = await _api.CreateAsync("threads", """{"messages":[{"role":"user","content":"hi"}]}""");
        var tid = thread["id"]!.GetValue<string>();
        var mid = (await _api.GetAsync($"threads/{tid}/messages")).Body!["data"]![0]!["id"]!.GetValue<string>();
        Assert.Equal("thread.deleted", (await _api.DeleteAsync($"threads/{tid}")).Body!["object"]!.GetValue<string>());
        ErrorAssert.IsClientError(await _api.GetAsync($"threads/{tid}/messages/{mid}"), HttpStatusCode.NotFound);
        ErrorAssert.IsClientError(await _api.GetAsync($"threads/{tid}"), HttpStatusCode.NotFound);
        ErrorAssert.IsClientError(await _api.DeleteAsync($"threads/{tid}"), HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task ThreadList_IsServed()
    {
        var id = (await _api.CreateAsync("threads", "{}"))["id"]!.GetValue<string>();
        var list = (await _api.GetAsync("threads?limit=100")).Body!;
        Assert.Contains(list["data"]!.AsArray(), t => t!["id"]!.GetValue<string>() == id);
    }

    [Fact]
    public async Task ModifyThread_Metadata()
    {
        var id = (await _api.CreateAsync("threads", """{"metadata":{"a":"1"}}"""))["id"]!.GetValue<string>();
        var modified = await _api.CreateAsync($"threads/{id}", """{"metadata":{"a":"2"}}""");
        Assert.Equal("2", modified["metadata"]!["a"]!.GetValue<string>());
    }
}
