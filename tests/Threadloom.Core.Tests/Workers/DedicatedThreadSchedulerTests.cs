using System.Collections.Concurrent;
using Threadloom.Core.Workers;

namespace Threadloom.Core.Tests.Workers;

/// <summary>
/// <see cref="DedicatedThreadScheduler"/>: work and the continuations of its awaits stay on its own threads (issue #9
/// §2), no queued task is lost while threads go idle and wake (issue #12: idle threads block without spinning), and
/// disposal finishes what was queued.
/// </summary>
public sealed class DedicatedThreadSchedulerTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task Run_WorkAndTheContinuationsOfItsAwaits_ExecuteOnTheSchedulersThreads()
    {
        using var scheduler = new DedicatedThreadScheduler(2, "sched-test");
        var seen = new ConcurrentQueue<(string? Name, bool Pool)>();
        void Record() => seen.Enqueue((Thread.CurrentThread.Name, Thread.CurrentThread.IsThreadPoolThread));

        var result = await scheduler.Run(async () =>
        {
            Record();
            await Task.Delay(10); // completes on a timer thread
            Record();
            await Task.Run(() => 0); // completes on a pool thread
            Record();
            await Task.Yield();
            Record();
            return 42;
        }).WaitAsync(Patience);

        Assert.Equal(42, result);
        Assert.Equal(4, seen.Count);
        Assert.All(seen, s =>
        {
            Assert.False(s.Pool);
            Assert.StartsWith("sched-test ", s.Name);
        });
    }

    [Fact]
    public async Task Run_BurstsQueuedFromManyThreadsWhileWorkersGoIdle_EveryTaskRuns_NoMoreAtOnceThanThreads()
    {
        const int Threads = 3;
        using var scheduler = new DedicatedThreadScheduler(Threads, "sched-burst");
        var running = 0;
        var most = 0;
        var done = 0;
        for (var round = 0; round < 50; round++)
        {
            // Each burst arrives from pool threads at once, after the workers have drained the last one and gone idle.
            var burst = Enumerable.Range(0, 8).Select(_ => Task.Run(() => scheduler.Run(async () =>
            {
                // A synchronous stretch counts the threads executing at once; the yield re-queues the rest.
                InterlockedMax(ref most, Interlocked.Increment(ref running));
                Thread.Sleep(1);
                Interlocked.Decrement(ref running);
                await Task.Yield();
                Interlocked.Increment(ref done);
                return Thread.CurrentThread.Name;
            }))).ToArray();
            await Task.WhenAll(burst).WaitAsync(Patience);
            await Task.Delay(round % 5);
        }
        Assert.Equal(50 * 8, done);
        Assert.InRange(most, 1, Threads);
    }

    [Fact]
    public async Task Dispose_FinishesQueuedWork_AndWorkQueuedAfterwardsStillRuns()
    {
        var scheduler = new DedicatedThreadScheduler(1, "sched-dispose");
        using var release = new ManualResetEventSlim();
        var first = scheduler.Run(() =>
        {
            release.Wait(Patience); // holds the only thread, so the next task waits in the queue
            return Task.FromResult(1);
        });
        var queued = scheduler.Run(() => Task.FromResult(Thread.CurrentThread.Name));
        var disposing = Task.Run(scheduler.Dispose);
        await Task.Delay(50);
        release.Set();
        await disposing.WaitAsync(Patience);

        Assert.Equal(1, await first.WaitAsync(Patience));
        Assert.Equal("sched-dispose 0", await queued.WaitAsync(Patience));
        var late = await scheduler.Run(() => Task.FromResult(Thread.CurrentThread.IsThreadPoolThread)).WaitAsync(Patience);
        Assert.True(late, "work queued after disposal runs on the thread pool");
    }

    private static void InterlockedMax(ref int target, int value)
    {
        var current = Volatile.Read(ref target);
        while (value > current && Interlocked.CompareExchange(ref target, value, current) is var seen && seen != current)
        {
            current = seen;
        }
    }
}
