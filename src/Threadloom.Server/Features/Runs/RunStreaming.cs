using System.Net.ServerSentEvents;
using System.Runtime.CompilerServices;
using System.Text.Json;
using System.Text.Json.Nodes;
using Threadloom.Core.Domain;
using Threadloom.Core.Runs;
using Threadloom.Server.Features.Messages;
using Threadloom.Server.Features.Threads;
using Threadloom.Server.Http;

namespace Threadloom.Server.Features.Runs;

/// <summary>
/// Turns a run's event subscription into the Assistants SSE stream (STYLE habit 6): the event name on each item,
/// JSON serialised first with <see cref="ApiJsonContext"/>, and a final <c>done</c> with <c>[DONE]</c> after the run
/// needs tool outputs or ends. A client that goes away only ends its subscription; the run goes on in the worker.
/// </summary>
internal static class RunStreaming
{
    public static IAsyncEnumerable<SseItem<string>> Stream(
        RunSubscription subscription, IReadOnlyList<RunEvent> prelude, ApiDialect dialect, CancellationToken cancellationToken) =>
        StreamAsync(subscription, prelude, dialect, cancellationToken);

    private static async IAsyncEnumerable<SseItem<string>> StreamAsync(
        RunSubscription subscription, IReadOnlyList<RunEvent> prelude, ApiDialect dialect, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        using (subscription)
        {
            foreach (var e in prelude)
            {
                yield return new SseItem<string>(Serialize(e, dialect), e.Name);
            }
            await foreach (var e in subscription.Reader.ReadAllAsync(cancellationToken))
            {
                yield return new SseItem<string>(Serialize(e, dialect), e.Name);
                if (e.EndsStream)
                {
                    break;
                }
            }
        }
        yield return new SseItem<string>("[DONE]", "done");
    }

    /// <summary>The event's JSON in <paramref name="dialect"/>: the v2 JSON, reshaped for v1 callers (<see cref="V1Shape"/>).</summary>
    public static string Serialize(RunEvent e, ApiDialect dialect)
    {
        var json = Serialize(e);
        if (dialect != ApiDialect.V1 || e.Payload is MessageDelta or RunError)
        {
            return json;
        }
        var node = JsonNode.Parse(json)!.AsObject();
        switch (e.Payload)
        {
            case StepDelta:
                V1Shape.ReshapeStepDelta(node);
                break;
            case Run run:
                V1Shape.Reshape(node, run.ToObject());
                break;
            case RunStep step:
                V1Shape.Reshape(node, step.ToObject());
                break;
            case ThreadMessage message:
                V1Shape.Reshape(node, message.ToObject());
                break;
            case AssistantThread thread:
                V1Shape.Reshape(node, thread.ToObject());
                break;
        }
        return node.ToJsonString(ApiJsonContext.Default.Options);
    }

    public static string Serialize(RunEvent e) => e.Payload switch
    {
        Run run => JsonSerializer.Serialize(run.ToObject(), ApiJsonContext.Default.RunObject),
        RunStep step => JsonSerializer.Serialize(step.ToObject(), ApiJsonContext.Default.RunStepObject),
        ThreadMessage message => JsonSerializer.Serialize(message.ToObject(), ApiJsonContext.Default.MessageObject),
        AssistantThread thread => JsonSerializer.Serialize(thread.ToObject(), ApiJsonContext.Default.ThreadObject),
        MessageDelta delta => MessageDeltaJson(delta),
        StepDelta delta => StepDeltaJson(delta),
        RunError error => JsonSerializer.Serialize(new ErrorResponse(new ErrorBody(error.Message, "server_error", null, error.Code)), ApiJsonContext.Default.ErrorResponse),
        _ => throw new InvalidOperationException($"No wire shape for stream payload {e.Payload.GetType().Name}."),
    };

