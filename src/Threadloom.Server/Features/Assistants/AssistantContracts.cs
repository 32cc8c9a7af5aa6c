using Threadloom.Core.Domain;

namespace Threadloom.Server.Features.Assistants;

/// <summary>The fields of an assistant create or modify body; on modify, every field is optional and null means unchanged.</summary>
public abstract class AssistantFields
{
    public string? Model { get; init; }
    public string? Name { get; init; }
    public string? Description { get; init; }
    public string? Instructions { get; init; }
    public List<ToolDefinition?>? Tools { get; init; }
    public ToolResourcesRequest? ToolResources { get; init; }
    public Dictionary<string, string>? Metadata { get; init; }
    public double? Temperature { get; init; }
    public double? TopP { get; init; }
    public ResponseFormat? ResponseFormat { get; init; }
    public string? ReasoningEffort { get; init; }

    /// <summary>Assistants v1 only.</summary>
    public List<string>? FileIds { get; init; }
}

public sealed class CreateAssistantRequest : AssistantFields;

public sealed class ModifyAssistantRequest : AssistantFields;

/// <summary><c>tool_resources</c> as a request carries it; <c>file_search.vector_stores</c> is the create-time helper.</summary>
public sealed class ToolResourcesRequest
{
    public CodeInterpreterResourcesRequest? CodeInterpreter { get; init; }
    public FileSearchResourcesRequest? FileSearch { get; init; }
}

public sealed class CodeInterpreterResourcesRequest
{
    public List<string>? FileIds { get; init; }
}

public sealed class FileSearchResourcesRequest
{
    public List<string>? VectorStoreIds { get; init; }
    public List<VectorStoreHelperRequest>? VectorStores { get; init; }
}

public sealed class VectorStoreHelperRequest
{
    public List<string>? FileIds { get; init; }
    public System.Text.Json.JsonElement? ChunkingStrategy { get; init; }
    public Dictionary<string, string>? Metadata { get; init; }
}

public sealed record AssistantObject(
    string Id,
    long CreatedAt,
    string? Name,
    string? Description,
    string Model,
    string? Instructions,
    IReadOnlyList<ToolDefinition> Tools,
    ToolResources ToolResources,
    IReadOnlyDictionary<string, string> Metadata,
    double? Temperature,
    double? TopP,
    ResponseFormat? ResponseFormat)
{
    public string Object => "assistant";

    /// <summary>The v1 <c>file_ids</c>, sent only in the v1 dialect.</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public IReadOnlyList<string>? V1FileIds { get; init; }
}
