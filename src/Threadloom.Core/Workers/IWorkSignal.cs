using System.Threading.Channels;

namespace Threadloom.Core.Workers;

/// <summary>The queues whose workers a <see cref="IWorkSignal"/> wakes.</summary>
public enum WorkQueue
{
    /// <summary>Queued runs (<c>RunWorker</c>).</summary>
    Runs,

    /// <summary>Vector store files waiting to be ingested (<c>IngestionWorker</c>).</summary>
    Ingestion,
}

/// <summary>
/// Wakes the workers of a queue after its rows were written (persist before enqueue, STYLE habit 7). In one process it
/// wakes this node's worker; in a cluster, every node's.
/// </summary>
/// <remarks>
/// Design notes: the row is the truth, so a signal is only a hint: it may be lost, doubled or late, and workers still
/// sweep their queue on a timer. Many notifications before a worker looks collapse into one, because a woken worker
/// claims from the table until nothing is left.
/// </remarks>
public interface IWorkSignal
{
    /// <summary>Wakes the workers of <paramref name="queue"/>; returns at once, never throws.</summary>
    void Notify(WorkQueue queue);

    /// <summary>Wakes only this node's worker of <paramref name="queue"/> (a slot came free); returns at once.</summary>
    void WakeLocal(WorkQueue queue);

    /// <summary>Waits for a notification of <paramref name="queue"/> or for <paramref name="timeout"/>; true when notified.</summary>
    Task<bool> WaitAsync(WorkQueue queue, TimeSpan timeout, CancellationToken cancellationToken);
}

/// <summary>
/// The in-process <see cref="IWorkSignal"/>: one bounded(1) channel with <c>DropWrite</c> per queue, read by the one
/// worker loop of that queue on this node.
/// </summary>
public sealed class LocalWorkSignal : IWorkSignal
{
    private readonly Channel<bool>[] _channels = [NewChannel(), NewChannel()];

    public void Notify(WorkQueue queue) => WakeLocal(queue);

    public void WakeLocal(WorkQueue queue) => _channels[(int)queue].Writer.TryWrite(true);

    public async Task<bool> WaitAsync(WorkQueue queue, TimeSpan timeout, CancellationToken cancellationToken)
    {
        using var timeoutCts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeoutCts.CancelAfter(timeout);
        try
        {
            await _channels[(int)queue].Reader.ReadAsync(timeoutCts.Token);
            return true;
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return false;
        }
    }

    private static Channel<bool> NewChannel() => Channel.CreateBounded<bool>(new BoundedChannelOptions(1)
    {
        FullMode = BoundedChannelFullMode.DropWrite,
        SingleReader = true,
    });
}
