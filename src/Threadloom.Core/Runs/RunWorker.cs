using System.Diagnostics;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Threadloom.Core.Domain;
using Threadloom.Core.Storage;
using Threadloom.Core.Workers;

namespace Threadloom.Core.Runs;

/// <summary>
/// The pool that executes runs: claims queued runs up to <see cref="RunsOptions.MaxConcurrentRuns"/>, heartbeats
/// their leases, and sweeps for runs that waited too long for tool outputs or whose node died.
/// </summary>
/// <remarks>
/// Design notes: the run row is written before the worker is signalled, so a claimed run always has consistent
/// state, and a lost signal only delays a run until the next sweep. An expired lease fails the run (server_error)
/// instead of retrying it: tool calls aren't idempotent. A cancel reaches a run through <see cref="RunCancellations"/>
/// on this node, and through the heartbeat (which reads the status) from any other node.
/// </remarks>
public sealed partial class RunWorker(
    IRunStore runs,
    RunExecutor executor,
    RunCommands commands,
    RunSignal signal,
    RunCancellations cancellations,
    IOptions<RunsOptions> options,
    TimeProvider time,
    ILogger<RunWorker> logger) : BackgroundService
{
    private readonly string _nodeId = $"{Environment.MachineName}-{Guid.NewGuid():N}";
    private readonly RunsOptions _options = options.Value;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var slots = new SemaphoreSlim(_options.MaxConcurrentRuns, _options.MaxConcurrentRuns);
        var running = new List<Task>();
        var lastSweep = Stopwatch.StartNew();
        var first = true;
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                if (first || lastSweep.Elapsed >= _options.SweepInterval)
                {
                    first = false;
                    lastSweep.Restart();
                    await SweepAsync(stoppingToken);
                }
                await WorkSlots.FillAsync(slots, running,
                    () => runs.ClaimNextAsync(_nodeId, time.GetUtcNow(), _options.Lease, stoppingToken),
                    run =>
                    {
                        LogClaimed(run.Id, _nodeId);
                        return RunOneAsync(run, slots, stoppingToken);
                    },
                    stoppingToken);
                await signal.WaitAsync(_options.SweepInterval, stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                break;
            }
            catch (Exception e)
            {
                LogLoopFailed(e);
                await Task.Delay(_options.SweepInterval, stoppingToken).ContinueWith(_ => { }, TaskScheduler.Default);
            }
        }
        await Task.WhenAll(running);
    }

    private async Task RunOneAsync(Run run, SemaphoreSlim slots, CancellationToken stoppingToken)
    {
        await Task.Yield();
        using var runCts = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
        using var heartbeatCts = new CancellationTokenSource();
        try
        {
            using (cancellations.Register(run.Id, runCts))
            {
                var heartbeat = HeartbeatAsync(run.Id, runCts, heartbeatCts.Token);
                try
                {
                    await executor.ExecuteAsync(run, runCts.Token);
                }
                finally
                {
                    await heartbeatCts.CancelAsync();
                    await heartbeat;
                }
            }
        }
        catch (Exception e)
        {
            LogRunCrashed(e, run.Id);
        }
        finally
        {
            slots.Release();
            signal.Notify();
        }
    }

    /// <summary>Renews the lease every third of its length; cancels the run when it was asked to cancel or the lease was lost.</summary>
    private async Task HeartbeatAsync(string runId, CancellationTokenSource runCts, CancellationToken cancellationToken)
    {
        var interval = _options.Lease / 3;
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(interval, cancellationToken);
                var status = await runs.RenewLeaseAsync(runId, _nodeId, time.GetUtcNow() + _options.Lease, cancellationToken);
                if (status is null or RunStatus.Cancelling)
                {
                    await runCts.CancelAsync();
                }
            }
            catch (OperationCanceledException)
            {
                return;
            }
            catch (Exception e)
            {
                LogHeartbeatFailed(e, runId);
            }
        }
    }

    private async Task SweepAsync(CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        foreach (var run in await runs.FindExpiredAsync(now, cancellationToken))
        {
            if (await commands.ExpireAsync(run, cancellationToken) is not null)
            {
                LogExpired(run.Id);
            }
        }
        foreach (var run in await runs.FindLapsedAsync(now, cancellationToken))
        {
            if (cancellations.IsLocal(run.Id))
            {
                continue;
            }
            if (await commands.FailLapsedAsync(run, cancellationToken) is not null)
            {
                LogLapsed(run.Id);
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Run {RunId} claimed by {NodeId}")]
    private partial void LogClaimed(string runId, string nodeId);

    [LoggerMessage(Level = LogLevel.Information, Message = "Run {RunId} expired waiting for tool outputs")]
    private partial void LogExpired(string runId);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Run {RunId} failed: the lease of its node lapsed")]
    private partial void LogLapsed(string runId);

    [LoggerMessage(Level = LogLevel.Error, Message = "The run worker loop failed; retrying")]
    private partial void LogLoopFailed(Exception exception);

    [LoggerMessage(Level = LogLevel.Error, Message = "Run {RunId} crashed its executor")]
    private partial void LogRunCrashed(Exception exception, string runId);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Heartbeat of run {RunId} failed")]
    private partial void LogHeartbeatFailed(Exception exception, string runId);
}
