using Threadloom.Core.Domain;
using Threadloom.Core.Storage;

namespace Threadloom.Core.Runs;

/// <summary>
/// The one owner of a run's lifecycle (issue #12 §1): every write of a run's status, and of the steps and messages a
/// run makes, goes through here, and so does every event of the run's stream. The executor, the commands and the
/// sweeps say what happened; this class checks it against <see cref="RunTransitions"/>, writes it, and emits the
/// events it implies.
/// </summary>
/// <remarks>
/// Design notes (DESIGN §4, docs/scaling.md):
/// <list type="bullet">
/// <item>A transition is optimistic on the status its caller read: the run, its steps and its messages commit in one
/// <see cref="IUnitOfWork"/> only while the stored status is still that one; otherwise nothing is written, nothing is
/// emitted, and the caller gets null. A move the table forbids throws <see cref="InvalidRunTransitionException"/>
/// before anything is written.</item>
/// <item>Events go to the bus only after the write commits, so a client that reacts to an event and reads the API
/// sees at least that state. A transition's events come in stream order: the steps it ends, the messages it ends,
/// then the run.</item>
/// <item>A step or message written with a transition emits its event only when the write ends it (completed,
/// failed, incomplete, …): an in-progress one was announced when it was opened.</item>
/// <item>A move to <c>queued</c> hands the run to any node's worker, so the bus is flushed before the caller wakes
/// the workers: the claimer's first events come after these in the stream.</item>
/// <item>Deltas are streamed, not stored: text is persisted when its message completes.</item>
/// </list>
/// </remarks>
public sealed class RunLifecycle(IRunStore runs, IRunStepStore steps, IMessageStore messages, IUnitOfWork unitOfWork, IRunEventBus bus, TimeProvider time)
{
    /// <summary>
    /// Runs whose move to <c>queued</c> is written but maybe not yet announced. A claim can commit between that write
    /// and its events (a worker woken by anything else, in the same group commit on SQLite), and since the claim also
    /// starts the run, its <c>thread.run.in_progress</c> would come first; so the claim's announcement waits for
    /// this one.
    /// </summary>
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, TaskCompletionSource> _queuing = new(StringComparer.Ordinal);

    /// <summary>
    /// Persists a queued run with its additional messages and announces it (<c>thread.run.created</c>,
    /// <c>thread.run.queued</c>). Returns the id of the thread's active run instead, writing nothing, when there is one.
    /// </summary>
    public async Task<string?> CreateAsync(Run run, IReadOnlyList<ThreadMessage> additionalMessages, CancellationToken cancellationToken)
    {
        if (run.Status != RunStatus.Queued)
        {
            throw new ArgumentException($"A new run is queued, not '{RunTransitions.WireName(run.Status)}'.", nameof(run));
        }
        using var queuing = BeginQueuing(run.Id);
        if (await runs.TryCreateAsync(run, additionalMessages, cancellationToken) is { } active)
        {
            return active;
        }
        bus.Publish(run.Id, new RunEvent(RunEventNames.RunCreated, run));
        bus.Publish(run.Id, RunEvent.ForRun(run));
        await bus.FlushAsync(cancellationToken);
        return null;
    }

    /// <summary>
    /// Claims up to <paramref name="max"/> queued runs for <paramref name="nodeId"/> and starts them in the same write
    /// (<see cref="IRunStore.ClaimAsync"/>), then announces each start (<c>thread.run.in_progress</c>).
    /// </summary>
    public async Task<IReadOnlyList<ClaimedRun>> ClaimAsync(string nodeId, int max, TimeSpan lease, CancellationToken cancellationToken)
    {
        var claimed = await runs.ClaimAsync(nodeId, max, time.GetUtcNow(), lease, cancellationToken);
        foreach (var run in claimed)
        {
            if (_queuing.TryGetValue(run.Run.Id, out var announced))
            {
                await announced.Task;
            }
            bus.Publish(run.Run.Id, RunEvent.ForRun(run.Run));
        }
        return claimed;
    }

