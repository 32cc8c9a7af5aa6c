using Threadloom.Core.Domain;
using Threadloom.Core.Inference;
using Threadloom.Core.Storage;
using AI = Microsoft.Extensions.AI;

namespace Threadloom.Core.Runs;

/// <summary>
/// Turns a thread into chat messages: messages written by the user (or injected as assistant turns) in thread
/// order; each run's own output replayed from its steps in step order (its messages, its tool calls and their
/// results); the current run's steps last.
/// </summary>
/// <remarks>
/// Design notes: a run's messages and tool calls live in different tables with no common order, but the run's
/// steps record both in the order they happened, so a run is expanded from its steps at the position of its
/// first message. Tool calls without outputs (a run that expired or was cancelled while waiting) are left out:
/// upstream APIs reject a call without its result.
/// </remarks>
public sealed class PromptBuilder(IMessageStore messages, IRunStepStore steps)
{
    public async Task<List<AI.ChatMessage>> BuildAsync(Run run, CancellationToken cancellationToken)
    {
        var all = new List<ThreadMessage>();
        string? after = null;
        while (true)
        {
            var page = await messages.ListAsync(run.ProjectId, run.ThreadId, null, new PageRequest(100, Ascending: true, After: after), cancellationToken);
            all.AddRange(page.Items);
            if (!page.HasMore || page.Items.Count == 0)
            {
                break;
            }
            after = page.Items[^1].Id;
        }
        var byId = all.ToDictionary(m => m.Id, StringComparer.Ordinal);
        var result = new List<AI.ChatMessage>();
        var expanded = new HashSet<string>(StringComparer.Ordinal);
        foreach (var message in all)
        {
            if (message.RunId is null)
            {
                AddMessage(result, message);
            }
            else if (expanded.Add(message.RunId))
            {
                await ExpandRunAsync(result, message.RunId, byId, cancellationToken);
            }
        }
        if (expanded.Add(run.Id))
        {
            await ExpandRunAsync(result, run.Id, byId, cancellationToken);
        }
        return result;
    }

    private async Task ExpandRunAsync(List<AI.ChatMessage> result, string runId, Dictionary<string, ThreadMessage> byId, CancellationToken cancellationToken)
    {
        foreach (var step in await steps.ListAllAsync(runId, cancellationToken))
        {
            switch (step.StepDetails)
            {
                case MessageCreationStepDetails creation when byId.TryGetValue(creation.MessageCreation.MessageId, out var message):
                    AddMessage(result, message);
                    break;
                case ToolCallsStepDetails toolCalls:
                    var answered = new List<(ModelToolCall Call, string Output)>();
                    foreach (var call in toolCalls.ToolCalls)
                    {
                        if (call is FunctionStepToolCall { Function.Output: { } output } function)
                        {
                            answered.Add((new ModelToolCall(function.Id, function.Function.Name, function.Function.Arguments), output));
                        }
                        else if (step.BuiltInCalls?.TryGetValue(call.Id, out var builtIn) == true && builtIn is not null)
                        {
                            answered.Add((new ModelToolCall(call.Id, builtIn.Name, builtIn.Arguments), builtIn.Output));
                        }
                    }
                    if (answered.Count > 0)
                    {
                        result.Add(ModelMessages.AssistantToolCalls(answered.Select(a => a.Call)));
                        result.AddRange(answered.Select(a => ModelMessages.ToolResult(a.Call.Id, a.Output)));
                    }
                    break;
            }
        }
    }

    private static void AddMessage(List<AI.ChatMessage> result, ThreadMessage message)
    {
        var contents = new List<AI.AIContent>();
        foreach (var part in message.Content)
        {
            switch (part)
            {
                case TextContent text when text.Text.Value.Length > 0:
                    contents.Add(new AI.TextContent(text.Text.Value));
                    break;
                case ImageUrlContent image when Uri.TryCreate(image.ImageUrl.Url, UriKind.Absolute, out var uri):
                    contents.Add(new AI.UriContent(uri, "image/*"));
                    break;
                case RefusalContent refusal:
                    contents.Add(new AI.TextContent(refusal.Refusal));
                    break;
            }
        }
        if (contents.Count > 0)
        {
            result.Add(new AI.ChatMessage(message.Role == MessageRole.Assistant ? AI.ChatRole.Assistant : AI.ChatRole.User, contents));
        }
    }
}
