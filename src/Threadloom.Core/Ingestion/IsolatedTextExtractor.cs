using System.Diagnostics;
using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Threadloom.Core.Ingestion;

/// <summary>
/// The server's <see cref="ITextExtractor"/> (issue #9 §2, ADR 0004): formats whose parsers a hostile file can blow up
/// (PDF, docx/xlsx/pptx, HTML) are parsed in a separate <c>threadloom extract-worker</c> process with a capped heap,
/// a CPU budget, a wall-clock deadline and a lower priority; plain text and Markdown are decoded in-process (one linear
/// pass, bounded by <see cref="IngestionOptions.MaxFileBytes"/> and <see cref="IngestionOptions.MaxExtractedChars"/>).
/// </summary>
/// <remarks>
/// Design notes: the worker gets the file on stdin and answers one JSON document on stdout, read with a cap; its
/// environment is cleared (no secrets reach a parser), and cancelling the job kills it. Whatever the worker does (dies
/// of its heap cap, spins, is killed, prints garbage), the outcome is a typed failure of this one file:
/// <c>invalid_file</c> for a budget, <c>server_error</c> (<see cref="WorkerCrashedException"/>, retried once by the
/// job worker) for a crash nobody explained.
/// </remarks>
public sealed partial class IsolatedTextExtractor(IOptions<IngestionOptions> options, ILogger<IsolatedTextExtractor> logger) : ITextExtractor
{
    private const int MaxStderrBytes = 16 * 1024;

    public async Task<ExtractionResult> ExtractAsync(string fileName, Stream content, CancellationToken cancellationToken)
    {
        var o = options.Value;
        var bytes = await TextExtractor.ReadCappedAsync(content, o.MaxFileBytes, cancellationToken);
        if (bytes is null)
        {
            return ExtractionResult.Failure(IngestionError.Invalid($"The file is larger than the {o.MaxFileBytes} bytes that can be indexed."));
        }
        var budget = ExtractionBudget.From(o);
        if (o.Isolation == ExtractionIsolation.InProcess || !TextExtractor.NeedsIsolation(fileName, bytes) || bytes.Length == 0)
        {
            return TextExtractor.Extract(fileName, bytes, budget);
        }
        return await ExtractInWorkerAsync(fileName, bytes, budget, o, cancellationToken);
    }

    private async Task<ExtractionResult> ExtractInWorkerAsync(string fileName, byte[] bytes, ExtractionBudget budget, IngestionOptions o, CancellationToken cancellationToken)
    {
        var extension = Path.GetExtension(fileName).ToLowerInvariant();
        var start = WorkerStartInfo(o);
        foreach (var argument in ExtractionWorkerProcess.Arguments(extension, budget, o.MaxFileBytes, o.MaxCpuTime))
        {
            start.ArgumentList.Add(argument);
        }
        using var process = new Process { StartInfo = start };
        process.Start();
        Interlocked.Increment(ref _started);

        // Wall clock: a worker that sleeps or blocks (no CPU spent) is killed too.
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(o.MaxCpuTime * 2 + TimeSpan.FromSeconds(5));
        await using var kill = deadline.Token.Register(() => Kill(process));

        var maxReply = (long)budget.MaxChars * 6 + 1024 * 1024;
        var stdout = ReadCappedAsync(process.StandardOutput.BaseStream, maxReply);
        var stderr = ReadCappedAsync(process.StandardError.BaseStream, MaxStderrBytes);
        try
        {
            await process.StandardInput.BaseStream.WriteAsync(bytes, deadline.Token);
            process.StandardInput.Close();
        }
        catch (Exception e) when (e is IOException or OperationCanceledException or ObjectDisposedException)
        {
            // The worker exited (or was killed) before reading everything: its exit code says why.
        }
        var (reply, replyTruncated) = await stdout;
        var (errors, _) = await stderr;
        await process.WaitForExitAsync(CancellationToken.None);
        cancellationToken.ThrowIfCancellationRequested();

        var exit = process.ExitCode;
        if (replyTruncated)
        {
            Kill(process);
            return ExtractionResult.Failure(IngestionError.Invalid(ExtractionBudgetException.Chars(budget.MaxChars).Message));
        }
        if (deadline.IsCancellationRequested)
        {
            return ExtractionResult.Failure(IngestionError.Invalid(
                $"Extracting the file took longer than the {(o.MaxCpuTime * 2 + TimeSpan.FromSeconds(5)).TotalSeconds:0} s allowed (Ingestion:MaxCpuTime)."));
        }
        switch (exit)
        {
            case ExtractionWorkerProcess.ExitOk:
                try
                {
                    return ExtractionWorkerProcess.ReadReply(reply);
                }
                catch (Exception e) when (e is FormatException or System.Text.Json.JsonException or InvalidOperationException or KeyNotFoundException or IndexOutOfRangeException)
                {
                    LogWorkerFailed(exit, "unreadable reply");
                    throw new WorkerCrashedException("The extraction worker's reply was unreadable.");
                }
            case ExtractionWorkerProcess.ExitMemory:
            case 134 or 139 when ErrorsMentionMemory(errors): // the runtime aborts on an OOM it cannot throw
                return ExtractionResult.Failure(IngestionError.Invalid(
                    $"Extracting the file needs more than the {o.WorkerMemoryBytes / (1024 * 1024)} MiB of memory allowed (Ingestion:WorkerMemoryBytes); it may be a compression bomb."));
            case ExtractionWorkerProcess.ExitCpu:
            case 128 + 24 or 128 + 9 when !cancellationToken.IsCancellationRequested: // SIGXCPU, or SIGKILL past the hard RLIMIT_CPU
                return ExtractionResult.Failure(IngestionError.Invalid(
                    $"Extracting the file took more than the {o.MaxCpuTime.TotalSeconds:0.#} s of CPU time allowed (Ingestion:MaxCpuTime)."));
            default:
                LogWorkerFailed(exit, System.Text.Encoding.UTF8.GetString(errors.Span));
                throw new WorkerCrashedException($"The extraction worker exited with code {exit}.");
        }
    }

