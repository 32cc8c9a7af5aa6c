using System.ClientModel;
using System.Net;
using System.Text;
using System.Text.Json;
using OpenAI;
using OpenAI.Chat;
using OpenAI.Embeddings;
using Threadloom.Testing;

namespace Threadloom.Core.Tests.Inference;

/// <summary>The scripted server against the official SDK and raw HTTP: what other test suites rely on.</summary>
public sealed class ScriptedModelServerTests : IAsyncLifetime
{
    private ScriptedModelServer _server = null!;

    public async Task InitializeAsync() => _server = await ScriptedModelServer.StartAsync();

    public async Task DisposeAsync() => await _server.DisposeAsync();

    private OpenAIClient Sdk() => new(new ApiKeyCredential("k"), new OpenAIClientOptions { Endpoint = _server.OpenAIBaseAddress, RetryPolicy = new System.ClientModel.Primitives.ClientRetryPolicy(0) });

    [Fact]
    public async Task NonStreamed_TextAndToolCalls_ParseWithTheOfficialSdk()
    {
        _server.Enqueue(Reply.Text("Hello"), Reply.ToolCalls(("f", "{\"a\":1}")).WithText("Calling").WithUsage(7, 3));
        var chat = Sdk().GetChatClient("m");

        ChatCompletion text = await chat.CompleteChatAsync([new UserChatMessage("hi")]);
        ChatCompletion tools = await chat.CompleteChatAsync([new UserChatMessage("hi")]);

        Assert.Equal("Hello", text.Content[0].Text);
        Assert.Equal(ChatFinishReason.Stop, text.FinishReason);
        Assert.Equal(ChatFinishReason.ToolCalls, tools.FinishReason);
        Assert.Equal("Calling", tools.Content[0].Text);
        var call = Assert.Single(tools.ToolCalls);
        Assert.Equal(("f", "{\"a\":1}", "call_2_0"), (call.FunctionName, call.FunctionArguments.ToString(), call.Id));
        Assert.Equal((7, 3), (tools.Usage.InputTokenCount, tools.Usage.OutputTokenCount));
    }

    [Fact]
    public async Task Responder_AnswersWhenTheQueueIsEmpty_AndSeesTheRequest()
    {
        _server.Enqueue(Reply.Text("queued"));
        _server.RespondWith(request => Reply.Text($"echo {request.LastUserText}"));
        var chat = Sdk().GetChatClient("m");

        ChatCompletion first = await chat.CompleteChatAsync([new UserChatMessage("one")]);
        ChatCompletion second = await chat.CompleteChatAsync([new UserChatMessage("two")]);

        Assert.Equal("queued", first.Content[0].Text);
        Assert.Equal("echo two", second.Content[0].Text);
        Assert.Empty(_server.UnexpectedCalls);
    }

    [Fact]
    public async Task Stream_RawWireFormat_IsSseWithDoneAndUsageChunk()
    {
        _server.Enqueue(Reply.Text("abc", chunkSize: 2));
        using var http = new HttpClient();
        using var content = new StringContent("""{"model":"m","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi"}]}""", Encoding.UTF8, "application/json");

        using var response = await http.PostAsync(new Uri(_server.BaseAddress, "chat/completions"), content);
        var body = await response.Content.ReadAsStringAsync();

        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        var events = body.Split("\n\n", StringSplitOptions.RemoveEmptyEntries);
        Assert.All(events, e => Assert.StartsWith("data: ", e, StringComparison.Ordinal));
        Assert.Equal("data: [DONE]", events[^1]);
        using var usage = JsonDocument.Parse(events[^2]["data: ".Length..]);
        Assert.Equal(0, usage.RootElement.GetProperty("choices").GetArrayLength());
        Assert.True(usage.RootElement.GetProperty("usage").GetProperty("total_tokens").GetInt32() > 0);
        using var finish = JsonDocument.Parse(events[^3]["data: ".Length..]);
        Assert.Equal("stop", finish.RootElement.GetProperty("choices")[0].GetProperty("finish_reason").GetString());
        Assert.Equal("/chat/completions", Assert.Single(_server.Requests).Path);
    }

    [Fact]
    public async Task UnknownRoute_Is404AndRecordedAsUnexpected()
    {
        using var http = new HttpClient();

        using var response = await http.GetAsync(new Uri(_server.BaseAddress, "v1/no-such-route"));

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Equal("/v1/no-such-route", Assert.Single(_server.UnexpectedCalls).Path);
    }

    [Fact]
    public async Task Unscripted_Is500WithAClearBody()
    {
        using var http = new HttpClient();
        using var content = new StringContent("""{"model":"m","messages":[]}""", Encoding.UTF8, "application/json");

        using var response = await http.PostAsync(new Uri(_server.OpenAIBaseAddress, "chat/completions"), content);

        Assert.Equal(HttpStatusCode.InternalServerError, response.StatusCode);
        Assert.Contains("no reply scripted", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Single(_server.UnexpectedCalls);
    }

    [Fact]
    public async Task Embeddings_AreDeterministicAndWorkWithTheOfficialSdk()
    {
        var embeddings = Sdk().GetEmbeddingClient("e");

        OpenAIEmbeddingCollection result = await embeddings.GenerateEmbeddingsAsync(["red apple pie", "red apple pie", "quantum physics"]);

        Assert.Equal(3, result.Count);
        var a = result[0].ToFloats().ToArray();
        Assert.Equal(_server.EmbeddingDimensions, a.Length);
        Assert.Equal(a, result[1].ToFloats().ToArray());
        Assert.Equal(ScriptedModelServer.HashEmbedding("red apple pie", _server.EmbeddingDimensions), a);
        Assert.NotEqual(a, result[2].ToFloats().ToArray());
        Assert.Equal("/v1/embeddings", Assert.Single(_server.Requests).Path);
    }
}
