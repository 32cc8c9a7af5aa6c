using System.ClientModel;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Logging;
using OpenAI.Chat;
using Threadloom.Core.Domain;
using Threadloom.Core.Runs.Truncation;

namespace Threadloom.Core.Inference;

/// <summary>
/// <see cref="IModelClient"/> over M.E.AI <see cref="IChatClient"/> and the OpenAI SDK.
/// </summary>
/// <remarks>
/// Design notes:
/// <list type="bullet">
/// <item>Tool-call fragments are read from each update's raw <see cref="StreamingChatCompletionUpdate"/>: M.E.AI only
/// surfaces function calls once the stream ends, and the engine streams argument deltas to clients (DIGEST §8).
/// The complete calls in <see cref="ModelFinished"/> are accumulated from the same raw fragments, so arguments are the
/// model's exact text.</item>
/// <item>Tools, tool choice and response format go through <see cref="ChatOptions.RawRepresentationFactory"/> as an
/// OpenAI <see cref="ChatCompletionOptions"/>, so a user's JSON schema and <c>strict</c> flag reach the wire untouched.</item>
/// <item>Retries happen in the SDK pipeline (<see cref="UpstreamRetryPolicy"/>), before any event is yielded; a
/// stream that breaks after it started is not retried (the engine may already have published deltas).</item>
/// </list>
/// </remarks>
internal sealed partial class ModelClient(IModelRouter router, ChatClientFactory clients, ILogger<ModelClient> logger) : IModelClient
{
    public async IAsyncEnumerable<ModelStreamEvent> StreamAsync(
        ModelRequest request, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var resolution = router.Resolve(request.Model);
        if (resolution.Model is not { } model)
        {
            throw new ModelCallException(ModelErrorCodes.ServerError, resolution.Error ?? "No model provider is configured.");
        }
        var chatClient = clients.Get(model);
        var options = ToChatOptions(request, model);
        var budget = request.MaxOutputTokens is { } cap
            ? new OutputTokenBudget(TokenCounter.ForEncoding(TokenCounter.IsSupportedEncoding(model.TokenizerEncoding) ? model.TokenizerEncoding : "o200k_base"), cap)
            : null;

        var toolCalls = new SortedDictionary<int, ToolCallBuilder>();
        string? finishReason = null;
        ModelUsage? usage = null;

        await using var updates = chatClient.GetStreamingResponseAsync(request.Messages, options, cancellationToken)
            .GetAsyncEnumerator(cancellationToken);
        while (true)
        {
            ChatResponseUpdate update;
            try
            {
                if (!await updates.MoveNextAsync())
                {
                    break;
                }
                update = updates.Current;
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                var failure = Classify(ex);
                LogCallFailed(logger, model.ProviderName, model.UpstreamModel, failure.Code, failure.UpstreamStatus ?? 0, ex.GetType().Name);
                throw failure;
            }

            if (update.RawRepresentation is StreamingChatCompletionUpdate raw)
            {
                foreach (var content in update.Contents)
                {
                    if (content is Microsoft.Extensions.AI.TextContent { Text: { Length: > 0 } text })
                    {
                        var allowed = budget?.Take(text) ?? text;
                        if (allowed.Length > 0)
                        {
                            yield return new TextDelta(allowed);
                        }
                        if (budget?.Exhausted == true)
                        {
                            break;
                        }
                    }
                }
                if (budget?.Exhausted == true)
                {
                    break;
                }
                foreach (var call in raw.ToolCallUpdates)
                {
                    var fragment = call.FunctionArgumentsUpdate is { } args && !args.ToMemory().IsEmpty ? args.ToString() : "";
                    fragment = budget?.Take(fragment) ?? fragment;
                    if (!toolCalls.TryGetValue(call.Index, out var builder))
                    {
                        toolCalls[call.Index] = builder = new ToolCallBuilder();
                    }
                    builder.Id ??= call.ToolCallId;
                    builder.Name ??= call.FunctionName;
                    builder.Arguments.Append(fragment);
                    if (fragment.Length > 0 || call.ToolCallId is not null || call.FunctionName is not null)
                    {
                        yield return new ToolCallDelta(call.Index, call.ToolCallId, call.FunctionName, fragment);
                    }
                    if (budget?.Exhausted == true)
                    {
                        break;
                    }
                }
                if (budget?.Exhausted == true)
                {
                    break;
                }
                if (raw.FinishReason is { } reason)
                {
                    finishReason = ToWire(reason);
                }
                if (raw.Usage is { } tokens)
                {
                    usage = new ModelUsage(tokens.InputTokenCount, tokens.OutputTokenCount);
                }
            }
            else if (toolCalls.Count == 0)
            {
                // Not an SDK update (M.E.AI's closing summary of function calls): use it only if no raw fragments came.
                var index = 0;
                foreach (var call in update.Contents.OfType<FunctionCallContent>())
                {
                    var arguments = JsonSerializer.Serialize(call.Arguments, AIJsonUtilities.DefaultOptions);
                    toolCalls[index] = new ToolCallBuilder { Id = call.CallId, Name = call.Name };
                    toolCalls[index].Arguments.Append(arguments);
                    yield return new ToolCallDelta(index, call.CallId, call.Name, arguments);
                    index++;
                }
            }
        }

        if (budget?.Exhausted == true)
        {
            // COMPAT: some self-hosted servers ignore max_tokens/max_completion_tokens; the cap still holds here. Leaving
            // the loop disposes the stream, which aborts the upstream response.
            LogOutputCapped(logger, model.ProviderName, model.UpstreamModel, budget.Limit);
            finishReason = "length";
            usage ??= new ModelUsage(request.PromptTokens, budget.Used);
        }
        if (finishReason is null)
        {
            // COMPAT: OpenAI, vLLM, llama.cpp and Ollama all end a stream with a finish_reason; a stream without one
            // was cut off, and completing the run with half an answer would hide that.
            LogCallFailed(logger, model.ProviderName, model.UpstreamModel, ModelErrorCodes.ServerError, 200, "MissingFinishReason");
            throw new ModelCallException(ModelErrorCodes.ServerError, "The model provider ended the response before the model finished.");
        }
        IReadOnlyList<ModelToolCall> calls = [.. toolCalls.Select(c => new ModelToolCall(
            c.Value.Id ?? $"call_{c.Key}", c.Value.Name ?? "", c.Value.Arguments.ToString()))];
        yield return new ModelFinished(calls, finishReason, usage);
    }

