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
/// instead of retrying it: tool calls aren't idempotent. A cancel reaches a run through <see cref="IRunCancellation"/>
/// on any node at once, and through the heartbeat (which reads the status) as the fallback.
/// <para>Restarts and shutdowns (issue #9 §5): leases name the <see cref="LeaseHolder"/>, a node id that survives
/// restarts plus this start's instance id. The first sweep ends the runs of earlier lives of this node at once,
/// instead of waiting up to <see cref="RunsOptions.Lease"/>. On shutdown, <see cref="StoppingAsync"/> runs before any
/// hosted service stops (so the sandbox and the HTTP listener still serve the runs): it stops claiming, waits up to
/// <see cref="RunsOptions.ShutdownGracePeriod"/> for in-flight runs, then cancels the rest, which the executor fails
/// with <see cref="RunExecutor.ShutdownMessage"/>. Queued runs stay queued for the next node or life.</para>
/// </remarks>
public sealed partial class RunWorker(
    IRunStore runs,
    RunLifecycle lifecycle,
    RunExecutor executor,
    RunCommands commands,
    IWorkSignal signal,
    IRunCancellation cancellations,
    LeaseHolder holder,
    IOptions<RunsOptions> options,
    TimeProvider time,
    ILogger<RunWorker> logger) : BackgroundService, IHostedLifecycleService
{
    /// <summary>The <c>last_error.message</c> of a run interrupted by a crash of this node, found after its restart.</summary>
    public const string RestartMessage = "The run was interrupted because the server executing it restarted.";

    /// <summary>
    /// The most runs one claim takes. Claiming several at once saves a statement per run under load, and a claim that
    /// returns fewer than it asked for ends the fill (no empty claim after the last run); the cap keeps one node from
    /// taking a whole burst that idle nodes could share.
    /// </summary>
    internal const int ClaimBatch = 8;

    private readonly string _nodeId = holder.Value;
    private readonly RunsOptions _options = options.Value;

    /// <summary>Cancelled when the node stops claiming (drain starts).</summary>
    private readonly CancellationTokenSource _draining = new();

    /// <summary>Cancelled when in-flight runs must stop: the grace period ended.</summary>
    private readonly CancellationTokenSource _aborting = new();

    private bool _recovered;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!_options.Enabled)
        {
            return;
        }
        using var loopCts = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken, _draining.Token);
        var loopToken = loopCts.Token;
        using var slots = new SemaphoreSlim(_options.MaxConcurrentRuns, _options.MaxConcurrentRuns);
        // A run's CPU-bound work (prompt building, token counting of long threads, truncation) runs on these niced
        // threads with its awaits' continuations, never on the pool that serves requests (issue #9 §2). One thread per
        // slot, since SQLite's calls block their thread while they wait for the write lock.
        using var threads = new DedicatedThreadScheduler(_options.MaxConcurrentRuns, "runs");
        var running = new List<Task>();
        var lastSweep = Stopwatch.StartNew();
        var first = true;
        while (!loopToken.IsCancellationRequested)
        {
            try
            {
                if (first || lastSweep.Elapsed >= _options.SweepInterval)
                {
                    first = false;
                    lastSweep.Restart();
                    await SweepAsync(loopToken);
                }
                // The claim itself is not cancelled: a claim committed by a cancelled call would leave a started run with no executor until its lease lapses.
                await WorkSlots.FillAsync(slots, running, ClaimBatch,
                    max => lifecycle.ClaimAsync(_nodeId, max, _options.Lease, CancellationToken.None),
                    run =>
                    {
                        LogClaimed(run.Run.Id, _nodeId);
                        return threads.Run(async () =>
                        {
                            await RunOneAsync(run, slots, _aborting.Token);
                            return true;
                        });
                    },
                    // Only this loop takes slots, so a free slot is taken at once: not cancelling keeps a claimed run from being dropped.
                    CancellationToken.None);
                await signal.WaitAsync(WorkQueue.Runs, _options.SweepInterval, loopToken);
            }
            catch (OperationCanceledException) when (loopToken.IsCancellationRequested)
            {
                break;
            }
            catch (Exception e)
            {
                LogLoopFailed(e);
                await Task.Delay(_options.SweepInterval, loopToken).ContinueWith(_ => { }, TaskScheduler.Default);
            }
        }
        // Stopped without a drain (the host did not call StoppingAsync): stop the runs now.
        if (!_draining.IsCancellationRequested)
        {
            await _aborting.CancelAsync();
        }
        await Task.WhenAll(running);
    }

    /// <summary>Drain: stop claiming, give in-flight runs the grace period, then cancel them and wait until they are failed.</summary>
    public async Task StoppingAsync(CancellationToken cancellationToken)
    {
        await _draining.CancelAsync();
        if (ExecuteTask is not { } loop)
        {
            return;
        }
        var inFlight = cancellations.Count;
        if (inFlight > 0)
        {
            LogDraining(inFlight, _options.ShutdownGracePeriod);
        }
        try
        {
            await loop.WaitAsync(_options.ShutdownGracePeriod, cancellationToken);
            return;
        }
        catch (TimeoutException)
        {
            LogGraceEnded(cancellations.Count);
        }
        catch (OperationCanceledException)
        {
            // The host's shutdown timeout ran out first.
        }
        await _aborting.CancelAsync();
        await loop.WaitAsync(cancellationToken).ContinueWith(_ => { }, TaskScheduler.Default);
    }

    public Task StartingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public override void Dispose()
    {
        _draining.Dispose();
        _aborting.Dispose();
        base.Dispose();
    }

    private async Task RunOneAsync(ClaimedRun claimed, SemaphoreSlim slots, CancellationToken abortToken)
    {
        var run = claimed.Run;
        using var runCts = CancellationTokenSource.CreateLinkedTokenSource(abortToken);
        using var heartbeatCts = new CancellationTokenSource();
        try
        {
            using (cancellations.Register(run.Id, runCts))
            {
                var heartbeat = HeartbeatAsync(run.Id, runCts, heartbeatCts.Token);
                try
                {
                    await executor.ExecuteAsync(claimed, runCts.Token);
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
            signal.WakeLocal(WorkQueue.Runs);
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
        if (!_recovered)
        {
            // Once per start: the runs of this node's earlier lives have no executor left. Retried until it succeeds.
            foreach (var run in await runs.RecoverPreviousLivesAsync(holder, cancellationToken))
            {
                if (await commands.FailInterruptedAsync(run, RestartMessage, cancellationToken) is not null)
                {
                    LogRecovered(run.Id);
                }
            }
            _recovered = true;
        }
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

    [LoggerMessage(Level = LogLevel.Warning, Message = "Run {RunId} failed: it was in progress when this node's previous life ended")]
    private partial void LogRecovered(string runId);

    [LoggerMessage(Level = LogLevel.Information, Message = "Shutting down: no new runs are claimed; waiting up to {GracePeriod} for {Count} in-flight runs")]
    private partial void LogDraining(int count, TimeSpan gracePeriod);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Shutdown grace period ended; failing {Count} runs still in progress")]
    private partial void LogGraceEnded(int count);

    [LoggerMessage(Level = LogLevel.Error, Message = "The run worker loop failed; retrying")]
    private partial void LogLoopFailed(Exception exception);

    [LoggerMessage(Level = LogLevel.Error, Message = "Run {RunId} crashed its executor")]
    private partial void LogRunCrashed(Exception exception, string runId);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Heartbeat of run {RunId} failed")]
    private partial void LogHeartbeatFailed(Exception exception, string runId);
}
