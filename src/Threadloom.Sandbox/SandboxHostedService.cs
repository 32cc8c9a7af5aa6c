using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Threadloom.Sandbox;

/// <summary>Checks the sandbox at startup, keeps the warm pool filled and reaps idle sessions.</summary>
public sealed partial class SandboxHostedService(
    BubblewrapSandbox sandbox,
    IOptions<CodeInterpreterOptions> options,
    ILogger<SandboxHostedService> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var settings = options.Value;
        if (!settings.Enabled)
        {
            LogDisabled();
            return;
        }
        var health = await sandbox.CheckAsync(stoppingToken);
        if (!health.IsHealthy)
        {
            // Never fall back to running code unsandboxed: executions will report the failure instead.
            LogUnhealthy(health.Reason ?? "unknown reason");
            return;
        }
        LogHealthy(settings.WarmPoolSize);
        var period = TimeSpan.FromTicks(Math.Clamp(settings.IdleTimeout.Ticks / 4, TimeSpan.TicksPerSecond, TimeSpan.TicksPerMinute));
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await sandbox.FillPoolAsync(stoppingToken);
                await sandbox.ReapIdleSessionsAsync(stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (e is IOException or InvalidOperationException or SandboxUnavailableException
                or System.ComponentModel.Win32Exception)
            {
                LogMaintenanceFailed(e.Message);
            }
            try
            {
                await Task.Delay(period, stoppingToken);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken);
        await sandbox.DisposeAsync();
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Code interpreter sandbox is disabled by configuration")]
    private partial void LogDisabled();

    [LoggerMessage(Level = LogLevel.Error, Message = "Code interpreter sandbox is unusable; code_interpreter calls will fail: {Reason}")]
    private partial void LogUnhealthy(string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "Code interpreter sandbox is ready (bubblewrap), warm pool size {PoolSize}")]
    private partial void LogHealthy(int poolSize);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Code interpreter sandbox maintenance failed: {Reason}")]
    private partial void LogMaintenanceFailed(string reason);
}
