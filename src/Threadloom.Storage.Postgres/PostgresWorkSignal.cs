using Threadloom.Core.Runs;
using Threadloom.Core.Workers;

namespace Threadloom.Storage.Postgres;

/// <summary>
/// <see cref="IWorkSignal"/> across nodes: wakes this node's worker at once and every node's through
/// <c>NOTIFY threadloom_work</c>. A lost notification costs one sweep interval (the row is the truth).
/// </summary>
public sealed class PostgresWorkSignal : IWorkSignal
{
    private readonly LocalWorkSignal _local = new();
    private readonly PostgresNotifications _notifications;

    public PostgresWorkSignal(PostgresNotifications notifications)
    {
        _notifications = notifications;
        notifications.Received += (channel, payload) =>
        {
            if (channel == PostgresNotifications.WorkChannel && Enum.TryParse<WorkQueue>(payload, out var queue))
            {
                _local.WakeLocal(queue);
            }
        };
        notifications.Reconnected += () =>
        {
            _local.WakeLocal(WorkQueue.Runs);
            _local.WakeLocal(WorkQueue.Ingestion);
        };
    }

    public void Notify(WorkQueue queue)
    {
        _local.WakeLocal(queue);
        _notifications.Send(PostgresNotifications.WorkChannel, queue.ToString());
    }

    public void WakeLocal(WorkQueue queue) => _local.WakeLocal(queue);

    public Task<bool> WaitAsync(WorkQueue queue, TimeSpan timeout, CancellationToken cancellationToken) =>
        _local.WaitAsync(queue, timeout, cancellationToken);
}

/// <summary>
/// <see cref="IRunCancellation"/> across nodes: a cancel for a run this node does not execute goes out as
/// <c>NOTIFY threadloom_run_cancel</c>, and the owner cancels its token when it hears it, well within a second. The
/// owner's lease heartbeat, which reads <c>cancelling</c>, stays the fallback for a lost notification.
/// </summary>
public sealed class PostgresRunCancellation : IRunCancellation
{
    private readonly RunCancellations _local;
    private readonly PostgresNotifications _notifications;

    public PostgresRunCancellation(RunCancellations local, PostgresNotifications notifications)
    {
        _local = local;
        _notifications = notifications;
        notifications.Received += (channel, payload) =>
        {
            if (channel == PostgresNotifications.CancelChannel)
            {
                _local.Cancel(payload);
            }
        };
    }

    public IDisposable Register(string runId, CancellationTokenSource source) => _local.Register(runId, source);

    public int Count => _local.Count;

    public bool IsLocal(string runId) => _local.IsLocal(runId);

    public void Cancel(string runId)
    {
        if (_local.IsLocal(runId))
        {
            _local.Cancel(runId);
            return;
        }
        _notifications.Send(PostgresNotifications.CancelChannel, runId);
    }
}
