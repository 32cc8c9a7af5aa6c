using System.Collections.Concurrent;
using System.Diagnostics;

namespace Threadloom.Sandbox;

/// <summary>
/// Starts processes from one long-lived thread.
/// </summary>
/// <remarks>Design notes: bwrap's <c>--die-with-parent</c> uses PR_SET_PDEATHSIG, whose "parent" is the thread that
/// forked. .NET forks on the calling thread, so a kernel started from a thread-pool thread would be killed when the
/// pool retires that thread. Forking from one dedicated thread that lives as long as the sandbox avoids that.</remarks>
internal sealed class ProcessLauncher : IDisposable
{
    private readonly BlockingCollection<(ProcessStartInfo Info, TaskCompletionSource<Process> Started)> _queue = [];

    public ProcessLauncher()
    {
        var thread = new Thread(Run) { IsBackground = true, Name = "threadloom-sandbox-launcher" };
        thread.Start();
    }

    public Task<Process> StartAsync(ProcessStartInfo info)
    {
        var started = new TaskCompletionSource<Process>(TaskCreationOptions.RunContinuationsAsynchronously);
        _queue.Add((info, started));
        return started.Task;
    }

    private void Run()
    {
        foreach (var (info, started) in _queue.GetConsumingEnumerable())
        {
            try
            {
                started.SetResult(Process.Start(info) ?? throw new InvalidOperationException("Process.Start returned null."));
            }
            catch (Exception e)
            {
                started.SetException(e);
            }
        }
    }

    public void Dispose() => _queue.CompleteAdding();
}