    internal static ChatOptions ToChatOptions(ModelRequest request, ResolvedModel model)
    {
        return new ChatOptions
        {
            RawRepresentationFactory = _ =>
            {
                var raw = new ChatCompletionOptions
                {
                    // COMPAT: reasoning models reject sampling settings; OpenAI's non-reasoning models reject reasoning_effort.
                    Temperature = model.Reasoning ? null : (float?)request.Temperature,
                    TopP = model.Reasoning ? null : (float?)request.TopP,
                    MaxOutputTokenCount = request.MaxOutputTokens,
                };
                if (model.Reasoning && request.ReasoningEffort is { } effort)
                {
                    // The SDK marks reasoning_effort experimental; the wire field itself is stable in OpenAI's spec.
#pragma warning disable OPENAI001
                    raw.ReasoningEffortLevel = new ChatReasoningEffortLevel(effort);
#pragma warning restore OPENAI001
                }
                foreach (var tool in request.Tools)
                {
                    raw.Tools.Add(ChatTool.CreateFunctionTool(
                        tool.Name,
                        tool.Description,
                        tool.ParametersSchema is { } schema ? BinaryData.FromString(schema.GetRawText()) : null,
                        tool.Strict));
                }
                if (request.Tools.Count > 0)
                {
                    raw.ToolChoice = request.ForcedFunction is { } forced
                        ? ChatToolChoice.CreateFunctionChoice(forced)
                        : request.ToolChoice switch
                        {
                            "none" => ChatToolChoice.CreateNoneChoice(),
                            "auto" => ChatToolChoice.CreateAutoChoice(),
                            "required" => ChatToolChoice.CreateRequiredChoice(),
                            _ => null,
                        };
                    raw.AllowParallelToolCalls = request.ParallelToolCalls;
                }
                raw.ResponseFormat = ToResponseFormat(request.ResponseFormat);
                return raw;
            },
        };
    }

    private static OpenAI.Chat.ChatResponseFormat? ToResponseFormat(ResponseFormat? format) => format?.Type switch
    {
        "text" => OpenAI.Chat.ChatResponseFormat.CreateTextFormat(),
        "json_object" => OpenAI.Chat.ChatResponseFormat.CreateJsonObjectFormat(),
        "json_schema" when format.JsonSchema is { } schema => OpenAI.Chat.ChatResponseFormat.CreateJsonSchemaFormat(
            schema.Name,
            schema.Schema is { } s ? BinaryData.FromString(s.GetRawText()) : BinaryData.FromString("{}"),
            schema.Description,
            schema.Strict),
        _ => null,
    };

