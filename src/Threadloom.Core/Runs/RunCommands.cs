using Threadloom.Core.Domain;
using Threadloom.Core.Storage;
using Threadloom.Core.Workers;

namespace Threadloom.Core.Runs;

/// <summary>A request the run's current status does not allow; the HTTP layer answers 400 with <see cref="Exception.Message"/>.</summary>
public sealed class RunStateException(string message) : Exception(message);

/// <summary>
/// The state changes that come from outside the worker: start, cancel, submit tool outputs, expire, and the
/// failure of a run whose node died. Each writes the row first (optimistically), then publishes the events.
/// </summary>
public sealed class RunCommands(
    IRunStore runs, IRunStepStore steps, IMessageStore messages, IRunEventBus hub, IWorkSignal signal, IRunCancellation cancellations, TimeProvider time)
{
    private const int Attempts = 5;

    /// <summary>Persists a queued run with its additional messages and wakes the worker. Returns the id of the thread's active run instead when there is one.</summary>
    public async Task<string?> StartAsync(Run run, IReadOnlyList<ThreadMessage> additionalMessages, CancellationToken cancellationToken)
    {
        var active = await runs.TryCreateAsync(run, additionalMessages, cancellationToken);
        if (active is not null)
        {
            return active;
        }
        hub.Publish(run.Id, new RunEvent("thread.run.created", run));
        hub.Publish(run.Id, RunEvent.ForRun(run));
        // In a cluster another node may claim the run: its first events must come after these in the stream.
        await hub.FlushAsync(cancellationToken);
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
                    if (await CloseAsync(run, RunStatus.Cancelled, null, "run_cancelled", RunStepStatus.Cancelled, cancellationToken) is { } cancelled)
                    {
                        return cancelled;
                    }
                    break;
                case RunStatus.InProgress:
                    var cancelling = RunTransitions.Apply(run, RunStatus.Cancelling, time.GetUtcNow());
                    if (await runs.UpdateAsync(cancelling, RunStatus.InProgress, null, cancellationToken))
                    {
                        hub.Publish(run.Id, RunEvent.ForRun(cancelling));
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
        var queued = RunTransitions.Apply(run, RunStatus.Queued, now);
        if (!await runs.UpdateAsync(queued, RunStatus.RequiresAction, [completedStep], cancellationToken))
        {
            var current = await runs.FindByIdAsync(run.Id, cancellationToken);
            throw new RunStateException($"Runs in status \"{RunTransitions.WireName(current?.Status ?? run.Status)}\" do not accept tool outputs.");
        }
        hub.Publish(run.Id, RunEvent.ForStep(completedStep, "completed"));
        hub.Publish(run.Id, RunEvent.ForRun(queued));
        await hub.FlushAsync(cancellationToken);
        signal.Notify(WorkQueue.Runs);
        return queued;
    }

    /// <summary>A run that waited past <c>expires_at</c> for tool outputs becomes <c>expired</c>, and so does its step.</summary>
    public Task<Run?> ExpireAsync(Run run, CancellationToken cancellationToken) =>
        CloseAsync(run, RunStatus.Expired, null, "run_expired", RunStepStatus.Expired, cancellationToken);

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
            ? CloseAsync(run, RunStatus.Cancelled, null, "run_cancelled", RunStepStatus.Cancelled, cancellationToken)
            : CloseAsync(run, RunStatus.Failed, new RunError("server_error", message), "run_failed", RunStepStatus.Failed, cancellationToken);

    /// <summary>
    /// Moves <paramref name="run"/> to a final status, closing its in-progress steps and messages to match, and
    /// publishes the events in stream order (steps, messages, run). Returns null when the run's status changed meanwhile.
    /// </summary>
    public async Task<Run?> CloseAsync(Run run, RunStatus to, RunError? error, string messageReason, RunStepStatus stepStatus, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        var closed = RunTransitions.Apply(run, to, now) with { LastError = error ?? run.LastError };
        var openSteps = (await steps.ListAllAsync(run.Id, cancellationToken)).Where(s => s.Status == RunStepStatus.InProgress)
            .Select(s => s with
            {
                Status = stepStatus,
                LastError = stepStatus == RunStepStatus.Failed ? error : s.LastError,
                FailedAt = stepStatus == RunStepStatus.Failed ? now : s.FailedAt,
                CancelledAt = stepStatus == RunStepStatus.Cancelled ? now : s.CancelledAt,
                ExpiredAt = stepStatus == RunStepStatus.Expired ? now : s.ExpiredAt,
                CompletedAt = stepStatus == RunStepStatus.Completed ? now : s.CompletedAt,
            })
            .ToList();
        // Messages first: a client that sees the run ended also sees its message ended. Only the run's owner (or,
        // for a dead owner, the sweep) closes a run that writes a message, so this cannot race another closer.
        var openMessages = await messages.ListAsync(run.ProjectId, run.ThreadId, run.Id, new PageRequest(100, Ascending: true), cancellationToken);
        var closedMessages = new List<ThreadMessage>();
        foreach (var message in openMessages.Items.Where(m => m.Status == MessageStatus.InProgress))
        {
            var incomplete = message with { Status = MessageStatus.Incomplete, IncompleteAt = now, IncompleteReason = messageReason };
            await messages.UpdateAsync(incomplete, cancellationToken);
            closedMessages.Add(incomplete);
        }
        if (!await runs.UpdateAsync(closed, run.Status, openSteps, cancellationToken))
        {
            return null;
        }
        var stepEvent = stepStatus switch
        {
            RunStepStatus.Failed => "failed",
            RunStepStatus.Expired => "expired",
            RunStepStatus.Completed => "completed",
            _ => "cancelled",
        };
        foreach (var step in openSteps)
        {
            hub.Publish(run.Id, RunEvent.ForStep(step, stepEvent));
        }
        foreach (var message in closedMessages)
        {
            hub.Publish(run.Id, RunEvent.ForMessage(message, "incomplete"));
        }
        hub.Publish(run.Id, RunEvent.ForRun(closed));
        return closed;
    }
}
