using System.Text.Json;
using Microsoft.Extensions.AI;
using Threadloom.Core.Domain;

namespace Threadloom.Core.Inference;

/// <summary>Streams one chat completion from the provider the model name routes to.</summary>
public interface IModelClient
{
    /// <summary>
    /// Calls the model and yields <see cref="TextDelta"/> and <see cref="ToolCallDelta"/> events as they arrive, then
    /// exactly one <see cref="ModelFinished"/>. When <see cref="ModelRequest.MaxOutputTokens"/> is set, the output
    /// yielded (text and tool-call arguments, counted with the route's tokenizer) never exceeds it, even from an
    /// upstream that ignores the cap: the call is stopped there and finishes with <c>length</c>. Upstream 408/429/5xx and network failures before the stream starts
    /// are retried; once retries are exhausted, or when the stream breaks midway, a <see cref="ModelCallException"/>
    /// is thrown. Cancelling <paramref name="cancellationToken"/> throws <see cref="OperationCanceledException"/>.
    /// </summary>
    IAsyncEnumerable<ModelStreamEvent> StreamAsync(ModelRequest request, CancellationToken cancellationToken);
}

/// <summary>One model call.</summary>
/// <param name="Model">The assistant's (or run's) model name; routed by <see cref="IModelRouter"/>.</param>
/// <param name="Messages">System, user, assistant (with <see cref="FunctionCallContent"/>) and tool
/// (<see cref="FunctionResultContent"/>) messages, oldest first. <see cref="ModelMessages"/> builds the tool ones.</param>
/// <param name="Tools">Function tools offered to the model.</param>
/// <param name="ToolChoice"><c>none</c>, <c>auto</c>, <c>required</c>, or null for the provider default.</param>
/// <param name="ForcedFunction">When set, forces a call of this function (overrides <paramref name="ToolChoice"/>).</param>
/// <param name="ResponseFormat">auto/null sends nothing; text, json_object and json_schema are passed through.</param>
/// <param name="ParallelToolCalls">Sent only when tools are offered.</param>
/// <param name="MaxOutputTokens">Sent upstream as the cap, and enforced on the stream whatever the upstream does with it.</param>
/// <param name="ReasoningEffort">Sent only when the route marks a reasoning model (<see cref="ResolvedModel.Reasoning"/>).</param>
/// <param name="PromptTokens">The engine's count of the prompt, reported as usage when a call is cut at
/// <paramref name="MaxOutputTokens"/> before the upstream reported its own.</param>
public sealed record ModelRequest(
    string Model,
    IReadOnlyList<ChatMessage> Messages,
    IReadOnlyList<ModelTool> Tools,
    string? ToolChoice = null,
    string? ForcedFunction = null,
    double? Temperature = null,
    double? TopP = null,
    int? MaxOutputTokens = null,
    ResponseFormat? ResponseFormat = null,
    bool? ParallelToolCalls = null,
    string? ReasoningEffort = null,
    int PromptTokens = 0);

/// <summary>A function tool as the upstream model sees it; the schema is sent exactly as given.</summary>
public sealed record ModelTool(string Name, string? Description, JsonElement? ParametersSchema, bool? Strict);

/// <summary>What a model call yields.</summary>
public abstract record ModelStreamEvent;

/// <summary>A fragment of assistant text.</summary>
public sealed record TextDelta(string Text) : ModelStreamEvent;

/// <summary>
/// A fragment of tool call <paramref name="Index"/> as the model generates it: the first fragment of a call carries
/// <paramref name="Id"/> and <paramref name="Name"/>; later ones usually only an arguments fragment.
/// </summary>
public sealed record ToolCallDelta(int Index, string? Id, string? Name, string ArgumentsFragment) : ModelStreamEvent;

/// <summary>The last event: the complete tool calls (ordered by index), the finish reason and the usage if reported.</summary>
/// <param name="FinishReason"><c>stop</c>, <c>length</c>, <c>tool_calls</c> or <c>content_filter</c>.</param>
public sealed record ModelFinished(IReadOnlyList<ModelToolCall> ToolCalls, string FinishReason, ModelUsage? Usage) : ModelStreamEvent;

/// <summary>A complete function call; <paramref name="Arguments"/> is the raw JSON text the model produced.</summary>
public sealed record ModelToolCall(string Id, string Name, string Arguments);

public sealed record ModelUsage(int PromptTokens, int CompletionTokens)
{
    public int TotalTokens => PromptTokens + CompletionTokens;
}

/// <summary>Wire values of <see cref="ModelCallException.Code"/>; they match a run's <c>last_error.code</c>.</summary>
public static class ModelErrorCodes
{
    public const string RateLimitExceeded = "rate_limit_exceeded";
    public const string ServerError = "server_error";
    public const string InvalidPrompt = "invalid_prompt";
}

/// <summary>A failed model call. <see cref="Exception.Message"/> is safe to show users (no keys, no URLs).</summary>
public sealed class ModelCallException : Exception
{
    public ModelCallException(string code, string message, Exception? innerException = null)
        : base(message, innerException)
    {
        Code = code;
    }

    /// <summary><c>rate_limit_exceeded</c>, <c>server_error</c> or <c>invalid_prompt</c> (see <see cref="ModelErrorCodes"/>).</summary>
    public string Code { get; }

    /// <summary>Upstream HTTP status when there was one.</summary>
    public int? UpstreamStatus { get; init; }
}
