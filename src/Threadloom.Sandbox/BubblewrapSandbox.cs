using System.Collections.Concurrent;
using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Threadloom.Core.Tools.CodeInterpreter;
using Threadloom.Sandbox.Files;
using Threadloom.Sandbox.Kernel;

namespace Threadloom.Sandbox;

/// <summary>
/// The code-interpreter sandbox: one long-lived Python kernel per session, inside bubblewrap, with a warm pool.
/// </summary>
/// <remarks>Design notes: a bwrap mount cannot change after start, so each pooled kernel is started on its own fresh,
/// empty working folder and host uid; a new session adopts both. A kernel that dies, times out or is cancelled is
/// killed with its whole pid namespace and replaced lazily on the session's next execution, which is then told that
/// variables were lost. Nothing here ever runs code outside bubblewrap (issue #5).
/// <para>Sessions live in this process only (issue #12 §3): a thread's session stays on the node that ran it. Each
/// request names the run that, as the database records it, last ran code on the thread. A session created for a
/// thread that ran code before (its node is gone or restarted), or one whose last run is neither that run nor the
/// current one (the thread's code ran on another node since), starts fresh, and the execution's output begins with
/// <see cref="SessionResetNotice"/>. The thread's files are placed again by every execution anyway.</para></remarks>
public sealed partial class BubblewrapSandbox : ICodeSandbox, IAsyncDisposable
{
    /// <summary>
    /// The first line of the output of an execution that found the thread's earlier session gone (issue #12 §3): the
    /// node that held it is gone or restarted, or another node ran the thread's code since.
    /// </summary>
    public const string SessionResetNotice =
        "[The code interpreter session of this thread was reset: it ran on a server that is gone or restarted, or the thread's "
        + "code ran elsewhere since. Variables, imports and files written by earlier executions are lost; the thread's files "
        + "were placed in /mnt/data again.]";

    private readonly CodeInterpreterOptions _options;
    private readonly ILogger<BubblewrapSandbox> _logger;
    private readonly TimeProvider _time;
    private readonly SandboxLayout _layout;
    private readonly ProcessLauncher _launcher = new();
    private readonly OutputCollector _collector;
    private readonly Lock _sync = new();
    private readonly Dictionary<string, Session> _sessions = new(StringComparer.Ordinal);
    private readonly ConcurrentQueue<SandboxKernel> _pool = new();
    private readonly HashSet<int> _usedUids = [];
    private readonly CancellationTokenSource _disposing = new();
    private int _nextUid;
    private readonly SemaphoreSlim _fillGate = new(1, 1);
    private bool _prepared;
    private bool _disposed;

    public BubblewrapSandbox(IOptions<CodeInterpreterOptions> options, ILogger<BubblewrapSandbox> logger, TimeProvider time)
    {
        _options = options.Value;
        _logger = logger;
        _time = time;
        _layout = new SandboxLayout(_options.WorkRoot);
        _collector = new OutputCollector(_options);
    }

    /// <summary>Kernels started and waiting in the warm pool.</summary>
    public int PooledKernelCount => _pool.Count;

    /// <summary>Host process ids of the running kernels (the outer bwrap of each); used by the benchmark.</summary>
    public IReadOnlyList<int> GetKernelProcessIds()
    {
        lock (_sync)
        {
            return [.. _sessions.Values.Select(s => s.Kernel).Concat(_pool).OfType<SandboxKernel>()
                .Where(k => !k.HasExited).Select(k => k.ProcessId)];
        }
    }

