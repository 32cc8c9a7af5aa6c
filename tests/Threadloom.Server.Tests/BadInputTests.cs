using System.Net;
using System.Text.Json.Nodes;

namespace Threadloom.Server.Tests;

/// <summary>Every bad request gets a 4xx in the OpenAI envelope and leaves storage as it was.</summary>
public sealed class BadInputTests(ServerFixture fixture) : IClassFixture<ServerFixture>
{
    private readonly ApiClient _api = fixture.Api;

    private static string Metadata(int pairs, int keyLength = 3, int valueLength = 3) =>
        new JsonObject(Enumerable.Range(0, pairs).Select(i => KeyValuePair.Create($"{i}".PadLeft(keyLength, 'k'), (JsonNode?)new string('v', valueLength)))).ToJsonString();

    public static TheoryData<string, string?> BadAssistantBodies() => new()
    {
        { """{"model":""", null },
        { """{"model":"gpt-4o","unknown_field":1}""", "unknown_field" },
        { """{"model":42}""", "model" },
        { """{"model":"gpt-4o","tools":"nope"}""", "tools" },
        { """{"name":"no model"}""", "model" },
        { "[]", null },
        { $$"""{"model":"gpt-4o","metadata":{{Metadata(17)}}}""", "metadata" },
        { $$"""{"model":"gpt-4o","metadata":{{Metadata(1, keyLength: 65)}}}""", "metadata" },
        { $$"""{"model":"gpt-4o","metadata":{{Metadata(1, valueLength: 513)}}}""", null },
        { $$"""{"model":"gpt-4o","tools":[{{string.Join(",", Enumerable.Repeat("""{"type":"code_interpreter"}""", 129))}}]}""", "tools" },
        { $$"""{"model":"gpt-4o","name":"{{new string('n', 257)}}"}""", "name" },
        { """{"model":"gpt-4o","tools":[{"type":"function","function":{"name":"file_search"}}]}""", "tools[0].function.name" },
        { """{"model":"gpt-4o","tools":[{"type":"retrieval"}]}""", "tools[0].type" },
        { """{"model":"gpt-4o","tools":[{"type":"bogus"}]}""", "tools[0].type" },
        { """{"model":"gpt-4o","temperature":3}""", "temperature" },
        { """{"model":"gpt-4o","tool_resources":{"code_interpreter":{"file_ids":["file-doesnotexist"]}}}""", "tool_resources.code_interpreter.file_ids[0]" },
        { """{"model":"gpt-4o","response_format":{"type":"xml"}}""", null },
        { """{"model":"gpt-4o","file_ids":[]}""", "file_ids" },
    };

    [Theory]
    [MemberData(nameof(BadAssistantBodies))]
    public async Task CreateAssistant_BadBody_400AndNothingStored(string body, string? param)
    {
        var before = await CountAsync("assistants");
        ErrorAssert.IsClientError(await _api.PostAsync("assistants", body), HttpStatusCode.BadRequest, param);
        Assert.Equal(before, await CountAsync("assistants"));
    }

    [Fact]
    public async Task CreateAssistant_EmptyBody_400()
    {
        ErrorAssert.IsClientError(await _api.SendAsync(HttpMethod.Post, "assistants"), HttpStatusCode.BadRequest);
    }

    [Theory]
    [InlineData("""{"metadata":{"a":1}}""")]
    [InlineData("""{"name":"x","bogus":true}""")]
    [InlineData("""{"tools":[{"type":"function","function":{"name":"code_interpreter"}}]}""")]
    public async Task ModifyAssistant_BadBody_400AndUnchanged(string body)
    {
        var created = await _api.CreateAsync("assistants", """{"model":"gpt-4o","name":"keep"}""");
        var id = created["id"]!.GetValue<string>();
        ErrorAssert.IsClientError(await _api.PostAsync($"assistants/{id}", body), HttpStatusCode.BadRequest);
        Assert.Equal(created.ToJsonString(), (await _api.GetAsync($"assistants/{id}")).Body!.ToJsonString());
    }

