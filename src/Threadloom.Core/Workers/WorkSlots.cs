namespace Threadloom.Core.Workers;

/// <summary>
/// The claiming step shared by the run and ingestion workers: while a slot is free, claim the next items from the
/// database and start them; stop when nothing is left to claim. The row stays the truth; this only fills slots.
/// </summary>
public static class WorkSlots
{
    /// <summary>Claims one item at a time until the claim comes back empty.</summary>
    public static Task FillAsync<T>(
        SemaphoreSlim slots, List<Task> running, Func<Task<T?>> claimNextAsync, Func<T, Task> start, CancellationToken cancellationToken)
        where T : class =>
        FillAsync(slots, running, 1, async _ => await claimNextAsync() is { } item ? [item] : [], start, cancellationToken);

    /// <summary>
    /// Claims up to <paramref name="maxBatch"/> items at a time (never more than the free slots), until a claim returns
    /// fewer than it asked for: then nothing else was claimable, and asking again would only cost a statement.
    /// </summary>
    public static async Task FillAsync<T>(
        SemaphoreSlim slots, List<Task> running, int maxBatch, Func<int, Task<IReadOnlyList<T>>> claimAsync, Func<T, Task> start,
        CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxBatch, 1);
        running.RemoveAll(t => t.IsCompleted);
        while (slots.CurrentCount > 0)
        {
            var wanted = Math.Min(slots.CurrentCount, maxBatch);
            var items = await claimAsync(wanted);
            foreach (var item in items)
            {
                await slots.WaitAsync(cancellationToken);
                running.Add(start(item));
            }
            if (items.Count < wanted)
            {
                return;
            }
        }
    }
}
