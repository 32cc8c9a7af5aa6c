using System.Text;
using System.Text.Json;
using Threadloom.Core.Inference;
using AI = Microsoft.Extensions.AI;

namespace Threadloom.Core.Runs.Prompts;

/// <summary>What one model call of a run was sent, for <see cref="Storage.RunPrompt.Document"/>.</summary>
/// <param name="HistoryCount">Messages the thread gave, before truncation.</param>
/// <param name="Sent">What was sent: the system message (if any) and the kept messages, in order.</param>
public sealed record RunPromptInput(
    string Model,
    string UpstreamModel,
    string? Instructions,
    int HistoryCount,
    IReadOnlyList<AI.ChatMessage> Sent,
    int DroppedMessages,
    int PromptTokens,
    int PromptBudget,
    string TruncationType,
    IReadOnlyList<ModelTool> Tools,
    string? ToolChoice,
    int? MaxOutputTokens);

/// <summary>
/// Writes the JSON document the run inspector shows: the instructions, the messages as the model got them (images
/// as their media type and size, never their bytes), the tools, and what truncation did.
/// </summary>
/// <remarks>Design notes: the document is the model's view, not a copy of the thread. It is written with
/// <see cref="Utf8JsonWriter"/> because its shape follows M.E.AI's content types, which no wire type mirrors.</remarks>
public static class RunPromptDocument
{
    public static string Write(RunPromptInput input)
    {
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream))
        {
            w.WriteStartObject();
            w.WriteString("model", input.Model);
            w.WriteString("upstream_model", input.UpstreamModel);
            if (input.Instructions is null)
            {
                w.WriteNull("instructions");
            }
            else
            {
                w.WriteString("instructions", input.Instructions);
            }
            w.WriteStartObject("truncation");
            w.WriteString("type", input.TruncationType);
            w.WriteNumber("thread_messages", input.HistoryCount);
            w.WriteNumber("dropped_messages", input.DroppedMessages);
            w.WriteNumber("prompt_tokens", input.PromptTokens);
            w.WriteNumber("prompt_budget", input.PromptBudget);
            w.WriteEndObject();
            if (input.ToolChoice is null)
            {
                w.WriteNull("tool_choice");
            }
            else
            {
                w.WriteString("tool_choice", input.ToolChoice);
            }
            if (input.MaxOutputTokens is { } max)
            {
                w.WriteNumber("max_output_tokens", max);
            }
            else
            {
                w.WriteNull("max_output_tokens");
            }
            w.WriteStartArray("tools");
            foreach (var tool in input.Tools)
            {
                w.WriteStartObject();
                w.WriteString("name", tool.Name);
                if (tool.Description is { } description)
                {
                    w.WriteString("description", description);
                }
                if (tool.ParametersSchema is { } schema)
                {
                    w.WritePropertyName("parameters");
                    schema.WriteTo(w);
                }
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteStartArray("messages");
            foreach (var message in input.Sent)
            {
                WriteMessage(w, message);
            }
            w.WriteEndArray();
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(stream.GetBuffer(), 0, (int)stream.Length);
    }

    private static void WriteMessage(Utf8JsonWriter w, AI.ChatMessage message)
    {
        w.WriteStartObject();
        w.WriteString("role", message.Role.Value);
        w.WriteStartArray("content");
        foreach (var content in message.Contents)
        {
            w.WriteStartObject();
            switch (content)
            {
                case AI.TextContent text:
                    w.WriteString("type", "text");
                    w.WriteString("text", text.Text);
                    break;
                case AI.FunctionCallContent call:
                    w.WriteString("type", "tool_call");
                    w.WriteString("id", call.CallId);
                    w.WriteString("name", call.Name);
                    w.WriteString("arguments", JsonSerializer.Serialize(call.Arguments, PromptJson.Default.IDictionaryStringObject));
                    break;
                case AI.FunctionResultContent result:
                    w.WriteString("type", "tool_result");
                    w.WriteString("tool_call_id", result.CallId);
                    w.WriteString("output", result.Result?.ToString() ?? "");
                    break;
                case AI.DataContent data:
                    w.WriteString("type", "image");
                    w.WriteString("media_type", data.MediaType);
                    w.WriteNumber("bytes", data.Data.Length);
                    break;
                case AI.UriContent uri:
                    w.WriteString("type", "image_url");
                    w.WriteString("url", uri.Uri.ToString());
                    break;
                default:
                    w.WriteString("type", content.GetType().Name);
                    break;
            }
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteEndObject();
    }
}

[System.Text.Json.Serialization.JsonSerializable(typeof(IDictionary<string, object?>))]
[System.Text.Json.Serialization.JsonSerializable(typeof(JsonElement))]
[System.Text.Json.Serialization.JsonSerializable(typeof(string))]
internal sealed partial class PromptJson : System.Text.Json.Serialization.JsonSerializerContext;
