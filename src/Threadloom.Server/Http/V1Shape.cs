using System.Text.Json;
using System.Text.Json.Nodes;
using Threadloom.Server.Features.Assistants;
using Threadloom.Server.Features.Messages;
using Threadloom.Server.Features.Runs;
using Threadloom.Server.Features.Threads;

namespace Threadloom.Server.Http;

/// <summary>
/// Rewrites v2 responses into the Assistants v1 shapes for callers that speak v1 (the seed's notebooks, through
/// <c>AzureOpenAI</c> with a 2024-02-15-preview api-version): <c>file_ids</c> instead of <c>tool_resources</c> and
/// attachments, and the <c>retrieval</c> tool instead of <c>file_search</c>. One filter serves every endpoint.
/// </summary>
internal sealed class V1ShapeFilter : IEndpointFilter
{
    public async ValueTask<object?> InvokeAsync(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        var result = await next(context);
        // Typed unions (Results<Ok<RunObject>, ServerSentEventsResult<string>>) wrap the result that carries the value.
        var inner = result is INestedHttpResult nested ? nested.Result : result;
        if (context.HttpContext.Items[ApiCaller.ItemKey] is not ApiCaller { IsV1: true } || inner is not IValueHttpResult { Value: { } value })
        {
            return result;
        }
        var node = JsonSerializer.SerializeToNode(value, ApiJsonContext.Default.GetTypeInfo(value.GetType())!);
        if (node is null)
        {
            return result;
        }
        if (node["object"]?.GetValue<string>() == "list" && node["data"] is JsonArray data && value is IV1List list)
        {
            for (var i = 0; i < data.Count; i++)
            {
                Reshape(data[i]!.AsObject(), list.Item(i));
            }
        }
        else
        {
            Reshape(node.AsObject(), value);
        }
        return Results.Text(node.ToJsonString(), "application/json");
    }

    private static void Reshape(JsonObject node, object? value)
    {
        switch (value)
        {
            case AssistantObject assistant:
                node.Remove("tool_resources");
                node.Remove("temperature");
                node.Remove("top_p");
                node.Remove("response_format");
                node["file_ids"] = new JsonArray((assistant.V1FileIds ?? assistant.ToolResources.CodeInterpreter?.FileIds ?? []).Select(id => (JsonNode?)id).ToArray());
                RenameFileSearch(node["tools"] as JsonArray);
                break;
            case ThreadObject:
                node.Remove("tool_resources");
                break;
            case MessageObject message:
                node.Remove("attachments");
                node["file_ids"] = new JsonArray(message.Attachments.Select(a => (JsonNode?)a.FileId).Distinct().ToArray());
                break;
            case RunObject:
                // v1 runs list the assistant's files instead of v2's token limits and tool settings.
                node["file_ids"] = new JsonArray();
                RenameFileSearch(node["tools"] as JsonArray);
                break;
            default:
                if (node["tools"] is JsonArray tools)
                {
                    RenameFileSearch(tools);
                }
                break;
        }
    }

    private static void RenameFileSearch(JsonArray? tools)
    {
        foreach (var tool in tools?.OfType<JsonObject>() ?? [])
        {
            if (tool["type"]?.GetValue<string>() == "file_search")
            {
                tool.Clear();
                tool["type"] = "retrieval";
            }
        }
    }
}

/// <summary>Lets the v1 filter reach each typed item of a list.</summary>
internal interface IV1List
{
    object? Item(int index);
}
