using System.Diagnostics;
using System.Text;
using Microsoft.Extensions.Logging;
using Threadloom.Core.Domain;
using Threadloom.Core.Inference;
using Threadloom.Core.Runs.Prompts;
using Threadloom.Core.Runs.Truncation;
using Threadloom.Core.Storage;
using Threadloom.Core.Tools.CodeInterpreter;
using Threadloom.Core.Tools.FileSearch;
using AI = Microsoft.Extensions.AI;

namespace Threadloom.Core.Runs;

/// <summary>
/// Executes one claimed run: prompt, streamed model call, message and tool-call steps, built-in tools, until the run
/// completes, needs tool outputs, or ends otherwise.
/// </summary>
/// <remarks>
/// Design notes (DESIGN §4):
/// <list type="bullet">
/// <item>The row is the truth: every run write is optimistic on the status the executor believes; when it fails the
/// run was cancelled (or ended by a sweep) meanwhile, and the executor takes the cancel path.</item>
/// <item>Events are published after the write they describe, so a client that reacts to an event and reads the API
/// sees at least that state.</item>
/// <item>Text is persisted when the message completes, not per delta: deltas go to the event hub; a poller sees the
/// message <c>in_progress</c> until then.</item>
/// <item><c>tool_choice</c> <c>required</c> or a named tool governs every model call of the run until it is
/// satisfied: <c>required</c> until the run called any tool, a named tool until the run called that tool (OpenAI:
/// "the model must call one or more tools before responding"). After that the model may answer (<c>auto</c>),
/// otherwise a forced built-in tool would loop forever.</item>
/// </list>
/// </remarks>
public sealed partial class RunExecutor(
    IRunStore runs,
    IRunStepStore steps,
    IMessageStore messages,
    IRunPromptStore promptRecords,
    IModelClient model,
    IModelRouter router,
    PromptBuilder prompts,
    RunCommands commands,
    IRunEventBus hub,
    IEnumerable<IBuiltInTool> builtInTools,
    IIdGenerator ids,
    TimeProvider time,
    ILogger<RunExecutor> logger)
{
    public static readonly ActivitySource ActivitySource = new("Threadloom.Runs");

    /// <summary>The <c>last_error.message</c> of a run that was still executing when its node shut down.</summary>
    public const string ShutdownMessage =
        "The server shut down before the run finished: runs still in progress at the end of the shutdown grace period (Runs:ShutdownGracePeriod) are failed. Create the run again.";

    private readonly Dictionary<string, IBuiltInTool> _builtIns = builtInTools.ToDictionary(t => t.Name, StringComparer.Ordinal);

    private IEnumerable<IRunMessageAnnotator> Annotators => _builtIns.Values.OfType<IRunMessageAnnotator>();

    /// <summary>Executes <paramref name="claimed"/> (leased, still <c>queued</c>). Cancelling the token means the run was cancelled or the node stops.</summary>
    public async Task ExecuteAsync(Run claimed, CancellationToken cancellationToken)
    {
        using var activity = ActivitySource.StartActivity("run");
        activity?.SetTag("threadloom.run_id", claimed.Id);
        var state = new ExecutionState(RunTransitions.Apply(claimed, RunStatus.InProgress, time.GetUtcNow()));
        if (!await runs.UpdateAsync(state.Run, RunStatus.Queued, null, CancellationToken.None))
        {
            LogNotStarted(claimed.Id);
            return;
        }
        hub.Publish(state.Run.Id, RunEvent.ForRun(state.Run));
        try
        {
            while (await TurnAsync(state, cancellationToken))
            {
            }
        }
        catch (Exception e) when (e is OperationCanceledException or RunChangedException)
        {
            await StopAsync(state);
        }
        catch (BuiltInToolUnavailableException e)
        {
            LogToolUnavailable(state.Run.Id, e.Message);
            await FailAsync(state, new RunError("server_error", e.Message));
        }
        catch (ModelCallException e)
        {
            LogModelFailed(state.Run.Id, e.Code);
            await FailAsync(state, new RunError(e.Code, e.Message));
        }
        catch (Exception e)
        {
            LogUnexpected(e, state.Run.Id);
            hub.Publish(state.Run.Id, new RunEvent("error", new RunError("server_error", "The server had an error while processing the run.")));
            await FailAsync(state, new RunError("server_error", "The server had an error while processing the run."));
        }
    }

    /// <summary>One model call and what follows from it; returns true to call the model again.</summary>
    private async Task<bool> TurnAsync(ExecutionState state, CancellationToken cancellationToken)
    {
        var run = state.Run;
        var resolution = router.Resolve(run.Model);
        if (resolution.Model is not { } resolved)
        {
            await FailAsync(state, new RunError("server_error", resolution.Error ?? "No model provider is configured."));
            return false;
        }
        var counter = TokenCounter.ForEncoding(TokenCounter.IsSupportedEncoding(resolved.TokenizerEncoding) ? resolved.TokenizerEncoding : "o200k_base");
        var tools = ModelTools(run);
        var system = string.IsNullOrEmpty(run.Instructions) ? null : new AI.ChatMessage(AI.ChatRole.System, run.Instructions);
        List<AI.ChatMessage> history;
        try
        {
            history = await prompts.BuildAsync(run, new PromptOptions(resolved.Vision), cancellationToken);
        }
        catch (PromptRejectedException e)
        {
            LogPromptRejected(run.Id, e.Message);
            await FailAsync(state, new RunError(ModelErrorCodes.InvalidPrompt, e.Message));
            return false;
        }
        var plan = TruncationPlanner.Plan(new TruncationRequest(
            history,
            (system is null ? 0 : counter.CountMessage(system)) + counter.CountTools(tools),
            resolved.ContextWindow,
            run.MaxCompletionTokens,
            run.MaxPromptTokens,
            run.TruncationStrategy.Type == "last_messages" ? TruncationType.LastMessages : TruncationType.Auto,
            run.TruncationStrategy.LastMessages), counter);
        if (!plan.Fits)
        {
            await EndAsync(state, RunStatus.Incomplete, new RunIncompleteDetails("max_prompt_tokens"));
            return false;
        }
        int? maxOutput = null;
        if (run.MaxCompletionTokens is { } maxCompletion)
        {
            maxOutput = maxCompletion - (run.Usage?.CompletionTokens ?? 0);
            if (maxOutput <= 0)
            {
                await EndAsync(state, RunStatus.Incomplete, new RunIncompleteDetails("max_completion_tokens"));
                return false;
            }
        }

        var satisfied = ToolChoiceSatisfied(run.ToolChoice, await steps.ListAllAsync(run.Id, cancellationToken));
        var (toolChoice, forced) = ToolChoiceFor(run, satisfied, tools.Count > 0);
        IReadOnlyList<AI.ChatMessage> prompt = system is null ? plan.Messages : [system, .. plan.Messages];
        var request = new ModelRequest(run.Model, prompt, tools, toolChoice, forced,
            run.Temperature, run.TopP, maxOutput, run.ResponseFormat, tools.Count > 0 ? run.ParallelToolCalls : null,
            run.ReasoningEffort, counter.CountMessages(prompt) + counter.CountTools(tools));

        await RecordPromptAsync(run, new RunPromptInput(run.Model, resolved.UpstreamModel, system is null ? null : run.Instructions, history.Count, prompt,
            plan.DroppedMessages, plan.PromptTokens, plan.PromptBudget, run.TruncationStrategy.Type, tools, toolChoice, maxOutput));

        ModelFinished? finished = null;
        await foreach (var update in model.StreamAsync(request, cancellationToken))
        {
            switch (update)
            {
                case TextDelta text:
                    await EnsureMessageAsync(state, cancellationToken);
                    await AppendTextAsync(state, text.Text, cancellationToken);
                    break;
                case ToolCallDelta call:
                    if (state.Message is not null)
                    {
                        await CompleteMessageAsync(state, null, CancellationToken.None);
                    }
                    await EnsureToolStepAsync(state, cancellationToken);
                    PublishToolCallDelta(state, call);
                    break;
                case ModelFinished end:
                    finished = end;
                    break;
            }
        }
        finished ??= new ModelFinished([], "stop", null);
        if (finished.Usage is { } usage)
        {
            state.Run = state.Run with { Usage = RunUsage.Add(state.Run.Usage, usage.PromptTokens, usage.CompletionTokens) };
        }
        var stepUsage = finished.Usage is { } u ? RunUsage.Add(null, u.PromptTokens, u.CompletionTokens) : null;

        if (state.Message is not null)
        {
            await CompleteMessageAsync(state, finished.FinishReason switch
            {
                "length" => "max_tokens",
                "content_filter" => "content_filter",
                _ => null,
            }, CancellationToken.None, finished.ToolCalls.Count == 0 ? stepUsage : null);
        }
        if (finished.FinishReason == "length")
        {
            await EndAsync(state, RunStatus.Incomplete, new RunIncompleteDetails("max_completion_tokens"));
            return false;
        }
        if (finished.ToolCalls.Count == 0)
        {
            await EndAsync(state, RunStatus.Completed, null);
            return false;
        }
        return await HandleToolCallsAsync(state, finished.ToolCalls, stepUsage, cancellationToken);
    }

    /// <summary>
    /// Records the prompt for the run inspector (issue #13). A failed write is logged and the run goes on: the record
    /// is for people looking at the run, and the model call does not depend on it.
    /// </summary>
    private async Task RecordPromptAsync(Run run, RunPromptInput input)
    {
        try
        {
            await promptRecords.AddAsync(run.ProjectId, run.ThreadId, run.Id, time.GetUtcNow(), RunPromptDocument.Write(input), CancellationToken.None);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            LogPromptNotRecorded(e, run.Id);
        }
    }

    private async Task<bool> HandleToolCallsAsync(ExecutionState state, IReadOnlyList<ModelToolCall> calls, RunUsage? usage, CancellationToken cancellationToken)
    {
        await EnsureToolStepAsync(state, cancellationToken);
        var run = state.Run;
        var items = new List<StepToolCall>();
        var builtInRecords = new Dictionary<string, BuiltInCallRecord>(StringComparer.Ordinal);
        var functions = new List<RequiredToolCall>();
        for (var index = 0; index < calls.Count; index++)
        {
            var call = calls[index];
            if (_builtIns.TryGetValue(call.Name, out var tool) && OffersBuiltIn(run, call.Name))
            {
                var result = await tool.ExecuteAsync(new BuiltInToolCall(run, call.Id, call.Arguments), cancellationToken);
                items.Add(result.StepToolCall);
                builtInRecords[result.StepToolCall.Id] = new BuiltInCallRecord(call.Name, call.Arguments, result.ModelOutput, result.OutputFiles);
                PublishBuiltInResult(state, index, result.StepToolCall);
            }
            else
            {
                items.Add(new FunctionStepToolCall(call.Id, new FunctionCallDetails(call.Name, call.Arguments, null)));
                functions.Add(new RequiredToolCall(call.Id, new FunctionCall(call.Name, call.Arguments)));
            }
        }
        var now = time.GetUtcNow();
        var step = state.ToolStep! with { StepDetails = new ToolCallsStepDetails(items), Usage = usage, BuiltInCalls = builtInRecords.Count > 0 ? builtInRecords : null };
        state.ToolStep = null;
        if (functions.Count > 0)
        {
            var waiting = RunTransitions.Apply(run with { RequiredAction = new RequiredAction(new SubmitToolOutputsAction(functions)) }, RunStatus.RequiresAction, now)
                with { ExpiresAt = now + RunTransitions.ExpiresAfter };
            await SaveAsync(state, waiting, [step]);
            hub.Publish(run.Id, RunEvent.ForRun(waiting));
            return false;
        }
        var completed = step with { Status = RunStepStatus.Completed, CompletedAt = now };
        await steps.UpdateAsync(completed, CancellationToken.None);
        hub.Publish(run.Id, RunEvent.ForStep(completed, "completed"));
        return true;
    }

    private async Task EnsureMessageAsync(ExecutionState state, CancellationToken cancellationToken)
    {
        if (state.Message is not null)
        {
            return;
        }
        var run = state.Run;
        state.Images.Clear();
        if (_builtIns.ContainsKey(CodeInterpreterTool.ToolName))
        {
            state.Images.AddRange(await PendingImagesAsync(run.Id, cancellationToken));
        }
        var now = time.GetUtcNow();
        var message = new ThreadMessage(ids.NewId(Ids.Message), run.ProjectId, now, run.ThreadId, MessageRole.Assistant, [.. state.Images], MessageStatus.InProgress,
            [], new Dictionary<string, string>(), run.AssistantId, run.Id);
        var step = NewStep(run, now, new MessageCreationStepDetails(new MessageCreation(message.Id)));
        await steps.CreateAsync(step, cancellationToken);
        await messages.CreateAsync(message, cancellationToken);
        state.Message = message;
        state.MessageStep = step;
        state.Text.Clear();
        state.Annotations.Clear();
        state.TextFilters.Clear();
        state.TextFilters.AddRange(Annotators.Select(a => a.OpenMessage(run)));
        hub.Publish(run.Id, RunEvent.ForStep(step, "created"));
        hub.Publish(run.Id, RunEvent.ForStep(step, "in_progress"));
        hub.Publish(run.Id, RunEvent.ForMessage(message, "created"));
        hub.Publish(run.Id, RunEvent.ForMessage(message, "in_progress"));
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
        hub.Publish(state.Run.Id, new RunEvent("thread.message.delta", new MessageDelta(state.Message!.Id, state.Images.Count, value, annotations, first)));
    }

    /// <summary>Writes the message's text and ends it: completed, or incomplete with <paramref name="incompleteReason"/>.</summary>
    private async Task CompleteMessageAsync(ExecutionState state, string? incompleteReason, CancellationToken cancellationToken, RunUsage? usage = null)
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
        await messages.UpdateAsync(message, cancellationToken);
        await steps.UpdateAsync(step, cancellationToken);
        state.Message = null;
        state.MessageStep = null;
        state.Images.Clear();
        if (filePaths.Count > 0)
        {
            hub.Publish(state.Run.Id, new RunEvent("thread.message.delta", new MessageDelta(message.Id, message.Content.Count - 1, "", filePaths, state.Annotations.Count)));
        }
        hub.Publish(state.Run.Id, RunEvent.ForMessage(message, incompleteReason is null ? "completed" : "incomplete"));
        hub.Publish(state.Run.Id, RunEvent.ForStep(step, "completed"));
    }

    private async Task EnsureToolStepAsync(ExecutionState state, CancellationToken cancellationToken)
    {
        if (state.ToolStep is not null)
        {
            return;
        }
        var step = NewStep(state.Run, time.GetUtcNow(), new ToolCallsStepDetails([]));
        await steps.CreateAsync(step, cancellationToken);
        state.ToolStep = step;
        state.AnnouncedCalls.Clear();
        state.CodeInputs.Clear();
        hub.Publish(state.Run.Id, RunEvent.ForStep(step, "created"));
        hub.Publish(state.Run.Id, RunEvent.ForStep(step, "in_progress"));
    }

    /// <summary>
    /// Function calls stream as step deltas; so does a code_interpreter call's input, decoded from its arguments as
    /// they arrive (outputs follow once it ran). Other built-in calls are sent whole once they ran.
    /// </summary>
    private void PublishToolCallDelta(ExecutionState state, ToolCallDelta call)
    {
        if (state.AnnouncedCalls.TryGetValue(call.Index, out var name) ? IsBuiltIn(state.Run, name) : call.Name is { } n && IsBuiltIn(state.Run, n))
        {
            var first = state.AnnouncedCalls.TryAdd(call.Index, call.Name ?? "");
            if ((call.Name ?? state.AnnouncedCalls[call.Index]) == CodeInterpreterTool.ToolName)
            {
                PublishCodeInputDelta(state, call, first);
            }
            return;
        }
        var stepId = state.ToolStep!.Id;
        if (!state.AnnouncedCalls.ContainsKey(call.Index))
        {
            state.AnnouncedCalls[call.Index] = call.Name ?? "";
            hub.Publish(state.Run.Id, new RunEvent("thread.run.step.delta", new StepDelta(stepId, call.Index, call.Id ?? $"call_{call.Index}", call.Name ?? "", "")));
        }
        if (call.ArgumentsFragment.Length > 0)
        {
            hub.Publish(state.Run.Id, new RunEvent("thread.run.step.delta", new StepDelta(stepId, call.Index, null, null, call.ArgumentsFragment)));
        }
    }

    private void PublishCodeInputDelta(ExecutionState state, ToolCallDelta call, bool first)
    {
        var stepId = state.ToolStep!.Id;
        if (first)
        {
            var stream = new CodeArgumentsStream();
            state.CodeInputs[call.Index] = stream;
            hub.Publish(state.Run.Id, new RunEvent("thread.run.step.delta",
                new StepDelta(stepId, call.Index, call.Id ?? $"call_{call.Index}", null, null, CodeInterpreter: new CodeInterpreterDelta("", []))));
        }
        if (call.ArgumentsFragment.Length > 0 && state.CodeInputs.TryGetValue(call.Index, out var input)
            && input.Append(call.ArgumentsFragment) is { Length: > 0 } increment)
        {
            hub.Publish(state.Run.Id, new RunEvent("thread.run.step.delta", new StepDelta(stepId, call.Index, null, null, null, CodeInterpreter: new CodeInterpreterDelta(increment))));
        }
    }

    /// <summary>
    /// After a built-in call ran: a code_interpreter call whose input was streamed gets the rest of its input (all of it
    /// when the arguments could not be decoded incrementally) and then its outputs; any other call is sent whole.
    /// </summary>
    private void PublishBuiltInResult(ExecutionState state, int index, StepToolCall result)
    {
        var stepId = state.ToolStep!.Id;
        if (result is CodeInterpreterStepToolCall code && state.CodeInputs.Remove(index, out var streamed))
        {
            var sent = streamed.Recognized ? streamed.Decoded : "";
            var rest = code.CodeInterpreter.Input.StartsWith(sent, StringComparison.Ordinal) ? code.CodeInterpreter.Input[sent.Length..] : "";
            if (rest.Length > 0)
            {
                hub.Publish(state.Run.Id, new RunEvent("thread.run.step.delta", new StepDelta(stepId, index, null, null, null, CodeInterpreter: new CodeInterpreterDelta(rest))));
            }
            if (code.CodeInterpreter.Outputs.Count > 0)
            {
                hub.Publish(state.Run.Id, new RunEvent("thread.run.step.delta",
                    new StepDelta(stepId, index, null, null, null, CodeInterpreter: new CodeInterpreterDelta(null, code.CodeInterpreter.Outputs))));
            }
            return;
        }
        hub.Publish(state.Run.Id, new RunEvent("thread.run.step.delta", new StepDelta(stepId, index, null, null, null, result)));
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

    private async Task EndAsync(ExecutionState state, RunStatus to, RunIncompleteDetails? incomplete)
    {
        var ended = RunTransitions.Apply(state.Run, to, time.GetUtcNow()) with { IncompleteDetails = incomplete };
        await SaveAsync(state, ended, null);
        hub.Publish(ended.Id, RunEvent.ForRun(ended));
    }

    private async Task SaveAsync(ExecutionState state, Run next, IReadOnlyList<RunStep>? changedSteps)
    {
        if (!await runs.UpdateAsync(next, state.Run.Status, changedSteps, CancellationToken.None))
        {
            throw new RunChangedException();
        }
        state.Run = next;
    }

    private async Task FailAsync(ExecutionState state, RunError error)
    {
        var current = await runs.FindByIdAsync(state.Run.Id, CancellationToken.None);
        if (current is null || RunTransitions.IsTerminal(current.Status))
        {
            return;
        }
        if (current.Status == RunStatus.Cancelling)
        {
            await StopAsync(state);
            return;
        }
        await commands.CloseAsync(current with { Usage = state.Run.Usage }, RunStatus.Failed, error, "run_failed", RunStepStatus.Failed, CancellationToken.None);
    }

    /// <summary>The run's token was cancelled or its row changed: end it cancelled if that was asked, failed if the node is stopping.</summary>
    private async Task StopAsync(ExecutionState state)
    {
        var current = await runs.FindByIdAsync(state.Run.Id, CancellationToken.None);
        if (current is null || RunTransitions.IsTerminal(current.Status) || current.Status == RunStatus.Queued)
        {
            return;
        }
        if (current.Status == RunStatus.Cancelling)
        {
            await commands.CloseAsync(current with { Usage = state.Run.Usage }, RunStatus.Cancelled, null, "run_cancelled", RunStepStatus.Cancelled, CancellationToken.None);
            return;
        }
        if (current.Status == RunStatus.InProgress)
        {
            await commands.CloseAsync(current with { Usage = state.Run.Usage }, RunStatus.Failed,
                new RunError("server_error", ShutdownMessage), "run_failed", RunStepStatus.Failed, CancellationToken.None);
        }
    }

    private List<ModelTool> ModelTools(Run run)
    {
        var tools = new List<ModelTool>();
        foreach (var tool in run.Tools)
        {
            switch (tool)
            {
                case FunctionToolDefinition function:
                    tools.Add(new ModelTool(function.Function.Name, function.Function.Description, function.Function.Parameters, function.Function.Strict));
                    break;
                case CodeInterpreterToolDefinition when _builtIns.TryGetValue("code_interpreter", out var code):
                    tools.Add(code.Definition);
                    break;
                case FileSearchToolDefinition when _builtIns.TryGetValue("file_search", out var search):
                    tools.Add(search.Definition);
                    break;
            }
        }
        return tools;
    }

    private bool IsBuiltIn(Run run, string name) => _builtIns.ContainsKey(name) && OffersBuiltIn(run, name);

    private static bool OffersBuiltIn(Run run, string name) => name switch
    {
        "code_interpreter" => run.Tools.Any(t => t is CodeInterpreterToolDefinition),
        "file_search" => run.Tools.Any(t => t is FileSearchToolDefinition),
        _ => false,
    };

    private static (string? ToolChoice, string? Forced) ToolChoiceFor(Run run, bool satisfied, bool hasTools)
    {
        if (!hasTools)
        {
            return (null, null);
        }
        var choice = run.ToolChoice;
        if (choice.Mode is "none")
        {
            return ("none", null);
        }
        if (satisfied)
        {
            return ("auto", null);
        }
        return choice.Mode is { } mode ? (mode, null) : ("required", choice.FunctionName ?? choice.ToolType);
    }

    /// <summary>
    /// Whether the run's earlier model calls already did what <paramref name="choice"/> asks: <c>required</c> is met by
    /// any tool call, a named tool by a call of that tool. <c>auto</c> and <c>none</c> never force anything.
    /// </summary>
    internal static bool ToolChoiceSatisfied(ToolChoice choice, IReadOnlyList<RunStep> runSteps)
    {
        var calls = runSteps.Select(s => s.StepDetails).OfType<ToolCallsStepDetails>().SelectMany(d => d.ToolCalls);
        return choice switch
        {
            { Mode: "required" } => calls.Any(),
            { Mode: not null } => true,
            { ToolType: "function", FunctionName: { } name } => calls.Any(c => c is FunctionStepToolCall f && f.Function.Name == name),
            { ToolType: "code_interpreter" } => calls.Any(c => c is CodeInterpreterStepToolCall),
            { ToolType: "file_search" } => calls.Any(c => c is FileSearchStepToolCall),
            _ => true,
        };
    }

    private RunStep NewStep(Run run, DateTimeOffset now, StepDetails details) =>
        new(ids.NewId(Ids.Step), run.ProjectId, now, run.ThreadId, run.Id, run.AssistantId, RunStepStatus.InProgress, details, new Dictionary<string, string>());

    [LoggerMessage(Level = LogLevel.Warning, Message = "Run {RunId}: the prompt of a model call could not be recorded for the run inspector")]
    private partial void LogPromptNotRecorded(Exception exception, string runId);

    [LoggerMessage(Level = LogLevel.Information, Message = "Run {RunId} was not started: its status changed after the claim")]
    private partial void LogNotStarted(string runId);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Run {RunId} failed: model call error {Code}")]
    private partial void LogModelFailed(string runId, string code);

    [LoggerMessage(Level = LogLevel.Information, Message = "Run {RunId} failed: its prompt was rejected before the model call: {Reason}")]
    private partial void LogPromptRejected(string runId, string reason);

    [LoggerMessage(Level = LogLevel.Error, Message = "Run {RunId} failed: a built-in tool is unavailable: {Reason}")]
    private partial void LogToolUnavailable(string runId, string reason);

    [LoggerMessage(Level = LogLevel.Error, Message = "Run {RunId} failed with an unexpected error")]
    private partial void LogUnexpected(Exception exception, string runId);

    /// <summary>The run row's status is no longer what this executor wrote: it was cancelled or ended by a sweep.</summary>
    private sealed class RunChangedException() : Exception("The run changed status under its executor.");

    private sealed class ExecutionState(Run run)
    {
        public Run Run { get; set; } = run;
        public ThreadMessage? Message { get; set; }
        public RunStep? MessageStep { get; set; }
        public StringBuilder Text { get; } = new();

        /// <summary>The open message's annotations so far (streamed with its text).</summary>
        public List<TextAnnotation> Annotations { get; } = [];

        public List<IMessageTextFilter> TextFilters { get; } = [];
        public RunStep? ToolStep { get; set; }
        public Dictionary<int, string> AnnouncedCalls { get; } = [];
        public Dictionary<int, CodeArgumentsStream> CodeInputs { get; } = [];

        /// <summary>Images the open message shows before its text (code_interpreter figures made since the last message).</summary>
        public List<ImageFileContent> Images { get; } = [];
    }
}