    private static bool ErrorsMentionMemory(ReadOnlyMemory<byte> errors) =>
        System.Text.Encoding.UTF8.GetString(errors.Span).Contains("OutOfMemory", StringComparison.Ordinal);

    private static long _started;

    /// <summary>Worker processes started by this process so far (tests assert extraction really left the server).</summary>
    public static long WorkersStarted => Interlocked.Read(ref _started);

    private static ProcessStartInfo WorkerStartInfo(IngestionOptions o)
    {
        var path = o.WorkerPath is { Length: > 0 } configured ? configured : DefaultWorkerPath();
        var start = new ProcessStartInfo
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = Path.GetTempPath(),
        };
        if (path.EndsWith(".dll", StringComparison.OrdinalIgnoreCase))
        {
            start.FileName = DotnetHost();
            start.ArgumentList.Add(path);
        }
        else
        {
            start.FileName = path;
        }
        start.ArgumentList.Add(ExtractionWorkerProcess.Command);

        // A cleared environment: nothing of the server's (keys, connection strings) reaches a parser.
        start.Environment.Clear();
        start.Environment["PATH"] = "/usr/bin:/bin";
        start.Environment["DOTNET_ROOT"] = Environment.GetEnvironmentVariable("DOTNET_ROOT") ?? DotnetRoot();
        start.Environment["DOTNET_GCHeapHardLimit"] = o.WorkerMemoryBytes.ToString("X", System.Globalization.CultureInfo.InvariantCulture);
        start.Environment["DOTNET_gcServer"] = "0";
        start.Environment["DOTNET_GCHeapCount"] = "1";
        start.Environment["DOTNET_TieredPGO"] = "0";
        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        start.Environment["DOTNET_NOLOGO"] = "1";
        return start;
    }

    /// <summary>The server's apphost next to the running application, or its <c>threadloom.dll</c>.</summary>
    public static string DefaultWorkerPath()
    {
        var apphost = Path.Combine(AppContext.BaseDirectory, "threadloom");
        return File.Exists(apphost) ? apphost : Path.Combine(AppContext.BaseDirectory, "threadloom.dll");
    }

    private static string DotnetRoot() =>
        Path.GetFullPath(Path.Combine(RuntimeEnvironment.GetRuntimeDirectory(), "..", "..", ".."));

    private static string DotnetHost()
    {
        var host = Path.Combine(DotnetRoot(), "dotnet");
        return File.Exists(host) ? host : "dotnet";
    }

    private static void Kill(Process process)
    {
        try
        {
            process.Kill(entireProcessTree: true);
        }
        catch (Exception e) when (e is InvalidOperationException or System.ComponentModel.Win32Exception)
        {
            // Already gone.
        }
    }

    private static async Task<(ReadOnlyMemory<byte> Bytes, bool Truncated)> ReadCappedAsync(Stream stream, long cap)
    {
        using var buffer = new MemoryStream();
        var chunk = new byte[81920];
        var truncated = false;
        try
        {
            int read;
            while ((read = await stream.ReadAsync(chunk)) > 0)
            {
                if (buffer.Length + read > cap)
                {
                    truncated = true;
                    break;
                }
                buffer.Write(chunk, 0, read);
            }
        }
        catch (IOException)
        {
            // The pipe broke with the process.
        }
        return (buffer.GetBuffer().AsMemory(0, (int)buffer.Length), truncated);
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "The extraction worker failed (exit {ExitCode}): {Errors}")]
    private partial void LogWorkerFailed(int exitCode, string errors);
}

/// <summary>The extraction worker died without a reason the file can be blamed for; the job is tried again once.</summary>
public sealed class WorkerCrashedException(string message) : Exception(message);