    private static string ToWire(OpenAI.Chat.ChatFinishReason reason) => reason switch
    {
        OpenAI.Chat.ChatFinishReason.Length => "length",
        OpenAI.Chat.ChatFinishReason.ContentFilter => "content_filter",
        OpenAI.Chat.ChatFinishReason.ToolCalls or OpenAI.Chat.ChatFinishReason.FunctionCall => "tool_calls",
        _ => "stop",
    };

    /// <summary>Maps any failure of the call to a user-safe <see cref="ModelCallException"/>.</summary>
    /// <param name="modelSetting">The setting that names the upstream model, for the 404 message.</param>
    internal static ModelCallException Classify(Exception exception, string modelSetting = "the Inference:Models route")
    {
        switch (exception)
        {
            case ModelCallException known:
                return known;
            case ClientResultException { Status: 429 } e:
                return new(ModelErrorCodes.RateLimitExceeded,
                    "The model provider is rate limiting requests (HTTP 429) and retries were exhausted. Try again later.", e)
                { UpstreamStatus = 429 };
            case ClientResultException { Status: 400 or 413 or 422 } e:
                return new(ModelErrorCodes.InvalidPrompt,
                    $"The model provider rejected the request (HTTP {e.Status}): {UpstreamMessage(e)}", e)
                { UpstreamStatus = e.Status };
            case ClientResultException { Status: 401 or 403 } e:
                return new(ModelErrorCodes.ServerError,
                    $"The model provider refused the configured credentials (HTTP {e.Status}). Check the provider's ApiKey.", e)
                { UpstreamStatus = e.Status };
            case ClientResultException { Status: 404 } e:
                return new(ModelErrorCodes.ServerError,
                    $"The model provider does not know the configured model or deployment (HTTP 404). Check {modelSetting}.", e)
                { UpstreamStatus = 404 };
            case ClientResultException { Status: >= 500 } e:
                return new(ModelErrorCodes.ServerError,
                    $"The model provider failed (HTTP {e.Status}) and retries were exhausted.", e)
                { UpstreamStatus = e.Status };
            case ClientResultException { Status: > 0 } e:
                return new(ModelErrorCodes.ServerError, $"The model provider answered with an unexpected HTTP {e.Status}.", e)
                { UpstreamStatus = e.Status };
            default:
                // Status 0 (no response), HttpRequestException, IOException, timeouts, AggregateException of retries.
                return new(ModelErrorCodes.ServerError,
                    "The model provider could not be reached, or the connection broke during the response.", exception);
        }
    }

    private static string UpstreamMessage(ClientResultException exception)
    {
        string? message = null;
        try
        {
            var content = exception.GetRawResponse()?.Content;
            if (content is not null && content.ToMemory().Length > 0)
            {
                using var document = JsonDocument.Parse(content.ToMemory());
                if (document.RootElement.TryGetProperty("error", out var error) && error.ValueKind == JsonValueKind.Object
                    && error.TryGetProperty("message", out var m) && m.ValueKind == JsonValueKind.String)
                {
                    message = m.GetString();
                }
            }
        }
        catch (JsonException)
        {
            // Not an OpenAI error body.
        }
        catch (InvalidOperationException)
        {
            // Streamed response whose content was not buffered.
        }
        if (string.IsNullOrWhiteSpace(message))
        {
            return "no details were given.";
        }
        message = SecretLike().Replace(message, "***");
        return message.Length > 500 ? message[..500] + "…" : message;
    }

    [GeneratedRegex(@"(sk-[A-Za-z0-9_\-\*]{6,}|https?://\S+)")]
    private static partial Regex SecretLike();

    [LoggerMessage(Level = LogLevel.Information, Message = "Model call to {Provider}/{Model} stopped at the output cap of {Limit} tokens")]
    private static partial void LogOutputCapped(ILogger logger, string provider, string model, int limit);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Model call to {Provider}/{Model} failed: {Code} (HTTP {Status}, {ExceptionType})")]
    private static partial void LogCallFailed(ILogger logger, string provider, string model, string code, int status, string exceptionType);

    private sealed class ToolCallBuilder
    {
        public string? Id { get; set; }

        public string? Name { get; set; }

        public StringBuilder Arguments { get; } = new();
    }
}