    /// <summary>Marks <paramref name="runId"/> as being queued until the returned handle is disposed (after its events are on the bus).</summary>
    private Queuing BeginQueuing(string runId)
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        return _queuing.TryAdd(runId, done) ? new Queuing(this, runId, done) : default;
    }

    private readonly struct Queuing(RunLifecycle owner, string runId, TaskCompletionSource done) : IDisposable
    {
        public void Dispose()
        {
            if (done is not null)
            {
                owner._queuing.TryRemove(runId, out _);
                done.TrySetResult();
            }
        }
    }

    /// <summary>
    /// Moves <paramref name="current"/> (as its caller read it: the stored status must still be its status) to
    /// <paramref name="to"/>, with what else <paramref name="adjust"/> sets on the moved run (usage, error, required
    /// action, expiry), and writes <paramref name="changedSteps"/> and <paramref name="changedMessages"/> in the same
    /// transaction. Returns the run as written, or null when its status changed meanwhile (nothing written or emitted).
    /// </summary>
    /// <exception cref="InvalidRunTransitionException">The table does not allow the move; nothing is written or emitted.</exception>
    public async Task<Run?> TransitionAsync(
        Run current, RunStatus to, Func<Run, Run>? adjust, IReadOnlyList<RunStep>? changedSteps, IReadOnlyList<ThreadMessage>? changedMessages,
        CancellationToken cancellationToken)
    {
        IReadOnlyList<RunStep> stepsToWrite = changedSteps ?? [];
        IReadOnlyList<ThreadMessage> messagesToWrite = changedMessages ?? [];
        using var queuing = to == RunStatus.Queued ? BeginQueuing(current.Id) : default;
        if (await WriteTransitionAsync(current, to, adjust, stepsToWrite, messagesToWrite, cancellationToken) is not { } next)
        {
            return null;
        }
        foreach (var step in stepsToWrite.Where(s => s.Status != RunStepStatus.InProgress))
        {
            bus.Publish(next.Id, RunEvent.ForStep(step));
        }
        foreach (var message in messagesToWrite.Where(m => m.Status != MessageStatus.InProgress))
        {
            bus.Publish(next.Id, RunEvent.ForMessage(message));
        }
        bus.Publish(next.Id, RunEvent.ForRun(next));
        if (to == RunStatus.Queued)
        {
            await bus.FlushAsync(cancellationToken);
        }
        return next;
    }

    /// <summary>
    /// Ends the run's open message (<see cref="CompleteMessageAsync"/>) and moves the run to <paramref name="to"/> in
    /// one transaction, as the run's last words: the message's events, then the run's. Returns null, writing and
    /// emitting nothing, when the run's status changed meanwhile (the caller can still end the message alone).
    /// </summary>
    public async Task<Run?> CompleteLastMessageAsync(
        Run current, RunStatus to, Func<Run, Run>? adjust, ThreadMessage message, RunStep step, MessageDelta? lastDelta, CancellationToken cancellationToken)
    {
        if (await WriteTransitionAsync(current, to, adjust, [step], [message], cancellationToken) is not { } next)
        {
            return null;
        }
        PublishMessageEnd(message, step, lastDelta);
        bus.Publish(next.Id, RunEvent.ForRun(next));
        return next;
    }

    /// <summary>Writes the transition and what goes with it, only while the stored status is still <paramref name="current"/>'s.</summary>
    private async Task<Run?> WriteTransitionAsync(
        Run current, RunStatus to, Func<Run, Run>? adjust, IReadOnlyList<RunStep> stepsToWrite, IReadOnlyList<ThreadMessage> messagesToWrite,
        CancellationToken cancellationToken)
    {
        var moved = RunTransitions.Apply(current, to, time.GetUtcNow());
        var next = adjust is null ? moved : adjust(moved);
        if (next.Status != to || next.Id != current.Id)
        {
            throw new ArgumentException("The adjustment of a transition may not change the run's id or status.", nameof(adjust));
        }
        try
        {
            // Nothing is read back before the unit ends, so a provider can send it as one round trip.
            await unitOfWork.ExecuteAsync(async (writer, ct) =>
            {
                await writer.UpdateRunOrAbandonAsync(next, current.Status, ct);
                foreach (var step in stepsToWrite)
                {
                    await writer.UpsertStepAsync(step, ct);
                }
                foreach (var message in messagesToWrite)
                {
                    await writer.WriteMessageAsync(message, ct);
                }
                return true;
            }, cancellationToken);
            return next;
        }
        catch (RunStatusChangedException)
        {
            return null;
        }
    }

    /// <summary>
    /// Ends <paramref name="current"/> <c>cancelled</c>, <c>failed</c> (with <paramref name="error"/>) or
    /// <c>expired</c>, and ends its in-progress steps and messages to match, in one transaction. Returns null when the
    /// run's status changed meanwhile.
    /// </summary>
    public async Task<Run?> CloseAsync(Run current, RunStatus to, RunError? error, CancellationToken cancellationToken)
    {
        var (stepStatus, messageReason) = to switch
        {
            RunStatus.Cancelled => (RunStepStatus.Cancelled, "run_cancelled"),
            RunStatus.Failed => (RunStepStatus.Failed, "run_failed"),
            RunStatus.Expired => (RunStepStatus.Expired, "run_expired"),
            _ => throw new ArgumentOutOfRangeException(nameof(to), to, "A run is closed cancelled, failed or expired."),
        };
        var now = time.GetUtcNow();
        var openSteps = (await steps.ListAllAsync(current.Id, cancellationToken)).Where(s => s.Status == RunStepStatus.InProgress)
            .Select(s => s with
            {
                Status = stepStatus,
                LastError = stepStatus == RunStepStatus.Failed ? error : s.LastError,
                FailedAt = stepStatus == RunStepStatus.Failed ? now : s.FailedAt,
                CancelledAt = stepStatus == RunStepStatus.Cancelled ? now : s.CancelledAt,
                ExpiredAt = stepStatus == RunStepStatus.Expired ? now : s.ExpiredAt,
            })
            .ToList();
        // Only the run's owner (or, for a dead owner, the sweep) closes a run that writes a message, so the messages
        // read here cannot be ended by another closer meanwhile.
        var runMessages = await messages.ListAsync(current.ProjectId, current.ThreadId, current.Id, new PageRequest(100, Ascending: true), cancellationToken);
        var openMessages = runMessages.Items.Where(m => m.Status == MessageStatus.InProgress)
            .Select(m => m with { Status = MessageStatus.Incomplete, IncompleteAt = now, IncompleteReason = messageReason })
            .ToList();
        return await TransitionAsync(current, to, r => r with { LastError = error ?? r.LastError }, openSteps, openMessages, cancellationToken);
    }

    /// <summary>
    /// Writes a change that leaves the status alone (metadata), only while the stored status is still
    /// <paramref name="current"/>'s. Emits nothing, as OpenAI streams no event for it. False when the status changed.
    /// </summary>
    public Task<bool> ModifyAsync(Run current, Run modified, CancellationToken cancellationToken)
    {
        if (modified.Status != current.Status || modified.Id != current.Id)
        {
            throw new ArgumentException("A modification may not change the run's id or status.", nameof(modified));
        }
        return unitOfWork.ExecuteAsync((writer, ct) => writer.UpdateRunAsync(modified, current.Status, ct), cancellationToken);
    }

    /// <summary>Writes a new in-progress message and the message-creation step that makes it, in one transaction, and announces both.</summary>
    public async Task OpenMessageAsync(RunStep step, ThreadMessage message, CancellationToken cancellationToken)
    {
        await unitOfWork.ExecuteAsync(async (writer, ct) =>
        {
            await writer.UpsertStepAsync(step, ct);
            await writer.InsertMessageAsync(message, ct);
            return true;
        }, cancellationToken);
        bus.Publish(step.RunId, new RunEvent(RunEventNames.StepCreated, step));
        bus.Publish(step.RunId, RunEvent.ForStep(step));
        bus.Publish(step.RunId, new RunEvent(RunEventNames.MessageCreated, message));
        bus.Publish(step.RunId, RunEvent.ForMessage(message));
    }

    /// <summary>
    /// Writes the message's final text and status and its completed step, in one transaction, then emits <paramref name="lastDelta"/>
    /// (annotations found only in the final text), the message's event and the step's.
    /// </summary>
    public async Task CompleteMessageAsync(ThreadMessage message, RunStep step, MessageDelta? lastDelta, CancellationToken cancellationToken)
    {
        await unitOfWork.ExecuteAsync(async (writer, ct) =>
        {
            await writer.WriteMessageAsync(message, ct);
            await writer.UpsertStepAsync(step, ct);
            return true;
        }, cancellationToken);
        PublishMessageEnd(message, step, lastDelta);
    }

    private void PublishMessageEnd(ThreadMessage message, RunStep step, MessageDelta? lastDelta)
    {
        if (lastDelta is not null)
        {
            bus.Publish(step.RunId, new RunEvent(RunEventNames.MessageDelta, lastDelta));
        }
        bus.Publish(step.RunId, RunEvent.ForMessage(message));
        bus.Publish(step.RunId, RunEvent.ForStep(step));
    }

    /// <summary>Writes a new in-progress step (tool calls) and announces it.</summary>
    public async Task OpenStepAsync(RunStep step, CancellationToken cancellationToken)
    {
        await steps.CreateAsync(step, cancellationToken);
        bus.Publish(step.RunId, new RunEvent(RunEventNames.StepCreated, step));
        bus.Publish(step.RunId, RunEvent.ForStep(step));
    }

    /// <summary>Writes a step that ended while its run goes on (built-in tool calls that ran) and emits its event.</summary>
    public async Task EndStepAsync(RunStep step, CancellationToken cancellationToken)
    {
        await steps.UpdateAsync(step, cancellationToken);
        bus.Publish(step.RunId, RunEvent.ForStep(step));
    }

    /// <summary>Streams an increment of an open message's text (stored when the message completes).</summary>
    public void StreamMessageDelta(string runId, MessageDelta delta) => bus.Publish(runId, new RunEvent(RunEventNames.MessageDelta, delta));

    /// <summary>Streams an increment of an open tool-calls step (stored when the step is written).</summary>
    public void StreamStepDelta(string runId, StepDelta delta) => bus.Publish(runId, new RunEvent(RunEventNames.StepDelta, delta));

    /// <summary>Streams an <c>error</c> event, which ends the stream; the run itself is failed by <see cref="CloseAsync"/>.</summary>
    public void StreamError(string runId, RunError error) => bus.Publish(runId, new RunEvent(RunEventNames.Error, error));
}
