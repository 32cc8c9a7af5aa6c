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
/// attachments, and the <c>retrieval</c> tool instead of <c>file_search</c>. One filter serves every JSON endpoint;
/// <see cref="V1Shape"/> serves the stream events too.
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
                V1Shape.Reshape(data[i]!.AsObject(), list.Item(i));
            }
        }
        else
        {
            V1Shape.Reshape(node.AsObject(), value);
        }
        return Results.Text(node.ToJsonString(), "application/json");
    }
}

/// <summary>The v2 → v1 rewrites of each wire object, from its v2 JSON and the typed value it came from.</summary>
/// <remarks>
/// Design notes: the v2 object is the one truth and v1 is a view of it, so both dialects read and write the same
/// rows. v1 has no <c>tool_resources</c>, <c>attachments</c>, <c>file_search</c> or its <c>ranking_options</c> and
/// <c>results</c>; it has <c>file_ids</c> on assistants, messages and runs, and a search's tool call is
/// <c>{"type":"retrieval","retrieval":{}}</c>. Fields v2 added that the v1 schema also lists (a run's token limits,
/// <c>tool_choice</c>, <c>truncation_strategy</c>, <c>response_format</c>) stay.
/// </remarks>
internal static class V1Shape
{
    public static void Reshape(JsonObject node, object? value)
    {
        switch (value)
        {
            case AssistantObject assistant:
                node.Remove("tool_resources");
                node.Remove("temperature");
                node.Remove("top_p");
                node.Remove("response_format");
                node["file_ids"] = Strings(assistant.V1FileIds ?? assistant.ToolResources.CodeInterpreter?.FileIds ?? []);
                RenameFileSearch(node["tools"] as JsonArray);
                break;
            case ThreadObject:
                node.Remove("tool_resources");
                break;
            case MessageObject message:
                node.Remove("attachments");
                node["file_ids"] = Strings(message.Attachments.Select(a => a.FileId).Distinct(StringComparer.Ordinal));
                break;
            case RunObject run:
                node.Remove("parallel_tool_calls");
                node.Remove("top_p");
                node["file_ids"] = Strings(run.V1FileIds ?? []);
                RenameFileSearch(node["tools"] as JsonArray);
                break;
            case RunStepObject:
                RetrievalCalls(node["step_details"]?["tool_calls"] as JsonArray);
                break;
            default:
                if (node["tools"] is JsonArray tools)
                {
                    RenameFileSearch(tools);
                }
                break;
        }
    }

    /// <summary>A <c>thread.run.step.delta</c>: its file_search calls become retrieval calls (index and id kept).</summary>
    public static void ReshapeStepDelta(JsonObject delta) => RetrievalCalls(delta["delta"]?["step_details"]?["tool_calls"] as JsonArray);

    private static JsonArray Strings(IEnumerable<string> values) => new(values.Select(v => (JsonNode?)v).ToArray());

    private static void RetrievalCalls(JsonArray? calls)
    {
        foreach (var call in calls?.OfType<JsonObject>() ?? [])
        {
            if (call["type"]?.GetValue<string>() == "file_search")
            {
                call.Remove("file_search");
                call["type"] = "retrieval";
                call["retrieval"] = new JsonObject();
            }
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
