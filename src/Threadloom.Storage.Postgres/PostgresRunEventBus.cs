using System.Threading.Channels;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Threadloom.Core.Runs;

namespace Threadloom.Storage.Postgres;

/// <summary>
/// <see cref="IRunEventBus"/> across nodes: events are rows of <c>run_events</c>, numbered per run, and a stream tails
/// them from its cursor; <c>NOTIFY threadloom_run_events</c> (payload: the run id) is only the wake-up (issue #12 §3).
/// </summary>
/// <remarks>
/// Design notes:
/// <list type="bullet">
/// <item>One writer loop per node takes what was published meanwhile and writes it in one statement, which numbers the
/// rows under each run's head-row lock and notifies in the same transaction: the notification goes out on commit, so
/// a woken tail always finds the rows, and rows of one run commit in sequence order.</item>
/// <item>A tail reads <c>seq &gt; cursor</c> when woken, and at least every <see cref="PollInterval"/> without a
/// notification, so a notification lost while the LISTEN connection was down delays events but loses none.</item>
/// <item>Events this node wrote reach this node's tails from memory: the insert returns each run's new head, so the
/// writer knows every row's sequence number and hands the events to the tails of their run once the batch commits.
/// The table is for the other nodes and for replays. A tail takes only the event after its cursor, from either
/// source, so it sees each event once and in order; an event past a gap (rows another node wrote that the tail has
/// not read) wakes the tail to read them first. The notification's payload is <c>run_id seq</c> (the run's head
/// after the batch): a tail already at <c>seq</c>, such as one fed from memory by this node's own write, does not
/// read. A payload without a sequence (an older node) wakes the tail as before.</item>
/// <item>Rows of runs that ended more than <see cref="Retention"/> ago are pruned by every node in turn (a
/// <c>SKIP LOCKED</c> batch), and so are rows of any run idle for <see cref="MaxAge"/>: the tables stay bounded.</item>
/// </list>
/// </remarks>
public sealed partial class PostgresRunEventBus : BackgroundService, IRunEventBus
{
    /// <summary>How often a tail re-reads without being woken.</summary>
    public static readonly TimeSpan PollInterval = TimeSpan.FromSeconds(1);

    /// <summary>How long a run's events are kept after its last event once the run has ended.</summary>
    public static readonly TimeSpan Retention = TimeSpan.FromMinutes(1);

    /// <summary>How long any run's events are kept after its last event (a run parked in requires_action, a lost run).</summary>
    public static readonly TimeSpan MaxAge = TimeSpan.FromHours(2);

    private static readonly TimeSpan PruneInterval = TimeSpan.FromSeconds(30);
    private const int BatchSize = 500;

    private const string InsertSql = """
        WITH input AS (
            SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) WITH ORDINALITY AS t(run_id, name, kind, data, ord)),
        heads AS (
            INSERT INTO run_event_heads AS h (run_id, last_seq, updated_at)
            SELECT run_id, count(*), $5::bigint FROM input GROUP BY run_id ORDER BY run_id
            ON CONFLICT (run_id) DO UPDATE SET last_seq = h.last_seq + excluded.last_seq, updated_at = excluded.updated_at
            RETURNING h.run_id, h.last_seq),
        numbered AS (
            SELECT i.run_id, i.name, i.kind, i.data,
                   h.last_seq - count(*) OVER (PARTITION BY i.run_id) + row_number() OVER (PARTITION BY i.run_id ORDER BY i.ord) AS seq
            FROM input i JOIN heads h ON h.run_id = i.run_id),
        inserted AS (
            INSERT INTO run_events (run_id, seq, name, kind, data) SELECT run_id, seq, name, kind, data FROM numbered RETURNING 1)
        SELECT run_id, last_seq, pg_notify('threadloom_run_events', run_id || ' ' || last_seq) FROM heads
        """;

    private const string PruneSql = """
        WITH gone AS (
            DELETE FROM run_event_heads WHERE run_id IN (
                SELECT h.run_id FROM run_event_heads h
                WHERE h.updated_at < $2
                   OR (h.updated_at < $1 AND NOT EXISTS (SELECT 1 FROM runs r WHERE r.id = h.run_id
                       AND r.status IN ('queued', 'in_progress', 'requires_action', 'cancelling')))
                LIMIT 1000 FOR UPDATE SKIP LOCKED)
            RETURNING run_id)
        DELETE FROM run_events e USING gone WHERE e.run_id = gone.run_id
        """;

    private readonly PostgresDatabase _database;
    private readonly TimeProvider _time;
    private readonly ILogger<PostgresRunEventBus> _logger;
    private readonly Channel<Outgoing> _outbox = Channel.CreateUnbounded<Outgoing>(new UnboundedChannelOptions { SingleReader = true });
    private readonly Dictionary<string, List<Tail>> _tails = new(StringComparer.Ordinal);
    private readonly Lock _gate = new();

