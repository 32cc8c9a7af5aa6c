using System.Buffers;
using System.Collections.Concurrent;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Threadloom.Testing;

/// <summary>
/// A real HTTP server on 127.0.0.1 (dynamic port) that speaks the OpenAI chat-completions wire format, plain and
/// streamed, and answers with replies each test scripts.
/// </summary>
/// <remarks>
/// Design notes: strict by default. A chat call with no scripted reply and no responder gets a 500 whose body says so,
/// and is recorded in <see cref="UnexpectedCalls"/>, so a test can tell "the engine called the model once too often"
/// from a genuine upstream failure. Enqueued replies are served first, then <see cref="RespondWith"/>. Embeddings are
/// deterministic (hashed bag of words, L2-normalised) unless <see cref="EmbeddingFunction"/> is set; scripted embedding
/// errors (<see cref="EnqueueEmbeddingErrors"/>, then <see cref="FailEmbeddingsWith"/>) are served before any vector.
/// Routes: <c>/v1/chat/completions</c>, <c>/chat/completions</c>, <c>/openai/deployments/{deployment}/chat/completions</c>,
/// and the same three shapes for <c>embeddings</c>. <c>GET /v1/models</c> and <c>/models</c> list <see cref="UpstreamModels"/>.
/// </remarks>
public sealed class ScriptedModelServer : IAsyncDisposable
{
    private static readonly JsonWriterOptions WriterOptions = new() { Indented = false };
    private static readonly byte[] DataPrefix = "data: "u8.ToArray();
    private static readonly byte[] EventEnd = "\n\n"u8.ToArray();
    private static readonly byte[] DoneEvent = "data: [DONE]\n\n"u8.ToArray();

    private readonly WebApplication _app;
    private readonly ConcurrentQueue<Reply> _replies = new();
    private readonly ConcurrentQueue<Reply> _embeddingErrors = new();
    private Reply? _embeddingFailure;
    private readonly List<ScriptedRequest> _requests = [];
    private readonly List<ScriptedRequest> _unexpected = [];
    private readonly Lock _gate = new();
    private Func<ScriptedRequest, Reply>? _responder;
    private int _sequence;
    private int _chatCalls;

    private ScriptedModelServer(WebApplication app)
    {
        _app = app;
    }

    /// <summary>The server root, e.g. <c>http://127.0.0.1:54321/</c> (Azure-style base / endpoint).</summary>
    public Uri BaseAddress { get; private set; } = null!;

    /// <summary>The OpenAI-style base URL, <c>{BaseAddress}v1/</c>, for <c>OPENAI_BASE_URL</c> or <c>Inference:Providers:*:BaseUrl</c>.</summary>
    public Uri OpenAIBaseAddress => new(BaseAddress, "v1/");

    /// <summary>When false, requests are not kept (for long benchmarks); unexpected calls are always kept.</summary>
    public bool RecordRequests { get; set; } = true;

    /// <summary>Embedding width when the request gives no <c>dimensions</c>.</summary>
    public int EmbeddingDimensions { get; set; } = 16;

    /// <summary>Wait before answering each embeddings call (a slow upstream, to catch ingestion mid-way).</summary>
    public TimeSpan EmbeddingDelay { get; set; }

    /// <summary>Overrides the deterministic embedding of one input text.</summary>
    public Func<string, float[]>? EmbeddingFunction { get; set; }

    /// <summary>The ids <c>GET /models</c> lists (OpenAI's list shape).</summary>
    public IReadOnlyList<string> UpstreamModels { get; set; } = ["scripted-model"];

    /// <summary>When non-zero, <c>GET /models</c> answers with this HTTP status and an OpenAI error body.</summary>
    public int ModelsFailureStatus { get; set; }

    /// <summary><c>GET /models</c> requests only.</summary>
    public IReadOnlyList<ScriptedRequest> ModelListRequests => [.. Requests.Where(r => r.Path.EndsWith("/models", StringComparison.Ordinal))];

