using System.Text.Json;
using System.Text.Json.Serialization;

namespace Threadloom.Core.Domain;

/// <summary>The nine run statuses, with their wire names. Moves only through <c>RunTransitions</c>.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<RunStatus>))]
public enum RunStatus
{
    [JsonStringEnumMemberName("queued")] Queued,
    [JsonStringEnumMemberName("in_progress")] InProgress,
    [JsonStringEnumMemberName("requires_action")] RequiresAction,
    [JsonStringEnumMemberName("cancelling")] Cancelling,
    [JsonStringEnumMemberName("cancelled")] Cancelled,
    [JsonStringEnumMemberName("failed")] Failed,
    [JsonStringEnumMemberName("completed")] Completed,
    [JsonStringEnumMemberName("incomplete")] Incomplete,
    [JsonStringEnumMemberName("expired")] Expired,
}

/// <summary>
/// A run: the effective settings it was created with (run overrides, else the assistant's) and its lifecycle.
/// <see cref="Instructions"/> already includes <c>additional_instructions</c>.
/// </summary>
public sealed record Run(
    string Id,
    string ProjectId,
    DateTimeOffset CreatedAt,
    string ThreadId,
    string AssistantId,
    RunStatus Status,
    string Model,
    string Instructions,
    IReadOnlyList<ToolDefinition> Tools,
    IReadOnlyDictionary<string, string> Metadata,
    double? Temperature,
    double? TopP,
    int? MaxPromptTokens,
    int? MaxCompletionTokens,
    TruncationStrategy TruncationStrategy,
    ToolChoice ToolChoice,
    bool ParallelToolCalls,
    ResponseFormat ResponseFormat,
    DateTimeOffset? ExpiresAt = null,
    DateTimeOffset? StartedAt = null,
    DateTimeOffset? CancelledAt = null,
    DateTimeOffset? FailedAt = null,
    DateTimeOffset? CompletedAt = null,
    RunIncompleteDetails? IncompleteDetails = null,
    RunError? LastError = null,
    RequiredAction? RequiredAction = null,
    RunUsage? Usage = null,
    string? ReasoningEffort = null,
    IReadOnlyList<string>? V1FileIds = null) : IProjectScoped;

/// <summary><c>truncation_strategy</c>: <c>auto</c> or <c>last_messages</c> with N.</summary>
public sealed record TruncationStrategy(string Type, int? LastMessages = null)
{
    public static readonly TruncationStrategy Auto = new("auto");
}

/// <summary><c>last_error</c> of a run or a step: <c>server_error</c>, <c>rate_limit_exceeded</c> or <c>invalid_prompt</c>.</summary>
public sealed record RunError(string Code, string Message);

/// <summary><c>incomplete_details</c>: <c>max_completion_tokens</c> or <c>max_prompt_tokens</c>.</summary>
public sealed record RunIncompleteDetails(string Reason);

public sealed record RunUsage(int CompletionTokens, int PromptTokens, int TotalTokens)
{
    public static RunUsage Add(RunUsage? current, int promptTokens, int completionTokens) => new(
        (current?.CompletionTokens ?? 0) + completionTokens,
        (current?.PromptTokens ?? 0) + promptTokens,
        (current?.TotalTokens ?? 0) + promptTokens + completionTokens);
}

/// <summary><c>required_action</c>: the function calls the client must answer with <c>submit_tool_outputs</c>.</summary>
public sealed record RequiredAction(SubmitToolOutputsAction SubmitToolOutputs)
{
    public string Type => "submit_tool_outputs";
}

public sealed record SubmitToolOutputsAction(IReadOnlyList<RequiredToolCall> ToolCalls);

public sealed record RequiredToolCall(string Id, FunctionCall Function)
{
    public string Type => "function";
}

public sealed record FunctionCall(string Name, string Arguments);

/// <summary>
/// <c>tool_choice</c>: the string modes <c>none</c>, <c>auto</c>, <c>required</c>, or an object naming one tool
/// (<c>{type:"function", function:{name}}</c>, <c>{type:"code_interpreter"}</c>, <c>{type:"file_search"}</c>).
/// </summary>
[JsonConverter(typeof(ToolChoiceConverter))]
public sealed record ToolChoice(string? Mode, string? ToolType = null, string? FunctionName = null)
{
    public static readonly ToolChoice Auto = new("auto");
}

/// <summary>Reads and writes <see cref="ToolChoice"/> as the bare string or the object.</summary>
public sealed class ToolChoiceConverter : JsonConverter<ToolChoice>
{
    private static readonly string[] Modes = ["none", "auto", "required"];
    private static readonly string[] Types = ["function", "code_interpreter", "file_search"];

    public override ToolChoice? Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        if (reader.TokenType == JsonTokenType.String)
        {
            var mode = reader.GetString();
            return Modes.Contains(mode)
                ? new ToolChoice(mode)
                : throw new InvalidWireValueException($"Invalid value: '{mode}'. Supported values are: 'none', 'auto' and 'required'.", "tool_choice");
        }
        if (reader.TokenType != JsonTokenType.StartObject)
        {
            throw new InvalidWireValueException("Invalid type for 'tool_choice': expected a string or an object.", "tool_choice");
        }
        string? type = null, name = null;
        while (reader.Read() && reader.TokenType != JsonTokenType.EndObject)
        {
            var property = reader.GetString();
            reader.Read();
            switch (property)
            {
                case "type":
                    type = reader.TokenType == JsonTokenType.String ? reader.GetString() : throw new InvalidWireValueException("Invalid type for 'tool_choice.type'.", "tool_choice.type");
                    break;
                case "function":
                    if (reader.TokenType == JsonTokenType.Null)
                    {
                        break;
                    }
                    if (reader.TokenType != JsonTokenType.StartObject)
                    {
                        throw new InvalidWireValueException("Invalid type for 'tool_choice.function': expected an object.", "tool_choice.function");
                    }
                    while (reader.Read() && reader.TokenType != JsonTokenType.EndObject)
                    {
                        var inner = reader.GetString();
                        reader.Read();
                        name = inner == "name" && reader.TokenType == JsonTokenType.String
                            ? reader.GetString()
                            : throw new InvalidWireValueException($"Unknown parameter: 'tool_choice.function.{inner}'.", $"tool_choice.function.{inner}");
                    }
                    break;
                default:
                    throw new InvalidWireValueException($"Unknown parameter: 'tool_choice.{property}'.", $"tool_choice.{property}");
            }
        }
        if (type is null || !Types.Contains(type))
        {
            throw new InvalidWireValueException($"Invalid value: '{type}'. Supported values are: 'function', 'code_interpreter' and 'file_search'.", "tool_choice.type");
        }
        if (type == "function" && string.IsNullOrEmpty(name))
        {
            throw new InvalidWireValueException("Missing required parameter: 'tool_choice.function.name'.", "tool_choice.function.name");
        }
        return new ToolChoice(null, type, type == "function" ? name : null);
    }

    public override void Write(Utf8JsonWriter writer, ToolChoice value, JsonSerializerOptions options)
    {
        if (value.Mode is { } mode)
        {
            writer.WriteStringValue(mode);
            return;
        }
        writer.WriteStartObject();
        writer.WriteString("type", value.ToolType);
        if (value.FunctionName is { } name)
        {
            writer.WriteStartObject("function");
            writer.WriteString("name", name);
            writer.WriteEndObject();
        }
        writer.WriteEndObject();
    }
}
