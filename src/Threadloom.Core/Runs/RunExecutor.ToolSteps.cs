using Threadloom.Core.Domain;
using Threadloom.Core.Inference;
using Threadloom.Core.Tools.CodeInterpreter;

namespace Threadloom.Core.Runs;

/// <summary>
/// Tool-step streaming: the tool-calls step of a turn, its calls streamed as step deltas while the model writes
/// them, the built-in calls run here, and the function calls handed to the client (<c>requires_action</c>).
/// </summary>
public sealed partial class RunExecutor
{
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
                StreamBuiltInResult(state, index, result.StepToolCall);
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
            // The step stays in progress until the outputs come (RunCommands.SubmitToolOutputsAsync completes it).
            await MoveAsync(state, RunStatus.RequiresAction,
                r => r with { RequiredAction = new RequiredAction(new SubmitToolOutputsAction(functions)), ExpiresAt = now + RunTransitions.ExpiresAfter },
                [step]);
            return false;
        }
        await lifecycle.EndStepAsync(step with { Status = RunStepStatus.Completed, CompletedAt = now }, CancellationToken.None);
        return true;
    }

    private async Task EnsureToolStepAsync(ExecutionState state, CancellationToken cancellationToken)
    {
        if (state.ToolStep is not null)
        {
            return;
        }
        var step = NewStep(state, time.GetUtcNow(), new ToolCallsStepDetails([]));
        await lifecycle.OpenStepAsync(step, cancellationToken);
        state.ToolStep = step;
        state.AnnouncedCalls.Clear();
        state.CodeInputs.Clear();
    }

    /// <summary>
    /// Function calls stream as step deltas; so does a code_interpreter call's input, decoded from its arguments as
    /// they arrive (outputs follow once it ran). Other built-in calls are sent whole once they ran.
    /// </summary>
    private void StreamToolCallDelta(ExecutionState state, ToolCallDelta call)
    {
        if (state.AnnouncedCalls.TryGetValue(call.Index, out var name) ? IsBuiltIn(state.Run, name) : call.Name is { } n && IsBuiltIn(state.Run, n))
        {
            var first = state.AnnouncedCalls.TryAdd(call.Index, call.Name ?? "");
            if ((call.Name ?? state.AnnouncedCalls[call.Index]) == CodeInterpreterTool.ToolName)
            {
                StreamCodeInputDelta(state, call, first);
            }
            return;
        }
        var stepId = state.ToolStep!.Id;
        if (!state.AnnouncedCalls.ContainsKey(call.Index))
        {
            state.AnnouncedCalls[call.Index] = call.Name ?? "";
            lifecycle.StreamStepDelta(state.Run.Id, new StepDelta(stepId, call.Index, call.Id ?? $"call_{call.Index}", call.Name ?? "", ""));
        }
        if (call.ArgumentsFragment.Length > 0)
        {
            lifecycle.StreamStepDelta(state.Run.Id, new StepDelta(stepId, call.Index, null, null, call.ArgumentsFragment));
        }
    }

    private void StreamCodeInputDelta(ExecutionState state, ToolCallDelta call, bool first)
    {
        var stepId = state.ToolStep!.Id;
        if (first)
        {
            var stream = new CodeArgumentsStream();
            state.CodeInputs[call.Index] = stream;
            lifecycle.StreamStepDelta(state.Run.Id,
                new StepDelta(stepId, call.Index, call.Id ?? $"call_{call.Index}", null, null, CodeInterpreter: new CodeInterpreterDelta("", [])));
        }
        if (call.ArgumentsFragment.Length > 0 && state.CodeInputs.TryGetValue(call.Index, out var input)
            && input.Append(call.ArgumentsFragment) is { Length: > 0 } increment)
        {
            lifecycle.StreamStepDelta(state.Run.Id, new StepDelta(stepId, call.Index, null, null, null, CodeInterpreter: new CodeInterpreterDelta(increment)));
        }
    }

    /// <summary>
    /// After a built-in call ran: a code_interpreter call whose input was streamed gets the rest of its input (all of it
    /// when the arguments could not be decoded incrementally) and then its outputs; any other call is sent whole.
    /// </summary>
    private void StreamBuiltInResult(ExecutionState state, int index, StepToolCall result)
    {
        var stepId = state.ToolStep!.Id;
        if (result is CodeInterpreterStepToolCall code && state.CodeInputs.Remove(index, out var streamed))
        {
            var sent = streamed.Recognized ? streamed.Decoded : "";
            var rest = code.CodeInterpreter.Input.StartsWith(sent, StringComparison.Ordinal) ? code.CodeInterpreter.Input[sent.Length..] : "";
            if (rest.Length > 0)
            {
                lifecycle.StreamStepDelta(state.Run.Id, new StepDelta(stepId, index, null, null, null, CodeInterpreter: new CodeInterpreterDelta(rest)));
            }
            if (code.CodeInterpreter.Outputs.Count > 0)
            {
                lifecycle.StreamStepDelta(state.Run.Id,
                    new StepDelta(stepId, index, null, null, null, CodeInterpreter: new CodeInterpreterDelta(null, code.CodeInterpreter.Outputs)));
            }
            return;
        }
        lifecycle.StreamStepDelta(state.Run.Id, new StepDelta(stepId, index, null, null, null, result));
    }

    private bool IsBuiltIn(Run run, string name) => _builtIns.ContainsKey(name) && OffersBuiltIn(run, name);

    private static bool OffersBuiltIn(Run run, string name) => name switch
    {
        "code_interpreter" => run.Tools.Any(t => t is CodeInterpreterToolDefinition),
        "file_search" => run.Tools.Any(t => t is FileSearchToolDefinition),
        _ => false,
    };
}
