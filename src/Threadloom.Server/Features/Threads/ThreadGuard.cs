namespace Threadloom.Server.Features.Threads;

/// <summary>
/// The thread lock: while a run is active on a thread, no message may be added and no other run started.
/// Until the run engine exists (issue #3) no run can be active, so every thread is free.
/// </summary>
public class ThreadGuard
{
    public virtual Task EnsureNoActiveRunAsync(string projectId, string threadId, CancellationToken cancellationToken) => Task.CompletedTask;
}
