using System.Text.Json;
using System.Text.Json.Serialization;
using Threadloom.Core.Domain;

namespace Threadloom.Core.Runs;

/// <summary>
/// Turns a <see cref="RunEvent"/> into a kind and a JSON document and back, for buses that carry events between
/// processes. The payload keeps its engine type (a <see cref="Run"/>, a <see cref="MessageDelta"/>, …), so the node
/// that streams it shapes it for its own wire (v2 or v1) as it does for local events.
/// </summary>
public static class RunEventCodec
{
    public static (string Kind, string Json) Encode(RunEvent runEvent) => runEvent.Payload switch
    {
        Run run => ("run", JsonSerializer.Serialize(run, RunEventJson.Default.Run)),
        RunStep step => ("step", JsonSerializer.Serialize(step, RunEventJson.Default.RunStep)),
        ThreadMessage message => ("message", JsonSerializer.Serialize(message, RunEventJson.Default.ThreadMessage)),
        AssistantThread thread => ("thread", JsonSerializer.Serialize(thread, RunEventJson.Default.AssistantThread)),
        MessageDelta delta => ("message_delta", JsonSerializer.Serialize(delta, RunEventJson.Default.MessageDelta)),
        StepDelta delta => ("step_delta", JsonSerializer.Serialize(delta, RunEventJson.Default.StepDelta)),
        RunError error => ("error", JsonSerializer.Serialize(error, RunEventJson.Default.RunError)),
        _ => throw new InvalidOperationException($"No encoding for run event payload {runEvent.Payload.GetType().Name}."),
    };

    public static RunEvent Decode(string name, string kind, string json, long sequence) => new(name, kind switch
    {
        "run" => JsonSerializer.Deserialize(json, RunEventJson.Default.Run)!,
        "step" => JsonSerializer.Deserialize(json, RunEventJson.Default.RunStep)!,
        "message" => JsonSerializer.Deserialize(json, RunEventJson.Default.ThreadMessage)!,
        "thread" => JsonSerializer.Deserialize(json, RunEventJson.Default.AssistantThread)!,
        "message_delta" => JsonSerializer.Deserialize(json, RunEventJson.Default.MessageDelta)!,
        "step_delta" => JsonSerializer.Deserialize(json, RunEventJson.Default.StepDelta)!,
        "error" => JsonSerializer.Deserialize(json, RunEventJson.Default.RunError)!,
        _ => throw new InvalidOperationException($"Unknown run event kind '{kind}'."),
    })
    { Sequence = sequence };
}

/// <summary>The JSON of run events between nodes: the settings of <see cref="Storage.DomainJson"/>.</summary>
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web,
    PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
    UseStringEnumConverter = true,
    AllowOutOfOrderMetadataProperties = true,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(Run))]
[JsonSerializable(typeof(RunStep))]
[JsonSerializable(typeof(ThreadMessage))]
[JsonSerializable(typeof(AssistantThread))]
[JsonSerializable(typeof(MessageDelta))]
[JsonSerializable(typeof(StepDelta))]
[JsonSerializable(typeof(RunError))]
internal sealed partial class RunEventJson : JsonSerializerContext;