    /// <summary>Every request received, in order of arrival (when <see cref="RecordRequests"/> is on).</summary>
    public IReadOnlyList<ScriptedRequest> Requests
    {
        get
        {
            lock (_gate)
            {
                return [.. _requests];
            }
        }
    }

    /// <summary>Chat-completions requests only.</summary>
    public IReadOnlyList<ScriptedRequest> ChatRequests => [.. Requests.Where(r => r.Path.EndsWith("/chat/completions", StringComparison.Ordinal))];

    /// <summary>Embeddings requests only, answered or failed.</summary>
    public IReadOnlyList<ScriptedRequest> EmbeddingRequests => [.. Requests.Where(r => r.Path.EndsWith("/embeddings", StringComparison.Ordinal))];

    /// <summary>Requests that found no scripted reply, or hit an unknown route.</summary>
    public IReadOnlyList<ScriptedRequest> UnexpectedCalls
    {
        get
        {
            lock (_gate)
            {
                return [.. _unexpected];
            }
        }
    }

    /// <summary>Chat-completions calls answered or refused so far.</summary>
    public int ChatCallCount => Volatile.Read(ref _chatCalls);

    /// <summary>Scripted replies not yet consumed.</summary>
    public int PendingReplies => _replies.Count;

    /// <summary>Starts a server on <c>http://127.0.0.1:0</c> and returns once it is listening.</summary>
    public static async Task<ScriptedModelServer> StartAsync(CancellationToken cancellationToken = default)
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions
        {
            Args = ["--urls", "http://127.0.0.1:0"],
            ApplicationName = typeof(ScriptedModelServer).Assembly.GetName().Name,
            ContentRootPath = AppContext.BaseDirectory,
        });
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        var app = builder.Build();
        var server = new ScriptedModelServer(app);
        server.MapRoutes(app);
        await app.StartAsync(cancellationToken);
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        server.BaseAddress = new Uri(address.TrimEnd('/') + "/");
        return server;
    }

    /// <summary>Queues replies, served in order to the next chat-completions calls.</summary>
    public void Enqueue(params Reply[] replies)
    {
        foreach (var reply in replies)
        {
            _replies.Enqueue(reply);
        }
    }

    /// <summary>Queues error replies (<see cref="Reply.Error"/>), served in order to the next embeddings calls.</summary>
    public void EnqueueEmbeddingErrors(params Reply[] errors)
    {
        foreach (var error in errors)
        {
            if (!error.IsError)
            {
                throw new ArgumentException("Only error replies can be scripted for embeddings; vectors come from EmbeddingFunction.", nameof(errors));
            }
            _embeddingErrors.Enqueue(error);
        }
    }

    /// <summary>Fails every embeddings call the error queue does not with <paramref name="error"/> (an upstream outage). Pass null to stop.</summary>
    public void FailEmbeddingsWith(Reply? error)
    {
        if (error is { IsError: false })
        {
            throw new ArgumentException("Only an error reply can fail embeddings.", nameof(error));
        }
        Volatile.Write(ref _embeddingFailure, error);
    }

    /// <summary>Answers every chat call the queue does not (benchmarks, many runs). Pass null to switch it off.</summary>
    public void RespondWith(Func<ScriptedRequest, Reply>? responder) => Volatile.Write(ref _responder, responder);

    /// <summary>Forgets recorded requests and unexpected calls, and drops pending replies.</summary>
    public void Reset()
    {
        _replies.Clear();
        _embeddingErrors.Clear();
        Volatile.Write(ref _embeddingFailure, null);
        lock (_gate)
        {
            _requests.Clear();
            _unexpected.Clear();
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }

    private void MapRoutes(IEndpointRouteBuilder routes)
    {
        routes.MapPost("/v1/chat/completions", HandleChatAsync);
        routes.MapPost("/chat/completions", HandleChatAsync);
        routes.MapPost("/openai/deployments/{deployment}/chat/completions", HandleChatAsync);
        routes.MapPost("/v1/embeddings", HandleEmbeddingsAsync);
        routes.MapPost("/embeddings", HandleEmbeddingsAsync);
        routes.MapPost("/openai/deployments/{deployment}/embeddings", HandleEmbeddingsAsync);
        routes.MapGet("/v1/models", HandleModelsAsync);
        routes.MapGet("/models", HandleModelsAsync);
        routes.MapFallback(HandleUnknownRouteAsync);
    }

    private async Task<ScriptedRequest> RecordAsync(HttpContext context)
    {
        var buffer = new MemoryStream();
        await context.Request.Body.CopyToAsync(buffer, context.RequestAborted);
        JsonElement body = default;
        if (buffer.Length > 0)
        {
            try
            {
                using var document = JsonDocument.Parse(buffer.GetBuffer().AsMemory(0, (int)buffer.Length));
                body = document.RootElement.Clone();
            }
            catch (JsonException)
            {
                // Leave Undefined: the request is still recorded, the handler decides.
            }
        }
        var query = context.Request.Query.ToDictionary(q => q.Key, q => q.Value.ToString(), StringComparer.OrdinalIgnoreCase);
        var headers = context.Request.Headers.ToDictionary(h => h.Key, h => h.Value.ToString(), StringComparer.OrdinalIgnoreCase);
        var request = new ScriptedRequest(
            Interlocked.Increment(ref _sequence),
            context.Request.Method,
            context.Request.Path.Value ?? "/",
            query,
            headers,
            body,
            context.Request.RouteValues.TryGetValue("deployment", out var d) ? d as string : null);
        if (RecordRequests)
        {
            lock (_gate)
            {
                _requests.Add(request);
            }
        }
        return request;
    }

    private async Task HandleChatAsync(HttpContext context)
    {
        var request = await RecordAsync(context);
        Interlocked.Increment(ref _chatCalls);
        Reply? reply = _replies.TryDequeue(out var queued) ? queued : null;
        if (reply is null && Volatile.Read(ref _responder) is { } responder)
        {
            reply = responder(request);
        }
        if (reply is null)
        {
            await RefuseAsync(context, request, $"ScriptedModelServer: no reply scripted for {request}. Call Enqueue(...) or RespondWith(...) in the test.");
            return;
        }
        try
        {
            if (reply.IsError)
            {
                await WriteErrorAsync(context, reply);
            }
            else if (request.Stream)
            {
                await WriteStreamAsync(context, request, reply);
            }
            else
            {
                await WriteCompletionAsync(context, request, reply);
            }
        }
        catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
        {
            // The client went away (a cancel test); nothing more to send.
        }
    }

    private async Task RefuseAsync(HttpContext context, ScriptedRequest request, string message)
    {
        lock (_gate)
        {
            _unexpected.Add(request);
        }
        context.Response.StatusCode = StatusCodes.Status500InternalServerError;
        await WriteJsonAsync(context, w => WriteErrorBody(w, message, "server_error", "scripted_server_unexpected_call"));
    }

    private Task HandleUnknownRouteAsync(HttpContext context) => HandleUnknownRouteCoreAsync(context);

    private async Task HandleUnknownRouteCoreAsync(HttpContext context)
    {
        var request = await RecordAsync(context);
        lock (_gate)
        {
            _unexpected.Add(request);
        }
        context.Response.StatusCode = StatusCodes.Status404NotFound;
        await WriteJsonAsync(context, w => WriteErrorBody(w, $"ScriptedModelServer: unknown route {request}.", "invalid_request_error", "unknown_url"));
    }

    private static async Task WriteErrorAsync(HttpContext context, Reply reply)
    {
        await DelayAsync(reply.DelayPerChunk, context.RequestAborted);
        context.Response.StatusCode = reply.StatusCode;
        if (reply.RetryAfter is { } retryAfter)
        {
            context.Response.Headers["Retry-After"] = ((int)Math.Ceiling(retryAfter.TotalSeconds)).ToString(CultureInfo.InvariantCulture);
            context.Response.Headers["retry-after-ms"] = ((long)retryAfter.TotalMilliseconds).ToString(CultureInfo.InvariantCulture);
        }
        var type = reply.StatusCode switch
        {
            429 => "requests",
            >= 500 => "server_error",
            _ => "invalid_request_error",
        };
        var message = reply.ErrorMessage ?? $"Scripted upstream error {reply.StatusCode}.";
        var code = reply.ErrorCode ?? (reply.StatusCode == 429 ? "rate_limit_exceeded" : null);
        await WriteJsonAsync(context, w => WriteErrorBody(w, message, type, code));
    }

    private static void WriteErrorBody(Utf8JsonWriter w, string message, string type, string? code)
    {
        w.WriteStartObject();
        w.WriteStartObject("error");
        w.WriteString("message", message);
        w.WriteString("type", type);
        w.WriteNull("param");
        if (code is null)
        {
            w.WriteNull("code");
        }
        else
        {
            w.WriteString("code", code);
        }
        w.WriteEndObject();
        w.WriteEndObject();
    }

    private static async Task WriteJsonAsync(HttpContext context, Action<Utf8JsonWriter> write)
    {
        var buffer = new ArrayBufferWriter<byte>(512);
        using (var writer = new Utf8JsonWriter(buffer, WriterOptions))
        {
            write(writer);
        }
        context.Response.ContentType = "application/json";
        context.Response.ContentLength = buffer.WrittenCount;
        await context.Response.Body.WriteAsync(buffer.WrittenMemory, context.RequestAborted);
    }

    private static Task DelayAsync(TimeSpan delay, CancellationToken cancellationToken) =>
        delay > TimeSpan.Zero ? Task.Delay(delay, cancellationToken) : Task.CompletedTask;

    private static string CompletionId(ScriptedRequest request) => $"chatcmpl-scripted-{request.Sequence}";

    private static string ToolCallId(ScriptedRequest request, ScriptedToolCall call, int index) =>
        call.Id ?? $"call_{request.Sequence}_{index}";

    private static (int Prompt, int Completion) UsageOf(ScriptedRequest request, Reply reply)
    {
        if (reply.Usage is { } usage)
        {
            return usage;
        }
        // Deterministic estimate: about four characters a token, never zero.
        var promptChars = request.Messages.Sum(m => ScriptedRequest.TextOf(m)?.Length ?? 0);
        var completionChars = (reply.Content?.Length ?? 0) + reply.Calls.Sum(c => c.Name.Length + c.Arguments.Length);
        return (Math.Max(1, promptChars / 4), Math.Max(1, completionChars / 4));
    }

    private static async Task WriteCompletionAsync(HttpContext context, ScriptedRequest request, Reply reply)
    {
        await DelayAsync(reply.DelayPerChunk, context.RequestAborted);
        var (prompt, completion) = UsageOf(request, reply);
        var created = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        await WriteJsonAsync(context, w =>
        {
            w.WriteStartObject();
            w.WriteString("id", CompletionId(request));
            w.WriteString("object", "chat.completion");
            w.WriteNumber("created", created);
            w.WriteString("model", request.Model ?? request.Deployment ?? "scripted");
            w.WriteStartArray("choices");
            w.WriteStartObject();
            w.WriteNumber("index", 0);
            w.WriteStartObject("message");
            w.WriteString("role", "assistant");
            if (reply.Content is null)
            {
                w.WriteNull("content");
            }
            else
            {
                w.WriteString("content", reply.Content);
            }
            w.WriteNull("refusal");
            if (reply.Calls.Count > 0)
            {
                w.WriteStartArray("tool_calls");
                for (var i = 0; i < reply.Calls.Count; i++)
                {
                    var call = reply.Calls[i];
                    w.WriteStartObject();
                    w.WriteString("id", ToolCallId(request, call, i));
                    w.WriteString("type", "function");
                    w.WriteStartObject("function");
                    w.WriteString("name", call.Name);
                    w.WriteString("arguments", call.Arguments);
                    w.WriteEndObject();
                    w.WriteEndObject();
                }
                w.WriteEndArray();
            }
            w.WriteEndObject();
            w.WriteNull("logprobs");
            w.WriteString("finish_reason", reply.FinishReason);
            w.WriteEndObject();
            w.WriteEndArray();
            WriteUsage(w, prompt, completion);
            w.WriteEndObject();
        });
    }

    private static void WriteUsage(Utf8JsonWriter w, int prompt, int completion)
    {
        w.WriteStartObject("usage");
        w.WriteNumber("prompt_tokens", prompt);
        w.WriteNumber("completion_tokens", completion);
        w.WriteNumber("total_tokens", prompt + completion);
        w.WriteEndObject();
    }

    private static async Task WriteStreamAsync(HttpContext context, ScriptedRequest request, Reply reply)
    {
        var response = context.Response;
        var cancellationToken = context.RequestAborted;
        response.StatusCode = StatusCodes.Status200OK;
        response.ContentType = "text/event-stream";
        response.Headers.CacheControl = "no-cache";
        var slow = reply.DelayPerChunk > TimeSpan.Zero || reply.AbortAfterChunks is not null || reply.Hold is not null;
        var id = CompletionId(request);
        var model = request.Model ?? request.Deployment ?? "scripted";
        var created = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        var includeUsage = request.IncludeUsage;
        var sent = 0;

        // Returns false once the scripted abort point is reached.
        async Task<bool> SendAsync(Action<Utf8JsonWriter> delta, string? finishReason)
        {
            if (reply.AbortAfterChunks is { } abortAfter && sent >= abortAfter)
            {
                await response.Body.FlushAsync(cancellationToken);
                // A reset can make the client drop bytes it has not read yet; give it a moment to read what was sent.
                await Task.Delay(TimeSpan.FromMilliseconds(100), cancellationToken);
                context.Abort();
                return false;
            }
            if (reply.EndAfterChunks is { } endAfter && sent >= endAfter)
            {
                await response.Body.FlushAsync(cancellationToken);
                return false;
            }
            if (reply.Hold is { } hold && sent == reply.HoldAfterChunks)
            {
                // Everything before the hold point is on the wire; the rest waits for the test.
                await response.Body.FlushAsync(cancellationToken);
                await hold.WaitAsync(cancellationToken);
            }
            await DelayAsync(reply.DelayPerChunk, cancellationToken);
            var buffer = new ArrayBufferWriter<byte>(256);
            buffer.Write(DataPrefix);
            using (var w = new Utf8JsonWriter(buffer, WriterOptions))
            {
                w.WriteStartObject();
                w.WriteString("id", id);
                w.WriteString("object", "chat.completion.chunk");
                w.WriteNumber("created", created);
                w.WriteString("model", model);
                w.WriteNull("system_fingerprint");
                w.WriteStartArray("choices");
                w.WriteStartObject();
                w.WriteNumber("index", 0);
                w.WriteStartObject("delta");
                delta(w);
                w.WriteEndObject();
                w.WriteNull("logprobs");
                if (finishReason is null)
                {
                    w.WriteNull("finish_reason");
                }
                else
                {
                    w.WriteString("finish_reason", finishReason);
                }
                w.WriteEndObject();
                w.WriteEndArray();
                if (includeUsage)
                {
                    w.WriteNull("usage");
                }
                w.WriteEndObject();
            }
            buffer.Write(EventEnd);
            await response.Body.WriteAsync(buffer.WrittenMemory, cancellationToken);
            if (slow)
            {
                await response.Body.FlushAsync(cancellationToken);
            }
            sent++;
            return true;
        }

        if (!await SendAsync(w => { w.WriteString("role", "assistant"); w.WriteString("content", ""); w.WriteNull("refusal"); }, null))
        {
            return;
        }
        var text = reply.Content ?? "";
        for (var offset = 0; offset < text.Length; offset += reply.ChunkSize)
        {
            var piece = text.Substring(offset, Math.Min(reply.ChunkSize, text.Length - offset));
            if (!await SendAsync(w => w.WriteString("content", piece), null))
            {
                return;
            }
        }
        for (var i = 0; i < reply.Calls.Count; i++)
        {
            var index = i;
            var call = reply.Calls[i];
            var callId = ToolCallId(request, call, i);
            var opened = await SendAsync(w =>
            {
                w.WriteStartArray("tool_calls");
                w.WriteStartObject();
                w.WriteNumber("index", index);
                w.WriteString("id", callId);
                w.WriteString("type", "function");
                w.WriteStartObject("function");
                w.WriteString("name", call.Name);
                w.WriteString("arguments", "");
                w.WriteEndObject();
                w.WriteEndObject();
                w.WriteEndArray();
            }, null);
            if (!opened)
            {
                return;
            }
            for (var offset = 0; offset < call.Arguments.Length; offset += reply.ArgumentChunkSize)
            {
                var fragment = call.Arguments.Substring(offset, Math.Min(reply.ArgumentChunkSize, call.Arguments.Length - offset));
                var more = await SendAsync(w =>
                {
                    w.WriteStartArray("tool_calls");
                    w.WriteStartObject();
                    w.WriteNumber("index", index);
                    w.WriteStartObject("function");
                    w.WriteString("arguments", fragment);
                    w.WriteEndObject();
                    w.WriteEndObject();
                    w.WriteEndArray();
                }, null);
                if (!more)
                {
                    return;
                }
            }
        }
        if (!await SendAsync(_ => { }, reply.FinishReason))
        {
            return;
        }
        if (includeUsage)
        {
            var (prompt, completion) = UsageOf(request, reply);
            var buffer = new ArrayBufferWriter<byte>(256);
            buffer.Write(DataPrefix);
            using (var w = new Utf8JsonWriter(buffer, WriterOptions))
            {
                w.WriteStartObject();
                w.WriteString("id", id);
                w.WriteString("object", "chat.completion.chunk");
                w.WriteNumber("created", created);
                w.WriteString("model", model);
                w.WriteNull("system_fingerprint");
                w.WriteStartArray("choices");
                w.WriteEndArray();
                WriteUsage(w, prompt, completion);
                w.WriteEndObject();
            }
            buffer.Write(EventEnd);
            await response.Body.WriteAsync(buffer.WrittenMemory, cancellationToken);
        }
        await response.Body.WriteAsync(DoneEvent, cancellationToken);
        await response.Body.FlushAsync(cancellationToken);
    }

    private async Task HandleModelsAsync(HttpContext context)
    {
        await RecordAsync(context);
        if (ModelsFailureStatus != 0)
        {
            await WriteErrorAsync(context, Reply.Error(ModelsFailureStatus));
            return;
        }
        var models = UpstreamModels;
        await WriteJsonAsync(context, w =>
        {
            w.WriteStartObject();
            w.WriteString("object", "list");
            w.WriteStartArray("data");
            foreach (var id in models)
            {
                w.WriteStartObject();
                w.WriteString("id", id);
                w.WriteString("object", "model");
                w.WriteNumber("created", 1_700_000_000);
                w.WriteString("owned_by", "scripted");
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteEndObject();
        });
    }

    private async Task HandleEmbeddingsAsync(HttpContext context)
    {
        var request = await RecordAsync(context);
        try
        {
            await DelayAsync(EmbeddingDelay, context.RequestAborted);
        }
        catch (OperationCanceledException)
        {
            return;
        }
        if ((_embeddingErrors.TryDequeue(out var queued) ? queued : Volatile.Read(ref _embeddingFailure)) is { } error)
        {
            await WriteErrorAsync(context, error);
            return;
        }
        var body = request.Body;
        if (body.ValueKind != JsonValueKind.Object || !body.TryGetProperty("input", out var input))
        {
            await RefuseAsync(context, request, "ScriptedModelServer: embeddings request without 'input'.");
            return;
        }
        List<string> texts = input.ValueKind switch
        {
            JsonValueKind.String => [input.GetString()!],
            JsonValueKind.Array => [.. input.EnumerateArray().Select(e => e.ValueKind == JsonValueKind.String ? e.GetString()! : e.GetRawText())],
            _ => [input.GetRawText()],
        };
        var dimensions = body.TryGetProperty("dimensions", out var d) && d.ValueKind == JsonValueKind.Number ? d.GetInt32() : EmbeddingDimensions;
        var base64 = body.TryGetProperty("encoding_format", out var f) && f.ValueKind == JsonValueKind.String && f.GetString() == "base64";
        var embed = EmbeddingFunction ?? (text => HashEmbedding(text, dimensions));
        var tokens = texts.Sum(t => Math.Max(1, t.Length / 4));
        await WriteJsonAsync(context, w =>
        {
            w.WriteStartObject();
            w.WriteString("object", "list");
            w.WriteStartArray("data");
            for (var i = 0; i < texts.Count; i++)
            {
                var vector = embed(texts[i]);
                w.WriteStartObject();
                w.WriteString("object", "embedding");
                w.WriteNumber("index", i);
                if (base64)
                {
                    var bytes = new byte[vector.Length * sizeof(float)];
                    Buffer.BlockCopy(vector, 0, bytes, 0, bytes.Length);
                    w.WriteBase64String("embedding", bytes);
                }
                else
                {
                    w.WriteStartArray("embedding");
                    foreach (var x in vector)
                    {
                        w.WriteNumberValue(x);
                    }
                    w.WriteEndArray();
                }
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteString("model", request.Model ?? request.Deployment ?? "scripted-embedding");
            w.WriteStartObject("usage");
            w.WriteNumber("prompt_tokens", tokens);
            w.WriteNumber("total_tokens", tokens);
            w.WriteEndObject();
            w.WriteEndObject();
        });
    }

    /// <summary>
    /// A stable bag-of-words vector: texts sharing words are close; the same text always maps to the same vector.
    /// Words are runs of letters and digits, case-folded, so "Leave," and "leave" count as the same word.
    /// </summary>
    public static float[] HashEmbedding(string text, int dimensions)
    {
        var vector = new float[Math.Max(1, dimensions)];
        foreach (var word in Words(text))
        {
            var hash = 2166136261u;
            foreach (var b in Encoding.UTF8.GetBytes(word.ToLowerInvariant()))
            {
                hash = (hash ^ b) * 16777619u;
            }
            vector[hash % (uint)vector.Length] += (hash & 0x80000000u) == 0 ? 1f : -1f;
        }
        var norm = MathF.Sqrt(vector.Sum(x => x * x));
        if (norm == 0)
        {
            vector[0] = 1f;
            return vector;
        }
        for (var i = 0; i < vector.Length; i++)
        {
            vector[i] /= norm;
        }
        return vector;
    }

    private static IEnumerable<string> Words(string text)
    {
        var start = -1;
        for (var i = 0; i <= text.Length; i++)
        {
            var inWord = i < text.Length && char.IsLetterOrDigit(text[i]);
            if (inWord && start < 0)
            {
                start = i;
            }
            else if (!inWord && start >= 0)
            {
                yield return text[start..i];
                start = -1;
            }
        }
    }
}
