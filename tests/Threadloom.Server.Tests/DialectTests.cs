using System.Net;
using System.Text;
using System.Text.Json.Nodes;

namespace Threadloom.Server.Tests;

/// <summary>The Azure route set and the Assistants v1 dialect reach the same handlers and data.</summary>
public sealed class DialectTests(ServerFixture fixture) : IClassFixture<ServerFixture>
{
    private async Task<(HttpStatusCode, JsonNode?)> AzureAsync(HttpMethod method, string path, string apiVersion, string? json = null)
    {
        using var http = new HttpClient(new Threadloom.Testing.Schemas.SchemaCheckingHandler()) { BaseAddress = fixture.Server.BaseAddress };
        using var request = new HttpRequestMessage(method, $"openai/{path}?api-version={apiVersion}");
        request.Headers.Add("api-key", "azure-key");
        if (json is not null)
        {
            request.Content = new StringContent(json, Encoding.UTF8, "application/json");
        }
        using var response = await http.SendAsync(request);
        return (response.StatusCode, JsonNode.Parse(await response.Content.ReadAsStringAsync()));
    }

    [Fact]
    public async Task Azure_V2_SameDataAsOpenAIRoutes()
    {
        var (status, created) = await AzureAsync(HttpMethod.Post, "assistants", "2024-05-01-preview", """{"model":"gpt4-deployment","tools":[{"type":"file_search"}]}""");
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal("file_search", created!["tools"]![0]!["type"]!.GetValue<string>());
        var viaOpenAI = await fixture.Api.GetAsync($"assistants/{created["id"]}");
        Assert.Equal(HttpStatusCode.OK, viaOpenAI.Status);
    }

    [Fact]
    public async Task Azure_MissingApiVersion_400()
    {
        using var http = new HttpClient(new Threadloom.Testing.Schemas.SchemaCheckingHandler()) { BaseAddress = fixture.Server.BaseAddress };
        using var request = new HttpRequestMessage(HttpMethod.Get, "openai/assistants");
        request.Headers.Add("api-key", "k");
        using var response = await http.SendAsync(request);
        ErrorAssert.IsClientError((response.StatusCode, JsonNode.Parse(await response.Content.ReadAsStringAsync())), HttpStatusCode.BadRequest, "api-version");
    }

    [Fact]
    public async Task Azure_OldClientDeploymentPrefix_IsAccepted()
    {
        var (status, body) = await AzureAsync(HttpMethod.Get, "deployments/gpt4/assistants", "2024-05-01-preview");
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal("list", body!["object"]!.GetValue<string>());
    }

    [Fact]
    public async Task V1_FileIdsAndRetrieval_AnsweredInV1Shape()
    {
        var file = await fixture.Api.UploadAsync("portfolio.csv", "a,b\n"u8.ToArray());
        var fid = file["id"]!.GetValue<string>();
        var (status, created) = await AzureAsync(HttpMethod.Post, "assistants", "2024-02-15-preview",
            $$"""{"model":"gpt4-1106","tools":[{"type":"code_interpreter"},{"type":"retrieval"}],"file_ids":["{{fid}}"]}""");
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal(fid, created!["file_ids"]![0]!.GetValue<string>());
        Assert.Equal("retrieval", created["tools"]![1]!["type"]!.GetValue<string>());
        Assert.Null(created["tool_resources"]);

        // The same assistant, read through v2, shows tool_resources and file_search.
        var v2 = (await fixture.Api.GetAsync($"assistants/{created["id"]}")).Body!;
        Assert.Equal(fid, v2["tool_resources"]!["code_interpreter"]!["file_ids"]![0]!.GetValue<string>());
        Assert.Equal("file_search", v2["tools"]![1]!["type"]!.GetValue<string>());
    }

    [Fact]
    public async Task V1_MessageFileIds_BecomeAttachments()
    {
        var file = await fixture.Api.UploadAsync("notes.txt", "x"u8.ToArray());
        var fid = file["id"]!.GetValue<string>();
        var (_, thread) = await AzureAsync(HttpMethod.Post, "threads", "2024-02-15-preview", "{}");
        var (status, message) = await AzureAsync(HttpMethod.Post, $"threads/{thread!["id"]}/messages", "2024-02-15-preview",
            $$"""{"role":"user","content":"hi","file_ids":["{{fid}}"]}""");
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal(fid, message!["file_ids"]![0]!.GetValue<string>());
        var v2 = (await fixture.Api.GetAsync($"threads/{thread["id"]}/messages/{message["id"]}")).Body!;
        Assert.Equal(fid, v2["attachments"]![0]!["file_id"]!.GetValue<string>());
    }

    [Fact]
    public async Task OpenAIBetaV1Header_SelectsV1()
    {
        using var http = fixture.Server.CreateClient();
        http.DefaultRequestHeaders.Remove("OpenAI-Beta");
        http.DefaultRequestHeaders.Add("OpenAI-Beta", "assistants=v1");
        var created = await new ApiClient(http).CreateAsync("assistants", """{"model":"m","tools":[{"type":"retrieval"}]}""");
        Assert.Equal("retrieval", created["tools"]![0]!["type"]!.GetValue<string>());
        Assert.NotNull(created["file_ids"]);
    }
}
