namespace Threadloom.Core.Workers;

/// <summary>
/// The claiming step shared by the run and ingestion workers: while a slot is free, claim the next item from the
/// database and start it; stop when nothing is left to claim. The row stays the truth; this only fills slots.
/// </summary>
public static class WorkSlots
{
    public static async Task FillAsync<T>(
        SemaphoreSlim slots, List<Task> running, Func<Task<T?>> claimNextAsync, Func<T, Task> start, CancellationToken cancellationToken)
        where T : class
    {
        running.RemoveAll(t => t.IsCompleted);
        while (slots.CurrentCount > 0)
        {
            if (await claimNextAsync() is not { } item)
            {
                return;
            }
            await slots.WaitAsync(cancellationToken);
            running.Add(start(item));
        }
    }
}
