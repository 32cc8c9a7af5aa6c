using System.Threading.Channels;

namespace Threadloom.Core.Runs;

/// <summary>
/// Wakes the <see cref="RunWorker"/> when a run was queued. Bounded(1) with <c>DropWrite</c>: many notifications
/// before the worker looks collapse into one, because the worker claims from the table until nothing is left.
/// The row is written before the signal (persist before enqueue), so a lost signal only costs one sweep interval.
/// </summary>
public sealed class RunSignal
{
    private readonly Channel<bool> _channel = Channel.CreateBounded<bool>(new BoundedChannelOptions(1)
    {
        FullMode = BoundedChannelFullMode.DropWrite,
        SingleReader = true,
    });

    public void Notify() => _channel.Writer.TryWrite(true);

    /// <summary>Waits for a notification or for <paramref name="timeout"/>; returns true when notified.</summary>
    public async Task<bool> WaitAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        using var timeoutCts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeoutCts.CancelAfter(timeout);
        try
        {
            await _channel.Reader.ReadAsync(timeoutCts.Token);
            return true;
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return false;
        }
    }
}
