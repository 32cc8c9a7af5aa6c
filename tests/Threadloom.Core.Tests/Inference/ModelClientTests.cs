using System.Text.Json;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;
using Threadloom.Core.Domain;
using Threadloom.Core.Inference;
using Threadloom.Testing;

namespace Threadloom.Core.Tests.Inference;

public sealed class ModelClientTests : IAsyncLifetime
{
    private const string Key = "sk-test-secret-key-123456";
    private ScriptedModelServer _server = null!;
    private ServiceProvider _services = null!;
    private readonly RecordingTimeProvider _time = new();

    public async Task InitializeAsync()
    {
        _server = await ScriptedModelServer.StartAsync();
        _services = InferenceHarness.Build(InferenceHarness.OpenAIProvider(_server.OpenAIBaseAddress, apiKey: Key), _time);
    }

    public async Task DisposeAsync()
    {
        await _services.DisposeAsync();
        await _server.DisposeAsync();
    }

    private IModelClient Client => _services.GetRequiredService<IModelClient>();

    [Fact]
    public async Task StreamAsync_PlainText_YieldsTextThenStop()
    {
        _server.Enqueue(Reply.Text("Hello there", chunkSize: 100));

        var events = await Client.CollectAsync(InferenceHarness.Ask("gpt-4o", "Hi"));

        Assert.Equal("Hello there", Assert.Single(events.OfType<TextDelta>()).Text);
        var finished = Assert.IsType<ModelFinished>(events[^1]);
        Assert.Equal("stop", finished.FinishReason);
        Assert.Empty(finished.ToolCalls);
        var request = Assert.Single(_server.ChatRequests);
        Assert.Equal("/v1/chat/completions", request.Path);
        Assert.Equal($"Bearer {Key}", request.Header("Authorization"));
        Assert.Equal("gpt-4o", request.Model);
        Assert.True(request.Stream);
        Assert.Equal("Hi", request.LastUserText);
        Assert.Empty(_server.UnexpectedCalls);
    }

    [Fact]
    public async Task StreamAsync_ChunkedText_YieldsEveryDeltaInOrder()
    {
        _server.Enqueue(Reply.Text("The quick brown fox", chunkSize: 2));

        var events = await Client.CollectAsync(InferenceHarness.Ask("gpt-4o", "Hi"));

        var deltas = events.OfType<TextDelta>().Select(d => d.Text).ToList();
        Assert.Equal(10, deltas.Count);
        Assert.Equal("Th", deltas[0]);
        Assert.Equal("The quick brown fox", string.Concat(deltas));
        Assert.IsType<ModelFinished>(events[^1]);
    }

    [Fact]
    public async Task StreamAsync_ParallelToolCalls_SurfacesFragmentsAndCompleteCalls()
    {
        const string MsftArgs = "{\"symbol\":\"MSFT\"}";
        const string WeatherArgs = "{\"city\": \"Paris\", \"unit\": \"c\"}";
        _server.Enqueue(Reply.ToolCalls(
            new ScriptedToolCall("get_stock_price", MsftArgs, "call_a"),
            new ScriptedToolCall("get_weather", WeatherArgs, "call_b")).WithArgumentChunkSize(4));

        var events = await Client.CollectAsync(InferenceHarness.Ask("gpt-4o", "Price and weather?"));

        var deltas = events.OfType<ToolCallDelta>().ToList();
        var first = deltas.Where(d => d.Index == 0).ToList();
        var second = deltas.Where(d => d.Index == 1).ToList();
        Assert.Equal(("call_a", "get_stock_price"), (first[0].Id, first[0].Name));
        Assert.Equal(("call_b", "get_weather"), (second[0].Id, second[0].Name));
        Assert.True(first.Count(d => d.ArgumentsFragment.Length > 0) > 1, "arguments should arrive in several fragments");
        Assert.All(first.Skip(1), d => Assert.Null(d.Id));
        Assert.Equal(MsftArgs, string.Concat(first.Select(d => d.ArgumentsFragment)));
        Assert.Equal(WeatherArgs, string.Concat(second.Select(d => d.ArgumentsFragment)));
        // Fragments are yielded before the stream ends, not batched into the final event.
        Assert.True(events.IndexOf(first[1]) < events.Count - 1);

        var finished = Assert.IsType<ModelFinished>(events[^1]);
        Assert.Equal("tool_calls", finished.FinishReason);
        Assert.Equal(
            [new ModelToolCall("call_a", "get_stock_price", MsftArgs), new ModelToolCall("call_b", "get_weather", WeatherArgs)],
            finished.ToolCalls);
    }

