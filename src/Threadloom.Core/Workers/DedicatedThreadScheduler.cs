using System.Collections.Concurrent;
using System.Runtime.InteropServices;

namespace Threadloom.Core.Workers;

/// <summary>
/// A <see cref="TaskScheduler"/> with a fixed number of its own threads, niced below the request path on Linux
/// (issue #9 §2, CPU-bound work never starves requests). Work started on it (and the continuations of its awaits,
/// which capture <see cref="TaskScheduler.Current"/>) never occupies thread-pool threads, so Kestrel keeps them.
/// </summary>
public sealed class DedicatedThreadScheduler : TaskScheduler, IDisposable
{
    private readonly BlockingCollection<Task> _queue = new();
    private readonly Thread[] _threads;

    public DedicatedThreadScheduler(int threads, string name, int nice = 10)
    {
        _threads = new Thread[threads];
        for (var i = 0; i < threads; i++)
        {
            _threads[i] = new Thread(() =>
            {
                if (OperatingSystem.IsLinux())
                {
                    // PRIO_PROCESS with a thread id renices that thread only; raising nice needs no privilege.
                    _ = SetPriority(0, GetTid(), nice);
                }
                foreach (var task in _queue.GetConsumingEnumerable())
                {
                    TryExecuteTask(task);
                }
            })
            {
                IsBackground = true,
                Name = $"{name} {i}",
            };
            _threads[i].Start();
        }
    }

    public override int MaximumConcurrencyLevel => _threads.Length;

    /// <summary>Runs <paramref name="work"/> (and its continuations) on this scheduler's threads.</summary>
    public Task<T> Run<T>(Func<Task<T>> work) =>
        Task.Factory.StartNew(work, CancellationToken.None, TaskCreationOptions.DenyChildAttach, this).Unwrap();

    protected override void QueueTask(Task task)
    {
        try
        {
            _queue.Add(task);
            return;
        }
        catch (InvalidOperationException) when (_queue.IsAddingCompleted)
        {
            // Disposed (host shutdown): a late continuation still runs, on the thread pool, so nothing waits forever.
        }
        ThreadPool.UnsafeQueueUserWorkItem(static state => state.Scheduler.TryExecuteTask(state.Task), (Scheduler: this, Task: task), preferLocal: false);
    }

    protected override bool TryExecuteTaskInline(Task task, bool taskWasPreviouslyQueued) =>
        _threads.Contains(Thread.CurrentThread) && TryExecuteTask(task);

    protected override IEnumerable<Task> GetScheduledTasks() => _queue.ToArray();

    /// <summary>
    /// Stops taking work; the threads finish what is queued and end. The queue is disposed only once they have all
    /// ended, since disposing it under a thread that is still consuming it kills the process.
    /// </summary>
    public void Dispose()
    {
        _queue.CompleteAdding();
        var ended = true;
        foreach (var thread in _threads)
        {
            ended &= thread == Thread.CurrentThread || thread.Join(TimeSpan.FromSeconds(5));
        }
        if (ended && !_threads.Contains(Thread.CurrentThread))
        {
            _queue.Dispose();
        }
    }

#pragma warning disable SYSLIB1054 // blittable signatures; LibraryImport would need unsafe code in Core
    [DllImport("libc", EntryPoint = "setpriority")]
    private static extern int SetPriority(int which, int who, int priority);

    [DllImport("libc", EntryPoint = "gettid")]
    private static extern int GetTid();
#pragma warning restore SYSLIB1054
}
