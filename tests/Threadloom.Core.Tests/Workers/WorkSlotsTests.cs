using Threadloom.Core.Workers;

namespace Threadloom.Core.Tests.Workers;

public sealed class WorkSlotsTests
{
    [Fact]
    public async Task Batches_AskForTheFreeSlotsUpToTheCap_AndStopAfterAShortBatch()
    {
        using var slots = new SemaphoreSlim(10, 10);
        var running = new List<Task>();
        var queue = new Queue<int>(Enumerable.Range(0, 7));
        var asked = new List<int>();
        var started = new List<int>();

        await WorkSlots.FillAsync(slots, running, 4, max =>
        {
            asked.Add(max);
            var batch = new List<int>();
            while (batch.Count < max && queue.TryDequeue(out var item))
            {
                batch.Add(item);
            }
            return Task.FromResult<IReadOnlyList<int>>(batch);
        }, item =>
        {
            started.Add(item);
            return new TaskCompletionSource().Task; // still running: its slot stays taken
        }, CancellationToken.None);

        // 4, then 3 of the 4 asked for: the short batch ends the fill without an empty claim.
        Assert.Equal([4, 4], asked);
        Assert.Equal(Enumerable.Range(0, 7), started);
        Assert.Equal(3, slots.CurrentCount);
        Assert.Equal(7, running.Count);
    }

    [Fact]
    public async Task Batches_NeverAskForMoreThanTheFreeSlots()
    {
        using var slots = new SemaphoreSlim(5, 5);
        var asked = new List<int>();
        await WorkSlots.FillAsync(slots, [], 4, max =>
        {
            asked.Add(max);
            return Task.FromResult<IReadOnlyList<string>>([.. Enumerable.Repeat("run", max)]);
        }, _ => new TaskCompletionSource().Task, CancellationToken.None);

        Assert.Equal([4, 1], asked);
        Assert.Equal(0, slots.CurrentCount);
    }

    [Fact]
    public async Task OneAtATime_ClaimsUntilTheClaimComesBackEmpty()
    {
        using var slots = new SemaphoreSlim(10, 10);
        var queue = new Queue<string>(["a", "b"]);
        var claims = 0;
        await WorkSlots.FillAsync(slots, [], () =>
        {
            claims++;
            return Task.FromResult(queue.TryDequeue(out var item) ? item : null);
        }, _ => new TaskCompletionSource().Task, CancellationToken.None);

        Assert.Equal(3, claims);
        Assert.Equal(8, slots.CurrentCount);
    }
}