    [Fact]
    public async Task StreamAsync_AsksForAndSurfacesUsage()
    {
        _server.Enqueue(Reply.Text("ok").WithUsage(123, 45));

        var events = await Client.CollectAsync(InferenceHarness.Ask("gpt-4o", "Hi"));

        Assert.True(Assert.Single(_server.ChatRequests).IncludeUsage);
        var finished = Assert.IsType<ModelFinished>(events[^1]);
        Assert.Equal(new ModelUsage(123, 45), finished.Usage);
    }

    [Fact]
    public async Task StreamAsync_LengthFinish_IsReported()
    {
        _server.Enqueue(Reply.Length("cut sho"));

        var events = await Client.CollectAsync(InferenceHarness.Ask("gpt-4o", "Hi"));

        Assert.Equal("length", Assert.IsType<ModelFinished>(events[^1]).FinishReason);
    }

    [Fact]
    public async Task StreamAsync_ServerErrorThenSuccess_IsRetried()
    {
        _server.Enqueue(Reply.Error(500), Reply.Error(503), Reply.Text("recovered"));

        var events = await Client.CollectAsync(InferenceHarness.Ask("gpt-4o", "Hi"));

        Assert.Equal("recovered", string.Concat(events.OfType<TextDelta>().Select(d => d.Text)));
        Assert.Equal(3, _server.ChatCallCount);
        Assert.Equal(0, _server.PendingReplies);
    }

    [Fact]
    public async Task StreamAsync_BackoffDoublesAndHonoursRetryAfter()
    {
        _server.Enqueue(Reply.Error(500), Reply.Error(429, retryAfter: TimeSpan.FromSeconds(2)), Reply.Text("ok"));

        await Client.CollectAsync(InferenceHarness.Ask("gpt-4o", "Hi"));

        // Base delay 1 ms; the second retry would be 2 ms but the upstream asked for 2 s.
        Assert.Equal([TimeSpan.FromMilliseconds(1), TimeSpan.FromSeconds(2)], _time.Delays.ToArray());
    }

    [Fact]
    public async Task StreamAsync_RateLimitedUntilRetriesExhausted_ThrowsRateLimitExceeded()
    {
        _server.Enqueue(Reply.Error(429), Reply.Error(429), Reply.Error(429));

        var error = await Assert.ThrowsAsync<ModelCallException>(() => Client.CollectAsync(InferenceHarness.Ask("gpt-4o", "Hi")));

        Assert.Equal(ModelErrorCodes.RateLimitExceeded, error.Code);
        Assert.Equal(429, error.UpstreamStatus);
        Assert.Equal(3, _server.ChatCallCount); // first try + MaxRetries (2)
        AssertSafe(error.Message);
    }

    [Fact]
    public async Task StreamAsync_ServerErrorsUntilRetriesExhausted_ThrowsServerError()
    {
        _server.Enqueue(Reply.Error(500), Reply.Error(502), Reply.Error(500));

        var error = await Assert.ThrowsAsync<ModelCallException>(() => Client.CollectAsync(InferenceHarness.Ask("gpt-4o", "Hi")));

        Assert.Equal(ModelErrorCodes.ServerError, error.Code);
        Assert.Equal(500, error.UpstreamStatus);
        Assert.Equal(3, _server.ChatCallCount);
        AssertSafe(error.Message);
    }

