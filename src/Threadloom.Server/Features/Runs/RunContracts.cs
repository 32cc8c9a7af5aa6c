using System.Text.Json;
using Threadloom.Core.Domain;
using Threadloom.Server.Features.Assistants;
using Threadloom.Server.Features.Messages;
using Threadloom.Server.Features.Threads;

namespace Threadloom.Server.Features.Runs;

public sealed class CreateRunRequest
{
    public string? AssistantId { get; init; }
    public string? Model { get; init; }
    public string? Instructions { get; init; }
    public string? AdditionalInstructions { get; init; }
    public List<CreateMessageRequest?>? AdditionalMessages { get; init; }
    public List<ToolDefinition?>? Tools { get; init; }
    public Dictionary<string, string>? Metadata { get; init; }
    public double? Temperature { get; init; }
    public double? TopP { get; init; }
    public int? MaxPromptTokens { get; init; }
    public int? MaxCompletionTokens { get; init; }
    public TruncationStrategyRequest? TruncationStrategy { get; init; }
    public ToolChoice? ToolChoice { get; init; }
    public bool? ParallelToolCalls { get; init; }
    public ResponseFormat? ResponseFormat { get; init; }
    public bool? Stream { get; init; }
    public string? ReasoningEffort { get; init; }

    /// <summary>Accepted in the body too; the SDKs send it as the <c>include[]</c> query.</summary>
    public List<string>? Include { get; init; }
}

public sealed class CreateThreadAndRunRequest
{
    public string? AssistantId { get; init; }
    public CreateThreadRequest? Thread { get; init; }
    public string? Model { get; init; }
    public string? Instructions { get; init; }
    public List<ToolDefinition?>? Tools { get; init; }
    public ToolResourcesRequest? ToolResources { get; init; }
    public Dictionary<string, string>? Metadata { get; init; }
    public double? Temperature { get; init; }
    public double? TopP { get; init; }
    public int? MaxPromptTokens { get; init; }
    public int? MaxCompletionTokens { get; init; }
    public TruncationStrategyRequest? TruncationStrategy { get; init; }
    public ToolChoice? ToolChoice { get; init; }
    public bool? ParallelToolCalls { get; init; }
    public ResponseFormat? ResponseFormat { get; init; }
    public bool? Stream { get; init; }
    public string? ReasoningEffort { get; init; }
}

public sealed class TruncationStrategyRequest
{
    public string? Type { get; init; }
    public int? LastMessages { get; init; }
}

public sealed class ModifyRunRequest
{
    public Dictionary<string, string>? Metadata { get; init; }
}

public sealed class SubmitToolOutputsRequest
{
    public List<ToolOutputRequest?>? ToolOutputs { get; init; }
    public bool? Stream { get; init; }
}

/// <summary><c>output</c> is a string on the wire; numbers, booleans and objects are accepted and kept as their JSON text.</summary>
public sealed class ToolOutputRequest
{
    public string? ToolCallId { get; init; }
    public JsonElement? Output { get; init; }
}

public sealed record RunObject(
    string Id,
    long CreatedAt,
    string ThreadId,
    string AssistantId,
    RunStatus Status,
    RequiredAction? RequiredAction,
    RunError? LastError,
    long? ExpiresAt,
    long? StartedAt,
    long? CancelledAt,
    long? FailedAt,
    long? CompletedAt,
    RunIncompleteDetails? IncompleteDetails,
    string Model,
    string Instructions,
    IReadOnlyList<ToolDefinition> Tools,
    IReadOnlyDictionary<string, string> Metadata,
    RunUsage? Usage,
    double? Temperature,
    double? TopP,
    int? MaxPromptTokens,
    int? MaxCompletionTokens,
    TruncationStrategy TruncationStrategy,
    ToolChoice ToolChoice,
    bool ParallelToolCalls,
    ResponseFormat ResponseFormat)
{
    public string Object => "thread.run";

    /// <summary>The v1 <c>file_ids</c> (the assistant's files when the run was created), sent only in the v1 dialect.</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public IReadOnlyList<string>? V1FileIds { get; init; }
}

public sealed record RunStepObject(
    string Id,
    long CreatedAt,
    string AssistantId,
    string ThreadId,
    string RunId,
    string Type,
    RunStepStatus Status,
    StepDetails StepDetails,
    RunError? LastError,
    long? ExpiredAt,
    long? CancelledAt,
    long? FailedAt,
    long? CompletedAt,
    IReadOnlyDictionary<string, string> Metadata,
    RunUsage? Usage)
{
    public string Object => "thread.run.step";
}
