using Threadloom.Core.Domain;
using Threadloom.Server.Features.Assistants;
using Threadloom.Server.Features.Messages;

namespace Threadloom.Server.Features.Threads;

public sealed class CreateThreadRequest
{
    public List<CreateMessageRequest?>? Messages { get; init; }
    public ToolResourcesRequest? ToolResources { get; init; }
    public Dictionary<string, string>? Metadata { get; init; }
}

public sealed class ModifyThreadRequest
{
    public ToolResourcesRequest? ToolResources { get; init; }
    public Dictionary<string, string>? Metadata { get; init; }
}

public sealed record ThreadObject(string Id, long CreatedAt, ToolResources ToolResources, IReadOnlyDictionary<string, string> Metadata)
{
    public string Object => "thread";
}
