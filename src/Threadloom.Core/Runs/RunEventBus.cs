using System.Threading.Channels;

namespace Threadloom.Core.Runs;

/// <summary>
/// Carries a run's events from whoever publishes them (its executor, the commands, a sweep) to the streams that
/// subscribe to it, on any node. Each run's events form one stream numbered 1, 2, … (<see cref="RunEvent.Sequence"/>).
/// </summary>
/// <remarks>
/// Design notes (DESIGN §4, issue #12 §3): a publisher writes the row first, then publishes, so a client that reacts to
/// an event sees at least that state through the API. Events one node publishes for a run keep their order; events of
/// one run published by two nodes are ordered as they reached the bus. A subscription sees every event after its
/// starting point, in sequence order, with no gap and no repeat, until it is disposed.
/// </remarks>
public interface IRunEventBus
{
    /// <summary>Appends <paramref name="runEvent"/> to the run's stream. Does not wait for it to reach other nodes.</summary>
    void Publish(string runId, RunEvent runEvent);

    /// <summary>Returns once every event this node published before the call is visible to subscribers on every node.</summary>
    Task FlushAsync(CancellationToken cancellationToken);

    /// <summary>
    /// Subscribes to the events of <paramref name="runId"/> whose sequence is above <paramref name="afterSequence"/>
    /// (0: from the first, replayed as far as the bus still keeps them), or, when null, to those published from now on.
    /// </summary>
    Task<RunSubscription> SubscribeAsync(string runId, long? afterSequence, CancellationToken cancellationToken);

    /// <summary>
    /// Subscribes to every event of a run that does not exist yet (its id was just made, and nothing was published for
    /// it): as <see cref="SubscribeAsync"/> from the first event, without looking for events that cannot be there.
    /// </summary>
    Task<RunSubscription> SubscribeToNewRunAsync(string runId, CancellationToken cancellationToken) => SubscribeAsync(runId, 0, cancellationToken);
}

/// <summary>
/// Cancels a run wherever it executes: on this node through its token at once, on another node through that node's
/// own registry (a cluster carries the request across; the owner's lease heartbeat, which reads <c>cancelling</c>, is
/// the fallback).
/// </summary>
public interface IRunCancellation
{
    /// <summary>Registers the token source of a run this node executes, until the returned handle is disposed.</summary>
    IDisposable Register(string runId, CancellationTokenSource source);

    /// <summary>How many runs this node is executing.</summary>
    int Count { get; }

    /// <summary>Whether this node executes <paramref name="runId"/>.</summary>
    bool IsLocal(string runId);

    /// <summary>Asks the node that executes <paramref name="runId"/> to cancel its token; returns at once, never throws.</summary>
    void Cancel(string runId);
}

/// <summary>
/// The in-process <see cref="IRunEventBus"/>: fans events out to this node's subscribers. It keeps the last
/// <see cref="Retained"/> events of each run until the run's stream ends with nobody subscribed, for replays.
/// </summary>
public sealed class LocalRunEventBus : IRunEventBus
{
    /// <summary>Events kept per run for <see cref="SubscribeAsync"/> replays.</summary>
    public const int Retained = 512;

    private readonly Dictionary<string, RunLog> _logs = new(StringComparer.Ordinal);
    private readonly Lock _gate = new();

    public void Publish(string runId, RunEvent runEvent)
    {
        Channel<RunEvent>[] targets;
        RunEvent numbered;
        lock (_gate)
        {
            if (!_logs.TryGetValue(runId, out var log))
            {
                _logs[runId] = log = new RunLog();
            }
            numbered = runEvent with { Sequence = ++log.Head };
            log.Recent.Enqueue(numbered);
            if (log.Recent.Count > Retained)
            {
                log.Recent.Dequeue();
            }
            targets = [.. log.Subscribers];
            if (targets.Length == 0 && runEvent.EndsStream)
            {
                // Nobody follows the run and its stream paused or ended: nothing to replay is kept (bounded memory).
                _logs.Remove(runId);
            }
        }
        foreach (var channel in targets)
        {
            channel.Writer.TryWrite(numbered);
        }
    }

    public Task FlushAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task<RunSubscription> SubscribeAsync(string runId, long? afterSequence, CancellationToken cancellationToken)
    {
        var channel = Channel.CreateUnbounded<RunEvent>(new UnboundedChannelOptions { SingleReader = true });
        lock (_gate)
        {
            if (!_logs.TryGetValue(runId, out var log))
            {
                _logs[runId] = log = new RunLog();
            }
            if (afterSequence is { } after)
            {
                foreach (var e in log.Recent.Where(e => e.Sequence > after))
                {
                    channel.Writer.TryWrite(e);
                }
            }
            log.Subscribers.Add(channel);
        }
        return Task.FromResult(new RunSubscription(channel.Reader, () => Unsubscribe(runId, channel)));
    }

    private void Unsubscribe(string runId, Channel<RunEvent> channel)
    {
        channel.Writer.TryComplete();
        lock (_gate)
        {
            if (_logs.TryGetValue(runId, out var log) && log.Subscribers.Remove(channel) && log.Subscribers.Count == 0
                && (log.Recent.Count == 0 || log.Recent.Last().EndsStream))
            {
                _logs.Remove(runId);
            }
        }
    }

    /// <summary>How many runs the bus keeps state for (tests check it stays bounded).</summary>
    public int TrackedRuns
    {
        get
        {
            lock (_gate)
            {
                return _logs.Count;
            }
        }
    }

    private sealed class RunLog
    {
        public long Head { get; set; }

        public Queue<RunEvent> Recent { get; } = new();

        public List<Channel<RunEvent>> Subscribers { get; } = [];
    }
}
