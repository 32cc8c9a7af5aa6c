using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Threadloom.Core.Tools.CodeInterpreter;

namespace Threadloom.Storage.Postgres;

/// <summary>
/// <see cref="ICodeSessionCloser"/> across nodes: the session is ended here, then <c>NOTIFY threadloom_code_session_end</c>
/// tells the other nodes to end theirs. A lost notification leaves the session to the sandbox's idle eviction; it is never
/// reused, since a deleted thread's id never comes back and a stale session is ended before it runs code (the reset check).
/// A hosted service, so that every node listens from its start, not only once something here has asked it to close.
/// </summary>
public sealed partial class PostgresCodeSessionCloser : ICodeSessionCloser, IHostedService
{
    private readonly ICodeSandbox _sandbox;
    private readonly PostgresNotifications _notifications;
    private readonly ILogger<PostgresCodeSessionCloser> _logger;

    public PostgresCodeSessionCloser(ICodeSandbox sandbox, PostgresNotifications notifications, ILogger<PostgresCodeSessionCloser> logger)
    {
        _sandbox = sandbox;
        _notifications = notifications;
        _logger = logger;
    }

    public Task StartAsync(CancellationToken cancellationToken)
    {
        _notifications.Received += OnReceived;
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken)
    {
        _notifications.Received -= OnReceived;
        return Task.CompletedTask;
    }

    // Handlers run on the listening connection: the kernel is stopped off it.
    private void OnReceived(string channel, string payload)
    {
        if (channel == PostgresNotifications.CodeSessionEndChannel)
        {
            _ = Task.Run(() => EndLocalAsync(payload));
        }
    }

    public async Task CloseEverywhereAsync(string sessionKey, CancellationToken cancellationToken)
    {
        await _sandbox.EndSessionAsync(sessionKey, cancellationToken);
        _notifications.Send(PostgresNotifications.CodeSessionEndChannel, sessionKey);
    }

    private async Task EndLocalAsync(string sessionKey)
    {
        try
        {
            await _sandbox.EndSessionAsync(sessionKey, CancellationToken.None);
        }
        catch (Exception e)
        {
            LogEndFailed(e, sessionKey);
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Ending code session {SessionKey} on another node's request failed")]
    private partial void LogEndFailed(Exception exception, string sessionKey);
}
