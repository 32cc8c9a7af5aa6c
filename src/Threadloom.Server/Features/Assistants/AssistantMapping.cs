using Threadloom.Core.Domain;

namespace Threadloom.Server.Features.Assistants;

internal static class AssistantMapping
{
    public static AssistantObject ToObject(this Assistant a) => new(
        a.Id, a.CreatedAt.ToUnixTimeSeconds(), a.Name, a.Description, a.Model, a.Instructions, a.Tools,
        a.ToolResources ?? ToolResources.Empty, a.Metadata, a.Temperature ?? 1.0, a.TopP ?? 1.0, a.ResponseFormat ?? ResponseFormat.Auto)
    {
        V1FileIds = a.V1FileIds,
    };
}
