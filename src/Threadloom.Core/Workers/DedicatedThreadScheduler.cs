using System.Runtime.InteropServices;

namespace Threadloom.Core.Workers;

/// <summary>
/// A <see cref="TaskScheduler"/> with a fixed number of its own threads, niced below the request path on Linux
/// (issue #9 §2, CPU-bound work never starves requests). Work started on it (and the continuations of its awaits,
/// which capture <see cref="TaskScheduler.Current"/>) never occupies thread-pool threads, so Kestrel keeps them.
/// </summary>
/// <remarks>
/// Design notes: an idle thread blocks in <see cref="Monitor.Wait(object)"/> at once, without spinning first. The
/// queue was a <c>BlockingCollection</c>, whose take spins (with <c>sched_yield</c>) before it sleeps: with one
/// thread per run slot (64) woken by every asynchronous completion of a run's awaits, that spinning was 30–45 % of a
/// PostgreSQL node's CPU under load (issue #12 profile, docs/benchmarks.md). A queued task wakes one idle thread;
/// a thread that finishes a task takes the next one without sleeping.
/// </remarks>
public sealed class DedicatedThreadScheduler : TaskScheduler, IDisposable
{
    private readonly Queue<Task> _queue = new();
    private readonly Thread[] _threads;
    private readonly object _gate = new();
    private int _idle;
    private bool _completed;

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
                while (Take() is { } task)
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

    /// <summary>The next queued task; null once disposed and the queue is empty (the thread then ends).</summary>
    private Task? Take()
    {
        lock (_gate)
        {
            while (_queue.Count == 0)
            {
                if (_completed)
                {
                    return null;
                }
                _idle++;
                try
                {
                    Monitor.Wait(_gate);
                }
                finally
                {
                    _idle--;
                }
            }
            return _queue.Dequeue();
        }
    }

    protected override void QueueTask(Task task)
    {
        lock (_gate)
        {
            if (!_completed)
            {
                _queue.Enqueue(task);
                if (_idle > 0)
                {
                    Monitor.Pulse(_gate);
                }
                return;
            }
        }
        // Disposed (host shutdown): a late continuation still runs, on the thread pool, so nothing waits forever.
        ThreadPool.UnsafeQueueUserWorkItem(static state => state.Scheduler.TryExecuteTask(state.Task), (Scheduler: this, Task: task), preferLocal: false);
    }

    protected override bool TryExecuteTaskInline(Task task, bool taskWasPreviouslyQueued) =>
        _threads.Contains(Thread.CurrentThread) && TryExecuteTask(task);

    protected override IEnumerable<Task> GetScheduledTasks()
    {
        lock (_gate)
        {
            return _queue.ToArray();
        }
    }

    /// <summary>Stops taking work; the threads finish what is queued and end (waited for up to 5 s each).</summary>
    public void Dispose()
    {
        lock (_gate)
        {
            _completed = true;
            Monitor.PulseAll(_gate);
        }
        foreach (var thread in _threads)
        {
            if (thread != Thread.CurrentThread)
            {
                thread.Join(TimeSpan.FromSeconds(5));
            }
        }
    }

#pragma warning disable SYSLIB1054 // blittable signatures; LibraryImport would need unsafe code in Core
    [DllImport("libc", EntryPoint = "setpriority")]
    private static extern int SetPriority(int which, int who, int priority);

    [DllImport("libc", EntryPoint = "gettid")]
    private static extern int GetTid();
#pragma warning restore SYSLIB1054
}
