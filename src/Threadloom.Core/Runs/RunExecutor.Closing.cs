using Threadloom.Core.Domain;

namespace Threadloom.Core.Runs;

/// <summary>
/// Closing: how a run leaves the executor. It ends completed or incomplete on its own; it ends failed on an error,
/// cancelled when that was asked, and failed with <see cref="ShutdownMessage"/> when its node stops. The close is
/// written with the run's latest usage, whatever the row holds meanwhile.
/// </summary>
public sealed partial class RunExecutor
{
    private Task EndAsync(ExecutionState state, RunStatus to, RunIncompleteDetails? incomplete) =>
        MoveAsync(state, to, r => r with { IncompleteDetails = incomplete }, null);

    /// <summary>Moves the run on from the status the executor last wrote; a changed row means it was cancelled or swept meanwhile.</summary>
    private async Task MoveAsync(ExecutionState state, RunStatus to, Func<Run, Run> adjust, IReadOnlyList<RunStep>? changedSteps)
    {
        state.Run = await lifecycle.TransitionAsync(state.Run, to, adjust, changedSteps, null, CancellationToken.None) ?? throw new RunChangedException();
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
        await lifecycle.CloseAsync(current with { Usage = state.Run.Usage }, RunStatus.Failed, error, CancellationToken.None);
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
            await lifecycle.CloseAsync(current with { Usage = state.Run.Usage }, RunStatus.Cancelled, null, CancellationToken.None);
            return;
        }
        if (current.Status == RunStatus.InProgress)
        {
            await lifecycle.CloseAsync(current with { Usage = state.Run.Usage }, RunStatus.Failed,
                new RunError("server_error", ShutdownMessage), CancellationToken.None);
        }
    }
}