    [Fact]
    public async Task StreamAsync_BadRequest_IsNotRetriedAndIsInvalidPrompt()
    {
        _server.Enqueue(Reply.Error(400, "This model's maximum context length is 8192 tokens. Key sk-abcdefghijklmnop."));

        var error = await Assert.ThrowsAsync<ModelCallException>(() => Client.CollectAsync(InferenceHarness.Ask("gpt-4o", "Hi")));

        Assert.Equal(ModelErrorCodes.InvalidPrompt, error.Code);
        Assert.Contains("maximum context length is 8192", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("sk-abcdefghijklmnop", error.Message, StringComparison.Ordinal);
        Assert.Equal(1, _server.ChatCallCount);
    }

    [Fact]
    public async Task StreamAsync_StreamBrokenMidway_ThrowsServerErrorAfterEarlierDeltas()
    {
        _server.Enqueue(Reply.Text("Hello world, this breaks", chunkSize: 3).AbortAfter(3));
        var seen = new List<ModelStreamEvent>();

        var error = await Assert.ThrowsAsync<ModelCallException>(async () =>
        {
            await foreach (var e in Client.StreamAsync(InferenceHarness.Ask("gpt-4o", "Hi"), CancellationToken.None))
            {
                seen.Add(e);
            }
        });

        Assert.Equal(ModelErrorCodes.ServerError, error.Code);
        Assert.NotEmpty(seen.OfType<TextDelta>());
        Assert.DoesNotContain(seen, e => e is ModelFinished);
        Assert.Equal(1, _server.ChatCallCount);
    }

    [Fact]
    public async Task StreamAsync_StreamEndsWithoutFinishReason_ThrowsServerError()
    {
        _server.Enqueue(Reply.Text("Hello world", chunkSize: 3).EndAfter(2));

        var error = await Assert.ThrowsAsync<ModelCallException>(() => Client.CollectAsync(InferenceHarness.Ask("gpt-4o", "Hi")));

        Assert.Equal(ModelErrorCodes.ServerError, error.Code);
    }

    [Fact]
    public async Task StreamAsync_Cancelled_ThrowsOperationCanceled()
    {
        _server.Enqueue(Reply.Text("slow slow slow slow", chunkSize: 1).WithDelayPerChunk(TimeSpan.FromMilliseconds(200)));
        using var cts = new CancellationTokenSource();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () =>
        {
            await foreach (var e in Client.StreamAsync(InferenceHarness.Ask("gpt-4o", "Hi"), cts.Token))
            {
                if (e is TextDelta)
                {
                    await cts.CancelAsync();
                }
            }
        });
    }

    [Fact]
    public async Task StreamAsync_Unscripted_RecordsUnexpectedCallAndFails()
    {
        var error = await Assert.ThrowsAsync<ModelCallException>(() => Client.CollectAsync(InferenceHarness.Ask("gpt-4o", "Hi")));

        Assert.Equal(ModelErrorCodes.ServerError, error.Code);
        Assert.Equal(3, _server.UnexpectedCalls.Count);
    }

    [Fact]
    public async Task StreamAsync_TranslatesToolsChoiceFormatAndSampling()
    {
        _server.Enqueue(Reply.Text("{}"));
        using var schema = JsonDocument.Parse("""{"type":"object","properties":{"symbol":{"type":"string","description":"Ticker"}},"required":["symbol"],"additionalProperties":false}""");
        using var format = JsonDocument.Parse("""{"type":"object","properties":{"answer":{"type":"string"}}}""");
        var request = InferenceHarness.Ask("gpt-4o", "Hi") with
        {
            Tools = [new ModelTool("get_stock_price", "Gets a price", schema.RootElement, true), new ModelTool("noop", null, null, null)],
            ForcedFunction = "get_stock_price",
            ParallelToolCalls = false,
            Temperature = 0.5,
            TopP = 0.25,
            MaxOutputTokens = 300,
            ResponseFormat = new ResponseFormat("json_schema", new JsonSchemaFormat("answer", "The answer", format.RootElement, true)),
        };

        await Client.CollectAsync(request);

        var body = Assert.Single(_server.ChatRequests).Body;
        var tools = body.GetProperty("tools").EnumerateArray().ToList();
        Assert.Equal(2, tools.Count);
        Assert.Equal("function", tools[0].GetProperty("type").GetString());
        var function = tools[0].GetProperty("function");
        Assert.Equal("get_stock_price", function.GetProperty("name").GetString());
        Assert.Equal("Gets a price", function.GetProperty("description").GetString());
        Assert.True(function.GetProperty("strict").GetBoolean());
        Assert.True(JsonElement.DeepEquals(schema.RootElement, function.GetProperty("parameters")));
        Assert.Equal("get_stock_price", body.GetProperty("tool_choice").GetProperty("function").GetProperty("name").GetString());
        Assert.False(body.GetProperty("parallel_tool_calls").GetBoolean());
        Assert.Equal(0.5, body.GetProperty("temperature").GetDouble(), 3);
        Assert.Equal(0.25, body.GetProperty("top_p").GetDouble(), 3);
        Assert.Equal(300, body.GetProperty("max_completion_tokens").GetInt32());
        var responseFormat = body.GetProperty("response_format");
        Assert.Equal("json_schema", responseFormat.GetProperty("type").GetString());
        Assert.Equal("answer", responseFormat.GetProperty("json_schema").GetProperty("name").GetString());
        Assert.True(responseFormat.GetProperty("json_schema").GetProperty("strict").GetBoolean());
        Assert.True(JsonElement.DeepEquals(format.RootElement, responseFormat.GetProperty("json_schema").GetProperty("schema")));
    }

