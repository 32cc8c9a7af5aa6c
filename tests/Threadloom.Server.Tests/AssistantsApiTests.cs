using System.Net;

namespace Threadloom.Server.Tests;

public sealed class AssistantsApiTests(ServerFixture fixture) : IClassFixture<ServerFixture>
{
    private readonly ApiClient _api = fixture.Api;

    [Fact]
    public async Task CreateAssistant_AllV2Fields_EchoedFieldForField()
    {
        var created = await _api.CreateAsync("assistants", """
            {"model":"gpt-4o","name":"Math Tutor","description":"d","instructions":"Be brief.",
             "tools":[{"type":"code_interpreter"},{"type":"file_search","file_search":{"max_num_results":7,"ranking_options":{"ranker":"auto","score_threshold":0.5}}},
                      {"type":"function","function":{"name":"get_stock_price","description":"price","parameters":{"type":"object","properties":{"symbol":{"type":"string"}}},"strict":true}}],
             "metadata":{"k":"v"},"temperature":0.2,"top_p":0.9,
             "response_format":{"type":"json_schema","json_schema":{"name":"answer","schema":{"type":"object"},"strict":true}}}
            """);
        Assert.StartsWith("asst_", created["id"]!.GetValue<string>());
        Assert.Equal("assistant", created["object"]!.GetValue<string>());
        Assert.Equal("Math Tutor", created["name"]!.GetValue<string>());
        Assert.Equal(3, created["tools"]!.AsArray().Count);
        Assert.Equal(7, created["tools"]![1]!["file_search"]!["max_num_results"]!.GetValue<int>());
        Assert.True(created["tools"]![2]!["function"]!["strict"]!.GetValue<bool>());
        Assert.Equal(0.2, created["temperature"]!.GetValue<double>());
        Assert.Equal("json_schema", created["response_format"]!["type"]!.GetValue<string>());
        Assert.Equal("v", created["metadata"]!["k"]!.GetValue<string>());

        var fetched = (await _api.GetAsync($"assistants/{created["id"]}")).Body!;
        Assert.Equal(created.ToJsonString(), fetched.ToJsonString());
    }

    [Fact]
    public async Task CreateAssistant_Defaults_MatchOpenAI()
    {
        var created = await _api.CreateAsync("assistants", """{"model":"gpt-4o"}""");
        Assert.Null(created["name"]);
        Assert.Equal("{}", created["tool_resources"]!.ToJsonString());
        Assert.Equal("auto", created["response_format"]!.GetValue<string>());
        Assert.Equal(1.0, created["temperature"]!.GetValue<double>());
        Assert.Empty(created["tools"]!.AsArray());
    }

    [Fact]
    public async Task ModifyAssistant_ChangesOnlyWhatIsSent()
    {
        var created = await _api.CreateAsync("assistants", """{"model":"gpt-4o","name":"a","instructions":"x","metadata":{"a":"1"}}""");
        var id = created["id"]!.GetValue<string>();
        var modified = await _api.CreateAsync($"assistants/{id}", """{"name":"b","metadata":{"b":"2"}}""");
        Assert.Equal("b", modified["name"]!.GetValue<string>());
        Assert.Equal("x", modified["instructions"]!.GetValue<string>());
        Assert.Equal("""{"b":"2"}""", modified["metadata"]!.ToJsonString());
    }

    [Fact]
    public async Task DeleteAssistant_Twice_SecondIs404()
    {
        var id = (await _api.CreateAsync("assistants", """{"model":"gpt-4o"}"""))["id"]!.GetValue<string>();
        var first = await _api.DeleteAsync($"assistants/{id}");
        Assert.Equal(HttpStatusCode.OK, first.Status);
        Assert.Equal("assistant.deleted", first.Body!["object"]!.GetValue<string>());
        Assert.True(first.Body!["deleted"]!.GetValue<bool>());
        ErrorAssert.IsClientError(await _api.DeleteAsync($"assistants/{id}"), HttpStatusCode.NotFound);
        ErrorAssert.IsClientError(await _api.GetAsync($"assistants/{id}"), HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task HealthAndMetrics_AreServed()
    {
        using var http = new HttpClient { BaseAddress = fixture.Server.BaseAddress };
        Assert.Equal("ok", await http.GetStringAsync("healthz"));
        await _api.GetAsync("assistants");
        var metrics = await http.GetStringAsync("metrics");
        Assert.Contains("http_server_request_duration", metrics, StringComparison.Ordinal);
    }

    [Fact]
    public async Task UnknownRoute_Is404InEnvelope()
    {
        ErrorAssert.IsClientError(await _api.GetAsync("no/such/route"), HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task ListModels_ListsConfiguredRoutesButNotTheCatchAll()
    {
        var (status, body) = await _api.GetAsync("models");
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal("list", body!["object"]!.GetValue<string>());
        Assert.Equal(["gpt-4o"], body["data"]!.AsArray().Select(m => m!["id"]!.GetValue<string>()));
        Assert.Equal("model", body["data"]![0]!["object"]!.GetValue<string>());
    }
}