    /// <summary>
    /// Only the increment, with the content part's <c>index</c> (the SDKs concatenate and need it): the text, and the
    /// annotations it completes, each with its integer <c>index</c> in the part's annotations (the SDKs merge arrays by
    /// index). As on OpenAI, a citation arrives in the same delta as its marker text.
    /// </summary>
    private static string MessageDeltaJson(MessageDelta delta)
    {
        var annotations = new JsonArray();
        if (delta.Annotations is { Count: > 0 } list)
        {
            annotations = JsonSerializer.SerializeToNode(list.ToList(), ApiJsonContext.Default.ListTextAnnotation)!.AsArray();
            for (var i = 0; i < annotations.Count; i++)
            {
                annotations[i]!["index"] = delta.FirstAnnotationIndex + i;
            }
        }
        // value is always sent, even empty: clients concatenate it without checking (openai-node's textDelta users do).
        var text = new JsonObject { ["value"] = delta.Text, ["annotations"] = annotations };
        return new JsonObject
        {
            ["id"] = delta.MessageId,
            ["object"] = "thread.message.delta",
            ["delta"] = new JsonObject
            {
                ["content"] = new JsonArray(new JsonObject
                {
                    ["index"] = delta.Index,
                    ["type"] = "text",
                    ["text"] = text,
                }),
            },
        }.ToJsonString();
    }

    /// <summary>
    /// A code_interpreter increment: the first carries <c>id</c> and <c>input:""</c>, then <c>input</c> fragments, then
    /// <c>outputs</c> each with its <c>index</c>. Nothing else repeats, since SDKs concatenate strings across deltas.
    /// </summary>
    private static JsonObject CodeInterpreterDeltaJson(StepDelta delta, CodeInterpreterDelta code)
    {
        var body = new JsonObject();
        if (code.Input is { } input)
        {
            body["input"] = input;
        }
        if (code.Outputs is { } outputs)
        {
            var items = new JsonArray();
            for (var i = 0; i < outputs.Count; i++)
            {
                var item = JsonSerializer.SerializeToNode(outputs[i], ApiJsonContext.Default.CodeInterpreterOutput)!.AsObject();
                item["index"] = code.FirstOutputIndex + i;
                items.Add(item);
            }
            body["outputs"] = items;
        }
        var call = new JsonObject { ["index"] = delta.Index };
        if (delta.CallId is { } id)
        {
            call["id"] = id;
        }
        call["type"] = "code_interpreter";
        call["code_interpreter"] = body;
        return call;
    }

    /// <summary>
    /// A function call's first delta carries <c>index, id, type, function{name, arguments:"", output:null}</c>; later ones
    /// only <c>index, type, function{arguments}</c>. Built-in calls are sent whole, with their index.
    /// </summary>
    private static string StepDeltaJson(StepDelta delta)
    {
        JsonObject call;
        if (delta.CodeInterpreter is { } code)
        {
            call = CodeInterpreterDeltaJson(delta, code);
        }
        else if (delta.Snapshot is { } snapshot)
        {
            // Streams carry no include[]: file search results go without their content, as listed steps do.
            var shown = snapshot is FileSearchStepToolCall { FileSearch.Results: { } results } search
                ? search with { FileSearch = search.FileSearch with { Results = [.. results.Select(r => r with { Content = null })] } }
                : snapshot;
            call = JsonSerializer.SerializeToNode(shown, ApiJsonContext.Default.StepToolCall)!.AsObject();
            call["index"] = delta.Index;
        }
        else if (delta.CallId is { } id)
        {
            call = new JsonObject
            {
                ["index"] = delta.Index,
                ["id"] = id,
                ["type"] = "function",
                ["function"] = new JsonObject { ["name"] = delta.FunctionName, ["arguments"] = delta.ArgumentsFragment ?? "", ["output"] = null },
            };
        }
        else
        {
            call = new JsonObject
            {
                ["index"] = delta.Index,
                ["type"] = "function",
                ["function"] = new JsonObject { ["arguments"] = delta.ArgumentsFragment ?? "" },
            };
        }
        return new JsonObject
        {
            ["id"] = delta.StepId,
            ["object"] = "thread.run.step.delta",
            ["delta"] = new JsonObject
            {
                ["step_details"] = new JsonObject { ["type"] = "tool_calls", ["tool_calls"] = new JsonArray(call) },
            },
        }.ToJsonString();
    }
}