    public PostgresRunEventBus(PostgresDatabase database, PostgresNotifications notifications, TimeProvider time, ILogger<PostgresRunEventBus> logger)
    {
        _database = database;
        _time = time;
        _logger = logger;
        notifications.Received += (channel, payload) =>
        {
            if (channel == PostgresNotifications.EventsChannel)
            {
                Notified(payload);
            }
        };
        notifications.Reconnected += () => WakeTails(null);
    }

    public void Publish(string runId, RunEvent runEvent)
    {
        var (kind, json) = RunEventCodec.Encode(runEvent);
        _outbox.Writer.TryWrite(new Outgoing(runId, runEvent, kind, PgCommands.NoNul(json), null));
    }

    public Task FlushAsync(CancellationToken cancellationToken)
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _outbox.Writer.TryWrite(new Outgoing(null, null, null, null, done));
        return done.Task.WaitAsync(cancellationToken);
    }

    /// <summary>
    /// A new run's tail starts waiting instead of reading: its first events come from this node's writer (from memory)
    /// or with a notification from the node that claims the run, and the poll still reads if a notification is lost.
    /// </summary>
    public Task<RunSubscription> SubscribeToNewRunAsync(string runId, CancellationToken cancellationToken) => SubscribeAsync(runId, 0, readFirst: false, cancellationToken);

    public Task<RunSubscription> SubscribeAsync(string runId, long? afterSequence, CancellationToken cancellationToken) =>
        SubscribeAsync(runId, afterSequence, readFirst: true, cancellationToken);

    private async Task<RunSubscription> SubscribeAsync(string runId, long? afterSequence, bool readFirst, CancellationToken cancellationToken)
    {
        long cursor;
        if (afterSequence is { } after)
        {
            cursor = after;
        }
        else
        {
            await using var connection = await _database.OpenAsync(cancellationToken);
            cursor = (long?)await connection.ScalarAsync("SELECT last_seq FROM run_event_heads WHERE run_id = $1", null, cancellationToken, runId) ?? 0;
        }
        var output = Channel.CreateUnbounded<RunEvent>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
        var tail = new Tail(runId, cursor, output);
        lock (_gate)
        {
            if (!_tails.TryGetValue(runId, out var list))
            {
                _tails[runId] = list = [];
            }
            list.Add(tail);
        }
        tail.Loop = Task.Run(() => TailAsync(tail, readFirst), CancellationToken.None);
        return new RunSubscription(output.Reader, () => Unsubscribe(tail));
    }

    /// <summary>Runs the writer and the pruner until the node stops; the writer then writes what is left.</summary>
    protected override Task ExecuteAsync(CancellationToken stoppingToken) => Task.WhenAll(WriteLoopAsync(stoppingToken), PruneLoopAsync(stoppingToken));

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        // Hosted services stop in reverse order, after the run worker: what it published last still goes out.
        _outbox.Writer.TryComplete();
        await base.StopAsync(cancellationToken);
    }

    private async Task WriteLoopAsync(CancellationToken stoppingToken)
    {
        var batch = new List<Outgoing>();
        while (true)
        {
            try
            {
                if (batch.Count == 0)
                {
                    if (!await _outbox.Reader.WaitToReadAsync(CancellationToken.None))
                    {
                        return;
                    }
                }
                while (batch.Count < BatchSize && _outbox.Reader.TryRead(out var next))
                {
                    batch.Add(next);
                }
                var events = batch.Where(o => o.RunId is not null).ToList();
                if (events.Count > 0)
                {
                    await WriteAsync(events);
                }
                foreach (var flush in batch.Where(o => o.Flushed is not null))
                {
                    flush.Flushed!.TrySetResult();
                }
                batch.Clear();
            }
            catch (Exception e)
            {
                // Kept and retried: an event is never dropped while the node lives.
                LogWriteFailed(e, batch.Count);
                await Task.Delay(TimeSpan.FromMilliseconds(200), CancellationToken.None);
                if (stoppingToken.IsCancellationRequested && _outbox.Reader.Completion.IsCompleted)
                {
                    return;
                }
            }
        }
    }

    /// <summary>
    /// Writes one batch and hands its events to this node's tails. Tails of the batch's runs hold off their reads while
    /// the batch is in flight (<see cref="Tail.BeginLocalWrite"/>), so the notification of this very write, which can
    /// arrive before the insert's reply, does not send them to the table for what they are about to get from memory.
    /// </summary>
    private async Task WriteAsync(List<Outgoing> events)
    {
        var runIds = events.Select(e => e.RunId!).Distinct(StringComparer.Ordinal).ToList();
        List<Tail> waiting;
        lock (_gate)
        {
            waiting = [.. runIds.SelectMany(id => _tails.TryGetValue(id, out var list) ? list : [])];
        }
        foreach (var tail in waiting)
        {
            tail.BeginLocalWrite();
        }
        List<(string RunId, long Head)> heads;
        try
        {
            await using var connection = await _database.OpenAsync(CancellationToken.None);
            heads = await connection.QueryAsync(InsertSql, null, r => (r.GetString(0), r.GetInt64(1)), CancellationToken.None,
                PgCommands.TextArray(events.Select(e => e.RunId!)), PgCommands.TextArray(events.Select(e => e.Event!.Name)),
                PgCommands.TextArray(events.Select(e => e.Kind!)), PgCommands.TextArray(events.Select(e => e.Json!)),
                _time.GetUtcNow().ToUnixTimeMilliseconds());
        }
        catch
        {
            foreach (var tail in waiting)
            {
                tail.EndLocalWrite([]);
            }
            throw;
        }
        // The j-th of a run's k events in this batch has sequence head - k + j, as the insert numbered them.
        var byRun = new Dictionary<string, List<RunEvent>>(StringComparer.Ordinal);
        foreach (var e in events)
        {
            if (!byRun.TryGetValue(e.RunId!, out var list))
            {
                byRun[e.RunId!] = list = [];
            }
            list.Add(e.Event!);
        }
        var numbered = new Dictionary<string, RunEvent[]>(StringComparer.Ordinal);
        foreach (var (runId, head) in heads)
        {
            var list = byRun[runId];
            numbered[runId] = [.. list.Select((e, j) => e with { Sequence = head - list.Count + j + 1 })];
        }
        List<Tail> current;
        lock (_gate)
        {
            current = [.. runIds.SelectMany(id => _tails.TryGetValue(id, out var list) ? list : [])];
        }
        foreach (var tail in waiting)
        {
            tail.EndLocalWrite(numbered.TryGetValue(tail.RunId, out var mine) ? mine : []);
        }
        foreach (var tail in current.Except(waiting))
        {
            // Subscribed while the batch was in flight.
            tail.Deliver(numbered.TryGetValue(tail.RunId, out var mine) ? mine : []);
        }
    }

    private async Task PruneLoopAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(PruneInterval, stoppingToken);
                await PruneAsync(stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                LogPruneFailed(e);
            }
        }
    }

    /// <summary>Deletes the events of ended runs past <see cref="Retention"/> and of any run past <see cref="MaxAge"/>; returns the rows deleted.</summary>
    public async Task<int> PruneAsync(CancellationToken cancellationToken)
    {
        var now = _time.GetUtcNow();
        var total = 0;
        while (true)
        {
            await using var connection = await _database.OpenAsync(cancellationToken);
            var deleted = await connection.ExecuteAsync(PruneSql, null, cancellationToken,
                (now - Retention).ToUnixTimeMilliseconds(), (now - MaxAge).ToUnixTimeMilliseconds());
            total += deleted;
            if (deleted == 0)
            {
                return total;
            }
        }
    }

    private async Task TailAsync(Tail tail, bool readFirst)
    {
        var token = tail.Stop.Token;
        while (!token.IsCancellationRequested)
        {
            try
            {
                if (!readFirst)
                {
                    readFirst = true;
                    await tail.WaitAsync(PollInterval, token);
                    continue;
                }
                List<RunEvent> rows;
                await using (var connection = await _database.OpenAsync(token))
                {
                    rows = await connection.QueryAsync(
                        "SELECT seq, name, kind, data FROM run_events WHERE run_id = $1 AND seq > $2 ORDER BY seq LIMIT 500", null,
                        r => RunEventCodec.Decode(r.GetString(1), r.GetString(2), r.GetString(3), r.GetInt64(0)), token, tail.RunId, tail.Cursor);
                }
                tail.Deliver(rows);
                if (rows.Count == 500)
                {
                    continue;
                }
                await tail.WaitAsync(PollInterval, token);
            }
            catch (OperationCanceledException) when (token.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                LogTailFailed(e, tail.RunId);
                await Task.Delay(PollInterval, token).ContinueWith(_ => { }, TaskScheduler.Default);
            }
        }
    }

    /// <summary>A notification: <c>run_id seq</c> wakes the run's tails that are behind <c>seq</c>; a bare run id wakes them all.</summary>
    private void Notified(string payload)
    {
        var space = payload.IndexOf(' ', StringComparison.Ordinal);
        if (space < 0 || !long.TryParse(payload.AsSpan(space + 1), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var head))
        {
            WakeTails(payload);
            return;
        }
        Tail[] targets;
        lock (_gate)
        {
            targets = _tails.TryGetValue(payload[..space], out var list) ? [.. list] : [];
        }
        foreach (var tail in targets)
        {
            tail.Behind(head);
        }
    }

    private void WakeTails(string? runId)
    {
        Tail[] targets;
        lock (_gate)
        {
            targets = runId is null
                ? [.. _tails.Values.SelectMany(l => l)]
                : _tails.TryGetValue(runId, out var list) ? [.. list] : [];
        }
        foreach (var tail in targets)
        {
            tail.Wake();
        }
    }

    private void Unsubscribe(Tail tail)
    {
        lock (_gate)
        {
            if (_tails.TryGetValue(tail.RunId, out var list) && list.Remove(tail) && list.Count == 0)
            {
                _tails.Remove(tail.RunId);
            }
        }
        tail.Stop.Cancel();
        tail.Output.Writer.TryComplete();
        _ = tail.Loop?.ContinueWith(_ => tail.Stop.Dispose(), TaskScheduler.Default);
    }

    public override void Dispose()
    {
        lock (_gate)
        {
            foreach (var tail in _tails.Values.SelectMany(l => l))
            {
                tail.Stop.Cancel();
            }
        }
        base.Dispose();
    }

    private sealed record Outgoing(string? RunId, RunEvent? Event, string? Kind, string? Json, TaskCompletionSource? Flushed);

    private sealed class Tail(string runId, long cursor, Channel<RunEvent> output)
    {
        private readonly Channel<bool> _wake = Channel.CreateBounded<bool>(new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropWrite });
        private readonly Lock _gate = new();
        private long _cursor = cursor;
        private int _localWrites;
        private long _heldWake;

        public string RunId => runId;

        /// <summary>The sequence of the last event handed to the subscriber.</summary>
        public long Cursor
        {
            get
            {
                lock (_gate)
                {
                    return _cursor;
                }
            }
        }

        /// <summary>
        /// Hands the subscriber the events that follow its cursor, in order, from the table or from memory: those at or
        /// below the cursor were handed already; one past a gap wakes the tail to read the gap from the table.
        /// </summary>
        public void Deliver(IReadOnlyList<RunEvent> events)
        {
            var gap = false;
            lock (_gate)
            {
                foreach (var e in events)
                {
                    if (e.Sequence == _cursor + 1)
                    {
                        output.Writer.TryWrite(e);
                        _cursor = e.Sequence;
                    }
                    else if (e.Sequence > _cursor + 1)
                    {
                        gap = true;
                        break;
                    }
                }
            }
            if (gap)
            {
                Wake();
            }
        }

        /// <summary>This node is writing a batch with events of this run: wake-ups wait for its events.</summary>
        public void BeginLocalWrite()
        {
            lock (_gate)
            {
                _localWrites++;
            }
        }

        /// <summary>The batch begun with <see cref="BeginLocalWrite"/> is written (or failed: no events); a wake-up held meanwhile that they do not cover goes out now.</summary>
        public void EndLocalWrite(IReadOnlyList<RunEvent> events)
        {
            Deliver(events);
            var wake = false;
            lock (_gate)
            {
                _localWrites--;
                if (_localWrites == 0 && _heldWake > _cursor)
                {
                    wake = true;
                }
                if (_localWrites == 0)
                {
                    _heldWake = 0;
                }
            }
            if (wake)
            {
                Wake();
            }
        }

        /// <summary>The run's stream reached <paramref name="head"/> on some node: read unless this tail is there already, or will be once this node's write in flight lands.</summary>
        public void Behind(long head)
        {
            lock (_gate)
            {
                if (head <= _cursor)
                {
                    return;
                }
                if (_localWrites > 0)
                {
                    _heldWake = Math.Max(_heldWake, head);
                    return;
                }
            }
            Wake();
        }

        public Channel<RunEvent> Output => output;

        public CancellationTokenSource Stop { get; } = new();

        public Task? Loop { get; set; }

        public void Wake() => _wake.Writer.TryWrite(true);

        public async Task WaitAsync(TimeSpan timeout, CancellationToken cancellationToken)
        {
            using var timeoutCts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeoutCts.CancelAfter(timeout);
            try
            {
                await _wake.Reader.ReadAsync(timeoutCts.Token);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                // Poll.
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Writing {Count} run events failed; retrying")]
    private partial void LogWriteFailed(Exception exception, int count);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Pruning run events failed")]
    private partial void LogPruneFailed(Exception exception);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Reading the events of run {RunId} failed; retrying")]
    private partial void LogTailFailed(Exception exception, string runId);
}