    public static TheoryData<string, string?> BadMessageBodies() => new()
    {
        { """{"content":"no role"}""", "role" },
        { """{"role":"system","content":"x"}""", "role" },
        { """{"role":"user"}""", "content" },
        { """{"role":"user","content":[]}""", "content" },
        { """{"role":"user","content":5}""", "content" },
        { """{"role":"user","content":"x","attachments":[{"file_id":"file-nope","tools":[{"type":"file_search"}]}]}""", null },
        { """{"role":"user","content":"x","attachments":[{"file_id":"file-nope","tools":[{"type":"web"}]}]}""", "attachments[0].tools[0].type" },
        { """{"role":"user","content":[{"type":"image_file","image_file":{"file_id":"file-nope"}}]}""", null },
        { """{"role":"user","content":"x","extra":1}""", "extra" },
    };

    [Theory]
    [MemberData(nameof(BadMessageBodies))]
    public async Task CreateMessage_BadBody_400AndNothingStored(string body, string? param)
    {
        var tid = (await _api.CreateAsync("threads", "{}"))["id"]!.GetValue<string>();
        ErrorAssert.IsClientError(await _api.PostAsync($"threads/{tid}/messages", body), HttpStatusCode.BadRequest, param);
        Assert.Equal(0, await CountAsync($"threads/{tid}/messages"));
    }

    [Fact]
    public async Task CreateThread_UnknownFileInToolResources_400AndNoThread()
    {
        var before = await CountAsync("threads");
        ErrorAssert.IsClientError(await _api.PostAsync("threads", """{"tool_resources":{"code_interpreter":{"file_ids":["file-missing"]}}}"""), HttpStatusCode.BadRequest);
        ErrorAssert.IsClientError(await _api.PostAsync("threads", """{"messages":[{"role":"user","content":"x","attachments":[{"file_id":"file-missing","tools":[]}]}]}"""), HttpStatusCode.BadRequest);
        Assert.Equal(before, await CountAsync("threads"));
    }

    [Theory]
    [InlineData("assistants?limit=0", "limit")]
    [InlineData("assistants?limit=101", "limit")]
    [InlineData("threads?limit=101", "limit")]
    [InlineData("assistants?limit=abc", "limit")]
    [InlineData("assistants?order=sideways", "order")]
    [InlineData("assistants?after=asst_unknown", "after")]
    [InlineData("assistants?before=asst_unknown", "before")]
    [InlineData("files?limit=10001", "limit")]
    [InlineData("files?limit=0", "limit")]
    public async Task List_BadQuery_400(string path, string param)
    {
        ErrorAssert.IsClientError(await _api.GetAsync(path), HttpStatusCode.BadRequest, param);
    }

    [Fact]
    public async Task ListFiles_AllowsLimitAbove100()
    {
        Assert.Equal(HttpStatusCode.OK, (await _api.GetAsync("files?limit=10000")).Status);
    }

    [Fact]
    public async Task MissingKey_Is401()
    {
        using var http = new HttpClient { BaseAddress = fixture.Server.OpenAIEndpoint };
        var (status, body) = await new ApiClient(http).GetAsync("assistants");
        ErrorAssert.IsClientError((status, body), HttpStatusCode.Unauthorized);
    }

    private async Task<int> CountAsync(string path)
    {
        var sep = path.Contains('?', StringComparison.Ordinal) ? '&' : '?';
        var count = 0;
        string? after = null;
        while (true)
        {
            var page = (await _api.GetAsync($"{path}{sep}limit=100" + (after is null ? "" : $"&after={after}"))).Body!;
            var data = page["data"]!.AsArray();
            count += data.Count;
            if (!page["has_more"]!.GetValue<bool>())
            {
                return count;
            }
            after = data[^1]!["id"]!.GetValue<string>();
        }
    }
}
