namespace Threadloom.Core.Tools.CodeInterpreter;

/// <summary>
/// Runs model-written Python in an isolated, stateful session (one per thread), as the
/// <c>code_interpreter</c> tool does. Implementations must never run code unsandboxed.
/// </summary>
public interface ICodeSandbox
{
    /// <summary>Checks that the sandbox can start a Python process; the result says why when it cannot.</summary>
    Task<SandboxHealth> CheckAsync(CancellationToken cancellationToken);

    /// <summary>
    /// Runs <see cref="CodeExecutionRequest.Code"/> in the session named by <see cref="CodeExecutionRequest.SessionKey"/>,
    /// creating the session when needed. Executions on one session are serialised. Cancelling the token kills the
    /// running execution (the session's variables are lost) and throws <see cref="OperationCanceledException"/>.
    /// Failures of the user's code, limits and kernel crashes are reported in the result, not thrown.
    /// </summary>
    Task<CodeExecutionResult> ExecuteAsync(CodeExecutionRequest request, CancellationToken cancellationToken);

    /// <summary>Stops the session's kernel and deletes its working folder (for example when the thread is deleted).</summary>
    Task EndSessionAsync(string sessionKey, CancellationToken cancellationToken);
}

/// <summary>Whether the sandbox is usable, and if not, why.</summary>
public sealed record SandboxHealth(bool IsHealthy, string? Reason);

/// <summary>One execution of code in a session.</summary>
/// <param name="SessionKey">The session, normally the thread id.</param>
/// <param name="Code">Python source.</param>
/// <param name="Files">Files placed at <c>/mnt/data/&lt;FileName&gt;</c> before the code runs (skipped when already there with the same content).</param>
/// <param name="Audit">Who asked, for the audit log.</param>
/// <param name="Outputs">Where produced files and figures are streamed to; null: they are counted and reported, not stored.</param>
/// <param name="PreviousRunId">The run that last ran code on this session key as the database records it, on any node
/// (null: none). A session that did not run it (or the current run) last is out of date and starts fresh, and so does a
/// new session when this is set; the result then says <see cref="CodeExecutionResult.SessionReset"/>.</param>
public sealed record CodeExecutionRequest(string SessionKey, string Code, IReadOnlyList<SandboxInputFile> Files, ExecutionAudit Audit,
    ISandboxOutputSink? Outputs = null, string? PreviousRunId = null);

/// <summary>
/// Stores what an execution produced. The sandbox decides which files are outputs (from its own scan of the session
/// folder, not from anything the sandboxed code says), applies the limits, and streams each one here.
/// </summary>
public interface ISandboxOutputSink
{
    /// <summary>
    /// Stores one produced file and returns its file id. <paramref name="content"/> yields at most
    /// <paramref name="maxBytes"/> bytes and throws <see cref="IOException"/> if the file grew past that while it was read.
    /// </summary>
    Task<string> StoreAsync(SandboxOutputKind kind, string fileName, Stream content, long maxBytes, CancellationToken cancellationToken);
}

/// <summary>What a produced file is: a figure shown to the user, or a file written under <c>/mnt/data</c>.</summary>
public enum SandboxOutputKind
{
    Image,
    File,
}

/// <summary>A file to place in the session's <c>/mnt/data</c>; <paramref name="FileName"/> must be a single path segment.</summary>
public sealed record SandboxInputFile(string FileName, Func<CancellationToken, Task<Stream>> OpenAsync);

/// <summary>Identifies an execution in the audit log.</summary>
public sealed record ExecutionAudit(string ProjectId, string ThreadId, string? RunId);

/// <summary>The outcome of one execution.</summary>
/// <param name="Logs">stdout, stderr and any traceback, in order; truncated with a notice past the configured size; then
/// one line per output limit that was hit.</param>
/// <param name="Failed">True when the code raised, a limit was hit or the kernel died.</param>
/// <param name="Images">Matplotlib figures open at the end of the execution, stored through the request's sink.</param>
/// <param name="Files">Files under <c>/mnt/data</c> created or changed by this execution, stored through the sink.</param>
/// <param name="Duration">Wall-clock time of the execution, including file placement.</param>
/// <param name="LimitHit">One of <see cref="SandboxLimits"/>, or null.</param>
public sealed record CodeExecutionResult(
    string Logs,
    bool Failed,
    IReadOnlyList<SandboxOutputFile> Images,
    IReadOnlyList<SandboxOutputFile> Files,
    TimeSpan Duration,
    string? LimitHit)
{
    /// <summary>The thread had run code before, but not in this session (its node is gone or restarted, or the code
    /// ran on another node since): the session started fresh and <see cref="Logs"/> begin with a notice saying so.</summary>
    public bool SessionReset { get; init; }
}

/// <summary>
/// A file produced by an execution: <paramref name="FileName"/> is relative to <c>/mnt/data</c> (printable UTF-8, one
/// line; other names are refused), <paramref name="FileId"/> is what the sink returned (null without a sink).
/// </summary>
public sealed record SandboxOutputFile(string FileName, string? FileId, long Length);

/// <summary>Values of <see cref="CodeExecutionResult.LimitHit"/>.</summary>
public static class SandboxLimits
{
    public const string Timeout = "timeout";
    public const string Memory = "memory";
    public const string Cpu = "cpu";
    public const string Output = "output";
    public const string FileSize = "file_size";
    public const string Processes = "processes";
    public const string OutputFiles = "output_files";
    public const string Protocol = "protocol";

    /// <summary>Every value, for checking a limit name that came from the sandbox.</summary>
    public static IReadOnlySet<string> All { get; } = new HashSet<string>(StringComparer.Ordinal)
    {
        Timeout, Memory, Cpu, Output, FileSize, Processes, OutputFiles, Protocol,
    };
}