    [Theory]
    [InlineData("none", "none")]
    [InlineData("required", "required")]
    [InlineData("auto", "auto")]
    public async Task StreamAsync_ToolChoiceStrings_AreSent(string choice, string expected)
    {
        _server.Enqueue(Reply.Text("ok"));
        var request = InferenceHarness.Ask("gpt-4o", "Hi") with { Tools = [new ModelTool("f", null, null, null)], ToolChoice = choice };

        await Client.CollectAsync(request);

        Assert.Equal(expected, Assert.Single(_server.ChatRequests).Body.GetProperty("tool_choice").GetString());
    }

    [Fact]
    public async Task StreamAsync_NoTools_SendsNoToolFields()
    {
        _server.Enqueue(Reply.Text("ok"));

        await Client.CollectAsync(InferenceHarness.Ask("gpt-4o", "Hi") with { ParallelToolCalls = true, ToolChoice = "auto", ResponseFormat = ResponseFormat.Auto });

        var body = Assert.Single(_server.ChatRequests).Body;
        Assert.False(body.TryGetProperty("tools", out _));
        Assert.False(body.TryGetProperty("tool_choice", out _));
        Assert.False(body.TryGetProperty("parallel_tool_calls", out _));
        Assert.False(body.TryGetProperty("response_format", out _));
    }

    [Fact]
    public async Task StreamAsync_JsonObjectFormat_IsSent()
    {
        _server.Enqueue(Reply.Text("{}"));

        await Client.CollectAsync(InferenceHarness.Ask("gpt-4o", "Hi") with { ResponseFormat = new ResponseFormat("json_object") });

        Assert.Equal("json_object", Assert.Single(_server.ChatRequests).Body.GetProperty("response_format").GetProperty("type").GetString());
    }

    [Fact]
    public async Task StreamAsync_PriorToolCallsAndResults_RoundTripToTheWire()
    {
        _server.Enqueue(Reply.Text("MSFT is 420."));
        var messages = new List<ChatMessage>
        {
            new(ChatRole.System, "You are a broker."),
            new(ChatRole.User, "Price of MSFT and AAPL?"),
            ModelMessages.AssistantToolCalls(
                [new ModelToolCall("call_1", "get_stock_price", "{\"symbol\":\"MSFT\"}"), new ModelToolCall("call_2", "get_stock_price", "{\"symbol\":\"AAPL\",\"n\":2}")],
                "Let me look."),
            ModelMessages.ToolResult("call_1", "420"),
            ModelMessages.ToolResult("call_2", "{\"price\":190}"),
        };

        await Client.CollectAsync(new ModelRequest("gpt-4o", messages, []));

        var wire = Assert.Single(_server.ChatRequests).Messages;
        Assert.Equal(["system", "user", "assistant", "tool", "tool"], wire.Select(m => m.GetProperty("role").GetString()));
        var calls = wire[2].GetProperty("tool_calls").EnumerateArray().ToList();
        Assert.Equal(["call_1", "call_2"], calls.Select(c => c.GetProperty("id").GetString()));
        Assert.All(calls, c => Assert.Equal("function", c.GetProperty("type").GetString()));
        Assert.Equal("get_stock_price", calls[0].GetProperty("function").GetProperty("name").GetString());
        using var args = JsonDocument.Parse(calls[1].GetProperty("function").GetProperty("arguments").GetString()!);
        Assert.Equal("AAPL", args.RootElement.GetProperty("symbol").GetString());
        Assert.Equal(2, args.RootElement.GetProperty("n").GetInt32());
        Assert.Equal("Let me look.", ScriptedTextOf(wire[2]));
        Assert.Equal("call_1", wire[3].GetProperty("tool_call_id").GetString());
        Assert.Equal("420", ScriptedTextOf(wire[3]));
        Assert.Equal("call_2", wire[4].GetProperty("tool_call_id").GetString());
        Assert.Equal("{\"price\":190}", ScriptedTextOf(wire[4]));
    }

    private static string? ScriptedTextOf(JsonElement message)
    {
        var content = message.GetProperty("content");
        return content.ValueKind == JsonValueKind.String
            ? content.GetString()
            : string.Concat(content.EnumerateArray().Select(p => p.GetProperty("text").GetString()));
    }

    private static void AssertSafe(string message)
    {
        Assert.DoesNotContain(Key, message, StringComparison.Ordinal);
        Assert.DoesNotContain("127.0.0.1", message, StringComparison.Ordinal);
        Assert.DoesNotContain("://", message, StringComparison.Ordinal);
    }
}
