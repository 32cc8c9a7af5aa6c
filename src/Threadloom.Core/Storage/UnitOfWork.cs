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
}

/// <summary>The cross-store writes every provider makes the same way, over its <see cref="IUnitOfWork"/>.</summary>
public static class UnitOfWorkWrites
{
    /// <summary><see cref="IRunStore.TryCreateAsync"/>: the run first (the index decides), then its messages.</summary>
    public static Task<string?> CreateRunAsync(this IUnitOfWork unitOfWork, Run run, IReadOnlyList<ThreadMessage> additionalMessages, CancellationToken cancellationToken) =>
        unitOfWork.ExecuteAsync(async (writer, ct) =>
        {
            if (await writer.TryInsertRunAsync(run, ct) is { } active)
            {
                return active;
            }
            foreach (var message in additionalMessages)
            {
                await writer.InsertMessageAsync(message, ct);
            }
            return (string?)null;
        }, cancellationToken);

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
