using System.Text.Json;
using Microsoft.Extensions.AI;

namespace Threadloom.Core.Inference;

/// <summary>Builds the M.E.AI messages for prior tool calls and their results, so they reach the wire intact.</summary>
public static class ModelMessages
{
    /// <summary>
    /// An assistant message carrying <paramref name="toolCalls"/> (and optional text). Arguments are parsed from the
    /// model's JSON text; arguments that are not a JSON object are kept as the single entry <c>"_raw"</c>.
    /// </summary>
    public static ChatMessage AssistantToolCalls(IEnumerable<ModelToolCall> toolCalls, string? text = null)
    {
        var contents = new List<AIContent>();
        if (!string.IsNullOrEmpty(text))
        {
            contents.Add(new TextContent(text));
        }
        foreach (var call in toolCalls)
        {
            contents.Add(new FunctionCallContent(call.Id, call.Name, ParseArguments(call.Arguments)));
        }
        return new ChatMessage(ChatRole.Assistant, contents);
    }

    /// <summary>A tool message with the output submitted for <paramref name="callId"/>.</summary>
    public static ChatMessage ToolResult(string callId, string output) =>
        new(ChatRole.Tool, [new FunctionResultContent(callId, output)]);

    internal static Dictionary<string, object?> ParseArguments(string arguments)
    {
        if (string.IsNullOrWhiteSpace(arguments))
        {
            return [];
        }
        try
        {
            using var document = JsonDocument.Parse(arguments);
            if (document.RootElement.ValueKind == JsonValueKind.Object)
            {
                return document.RootElement.EnumerateObject().ToDictionary(p => p.Name, p => (object?)p.Value.Clone());
            }
        }
        catch (JsonException)
        {
            // Fall through: the model produced something that is not a JSON object.
        }
        return new() { ["_raw"] = arguments };
    }
}
