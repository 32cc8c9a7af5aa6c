using System.Threading.Channels;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace Threadloom.Storage.Postgres;

/// <summary>
/// This node's one <c>LISTEN</c> connection and its <c>NOTIFY</c> sender, shared by the event bus, the work signal and
/// run cancellation (issue #12 §3).
/// </summary>
/// <remarks>
/// Design notes: a notification is only a wake-up. Every listener also has a way to catch up from the tables (the event
/// stream re-reads from its cursor, workers sweep), so a notification lost while the connection was down costs a delay,
/// not data; after every (re)connect <see cref="Reconnected"/> tells listeners to catch up at once. Sends are
/// coalesced: what was asked while one send was under way goes out in the next, as one statement.
/// </remarks>
public sealed partial class PostgresNotifications(PostgresDatabase database, ILogger<PostgresNotifications> logger) : BackgroundService
{
    public const string EventsChannel = "threadloom_run_events";
    public const string WorkChannel = "threadloom_work";
    public const string CancelChannel = "threadloom_run_cancel";
    public const string CodeSessionEndChannel = "threadloom_code_session_end";

    private static readonly string[] Channels = [EventsChannel, WorkChannel, CancelChannel, CodeSessionEndChannel];

    private readonly Channel<(string Channel, string Payload)> _outbox =
        Channel.CreateUnbounded<(string, string)>(new UnboundedChannelOptions { SingleReader = true });

    /// <summary>A notification arrived (channel, payload). Handlers must be quick: they run on the listening connection.</summary>
    public event Action<string, string>? Received;

    /// <summary>The listening connection was (re)established: notifications sent meanwhile may be lost, catch up.</summary>
    public event Action? Reconnected;

    /// <summary>Queues a <c>NOTIFY</c>; returns at once. Duplicates queued together go out once.</summary>
    public void Send(string channel, string payload) => _outbox.Writer.TryWrite((channel, payload));

    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        Task.WhenAll(ListenAsync(stoppingToken), SendLoopAsync(stoppingToken));

    private async Task ListenAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await using var connection = await database.OpenAsync(stoppingToken);
                connection.Notification += OnNotification;
                foreach (var channel in Channels)
                {
                    await connection.ExecuteAsync($"LISTEN {channel}", null, stoppingToken);
                }
                Reconnected?.Invoke();
                while (!stoppingToken.IsCancellationRequested)
                {
                    // A timeout checks the connection (a keepalive round trip), so a dead one is noticed.
                    if (!await connection.WaitAsync(TimeSpan.FromSeconds(10), stoppingToken))
                    {
                        await connection.ExecuteAsync("SELECT 1", null, stoppingToken);
                    }
                }
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                LogListenFailed(e);
                await Task.Delay(TimeSpan.FromSeconds(1), stoppingToken).ContinueWith(_ => { }, TaskScheduler.Default);
            }
        }
    }

    private void OnNotification(object sender, NpgsqlNotificationEventArgs e)
    {
        try
        {
            Received?.Invoke(e.Channel, e.Payload);
        }
        catch (Exception ex)
        {
            LogHandlerFailed(ex, e.Channel);
        }
    }

    private async Task SendLoopAsync(CancellationToken stoppingToken)
    {
        var pending = new HashSet<(string Channel, string Payload)>();
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                if (pending.Count == 0)
                {
                    pending.Add(await _outbox.Reader.ReadAsync(stoppingToken));
                }
                while (pending.Count < 1000 && _outbox.Reader.TryRead(out var next))
                {
                    pending.Add(next);
                }
                await using var connection = await database.OpenAsync(stoppingToken);
                await connection.ExecuteAsync("SELECT pg_notify(c, p) FROM unnest($1::text[], $2::text[]) AS t(c, p)", null, stoppingToken,
                    PgCommands.TextArray(pending.Select(n => n.Channel)), PgCommands.TextArray(pending.Select(n => n.Payload)));
                pending.Clear();
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                // Kept for the next try; listeners catch up anyway.
                LogSendFailed(e);
                await Task.Delay(TimeSpan.FromMilliseconds(500), stoppingToken).ContinueWith(_ => { }, TaskScheduler.Default);
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "The PostgreSQL LISTEN connection failed; reconnecting")]
    private partial void LogListenFailed(Exception exception);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Sending PostgreSQL notifications failed; retrying")]
    private partial void LogSendFailed(Exception exception);

    [LoggerMessage(Level = LogLevel.Error, Message = "A handler of PostgreSQL channel {Channel} failed")]
    private partial void LogHandlerFailed(Exception exception, string channel);
}
