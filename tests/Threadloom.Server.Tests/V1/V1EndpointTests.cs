using System.Net;
using System.Text.Json.Nodes;
using Threadloom.Server.Tests.FileSearch;

namespace Threadloom.Server.Tests.V1;

/// <summary>
/// The v1-only endpoints (<c>/assistants/{id}/files</c>, <c>/threads/{t}/messages/{m}/files</c>) and the Azure
/// api-version table, on both route sets, every body checked against the v1 spec.
/// </summary>
public sealed class V1EndpointTests(ServerFixture fixture) : IClassFixture<ServerFixture>
{
    private AzureV1Client Azure(string apiVersion = "2024-02-15-preview") => new(fixture.Server.BaseAddress, apiVersion);

    private static IEnumerable<string> Ids(JsonNode list) => list["data"]!.AsArray().Select(f => f!["id"]!.GetValue<string>());

    [Fact]
    public async Task Issue10_AssistantFiles_AttachListPageGetDelete_KeepFileIdsAndCodeInterpreterInStep()
    {
        using var v1 = Azure();
        var first = await v1.UploadAsync("portfolio.csv", "Ticker,QTY\nAAPL,1\n"u8.ToArray());
        var second = await v1.UploadAsync("notes.txt", "hello"u8.ToArray());
        var third = await v1.UploadAsync("more.txt", "more"u8.ToArray());
        var assistant = (await v1.PostAsync("assistants", $$"""{"model":"gpt-4o","tools":[{"type":"code_interpreter"}],"file_ids":["{{first}}"]}"""))["id"]!.GetValue<string>();

        var attached = await v1.PostAsync($"assistants/{assistant}/files", $$"""{"file_id":"{{second}}"}""");
        Assert.Equal("assistant.file", attached["object"]!.GetValue<string>());
        Assert.Equal(second, attached["id"]!.GetValue<string>());
        Assert.Equal(assistant, attached["assistant_id"]!.GetValue<string>());
        await v1.PostAsync($"assistants/{assistant}/files", $$"""{"file_id":"{{third}}"}""");
        // Attaching a file twice changes nothing.
        Assert.Equal(second, (await v1.PostAsync($"assistants/{assistant}/files", $$"""{"file_id":"{{second}}"}"""))["id"]!.GetValue<string>());

        var read = await v1.GetAsync($"assistants/{assistant}");
        Assert.Equal([first, second, third], read["file_ids"]!.AsArray().Select(f => f!.GetValue<string>()));
        var v2 = (await fixture.Api.GetAsync($"assistants/{assistant}")).Body!;
        Assert.Equal([first, second, third], v2["tool_resources"]!["code_interpreter"]!["file_ids"]!.AsArray().Select(f => f!.GetValue<string>()));

        var all = await v1.GetAsync($"assistants/{assistant}/files?order=asc");
        Assert.Equal([first, second, third], Ids(all));
        Assert.Equal(first, all["first_id"]!.GetValue<string>());
        Assert.Equal(third, all["last_id"]!.GetValue<string>());
        var page = await v1.GetAsync($"assistants/{assistant}/files?order=asc&limit=1&after={first}");
        Assert.Equal([second], Ids(page));
        Assert.True(page["has_more"]!.GetValue<bool>());
        var before = await v1.GetAsync($"assistants/{assistant}/files?order=asc&limit=1&before={third}");
        Assert.Equal([second], Ids(before));
        var last = await v1.GetAsync($"assistants/{assistant}/files?order=asc&after={second}");
        Assert.Equal([third], Ids(last));
        Assert.False(last["has_more"]!.GetValue<bool>());
        Assert.Equal([third, second, first], Ids(await v1.GetAsync($"assistants/{assistant}/files")));
        ErrorAssert.IsClientError(await v1.SendAsync(HttpMethod.Get, $"assistants/{assistant}/files?after=file-nope"), HttpStatusCode.BadRequest, "after");

        Assert.Equal(second, (await v1.GetAsync($"assistants/{assistant}/files/{second}"))["id"]!.GetValue<string>());
        var deleted = await v1.OkAsync(HttpMethod.Delete, $"assistants/{assistant}/files/{second}");
        Assert.Equal("assistant.file.deleted", deleted["object"]!.GetValue<string>());
        Assert.True(deleted["deleted"]!.GetValue<bool>());
        ErrorAssert.IsClientError(await v1.SendAsync(HttpMethod.Get, $"assistants/{assistant}/files/{second}"), HttpStatusCode.NotFound);
        ErrorAssert.IsClientError(await v1.SendAsync(HttpMethod.Delete, $"assistants/{assistant}/files/{second}"), HttpStatusCode.NotFound);
        Assert.Equal([first, third], (await v1.GetAsync($"assistants/{assistant}"))["file_ids"]!.AsArray().Select(f => f!.GetValue<string>()));
        v2 = (await fixture.Api.GetAsync($"assistants/{assistant}")).Body!;
        Assert.Equal([first, third], v2["tool_resources"]!["code_interpreter"]!["file_ids"]!.AsArray().Select(f => f!.GetValue<string>()));
        Assert.True(v1.Checked > 10);
    }

