using Microsoft.Extensions.Logging;
using Threadloom.Core.Domain;
using Threadloom.Core.Inference;
using Threadloom.Core.Runs.Prompts;
using Threadloom.Core.Runs.Truncation;
using AI = Microsoft.Extensions.AI;

namespace Threadloom.Core.Runs;

/// <summary>
/// Turn planning: what one model call sends (instructions, the truncated history, tools and the tool choice the run
/// still owes), the call itself, and what its outcome means for the run.
/// </summary>
public sealed partial class RunExecutor
{
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
            history = await prompts.BuildAsync(run, new PromptOptions(resolved.Vision), state.MayHaveSteps, cancellationToken);
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

        // auto and none never force anything, so only required or a named tool needs the run's steps.
        var satisfied = run.ToolChoice is { Mode: not null and not "required" }
            || ToolChoiceSatisfied(run.ToolChoice, state.MayHaveSteps ? await steps.ListAllAsync(run.Id, cancellationToken) : []);
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
                    StreamToolCallDelta(state, call);
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

        // A reply cut at the token limit ends the run incomplete; one without tool calls ends it completed.
        RunEnd? runEnd = finished.FinishReason == "length" ? new RunEnd(RunStatus.Incomplete, new RunIncompleteDetails("max_completion_tokens"))
            : finished.ToolCalls.Count == 0 ? new RunEnd(RunStatus.Completed, null)
            : null;
        if (state.Message is not null)
        {
            await CompleteMessageAsync(state, finished.FinishReason switch
            {
                "length" => "max_tokens",
                "content_filter" => "content_filter",
                _ => null,
            }, CancellationToken.None, finished.ToolCalls.Count == 0 ? stepUsage : null, runEnd);
        }
        else if (runEnd is { } alone)
        {
            await EndAsync(state, alone.Status, alone.Incomplete);
        }
        if (runEnd is not null)
        {
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

    [LoggerMessage(Level = LogLevel.Warning, Message = "Run {RunId}: the prompt of a model call could not be recorded for the run inspector")]
    private partial void LogPromptNotRecorded(Exception exception, string runId);

    [LoggerMessage(Level = LogLevel.Information, Message = "Run {RunId} failed: its prompt was rejected before the model call: {Reason}")]
    private partial void LogPromptRejected(string runId, string reason);
}
