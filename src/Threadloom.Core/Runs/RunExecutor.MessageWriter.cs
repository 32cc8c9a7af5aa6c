using Threadloom.Core.Domain;
using Threadloom.Core.Tools.CodeInterpreter;

namespace Threadloom.Core.Runs;

/// <summary>
/// The message writer: opens the assistant message of a turn, passes model text through the message's text filters
/// (citations) as it streams, and writes the final text with its annotations and the images code made before it.
/// </summary>
public sealed partial class RunExecutor
{
    private async Task EnsureMessageAsync(ExecutionState state, CancellationToken cancellationToken)
    {
        if (state.Message is not null)
        {
            return;
        }
        var run = state.Run;
        state.Images.Clear();
        // Only a run offered code_interpreter can have made figures (its tools are fixed when it is created), and only
        // in a step: the others skip reading their steps.
        if (state.MayHaveSteps && _builtIns.ContainsKey(CodeInterpreterTool.ToolName) && run.Tools.Any(t => t is CodeInterpreterToolDefinition))
        {
            state.Images.AddRange(await PendingImagesAsync(run.Id, cancellationToken));
        }
        var now = time.GetUtcNow();
        var message = new ThreadMessage(ids.NewId(Ids.Message), run.ProjectId, now, run.ThreadId, MessageRole.Assistant, [.. state.Images], MessageStatus.InProgress,
            [], new Dictionary<string, string>(), run.AssistantId, run.Id);
        var step = NewStep(state, now, new MessageCreationStepDetails(new MessageCreation(message.Id)));
        await lifecycle.OpenMessageAsync(step, message, cancellationToken);
        state.Message = message;
        state.MessageStep = step;
        state.Text.Clear();
        state.Annotations.Clear();
        state.TextFilters.Clear();
        state.TextFilters.AddRange(Annotators.Select(a => a.OpenMessage(run)));
    }

    /// <summary>
    /// Passes model text (null: the end of the message) through the message's text filters and streams what they let
    /// through, so the deltas add up to exactly the text and annotations that are stored.
    /// </summary>
    /// <remarks>
    /// Filters are chained in registration order; annotation indexes are those of the text a filter returns, so a
    /// filter after one that annotates must not move text. Only file search's citation filter exists today.
    /// </remarks>
    private async Task AppendTextAsync(ExecutionState state, string? text, CancellationToken cancellationToken)
    {
        var value = text ?? "";
        var annotations = new List<TextAnnotation>();
        foreach (var filter in state.TextFilters)
        {
            var passed = await filter.AppendAsync(value, cancellationToken);
            if (text is null)
            {
                var rest = await filter.CompleteAsync(cancellationToken);
                passed = new MessageText(passed.Value + rest.Value, [.. passed.Annotations, .. rest.Annotations]);
            }
            value = passed.Value;
            annotations.AddRange(passed.Annotations);
        }
        if (value.Length == 0 && annotations.Count == 0)
        {
            return;
        }
        var first = state.Annotations.Count;
        state.Text.Append(value);
        state.Annotations.AddRange(annotations);
        lifecycle.StreamMessageDelta(state.Run.Id, new MessageDelta(state.Message!.Id, state.Images.Count, value, annotations, first));
    }

    /// <summary>
    /// Writes the message's text and ends it: completed, or incomplete with <paramref name="incompleteReason"/>. With
    /// <paramref name="runEnd"/>, the run ends in the same transaction (one write fewer for a run's last message).
    /// </summary>
    private async Task CompleteMessageAsync(
        ExecutionState state, string? incompleteReason, CancellationToken cancellationToken, RunUsage? usage = null, RunEnd? runEnd = null)
    {
        await AppendTextAsync(state, null, cancellationToken);
        var now = time.GetUtcNow();
        // File paths are found in the final text (the filters may have rewritten it), after the annotations streamed with it.
        var text = new MessageText(state.Text.ToString(), [.. state.Annotations]);
        IReadOnlyList<TextAnnotation> filePaths = [];
        if (text.Value.Contains(CodeInterpreterTool.SandboxLinkPrefix, StringComparison.Ordinal))
        {
            filePaths = FilePathAnnotations.Find(text.Value, await OutputFilesAsync(state.Run.Id, cancellationToken));
            text = text with { Annotations = [.. text.Annotations, .. filePaths] };
        }
        var message = state.Message! with
        {
            Content = [.. state.Images, new TextContent(text)],
            Status = incompleteReason is null ? MessageStatus.Completed : MessageStatus.Incomplete,
            CompletedAt = incompleteReason is null ? now : null,
            IncompleteAt = incompleteReason is null ? null : now,
            IncompleteReason = incompleteReason,
        };
        var step = state.MessageStep! with { Status = RunStepStatus.Completed, CompletedAt = now, Usage = usage };
        var filePathsDelta = filePaths.Count > 0 ? new MessageDelta(message.Id, message.Content.Count - 1, "", filePaths, state.Annotations.Count) : null;
        if (runEnd is { } end)
        {
            var ended = await lifecycle.CompleteLastMessageAsync(state.Run, end.Status, r => r with { IncompleteDetails = end.Incomplete },
                message, step, filePathsDelta, cancellationToken);
            if (ended is null)
            {
                // Cancelled or swept meanwhile: the text the client saw is still kept, as when the message ends alone.
                await lifecycle.CompleteMessageAsync(message, step, filePathsDelta, cancellationToken);
                throw new RunChangedException();
            }
            state.Run = ended;
        }
        else
        {
            await lifecycle.CompleteMessageAsync(message, step, filePathsDelta, cancellationToken);
        }
        state.Message = null;
        state.MessageStep = null;
        state.Images.Clear();
    }

    /// <summary>Images of this run's code_interpreter calls made since its last message: they belong to the next message.</summary>
    private async Task<List<ImageFileContent>> PendingImagesAsync(string runId, CancellationToken cancellationToken)
    {
        var pending = new List<ImageFileContent>();
        foreach (var step in await steps.ListAllAsync(runId, cancellationToken))
        {
            switch (step.StepDetails)
            {
                case MessageCreationStepDetails:
                    pending.Clear();
                    break;
                case ToolCallsStepDetails calls:
                    pending.AddRange(calls.ToolCalls.OfType<CodeInterpreterStepToolCall>()
                        .SelectMany(c => c.CodeInterpreter.Outputs.OfType<CodeInterpreterImageOutput>())
                        .Select(o => new ImageFileContent(new ImageFile(o.Image.FileId))));
                    break;
            }
        }
        return pending;
    }

    /// <summary>The <c>sandbox:/mnt/data/…</c> links of files this run's code wrote, to their file ids (the latest write wins).</summary>
    private async Task<Dictionary<string, string>> OutputFilesAsync(string runId, CancellationToken cancellationToken)
    {
        var links = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var step in await steps.ListAllAsync(runId, cancellationToken))
        {
            foreach (var record in step.BuiltInCalls?.Values ?? [])
            {
                foreach (var (link, fileId) in record.Files ?? new Dictionary<string, string>())
                {
                    links[link] = fileId;
                }
            }
        }
        return links;
    }
}
