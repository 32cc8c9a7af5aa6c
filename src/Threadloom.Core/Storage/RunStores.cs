using Threadloom.Core.Domain;

namespace Threadloom.Core.Storage;

/// <summary>
/// Runs. The row is the truth (DESIGN §4): the status column moves only by optimistic updates that name the status
/// they expect, and a worker owns a run through a lease (<c>locked_by</c>, <c>locked_until</c>).
/// </summary>
public interface IRunStore
{
    /// <summary>
    /// Writes <paramref name="run"/> and the <paramref name="additionalMessages"/> in one transaction, unless the thread
    /// already has an active run: then nothing is written and that run's id is returned. Returns null on success.
    /// </summary>
    Task<string?> TryCreateAsync(Run run, IReadOnlyList<ThreadMessage> additionalMessages, CancellationToken cancellationToken);

    Task<Run?> FindAsync(string projectId, string threadId, string id, CancellationToken cancellationToken);

    /// <summary>Finds a run by id across projects; for the engine only.</summary>
    Task<Run?> FindByIdAsync(string id, CancellationToken cancellationToken);

    Task<Page<Run>> ListAsync(string projectId, string threadId, PageRequest page, CancellationToken cancellationToken);

    /// <summary>
    /// Writes <paramref name="run"/> (and <paramref name="steps"/>, in the same transaction) only if the stored status is
    /// still <paramref name="expectedStatus"/>. Leaving <c>in_progress</c>/<c>cancelling</c> releases the lease.
    /// Returns false, writing nothing, when the status changed meanwhile.
    /// </summary>
    Task<bool> UpdateAsync(Run run, RunStatus expectedStatus, IReadOnlyList<RunStep>? steps, CancellationToken cancellationToken);

    /// <summary>
    /// Leases up to <paramref name="max"/> of the oldest queued runs that nobody holds (or whose holder's lease lapsed)
    /// to <paramref name="nodeId"/> and starts them, in one atomic statement: each leaves <c>queued</c> for
    /// <c>in_progress</c> exactly as <see cref="Runs.RunTransitions.Apply"/> moves it (<c>started_at</c> on its first
    /// start). Returns them oldest first. Fewer than <paramref name="max"/> means no other run was claimable then.
    /// </summary>
    /// <remarks>
    /// Claim and start are one write, not two: on PostgreSQL each write is a statement and a commit of its own, and a
    /// run claimed but not started has nothing to do in between (issue #12, docs/benchmarks.md). Only
    /// <see cref="Runs.RunLifecycle"/> calls it, since it moves a run's status.
    /// </remarks>
    Task<IReadOnlyList<ClaimedRun>> ClaimAsync(string nodeId, int max, DateTimeOffset now, TimeSpan lease, CancellationToken cancellationToken);

    /// <summary>Extends the lease; returns the stored status, or null when <paramref name="nodeId"/> no longer holds the run.</summary>
    Task<RunStatus?> RenewLeaseAsync(string runId, string nodeId, DateTimeOffset lockedUntil, CancellationToken cancellationToken);

    /// <summary>In-progress or cancelling runs whose lease ended before <paramref name="now"/> (their node died).</summary>
    Task<IReadOnlyList<Run>> FindLapsedAsync(DateTimeOffset now, CancellationToken cancellationToken);

    /// <summary>
    /// Recovers the leases of earlier lives of <paramref name="holder"/>'s node: rows whose <c>locked_by</c> starts with
    /// <see cref="Workers.LeaseHolder.NodePrefix"/> but is not <see cref="Workers.LeaseHolder.Value"/>, whatever their
    /// <c>locked_until</c>. The caller has made sure those lives are dead (see <see cref="Workers.LeaseHolder"/>).
    /// The in-progress and cancelling ones are returned, still leased, for the caller to end (issue #9 §5). (A claim
    /// starts its runs, so no queued run is leased; one leased by an older version is claimable once its lease lapses.)
    /// </summary>
    Task<IReadOnlyList<Run>> RecoverPreviousLivesAsync(Workers.LeaseHolder holder, CancellationToken cancellationToken);

    /// <summary>The thread's non-terminal run, if any.</summary>
    Task<Run?> FindActiveAsync(string projectId, string threadId, CancellationToken cancellationToken);

    /// <summary><c>requires_action</c> runs whose <c>expires_at</c> is before <paramref name="now"/>.</summary>
    Task<IReadOnlyList<Run>> FindExpiredAsync(DateTimeOffset now, CancellationToken cancellationToken);
}

/// <summary>A run a claim leased and started.</summary>
/// <param name="Run">The run as the claim wrote it, <c>in_progress</c>.</param>
/// <param name="Resumed">Whether it had started before (it went back to <c>queued</c> with tool outputs), so it may have steps.</param>
public sealed record ClaimedRun(Run Run, bool Resumed);

/// <summary>Steps of runs.</summary>
public interface IRunStepStore
{
    Task CreateAsync(RunStep step, CancellationToken cancellationToken);
    Task<bool> UpdateAsync(RunStep step, CancellationToken cancellationToken);
    Task<RunStep?> FindAsync(string projectId, string threadId, string runId, string id, CancellationToken cancellationToken);
    Task<Page<RunStep>> ListAsync(string projectId, string threadId, string runId, PageRequest page, CancellationToken cancellationToken);

    /// <summary>Every step of a run, oldest first; for the engine.</summary>
    Task<IReadOnlyList<RunStep>> ListAllAsync(string runId, CancellationToken cancellationToken);

    /// <summary>
    /// The newest of the thread's last <paramref name="lookBackRuns"/> runs with a step that made a built-in call named
    /// <paramref name="toolName"/> (<see cref="RunStep.BuiltInCalls"/>), in one query; null when there is none.
    /// </summary>
    Task<string?> FindLastRunWithBuiltInCallAsync(string projectId, string threadId, string toolName, int lookBackRuns, CancellationToken cancellationToken);
}

/// <summary>What both providers share of <see cref="IRunStepStore.FindLastRunWithBuiltInCallAsync"/>.</summary>
public static class BuiltInCallSteps
{
    /// <summary>A <c>LIKE</c> pattern every step data holding the call matches; a cheap filter, confirmed by <see cref="Made"/>.</summary>
    public static string LikePattern(string toolName) => "%\"" + toolName + "\"%";

    /// <summary>Whether the step made a built-in call named <paramref name="toolName"/>.</summary>
    public static bool Made(RunStep step, string toolName) =>
        step.BuiltInCalls?.Values.Any(c => string.Equals(c.Name, toolName, StringComparison.Ordinal)) == true;
}
