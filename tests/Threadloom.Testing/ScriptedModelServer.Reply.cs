namespace Threadloom.Testing;

/// <summary>One tool call a scripted reply makes; <paramref name="Id"/> defaults to <c>call_{request}_{index}</c>.</summary>
public sealed record ScriptedToolCall(string Name, string Arguments, string? Id = null);

/// <summary>
/// One scripted answer of <see cref="ScriptedModelServer"/> to one chat-completions request. Immutable: the
/// <c>With…</c> methods return a copy. The same reply renders as JSON or as an SSE stream, depending on the request's
/// <c>stream</c> flag.
/// </summary>
public sealed record Reply
{
    private Reply()
    {
    }

    /// <summary>Assistant text; <c>null</c> for a tool-calls-only reply.</summary>
    public string? Content { get; init; }

    /// <summary>Characters of <see cref="Content"/> per streamed chunk (at least 1).</summary>
    public int ChunkSize { get; init; } = 4;

    public IReadOnlyList<ScriptedToolCall> Calls { get; init; } = [];

    /// <summary>Characters of tool-call arguments per streamed chunk (at least 1).</summary>
    public int ArgumentChunkSize { get; init; } = 5;

    /// <summary><c>stop</c>, <c>length</c>, <c>tool_calls</c> or <c>content_filter</c>.</summary>
    public string FinishReason { get; init; } = "stop";

    /// <summary>Non-zero for an error reply: the HTTP status sent with an OpenAI error body.</summary>
    public int StatusCode { get; init; }

    public string? ErrorMessage { get; init; }

    public string? ErrorCode { get; init; }

    /// <summary>Sent as <c>Retry-After</c> (whole seconds, rounded up) and <c>retry-after-ms</c>.</summary>
    public TimeSpan? RetryAfter { get; init; }

    /// <summary>Wait before each streamed chunk (and before a non-streamed body), for slow-stream and cancel tests.</summary>
    public TimeSpan DelayPerChunk { get; init; }

    /// <summary>Explicit usage; when null the server makes a deterministic estimate.</summary>
    public (int PromptTokens, int CompletionTokens)? Usage { get; init; }

    /// <summary>When set, the connection is aborted after this many streamed chunks (a mid-stream upstream failure).</summary>
    public int? AbortAfterChunks { get; init; }

    /// <summary>When set, the stream ends cleanly after this many chunks, with no finish_reason and no <c>[DONE]</c>.</summary>
    public int? EndAfterChunks { get; init; }

    /// <summary>When set, the stream stops after <see cref="HoldAfterChunks"/> chunks (flushed) until this task completes.</summary>
    public Task? Hold { get; init; }

    public int HoldAfterChunks { get; init; }

    public bool IsError => StatusCode != 0;

    /// <summary>Plain assistant text, streamed <paramref name="chunkSize"/> characters at a time.</summary>
    public static Reply Text(string text, int chunkSize = 4) => new() { Content = text, ChunkSize = Math.Max(1, chunkSize) };

    /// <summary>Text cut off by the token limit (<c>finish_reason: length</c>).</summary>
    public static Reply Length(string text, int chunkSize = 4) => Text(text, chunkSize) with { FinishReason = "length" };

    /// <summary>A reply stopped by the content filter (<c>finish_reason: content_filter</c>).</summary>
    public static Reply ContentFilter(string text = "") => Text(text) with { FinishReason = "content_filter" };

    /// <summary>One or more (parallel) function calls; arguments are streamed in fragments.</summary>
    public static Reply ToolCalls(params (string Name, string Arguments)[] calls) =>
        new() { Calls = [.. calls.Select(c => new ScriptedToolCall(c.Name, c.Arguments))], FinishReason = "tool_calls" };

    /// <summary>Function calls with explicit ids.</summary>
    public static Reply ToolCalls(params ScriptedToolCall[] calls) => new() { Calls = calls, FinishReason = "tool_calls" };

    /// <summary>
    /// An OpenAI error response. <paramref name="retryAfter"/> adds <c>Retry-After</c>/<c>retry-after-ms</c> headers.
    /// </summary>
    public static Reply Error(int statusCode, string? message = null, TimeSpan? retryAfter = null, string? code = null) =>
        new() { StatusCode = statusCode, ErrorMessage = message, RetryAfter = retryAfter, ErrorCode = code };

    /// <summary>Text sent before the tool calls of this reply.</summary>
    public Reply WithText(string text) => this with { Content = text };

    public Reply WithDelayPerChunk(TimeSpan delay) => this with { DelayPerChunk = delay };

    /// <summary>
    /// Sends <paramref name="chunks"/> streamed chunks, then waits for <paramref name="release"/> before the rest: a test
    /// can look at a client mid-stream without relying on timing.
    /// </summary>
    public Reply HoldAfter(int chunks, Task release) => this with { HoldAfterChunks = Math.Max(0, chunks), Hold = release };

    public Reply WithUsage(int promptTokens, int completionTokens) => this with { Usage = (promptTokens, completionTokens) };

    public Reply WithArgumentChunkSize(int size) => this with { ArgumentChunkSize = Math.Max(1, size) };

    public Reply WithFinishReason(string finishReason) => this with { FinishReason = finishReason };

    /// <summary>Ends the stream cleanly after <paramref name="chunks"/> chunks, without finish_reason or <c>[DONE]</c>.</summary>
    public Reply EndAfter(int chunks) => this with { EndAfterChunks = Math.Max(0, chunks) };

    /// <summary>Drops the connection after <paramref name="chunks"/> streamed chunks.</summary>
    public Reply AbortAfter(int chunks) => this with { AbortAfterChunks = Math.Max(0, chunks) };
}
