using System.Text.Json;

namespace Threadloom.Testing;

/// <summary>A request <see cref="ScriptedModelServer"/> received, recorded for assertions.</summary>
public sealed class ScriptedRequest
{
    internal ScriptedRequest(
        int sequence,
        string method,
        string path,
        IReadOnlyDictionary<string, string> query,
        IReadOnlyDictionary<string, string> headers,
        JsonElement body,
        string? deployment)
    {
        Sequence = sequence;
        Method = method;
        Path = path;
        Query = query;
        Headers = headers;
        Body = body;
        Deployment = deployment;
    }

    /// <summary>1-based order of arrival across all routes.</summary>
    public int Sequence { get; }

    public string Method { get; }

    /// <summary>The request path without the query, e.g. <c>/v1/chat/completions</c>.</summary>
    public string Path { get; }

    /// <summary>Query parameters (first value of each), case-insensitive keys.</summary>
    public IReadOnlyDictionary<string, string> Query { get; }

    /// <summary>Request headers (values joined with ","), case-insensitive keys.</summary>
    public IReadOnlyDictionary<string, string> Headers { get; }

    /// <summary>The parsed JSON body (<see cref="JsonValueKind.Undefined"/> when there was none or it was not JSON).</summary>
    public JsonElement Body { get; }

    /// <summary>The <c>{deployment}</c> route value on Azure-style routes.</summary>
    public string? Deployment { get; }

    public string? Model => StringProperty("model");

    public bool Stream => Body.ValueKind == JsonValueKind.Object
        && Body.TryGetProperty("stream", out var s) && s.ValueKind == JsonValueKind.True;

    public bool IncludeUsage => Body.ValueKind == JsonValueKind.Object
        && Body.TryGetProperty("stream_options", out var o) && o.ValueKind == JsonValueKind.Object
        && o.TryGetProperty("include_usage", out var u) && u.ValueKind == JsonValueKind.True;

    public string? ApiVersion => Query.GetValueOrDefault("api-version");

    /// <summary><c>reasoning_effort</c> as it arrived, or null when it was not sent.</summary>
    public string? ReasoningEffort => StringProperty("reasoning_effort");

    /// <summary>The output cap as it arrived: <c>max_completion_tokens</c>, else <c>max_tokens</c>.</summary>
    public int? MaxCompletionTokens =>
        Body.ValueKind == JsonValueKind.Object
        && (Body.TryGetProperty("max_completion_tokens", out var m) || Body.TryGetProperty("max_tokens", out m)) && m.ValueKind == JsonValueKind.Number
            ? m.GetInt32()
            : null;

    /// <summary><c>tool_choice</c> as it arrived (a string or an object), or null when it was not sent.</summary>
    public JsonElement? ToolChoice =>
        Body.ValueKind == JsonValueKind.Object && Body.TryGetProperty("tool_choice", out var t) ? t.Clone() : null;

    /// <summary>The <c>image_url</c> parts of every message, in order (each <c>{url, detail?}</c>).</summary>
    public IReadOnlyList<JsonElement> ImageParts =>
        [.. Messages.Where(m => m.TryGetProperty("content", out var c) && c.ValueKind == JsonValueKind.Array)
            .SelectMany(m => m.GetProperty("content").EnumerateArray())
            .Where(p => p.TryGetProperty("type", out var t) && t.GetString() == "image_url")
            .Select(p => p.GetProperty("image_url").Clone())];

    /// <summary>The <c>messages</c> array, or an empty list.</summary>
    public IReadOnlyList<JsonElement> Messages =>
        Body.ValueKind == JsonValueKind.Object && Body.TryGetProperty("messages", out var m) && m.ValueKind == JsonValueKind.Array
            ? [.. m.EnumerateArray()]
            : [];

    /// <summary>Text of the last message whose role is <c>user</c>, if any (string or text parts).</summary>
    public string? LastUserText =>
        Messages.LastOrDefault(m => m.TryGetProperty("role", out var r) && r.GetString() == "user") is { ValueKind: JsonValueKind.Object } last
            ? TextOf(last)
            : null;

    /// <summary>An embeddings request's <c>input</c> as strings (a single string gives one), or an empty list.</summary>
    public IReadOnlyList<string> Inputs =>
        Body.ValueKind != JsonValueKind.Object || !Body.TryGetProperty("input", out var input) ? []
        : input.ValueKind == JsonValueKind.String ? [input.GetString()!]
        : input.ValueKind == JsonValueKind.Array ? [.. input.EnumerateArray().Select(e => e.ValueKind == JsonValueKind.String ? e.GetString()! : e.GetRawText())]
        : [];

    /// <summary>An embeddings request's <c>dimensions</c>, when sent.</summary>
    public int? Dimensions =>
        Body.ValueKind == JsonValueKind.Object && Body.TryGetProperty("dimensions", out var d) && d.ValueKind == JsonValueKind.Number ? d.GetInt32() : null;

    public string? Header(string name) => Headers.GetValueOrDefault(name);

    public override string ToString() => $"#{Sequence} {Method} {Path}";

    internal static string? TextOf(JsonElement message)
    {
        if (!message.TryGetProperty("content", out var content))
        {
            return null;
        }
        return content.ValueKind switch
        {
            JsonValueKind.String => content.GetString(),
            JsonValueKind.Array => string.Concat(content.EnumerateArray()
                .Where(p => p.TryGetProperty("text", out _))
                .Select(p => p.GetProperty("text").GetString())),
            _ => null,
        };
    }

    private string? StringProperty(string name) =>
        Body.ValueKind == JsonValueKind.Object && Body.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String
            ? v.GetString()
            : null;
}
