using Threadloom.Core.Domain;

namespace Threadloom.Core.Storage;

/// <summary>
/// Writes that span stores (a run with its steps and messages, a thread with its first messages) and commit as one
/// transaction in every dialect.
/// </summary>
/// <remarks>
/// Design notes: stores used to reach into each other's SQLite types to share a transaction. This interface states
/// the guarantee instead, so a caller (today the stores themselves, later the run lifecycle) needs no dialect type.
/// </remarks>
public interface IUnitOfWork
{
    /// <summary>
    /// Runs <paramref name="work"/> inside one transaction and returns its result once the transaction has committed.
    /// When <paramref name="work"/> throws, nothing it wrote is kept.
    /// </summary>
    Task<T> ExecuteAsync<T>(Func<IStoreWriter, CancellationToken, Task<T>> work, CancellationToken cancellationToken);
}

/// <summary>The writes a unit of work can make; each lands with the transaction or not at all.</summary>
public interface IStoreWriter
{
    Task InsertThreadAsync(AssistantThread thread, CancellationToken cancellationToken);

    Task InsertMessageAsync(ThreadMessage message, CancellationToken cancellationToken);

    /// <summary>Replaces the message's document; false when it does not exist.</summary>
    Task<bool> UpdateMessageAsync(ThreadMessage message, CancellationToken cancellationToken);

    /// <summary>
    /// Replaces the message's document if it exists, without saying whether it did, so a provider may send it with the
    /// unit's other writes (<see cref="UpdateMessageAsync"/> for the answer).
    /// </summary>
    Task WriteMessageAsync(ThreadMessage message, CancellationToken cancellationToken);

    /// <summary>Inserts the step, or replaces its document when it exists.</summary>
    Task UpsertStepAsync(RunStep step, CancellationToken cancellationToken);

    /// <summary>
    /// Inserts the run unless its thread already has an active run (queued, in progress, requires action or
    /// cancelling): a unique partial index decides, so two concurrent creates on one thread can never both succeed.
    /// Returns null when inserted, or the active run's id.
    /// </summary>
    Task<string?> TryInsertRunAsync(Run run, CancellationToken cancellationToken);

    /// <summary>
    /// Writes the run only if its stored status is still <paramref name="expectedStatus"/>; leaving
    /// <c>in_progress</c>/<c>cancelling</c> releases the lease. False, writing nothing, when the status changed.
    /// </summary>
    Task<bool> UpdateRunAsync(Run run, RunStatus expectedStatus, CancellationToken cancellationToken);

    /// <summary>
    /// Writes the run only if its stored status is still <paramref name="expectedStatus"/> (as
    /// <see cref="UpdateRunAsync"/>); otherwise the whole unit is abandoned: nothing of it is written, and
    /// <see cref="IUnitOfWork.ExecuteAsync{T}"/> throws <see cref="RunStatusChangedException"/>. The outcome is known only
    /// when the unit ends, so a provider may send the check with the unit's other writes in one round trip.
    /// </summary>
    Task UpdateRunOrAbandonAsync(Run run, RunStatus expectedStatus, CancellationToken cancellationToken);

    /// <summary>
    /// Inserts the run (as <see cref="TryInsertRunAsync"/>) unless its thread already has an active run; then the whole
    /// unit is abandoned with <see cref="RunStatusChangedException"/>, and the caller asks which run it was.
    /// </summary>
    Task InsertRunOrAbandonAsync(Run run, CancellationToken cancellationToken);
}

/// <summary>
/// A unit of work was abandoned because a run was not as it expected (<see cref="IStoreWriter.UpdateRunOrAbandonAsync"/>,
/// <see cref="IStoreWriter.InsertRunOrAbandonAsync"/>): nothing of the unit was written.
/// </summary>
public sealed class RunStatusChangedException(string runId) : Exception($"Run '{runId}' is not in the status the write expected; nothing was written.")
{
    public string RunId { get; } = runId;
}

/// <summary>The cross-store writes every provider makes the same way, over its <see cref="IUnitOfWork"/>.</summary>
public static class UnitOfWorkWrites
{
    /// <summary>
    /// <see cref="IRunStore.TryCreateAsync"/>: the run (the index decides) and its messages in one unit, which a conflict
    /// abandons; then <paramref name="findActive"/> names the thread's active run. If that run ended meanwhile, the
    /// create is tried again, a few times (a conflict with no active run behind it, such as a duplicate id, throws).
    /// </summary>
    public static async Task<string?> CreateRunAsync(this IUnitOfWork unitOfWork, Run run, IReadOnlyList<ThreadMessage> additionalMessages,
        Func<CancellationToken, Task<string?>> findActive, CancellationToken cancellationToken)
    {
        for (var attempt = 0; attempt < 5; attempt++)
        {
            try
            {
                await unitOfWork.ExecuteAsync(async (writer, ct) =>
                {
                    await writer.InsertRunOrAbandonAsync(run, ct);
                    foreach (var message in additionalMessages)
                    {
                        await writer.InsertMessageAsync(message, ct);
                    }
                    return true;
                }, cancellationToken);
                return null;
            }
            catch (RunStatusChangedException)
            {
                if (await findActive(cancellationToken) is { } active)
                {
                    return active;
                }
            }
        }
        throw new InvalidOperationException($"Run '{run.Id}' could not be inserted: it conflicts with a row that is not the thread's active run.");
    }

    /// <summary><see cref="IRunStore.UpdateAsync"/>: the run (if its status is as expected), then its steps.</summary>
    public static Task<bool> UpdateRunAsync(this IUnitOfWork unitOfWork, Run run, RunStatus expectedStatus, IReadOnlyList<RunStep>? steps, CancellationToken cancellationToken) =>
        unitOfWork.ExecuteAsync(async (writer, ct) =>
        {
            if (!await writer.UpdateRunAsync(run, expectedStatus, ct))
            {
                return false;
            }
            foreach (var step in steps ?? [])
            {
                await writer.UpsertStepAsync(step, ct);
            }
            return true;
        }, cancellationToken);

    /// <summary><see cref="IThreadStore.CreateAsync"/>: the thread and its initial messages.</summary>
    public static Task CreateThreadAsync(this IUnitOfWork unitOfWork, AssistantThread thread, IReadOnlyList<ThreadMessage> initialMessages, CancellationToken cancellationToken) =>
        unitOfWork.ExecuteAsync(async (writer, ct) =>
        {
            await writer.InsertThreadAsync(thread, ct);
            foreach (var message in initialMessages)
            {
                await writer.InsertMessageAsync(message, ct);
            }
            return true;
        }, cancellationToken);
}