    public async Task<SandboxHealth> CheckAsync(CancellationToken cancellationToken)
    {
        if (!_options.Enabled)
        {
            return new SandboxHealth(false, "The code interpreter is disabled (CodeInterpreter:Enabled=false).");
        }
        if (!OperatingSystem.IsLinux())
        {
            return new SandboxHealth(false, "The bubblewrap sandbox needs Linux.");
        }
        foreach (var (name, path) in new[] { ("bubblewrap", _options.BubblewrapPath), ("prlimit", _options.PrlimitPath),
            ("setpriv", _options.SetprivPath), ("python", _options.PythonPath) })
        {
            if (!File.Exists(path))
            {
                return new SandboxHealth(false, $"The {name} executable was not found at {path}.");
            }
        }
        int uid;
        SessionFolder folder;
        try
        {
            EnsurePrepared();
            uid = AllocateUid();
            try
            {
                folder = SessionFolder.Create(_layout, uid);
            }
            catch
            {
                FreeUid(uid);
                throw;
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidOperationException or SandboxUnavailableException)
        {
            return new SandboxHealth(false, $"The sandbox work folder {_layout.Root} cannot be prepared: {e.Message}");
        }
        try
        {
            var info = BubblewrapCommand.Create(_options, _layout, folder, ["-c", "pass"]);
            using var process = await _launcher.StartAsync(info);
            process.StandardInput.Close();
            var stderr = process.StandardError.ReadToEndAsync(cancellationToken);
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(_options.StartTimeout);
            try
            {
                await process.WaitForExitAsync(timeout.Token);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                process.Kill(entireProcessTree: true);
                return new SandboxHealth(false, "Python did not start inside bubblewrap in time.");
            }
            var error = (await stderr).Trim();
            return process.ExitCode == 0
                ? new SandboxHealth(true, null)
                : new SandboxHealth(false, $"Python could not run inside bubblewrap (exit code {process.ExitCode}): {error}. "
                    + "The sandbox needs unprivileged user namespaces and a work folder that other users can traverse.");
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            return new SandboxHealth(false, $"The sandbox command could not be started: {e.Message}");
        }
        finally
        {
            DeleteFolder(folder);
            FreeUid(uid);
        }
    }

    public async Task<CodeExecutionResult> ExecuteAsync(CodeExecutionRequest request, CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var started = Stopwatch.GetTimestamp();
        CodeExecutionResult result;
        if (!_options.Enabled)
        {
            result = Failure("The code interpreter is disabled on this server.", null, started);
        }
        else
        {
            result = await ExecuteInSessionAsync(request, started, cancellationToken);
        }
        if (_logger.IsEnabled(LogLevel.Information))
        {
            var codeHash = HashCode(request.Code);
            var durationMs = (long)result.Duration.TotalMilliseconds;
            LogExecution(request.Audit.ProjectId, request.Audit.ThreadId, request.Audit.RunId ?? "-", codeHash, durationMs, 
                result.Failed ? "failed" : "ok", result.LimitHit ?? "none");
        }
        LogCode(request.Audit.ThreadId, request.Code);
        return result;
    }

    public async Task EndSessionAsync(string sessionKey, CancellationToken cancellationToken)
    {
        Session? session;
        lock (_sync)
        {
            if (!_sessions.Remove(sessionKey, out session))
            {
                return;
            }
        }
        await EndAsync(session, cancellationToken);
    }

    /// <summary>Ends sessions unused for longer than the idle timeout.</summary>
    public async Task ReapIdleSessionsAsync(CancellationToken cancellationToken)
    {
        var cutoff = _time.GetUtcNow() - _options.IdleTimeout;
        List<Session> idle;
        lock (_sync)
        {
            idle = [.. _sessions.Values.Where(s => s.LastUsed < cutoff && s.Gate.CurrentCount == 1)];
            foreach (var session in idle)
            {
                _sessions.Remove(session.Key);
            }
        }
        foreach (var session in idle)
        {
            LogSessionReaped(session.Key);
            await EndAsync(session, cancellationToken);
        }
    }

    /// <summary>Starts kernels until the warm pool holds <see cref="CodeInterpreterOptions.WarmPoolSize"/>.</summary>
    public async Task FillPoolAsync(CancellationToken cancellationToken)
    {
        if (!_options.Enabled || _options.WarmPoolSize == 0)
        {
            return;
        }
        await _fillGate.WaitAsync(cancellationToken);
        try
        {
            EnsurePrepared();
            while (_pool.Count < _options.WarmPoolSize && !_disposed)
            {
                var uid = AllocateUid();
                SessionFolder? folder = null;
                try
                {
                    folder = SessionFolder.Create(_layout, uid);
                    var kernel = await SandboxKernel.StartAsync(_launcher, _options, _layout, folder, cancellationToken);
                    if (_disposed)
                    {
                        await DiscardPooledAsync(kernel);
                        return;
                    }
                    _pool.Enqueue(kernel);
                }
                catch
                {
                    if (folder is not null)
                    {
                        DeleteFolder(folder);
                    }
                    FreeUid(uid);
                    throw;
                }
            }
        }
        finally
        {
            _fillGate.Release();
        }
    }

    private async Task<CodeExecutionResult> ExecuteInSessionAsync(CodeExecutionRequest request, long started, CancellationToken cancellationToken)
    {
        Session session;
        bool created;
        var stale = false;
        while (true)
        {
            try
            {
                session = GetOrCreateSession(request.SessionKey, out created);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidOperationException or SandboxUnavailableException)
            {
                return Failure($"The code interpreter sandbox is unavailable: {e.Message}", null, started);
            }
            await session.Gate.WaitAsync(cancellationToken);
            if (session.Ended)
            {
                // The session was reaped or ended while this call waited; use a fresh one.
                session.Gate.Release();
                continue;
            }
            if (!created && IsStale(session, request))
            {
                // Another node (or another life of this one) ran this thread's code since: this state is not the thread's.
                LogSessionStale(session.Key, session.LastRunId ?? "-", request.PreviousRunId ?? "-");
                lock (_sync)
                {
                    if (_sessions.TryGetValue(session.Key, out var mapped) && ReferenceEquals(mapped, session))
                    {
                        _sessions.Remove(session.Key);
                    }
                }
                session.Gate.Release();
                await EndAsync(session, cancellationToken);
                stale = true;
                continue;
            }
            break;
        }
        var reset = stale || (created && request.PreviousRunId is not null);
        try
        {
            session.LastUsed = _time.GetUtcNow();
            var notice = new StringBuilder();
            if (reset)
            {
                notice.AppendLine(SessionResetNotice);
            }
            if (session.Kernel is { HasExited: true } dead)
            {
                notice.Append("[The previous kernel had exited (exit code ").Append(dead.ExitCode)
                    .AppendLine(") and was restarted; variables were lost.]");
                await DisposeKernelAsync(dead);
                session.Kernel = null;
            }
            else if (session.Kernel is { HasUnexpectedOutput: true } chatty)
            {
                // Something in the sandbox wrote a reply nobody asked for: the session can no longer be trusted to be in step.
                LogProtocolViolation(session.Key, chatty.ProtocolViolation ?? "output between executions");
                notice.AppendLine("[The previous kernel wrote to the protocol channel between executions and was restarted; variables were lost.]");
                await ReplaceKernelAsync(session);
            }
            if (session.Kernel is null)
            {
                try
                {
                    await WaitForUidToDrainAsync(session.Folder.Uid, cancellationToken);
                    session.Kernel = await SandboxKernel.StartAsync(_launcher, _options, _layout, session.Folder, cancellationToken);
                    LogKernelStarted(session.Key);
                }
                catch (SandboxUnavailableException e)
                {
                    LogKernelStartFailed(session.Key, e.Message);
                    return Failure($"The code interpreter sandbox could not start: {e.Message}", null, started);
                }
            }
            try
            {
                foreach (var file in request.Files)
                {
                    await session.Folder.PlaceAsync(file, cancellationToken);
                }
            }
            catch (Exception e) when (e is ArgumentException or IOException)
            {
                return Failure(notice + e.Message, null, started) with { SessionReset = reset };
            }
            var result = await RunAsync(session, session.Kernel, request, notice, started, cancellationToken);
            // Only an execution that returned is recorded in a step; a cancelled one (killed) is not, so it is not counted.
            session.LastRunId = request.Audit.RunId;
            return result with { SessionReset = reset };
        }
        finally
        {
            session.LastUsed = _time.GetUtcNow();
            session.Gate.Release();
        }
    }

    private async Task<CodeExecutionResult> RunAsync(Session session, SandboxKernel kernel, CodeExecutionRequest request, StringBuilder notice,
        long started, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(_options.ExecutionTimeout);
        KernelReply? reply;
        string? limit = null;
        var failed = true;
        var logs = notice;
        try
        {
            reply = await kernel.ExecuteAsync(request.Code, _options, timeout.Token);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            await ReplaceKernelAsync(session);
            logs.Append("Execution timed out after ").Append(_options.ExecutionTimeout.TotalSeconds)
                .Append(" seconds. The kernel was stopped and will be restarted; variables were lost.");
            return await FinishAsync(session, request, logs, true, SandboxLimits.Timeout, started, cancellationToken);
        }
        catch (OperationCanceledException)
        {
            await ReplaceKernelAsync(session);
            throw;
        }
        catch (KernelProtocolException e)
        {
            LogProtocolViolation(session.Key, e.Message);
            await ReplaceKernelAsync(session);
            logs.Append("[The sandbox's reply was rejected (").Append(e.Message)
                .Append("). The kernel was restarted; variables were lost.]");
            return await FinishAsync(session, request, logs, true, SandboxLimits.Protocol, started, cancellationToken);
        }

        if (reply is null)
        {
            await kernel.WaitForExitAsync();
            var exitCode = kernel.ExitCode;
            LogKernelDied(session.Key, exitCode ?? -1, kernel.Diagnostics);
            await ReplaceKernelAsync(session);
            logs.Append("The kernel died (exit code ").Append(exitCode?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "unknown")
                .Append(") and was restarted; variables were lost.");
            return await FinishAsync(session, request, logs, true, null, started, cancellationToken);
        }

        // Processes the code started end with the execution (host-enforced, the kernel is not asked).
        var stopped = kernel.KillStrays();
        var (text, cut) = KernelLogs.Bound(reply.Logs, _options.MaxLogBytes);
        logs.Append(text);
        failed = reply.Failed;
        limit = reply.Limit is { } claimed && SandboxLimits.All.Contains(claimed) ? claimed : null;
        var dropped = Math.Max(0, reply.Dropped) + cut;
        if (dropped > 0)
        {
            AppendLine(logs, $"[output truncated: {dropped} more bytes were not shown]");
            limit ??= SandboxLimits.Output;
        }
        if (stopped > 0)
        {
            AppendLine(logs, $"[{stopped} background process(es) the code left running were stopped: processes end with their execution.]");
        }
        if (reply.Fatal)
        {
            await kernel.WaitForExitAsync();
            await ReplaceKernelAsync(session);
            AppendLine(logs, "[The sandbox was restarted after this limit; variables were lost.]");
        }
        else if (kernel.HasUnexpectedOutput)
        {
            LogProtocolViolation(session.Key, kernel.ProtocolViolation ?? "extra output after the reply");
            await ReplaceKernelAsync(session);
            AppendLine(logs, "[The kernel wrote more than one reply; it was restarted; variables were lost.]");
            limit ??= SandboxLimits.Protocol;
        }
        return await FinishAsync(session, request, logs, failed, limit, started, cancellationToken);
    }

    /// <summary>Collects the outputs the host finds in the session folder, appends the limit notices and builds the result.</summary>
    private async Task<CodeExecutionResult> FinishAsync(Session session, CodeExecutionRequest request, StringBuilder logs, bool failed,
        string? limit, long started, CancellationToken cancellationToken)
    {
        OutputCollector.Collected collected;
        try
        {
            collected = await _collector.CollectAsync(session.Folder, request.Outputs, cancellationToken);
        }
        catch (IOException e)
        {
            // The folder is the sandbox's to mangle; a failure here fails only this execution's outputs.
            LogOutputsFailed(session.Key, e.Message);
            collected = new OutputCollector.Collected([], [], ["[The files this execution wrote could not be collected.]"]);
        }
        foreach (var line in collected.Notices)
        {
            AppendLine(logs, line);
        }
        if (collected.LimitHit)
        {
            limit ??= SandboxLimits.OutputFiles;
        }
        return new CodeExecutionResult(logs.ToString(), failed, collected.Images, collected.Files, Stopwatch.GetElapsedTime(started), limit);
    }

    private static void AppendLine(StringBuilder logs, string line)
    {
        if (logs.Length > 0 && logs[^1] != '\n')
        {
            logs.Append('\n');
        }
        logs.Append(line);
    }

    private async Task ReplaceKernelAsync(Session session)
    {
        if (session.Kernel is { } kernel)
        {
            session.Kernel = null;
            await DisposeKernelAsync(kernel);
        }
    }

    /// <summary>
    /// Whether the session missed executions of its thread: it last ran code for a run that is neither the one asking
    /// nor the run that, as the database records it, last ran code on the thread (that run ran on another node).
    /// </summary>
    internal static bool IsStale(string? sessionLastRunId, CodeExecutionRequest request) =>
        sessionLastRunId is not null && request.PreviousRunId is not null
        && !string.Equals(sessionLastRunId, request.PreviousRunId, StringComparison.Ordinal)
        && !string.Equals(sessionLastRunId, request.Audit.RunId, StringComparison.Ordinal);

    private static bool IsStale(Session session, CodeExecutionRequest request) => IsStale(session.LastRunId, request);

    private Session GetOrCreateSession(string key, out bool created)
    {
        EnsurePrepared();
        Session? evicted = null;
        Session session;
        created = false;
        lock (_sync)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_sessions.TryGetValue(key, out var existing))
            {
                return existing;
            }
            created = true;
            if (_sessions.Count >= _options.MaxSessions)
            {
                evicted = _sessions.Values.Where(s => s.Gate.CurrentCount == 1).MinBy(s => s.LastUsed);
                if (evicted is not null)
                {
                    _sessions.Remove(evicted.Key);
                }
            }
            SandboxKernel? pooled = null;
            while (_pool.TryDequeue(out var candidate))
            {
                if (!candidate.HasExited)
                {
                    pooled = candidate;
                    break;
                }
                _ = DiscardPooledAsync(candidate);
            }
            if (pooled is not null)
            {
                session = new Session(key, pooled.Folder, _time.GetUtcNow()) { Kernel = pooled };
            }
            else
            {
                var uid = AllocateUidLocked();
                try
                {
                    session = new Session(key, SessionFolder.Create(_layout, uid), _time.GetUtcNow());
                }
                catch
                {
                    _usedUids.Remove(uid);
                    throw;
                }
            }
            _sessions[key] = session;
        }
        if (evicted is not null)
        {
            _ = EndAsync(evicted, CancellationToken.None);
        }
        RefillInBackground();
        return session;
    }

    private void RefillInBackground()
    {
        if (_options.WarmPoolSize == 0 || _disposed)
        {
            return;
        }
        _ = Task.Run(async () =>
        {
            try
            {
                await FillPoolAsync(_disposing.Token);
            }
            catch (OperationCanceledException)
            {
            }
            catch (Exception e)
            {
                LogPoolRefillFailed(e.Message);
            }
        });
    }

    private async Task EndAsync(Session session, CancellationToken cancellationToken)
    {
        // Kill first so that a running execution returns at once, then wait for it to release the session.
        session.Kernel?.Kill();
        await session.Gate.WaitAsync(cancellationToken);
        try
        {
            session.Ended = true;
            await ReplaceKernelAsync(session);
            DeleteFolder(session.Folder);
            FreeUid(session.Folder.Uid);
        }
        finally
        {
            session.Gate.Release();
        }
    }

    /// <summary>
    /// Deletes a session folder whose kernel is dead. Never throws: whatever the sandbox planted in it, a failure is
    /// logged and the folder is left for the next start's clean-up, so it cannot break a thread deletion or a shutdown.
    /// </summary>
    private void DeleteFolder(SessionFolder folder)
    {
        try
        {
            if (!folder.Delete())
            {
                LogFolderLeft(folder.Root);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException)
        {
            LogFolderLeft(folder.Root + ": " + e.Message);
        }
    }

    private static async Task DisposeKernelAsync(SandboxKernel kernel)
    {
        await kernel.DisposeAsync();
    }

    private async Task DiscardPooledAsync(SandboxKernel kernel)
    {
        await kernel.DisposeAsync();
        DeleteFolder(kernel.Folder);
        FreeUid(kernel.HostUid);
    }

    private void EnsurePrepared()
    {
        lock (_sync)
        {
            if (_prepared)
            {
                return;
            }
            foreach (var left in _layout.Prepare())
            {
                LogFolderLeft(left);
            }
            _prepared = true;
        }
    }

    /// <summary>
    /// A replacement kernel reuses its session's uid (the session folder belongs to it). After a fork bomb the killed
    /// processes take a moment to be torn down and reaped and still count towards the uid's process limit, so while
    /// more than half of that limit is taken, wait (bounded) rather than start a kernel that cannot fork. A few
    /// leftover tasks (a zombie awaiting reaping) do not delay a start.
    /// </summary>
    private async Task WaitForUidToDrainAsync(int uid, CancellationToken cancellationToken)
    {
        // Real time, not the injected clock: this waits for the kernel, whatever time a test pretends it is.
        var waited = System.Diagnostics.Stopwatch.StartNew();
        while (Native.CountTasks(uid) > _options.MaxProcesses / 2 && waited.Elapsed < TimeSpan.FromSeconds(10))
        {
            await Task.Delay(TimeSpan.FromMilliseconds(20), cancellationToken);
        }
    }

    private int AllocateUid()
    {
        lock (_sync)
        {
            return AllocateUidLocked();
        }
    }

    private int AllocateUidLocked()
    {
        for (var i = 0; i < _options.HostUidCount; i++)
        {
            var uid = _options.HostUidBase + (_nextUid++ % _options.HostUidCount);
            if (_usedUids.Add(uid))
            {
                return uid;
            }
        }
        throw new SandboxUnavailableException("All sandbox host uids are in use.");
    }

    private void FreeUid(int uid)
    {
        lock (_sync)
        {
            _usedUids.Remove(uid);
        }
    }

    private static CodeExecutionResult Failure(string logs, string? limit, long started) =>
        new(logs, true, [], [], Stopwatch.GetElapsedTime(started), limit);

    private static string HashCode(string code) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(code)));

    public async ValueTask DisposeAsync()
    {
        List<Session> sessions;
        lock (_sync)
        {
            if (_disposed)
            {
                return;
            }
            _disposed = true;
            sessions = [.. _sessions.Values];
            _sessions.Clear();
        }
        await _disposing.CancelAsync();
        foreach (var session in sessions)
        {
            session.Kernel?.Kill();
        }
        foreach (var session in sessions)
        {
            await EndAsync(session, CancellationToken.None);
        }
        while (_pool.TryDequeue(out var kernel))
        {
            await DiscardPooledAsync(kernel);
        }
        _launcher.Dispose();
        _disposing.Dispose();
    }

    [LoggerMessage(Level = LogLevel.Information,
        Message = "Code execution: project {ProjectId}, thread {ThreadId}, run {RunId}, code sha256 {CodeSha256}, {DurationMs} ms, {Outcome}, limit {LimitHit}")]
    private partial void LogExecution(string projectId, string threadId, string runId, string codeSha256, long durationMs, string outcome, string limitHit);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Code executed for thread {ThreadId}: {Code}")]
    private partial void LogCode(string threadId, string code);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Sandbox kernel started for session {SessionKey}")]
    private partial void LogKernelStarted(string sessionKey);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Sandbox kernel for session {SessionKey} could not start: {Reason}")]
    private partial void LogKernelStartFailed(string sessionKey, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Sandbox kernel for session {SessionKey} died with exit code {ExitCode}: {Diagnostics}")]
    private partial void LogKernelDied(string sessionKey, int exitCode, string diagnostics);

    [LoggerMessage(Level = LogLevel.Information, Message = "Sandbox session {SessionKey} was idle and has been ended")]
    private partial void LogSessionReaped(string sessionKey);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Sandbox session folder could not be fully deleted and was left for the next start: {Folder}")]
    private partial void LogFolderLeft(string folder);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Sandbox outputs of session {SessionKey} could not be collected: {Reason}")]
    private partial void LogOutputsFailed(string sessionKey, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Sandbox kernel for session {SessionKey} broke the protocol and was replaced: {Reason}")]
    private partial void LogProtocolViolation(string sessionKey, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "Sandbox session {SessionKey} was ended: it last ran run {LastRunId}, but the thread's code last ran in run {PreviousRunId} elsewhere")]
    private partial void LogSessionStale(string sessionKey, string lastRunId, string previousRunId);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Sandbox warm pool refill failed: {Reason}")]
    private partial void LogPoolRefillFailed(string reason);

    private sealed class Session(string key, SessionFolder folder, DateTimeOffset created)
    {
        public string Key { get; } = key;
        public SessionFolder Folder { get; } = folder;
        public SemaphoreSlim Gate { get; } = new(1, 1);
        public SandboxKernel? Kernel { get; set; }
        public DateTimeOffset LastUsed { get; set; } = created;
        public bool Ended { get; set; }

        /// <summary>The run of the last execution in this session (null before the first).</summary>
        public string? LastRunId { get; set; }
    }
}
