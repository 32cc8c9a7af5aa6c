using System.Text.Json.Serialization;

namespace Threadloom.Core.Domain;

[JsonConverter(typeof(JsonStringEnumConverter<RunStepStatus>))]
public enum RunStepStatus
{
    [JsonStringEnumMemberName("in_progress")] InProgress,
    [JsonStringEnumMemberName("cancelled")] Cancelled,
    [JsonStringEnumMemberName("failed")] Failed,
    [JsonStringEnumMemberName("completed")] Completed,
    [JsonStringEnumMemberName("expired")] Expired,
}

/// <summary>
/// One step of a run: the creation of an assistant message, or a batch of tool calls.
/// <see cref="BuiltInCalls"/> keeps what the model saw of each built-in tool call (arguments and output text), so a
/// later prompt can replay it; it is never sent on the wire.
/// </summary>
public sealed record RunStep(
    string Id,
    string ProjectId,
    DateTimeOffset CreatedAt,
    string ThreadId,
    string RunId,
    string AssistantId,
    RunStepStatus Status,
    StepDetails StepDetails,
    IReadOnlyDictionary<string, string> Metadata,
    RunError? LastError = null,
    DateTimeOffset? ExpiredAt = null,
    DateTimeOffset? CancelledAt = null,
    DateTimeOffset? FailedAt = null,
    DateTimeOffset? CompletedAt = null,
    RunUsage? Usage = null,
    IReadOnlyDictionary<string, BuiltInCallRecord>? BuiltInCalls = null) : IProjectScoped
{
    public string Type => StepDetails is MessageCreationStepDetails ? "message_creation" : "tool_calls";
}

/// <summary>
/// A built-in tool call as the model saw it: the reserved function name, its arguments and the result text.
/// <see cref="Files"/> maps the <c>sandbox:/mnt/data/…</c> links of files a code_interpreter call wrote to their file ids.
/// </summary>
public sealed record BuiltInCallRecord(string Name, string Arguments, string Output, IReadOnlyDictionary<string, string>? Files = null);

[JsonPolymorphic(TypeDiscriminatorPropertyName = "type")]
[JsonDerivedType(typeof(MessageCreationStepDetails), "message_creation")]
[JsonDerivedType(typeof(ToolCallsStepDetails), "tool_calls")]
public abstract record StepDetails;

public sealed record MessageCreationStepDetails(MessageCreation MessageCreation) : StepDetails;

public sealed record MessageCreation(string MessageId);

public sealed record ToolCallsStepDetails(IReadOnlyList<StepToolCall> ToolCalls) : StepDetails;

/// <summary>One tool call inside a <c>tool_calls</c> step.</summary>
[JsonPolymorphic(TypeDiscriminatorPropertyName = "type")]
[JsonDerivedType(typeof(FunctionStepToolCall), "function")]
[JsonDerivedType(typeof(CodeInterpreterStepToolCall), "code_interpreter")]
[JsonDerivedType(typeof(FileSearchStepToolCall), "file_search")]
public abstract record StepToolCall(string Id);

public sealed record FunctionStepToolCall(string Id, FunctionCallDetails Function) : StepToolCall(Id);

/// <summary><c>output</c> is null until the client submits it.</summary>
public sealed record FunctionCallDetails(string Name, string Arguments, string? Output);

public sealed record CodeInterpreterStepToolCall(string Id, CodeInterpreterCall CodeInterpreter) : StepToolCall(Id);

public sealed record CodeInterpreterCall(string Input, IReadOnlyList<CodeInterpreterOutput> Outputs);

[JsonPolymorphic(TypeDiscriminatorPropertyName = "type")]
[JsonDerivedType(typeof(CodeInterpreterLogsOutput), "logs")]
[JsonDerivedType(typeof(CodeInterpreterImageOutput), "image")]
public abstract record CodeInterpreterOutput;

public sealed record CodeInterpreterLogsOutput(string Logs) : CodeInterpreterOutput;

public sealed record CodeInterpreterImageOutput(CodeInterpreterImage Image) : CodeInterpreterOutput;

public sealed record CodeInterpreterImage(string FileId);

public sealed record FileSearchStepToolCall(string Id, FileSearchCall FileSearch) : StepToolCall(Id);

public sealed record FileSearchCall(
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] FileSearchRankingOptions? RankingOptions = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] IReadOnlyList<FileSearchResult>? Results = null);

public sealed record FileSearchResult(
    string FileId,
    string FileName,
    double Score,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] IReadOnlyList<FileSearchResultContent>? Content = null);

public sealed record FileSearchResultContent(string Text)
{
    public string Type => "text";
}
