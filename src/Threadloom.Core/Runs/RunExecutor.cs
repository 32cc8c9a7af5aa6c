using System.Diagnostics;
using System.Text;
using Microsoft.Extensions.Logging;
using Threadloom.Core.Domain;
using Threadloom.Core.Inference;
using Threadloom.Core.Runs.Truncation;
using Threadloom.Core.Storage;
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
/// <item><c>tool_choice</c> <c>required</c> or a named tool applies to the first model call of a run only; after the
/// tool results come back the model may answer, otherwise a forced built-in tool would loop forever.</item>
/// </list>
/// </remarks>
public sealed partial class RunExecutor(
    IRunStore runs,
    IRunStepStore steps,
    IMessageStore messages,
    IModelClient model,
    IModelRouter router,
    PromptBuilder prompts,
    RunCommands commands,
    RunEventHub hub,
    IEnumerable<IBuiltInTool> builtInTools,
    IIdGenerator ids,
    TimeProvider time,
    ILogger<RunExecutor> logger)
{
    public static readonly ActivitySource ActivitySource = new("Threadloom.Runs");

    private readonly Dictionary<string, IBuiltInTool> _builtIns = builtInTools.ToDictionary(t => t.Name, StringComparer.Ordinal);

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
        var history = await prompts.BuildAsync(run, cancellationToken);
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

        var firstTurn = state.Turns++ == 0 && !(await steps.ListAllAsync(run.Id, cancellationToken)).Any(s => s.StepDetails is ToolCallsStepDetails);
        var (toolChoice, forced) = ToolChoiceFor(run, firstTurn, tools.Count > 0);
        var request = new ModelRequest(run.Model, system is null ? plan.Messages : [system, .. plan.Messages], tools, toolChoice, forced,
            run.Temperature, run.TopP, maxOutput, run.ResponseFormat, tools.Count > 0 ? run.ParallelToolCalls : null);

        ModelFinished? finished = null;
        await foreach (var update in model.StreamAsync(request, cancellationToken))
        {
            switch (update)
            {
                case TextDelta text:
                    await EnsureMessageAsync(state, cancellationToken);
                    state.Text.Append(text.Text);
                    hub.Publish(run.Id, new RunEvent("thread.message.delta", new MessageDelta(state.Message!.Id, 0, text.Text)));
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
                builtInRecords[result.StepToolCall.Id] = new BuiltInCallRecord(call.Name, call.Arguments, result.ModelOutput);
                hub.Publish(run.Id, new RunEvent("thread.run.step.delta", new StepDelta(state.ToolStep!.Id, index, null, null, null, result.StepToolCall)));
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
        var now = time.GetUtcNow();
        var message = new ThreadMessage(ids.NewId(Ids.Message), run.ProjectId, now, run.ThreadId, MessageRole.Assistant, [], MessageStatus.InProgress,
            [], new Dictionary<string, string>(), run.AssistantId, run.Id);
        var step = NewStep(run, now, new MessageCreationStepDetails(new MessageCreation(message.Id)));
        await steps.CreateAsync(step, cancellationToken);
        await messages.CreateAsync(message, cancellationToken);
        state.Message = message;
        state.MessageStep = step;
        state.Text.Clear();
        hub.Publish(run.Id, RunEvent.ForStep(step, "created"));
        hub.Publish(run.Id, RunEvent.ForStep(step, "in_progress"));
        hub.Publish(run.Id, RunEvent.ForMessage(message, "created"));
        hub.Publish(run.Id, RunEvent.ForMessage(message, "in_progress"));
    }

    /// <summary>Writes the message's text and ends it: completed, or incomplete with <paramref name="incompleteReason"/>.</summary>
    private async Task CompleteMessageAsync(ExecutionState state, string? incompleteReason, CancellationToken cancellationToken, RunUsage? usage = null)
    {
        var now = time.GetUtcNow();
        var text = new MessageText(state.Text.ToString(), []);
        foreach (var annotator in _builtIns.Values.OfType<IRunMessageAnnotator>())
        {
            var annotated = await annotator.AnnotateAsync(state.Run, text.Value, cancellationToken);
            text = new MessageText(annotated.Value, [.. text.Annotations, .. annotated.Annotations]);
        }
        var message = state.Message! with
        {
            Content = [new TextContent(text)],
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
        if (text.Annotations.Count > 0)
        {
            hub.Publish(state.Run.Id, new RunEvent("thread.message.delta", new MessageAnnotationsDelta(message.Id, 0, text.Annotations)));
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
        hub.Publish(state.Run.Id, RunEvent.ForStep(step, "created"));
        hub.Publish(state.Run.Id, RunEvent.ForStep(step, "in_progress"));
    }

    /// <summary>Function calls stream as step deltas; built-in calls are sent whole once they ran.</summary>
    private void PublishToolCallDelta(ExecutionState state, ToolCallDelta call)
    {
        if (state.AnnouncedCalls.TryGetValue(call.Index, out var name) ? IsBuiltIn(state.Run, name) : call.Name is { } n && IsBuiltIn(state.Run, n))
        {
            state.AnnouncedCalls.TryAdd(call.Index, call.Name ?? "");
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
                new RunError("server_error", "The server stopped while the run was in progress."), "run_failed", RunStepStatus.Failed, CancellationToken.None);
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

    private static (string? ToolChoice, string? Forced) ToolChoiceFor(Run run, bool firstTurn, bool hasTools)
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
        if (!firstTurn)
        {
            return ("auto", null);
        }
        return choice.Mode is { } mode ? (mode, null) : ("required", choice.FunctionName ?? choice.ToolType);
    }

    private RunStep NewStep(Run run, DateTimeOffset now, StepDetails details) =>
        new(ids.NewId(Ids.Step), run.ProjectId, now, run.ThreadId, run.Id, run.AssistantId, RunStepStatus.InProgress, details, new Dictionary<string, string>());

    [LoggerMessage(Level = LogLevel.Information, Message = "Run {RunId} was not started: its status changed after the claim")]
    private partial void LogNotStarted(string runId);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Run {RunId} failed: model call error {Code}")]
    private partial void LogModelFailed(string runId, string code);

    [LoggerMessage(Level = LogLevel.Error, Message = "Run {RunId} failed with an unexpected error")]
    private partial void LogUnexpected(Exception exception, string runId);

    /// <summary>The run row's status is no longer what this executor wrote: it was cancelled or ended by a sweep.</summary>
    private sealed class RunChangedException() : Exception("The run changed status under its executor.");

    private sealed class ExecutionState(Run run)
    {
        public Run Run { get; set; } = run;
        public int Turns { get; set; }
        public ThreadMessage? Message { get; set; }
        public RunStep? MessageStep { get; set; }
        public StringBuilder Text { get; } = new();
        public RunStep? ToolStep { get; set; }
        public Dictionary<int, string> AnnouncedCalls { get; } = [];
    }
}
