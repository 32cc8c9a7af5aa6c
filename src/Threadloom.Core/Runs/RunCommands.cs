using Threadloom.Core.Domain;
using Threadloom.Core.Storage;
using Threadloom.Core.Workers;

namespace Threadloom.Core.Runs;

/// <summary>A request the run's current status does not allow; the HTTP layer answers 400 with <see cref="Exception.Message"/>.</summary>
public sealed class RunStateException(string message) : Exception(message);

/// <summary>
/// The state changes that come from outside the worker: start, cancel, submit tool outputs, modify, expire, and the
/// failure of a run whose node died. Each decides what the request means for the run's status and hands it to
/// <see cref="RunLifecycle"/>, which writes it and emits the events; then it wakes or stops the workers.
/// </summary>
public sealed class RunCommands(
    IRunStore runs, IRunStepStore steps, RunLifecycle lifecycle, IWorkSignal signal, IRunCancellation cancellations, TimeProvider time)
{
    private const int Attempts = 5;

    /// <summary>Persists a queued run with its additional messages and wakes the worker. Returns the id of the thread's active run instead when there is one.</summary>
    public async Task<string?> StartAsync(Run run, IReadOnlyList<ThreadMessage> additionalMessages, CancellationToken cancellationToken)
    {
        if (await lifecycle.CreateAsync(run, additionalMessages, cancellationToken) is { } active)
        {
            return active;
        }
        signal.Notify(WorkQueue.Runs);
        return null;
    }

    /// <summary>
    /// Cancels: a queued or requires_action run ends <c>cancelled</c> at once; an in-progress run moves to
    /// <c>cancelling</c> and its owner stops the model call and tools, then writes <c>cancelled</c>.
    /// </summary>
    public async Task<Run> CancelAsync(Run run, CancellationToken cancellationToken)
    {
        for (var attempt = 0; attempt < Attempts; attempt++)
        {
            switch (run.Status)
            {
                case RunStatus.Queued or RunStatus.RequiresAction:
                    if (await lifecycle.CloseAsync(run, RunStatus.Cancelled, null, cancellationToken) is { } cancelled)
                    {
                        return cancelled;
                    }
                    break;
                case RunStatus.InProgress:
                    if (await lifecycle.TransitionAsync(run, RunStatus.Cancelling, null, null, null, cancellationToken) is { } cancelling)
                    {
                        cancellations.Cancel(run.Id);
                        return cancelling;
                    }
                    break;
                case RunStatus.Cancelling:
                    cancellations.Cancel(run.Id);
                    return run;
                default:
                    throw new RunStateException($"Cannot cancel run with status '{RunTransitions.WireName(run.Status)}'.");
            }
            run = await runs.FindByIdAsync(run.Id, cancellationToken) ?? throw new RunStateException($"No run found with id '{run.Id}'.");
        }
        throw new RunStateException("The run changed status while it was being cancelled. Try again.");
    }

    /// <summary>
    /// Fills the outputs of the pending function calls (already validated: one per call), completes the tool-calls step
    /// and re-queues the run, in one transaction; then wakes the worker.
    /// </summary>
    public async Task<Run> SubmitToolOutputsAsync(Run run, IReadOnlyDictionary<string, string> outputs, CancellationToken cancellationToken)
    {
        if (run.Status != RunStatus.RequiresAction)
        {
            throw new RunStateException($"Runs in status \"{RunTransitions.WireName(run.Status)}\" do not accept tool outputs.");
        }
        var now = time.GetUtcNow();
        var step = (await steps.ListAllAsync(run.Id, cancellationToken))
            .LastOrDefault(s => s.Status == RunStepStatus.InProgress && s.StepDetails is ToolCallsStepDetails)
            ?? throw new RunStateException("The run has no pending tool calls.");
        var details = (ToolCallsStepDetails)step.StepDetails;
        var completedStep = step with
        {
            Status = RunStepStatus.Completed,
            CompletedAt = now,
            StepDetails = new ToolCallsStepDetails([.. details.ToolCalls.Select(call =>
                call is FunctionStepToolCall function && outputs.TryGetValue(function.Id, out var output)
                    ? function with { Function = function.Function with { Output = output } }
                    : call)]),
        };
        if (await lifecycle.TransitionAsync(run, RunStatus.Queued, null, [completedStep], null, cancellationToken) is not { } queued)
        {
            var current = await runs.FindByIdAsync(run.Id, cancellationToken);
            throw new RunStateException($"Runs in status \"{RunTransitions.WireName(current?.Status ?? run.Status)}\" do not accept tool outputs.");
        }
        signal.Notify(WorkQueue.Runs);
        return queued;
    }

    /// <summary>A run that waited past <c>expires_at</c> for tool outputs becomes <c>expired</c>, and so does its step.</summary>
    public Task<Run?> ExpireAsync(Run run, CancellationToken cancellationToken) =>
        lifecycle.CloseAsync(run, RunStatus.Expired, null, cancellationToken);

    /// <summary>
    /// Ends a run whose lease lapsed (its node died): failed with <c>server_error</c>, never re-run, because tool calls
    /// are not idempotent. A run that was being cancelled simply ends cancelled.
    /// </summary>
    public Task<Run?> FailLapsedAsync(Run run, CancellationToken cancellationToken) =>
        FailInterruptedAsync(run, "The run was interrupted because the server executing it stopped responding.", cancellationToken);

    /// <summary>
    /// Ends a run whose executor is gone (its node died or restarted): failed with <c>server_error</c> and
    /// <paramref name="message"/>, never re-run, because tool calls are not idempotent. A run that was being cancelled
    /// simply ends cancelled.
    /// </summary>
    public Task<Run?> FailInterruptedAsync(Run run, string message, CancellationToken cancellationToken) =>
        run.Status == RunStatus.Cancelling
            ? lifecycle.CloseAsync(run, RunStatus.Cancelled, null, cancellationToken)
            : lifecycle.CloseAsync(run, RunStatus.Failed, new RunError("server_error", message), cancellationToken);

    /// <summary>
    /// Writes <paramref name="metadata"/> (null: unchanged) on the run as read; returns the run as written, or null when
    /// its status changed meanwhile (the caller reads it again and retries).
    /// </summary>
    public async Task<Run?> TryModifyAsync(Run run, IReadOnlyDictionary<string, string>? metadata, CancellationToken cancellationToken)
    {
        var updated = run with { Metadata = metadata ?? run.Metadata };
        return await lifecycle.ModifyAsync(run, updated, cancellationToken) ? updated : null;
    }
}