    [Fact]
    public async Task Issue10_AssistantFiles_BadInput_AndV2CallersGetTheUnknownRoute()
    {
        using var v1 = Azure();
        var assistant = (await v1.PostAsync("assistants", """{"model":"gpt-4o","tools":[{"type":"code_interpreter"}]}"""))["id"]!.GetValue<string>();
        ErrorAssert.IsClientError(await v1.SendAsync(HttpMethod.Post, $"assistants/{assistant}/files", "{}"), HttpStatusCode.BadRequest, "file_id");
        ErrorAssert.IsClientError(await v1.SendAsync(HttpMethod.Post, $"assistants/{assistant}/files", """{"file_id":"file-missing"}"""), HttpStatusCode.BadRequest, "file_id");
        ErrorAssert.IsClientError(await v1.SendAsync(HttpMethod.Post, $"assistants/{assistant}/files", """{"file_id":"f","extra":1}"""), HttpStatusCode.BadRequest);
        ErrorAssert.IsClientError(await v1.SendAsync(HttpMethod.Post, "assistants/asst_missing/files", """{"file_id":"f"}"""), HttpStatusCode.NotFound);
        for (var i = 0; i < 20; i++)
        {
            var id = await v1.UploadAsync($"f{i}.txt", "x"u8.ToArray());
            await v1.PostAsync($"assistants/{assistant}/files", $$"""{"file_id":"{{id}}"}""");
        }
        var oneTooMany = await v1.UploadAsync("f20.txt", "x"u8.ToArray());
        ErrorAssert.IsClientError(await v1.SendAsync(HttpMethod.Post, $"assistants/{assistant}/files", $$"""{"file_id":"{{oneTooMany}}"}"""), HttpStatusCode.BadRequest, "file_ids");

        // The path is not part of v2 on either route set.
        ErrorAssert.IsClientError(await fixture.Api.GetAsync($"assistants/{assistant}/files"), HttpStatusCode.NotFound);
        using var azureV2 = Azure("2024-05-01-preview");
        ErrorAssert.IsClientError(await azureV2.SendAsync(HttpMethod.Get, $"assistants/{assistant}/files"), HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task Issue10_AssistantFiles_OnTheOpenAIRoutesWithTheV1Header()
    {
        using var http = fixture.Server.CreateClient();
        http.DefaultRequestHeaders.Remove("OpenAI-Beta");
        http.DefaultRequestHeaders.Add("OpenAI-Beta", "assistants=v1");
        var api = new ApiClient(http);
        var file = (await api.UploadAsync("a.txt", "a"u8.ToArray()))["id"]!.GetValue<string>();
        var assistant = (await api.CreateAsync("assistants", """{"model":"gpt-4o","tools":[{"type":"code_interpreter"}]}"""))["id"]!.GetValue<string>();
        var attached = await api.CreateAsync($"assistants/{assistant}/files", $$"""{"file_id":"{{file}}"}""");
        Assert.Equal("assistant.file", attached["object"]!.GetValue<string>());
        var (status, list) = await api.GetAsync($"assistants/{assistant}/files");
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal([file], Ids(list!));
    }

    [Fact]
    public async Task Issue10_AssistantFiles_Retrieval_FileJoinsAndLeavesTheAssistantsVectorStore()
    {
        await using var server = await FileSearchServer.StartAsync();
        using var v1 = new AzureV1Client(new Uri(server.Http.BaseAddress!, "/"));
        var benefits = await v1.UploadAsync("benefits.txt", "Contoso matches 50% of 401k contributions up to 6%."u8.ToArray());
        var leave = await v1.UploadAsync("leave.txt", "Medical leave is requested through the HR portal."u8.ToArray());
        var assistant = (await v1.PostAsync("assistants", """{"model":"gpt-4o","tools":[{"type":"retrieval"}]}"""))["id"]!.GetValue<string>();
        await v1.PostAsync($"assistants/{assistant}/files", $$"""{"file_id":"{{benefits}}"}""");
        await v1.PostAsync($"assistants/{assistant}/files", $$"""{"file_id":"{{leave}}"}""");

        var v2 = await server.OkAsync(server.GetAsync($"assistants/{assistant}"));
        var stores = v2.GetProperty("tool_resources").GetProperty("file_search").GetProperty("vector_store_ids");
        Assert.Equal(1, stores.GetArrayLength());
        var store = stores[0].GetString()!;
        await server.WaitUntilDoneAsync($"vector_stores/{store}");
        var files = await server.OkAsync(server.GetAsync($"vector_stores/{store}/files?order=asc"));
        Assert.Equal([benefits, leave], files.GetProperty("data").EnumerateArray().Select(f => f.GetProperty("id").GetString()));

        await v1.OkAsync(HttpMethod.Delete, $"assistants/{assistant}/files/{benefits}");
        files = await server.OkAsync(server.GetAsync($"vector_stores/{store}/files"));
        Assert.Equal([leave], files.GetProperty("data").EnumerateArray().Select(f => f.GetProperty("id").GetString()));
        var search = await server.OkAsync(server.PostAsync($"vector_stores/{store}/search", """{"query":"401k match"}"""));
        Assert.DoesNotContain(search.GetProperty("data").EnumerateArray(), r => r.GetProperty("file_id").GetString() == benefits);
    }

    [Fact]
    public async Task Issue10_MessageFiles_ListPageAndGet()
    {
        using var v1 = Azure();
        var a = await v1.UploadAsync("a.txt", "a"u8.ToArray());
        var b = await v1.UploadAsync("b.txt", "b"u8.ToArray());
        var thread = (await v1.PostAsync("threads"))["id"]!.GetValue<string>();
        var message = await v1.PostAsync($"threads/{thread}/messages", $$"""{"role":"user","content":"see files","file_ids":["{{a}}","{{b}}"]}""");
        var id = message["id"]!.GetValue<string>();

        var list = await v1.GetAsync($"threads/{thread}/messages/{id}/files?order=asc");
        Assert.Equal([a, b], Ids(list));
        Assert.All(list["data"]!.AsArray(), f =>
        {
            Assert.Equal("thread.message.file", f!["object"]!.GetValue<string>());
            Assert.Equal(id, f["message_id"]!.GetValue<string>());
            Assert.Equal(message["created_at"]!.GetValue<long>(), f["created_at"]!.GetValue<long>());
        });
        var page = await v1.GetAsync($"threads/{thread}/messages/{id}/files?order=asc&limit=1");
        Assert.Equal([a], Ids(page));
        Assert.True(page["has_more"]!.GetValue<bool>());
        Assert.Equal(b, (await v1.GetAsync($"threads/{thread}/messages/{id}/files/{b}"))["id"]!.GetValue<string>());
        ErrorAssert.IsClientError(await v1.SendAsync(HttpMethod.Get, $"threads/{thread}/messages/{id}/files/file-other"), HttpStatusCode.NotFound);
        ErrorAssert.IsClientError(await v1.SendAsync(HttpMethod.Get, $"threads/{thread}/messages/msg_missing/files"), HttpStatusCode.NotFound);
        ErrorAssert.IsClientError(await fixture.Api.GetAsync($"threads/{thread}/messages/{id}/files"), HttpStatusCode.NotFound);
        var empty = await v1.GetAsync($"threads/{thread}/messages/{(await v1.PostAsync($"threads/{thread}/messages", """{"role":"user","content":"none"}"""))["id"]}/files");
        Assert.Empty(empty["data"]!.AsArray());
    }

    [Theory]
    [InlineData("2024-01-01-preview", "v1")]
    [InlineData("2024-02-15-preview", "v1")]
    [InlineData("2024-03-01-preview", "v1")]
    [InlineData("2024-04-01-preview", "v1")]
    [InlineData("2024-05-01-preview", "v2")]
    [InlineData("2024-10-01-preview", "v2")]
    [InlineData("2025-04-01-preview", "v2")]
    [InlineData("2024-02-01", "v2")]
    [InlineData("2024-06-01", "v2")]
    [InlineData("2024-10-21", "v2")]
    public async Task Issue10_ApiVersion_TableChoosesTheDialect(string apiVersion, string dialect)
    {
        using var azure = Azure(apiVersion);
        var assistant = await azure.PostAsync("assistants", """{"model":"gpt4-deployment","tools":[{"type":"code_interpreter"}]}""");
        Assert.Equal(dialect == "v1", assistant.AsObject().ContainsKey("file_ids"));
        Assert.Equal(dialect == "v2", assistant.AsObject().ContainsKey("tool_resources"));
    }

    [Theory]
    [InlineData("2024-04-15")]
    [InlineData("2023-12-01-preview")]
    [InlineData("2024-06-01-preview")]
    [InlineData("2099-01-01-preview")]
    [InlineData("v1")]
    [InlineData("latest")]
    public async Task Issue10_ApiVersion_Unknown_Is400ApiVersionNotSupported(string apiVersion)
    {
        using var azure = Azure(apiVersion);
        var (status, body) = await azure.SendAsync(HttpMethod.Get, "assistants");
        ErrorAssert.IsClientError((status, body), HttpStatusCode.BadRequest, "api-version");
        Assert.Equal("API version not supported", body!["error"]!["message"]!.GetValue<string>());
        Assert.Equal("BadRequest", body["error"]!["code"]!.GetValue<string>());
    }
}
