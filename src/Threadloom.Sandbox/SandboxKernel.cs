using System.Diagnostics;
using System.Text;
using System.Text.Json;

namespace Threadloom.Sandbox;

/// <summary>One running kernel.py inside bubblewrap, talking JSON lines over its stdin and stdout.</summary>
internal sealed class SandboxKernel : IAsyncDisposable
{
    private const int MaxDiagnosticChars = 4096;
    private readonly Process _process;
    private readonly StringBuilder _diagnostics = new();

    private SandboxKernel(Process process, string workDir, int hostUid)
    {
        _process = process;
        WorkDir = workDir;
        HostUid = hostUid;
    }

    public string WorkDir { get; }
    public int HostUid { get; }
    public int ProcessId => _process.Id;
    public bool HasExited => _process.HasExited;
    public int? ExitCode => _process.HasExited ? _process.ExitCode : null;

    /// <summary>Text bwrap or Python wrote to the real stderr (bwrap errors, fatal interpreter errors).</summary>
    public string Diagnostics
    {
        get
        {
            lock (_diagnostics)
            {
                return _diagnostics.ToString();
            }
        }
    }

    public static async Task<SandboxKernel> StartAsync(ProcessLauncher launcher, CodeInterpreterOptions options, SandboxLayout layout,
        string workDir, int hostUid, CancellationToken cancellationToken)
    {
        var environment = new Dictionary<string, string> { ["TL_PRELOAD"] = string.Join(',', options.PreloadModules) };
        var info = BubblewrapCommand.Create(options, layout, workDir, hostUid, ["-I", "-X", "utf8", "/opt/threadloom/kernel.py"], environment);
        var process = await launcher.StartAsync(info);
        var kernel = new SandboxKernel(process, workDir, hostUid);
        process.ErrorDataReceived += kernel.OnError;
        process.BeginErrorReadLine();
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(options.StartTimeout);
        try
        {
            var greeting = await kernel.ReadReplyAsync(timeout.Token);
            if (greeting is not { Ready: true })
            {
                await kernel.WaitForExitAsync();
                throw new SandboxUnavailableException(
                    $"The sandbox kernel did not start (exit code {kernel.ExitCode?.ToString() ?? "none"}): {kernel.Diagnostics.Trim()}");
            }
            return kernel;
        }
        catch
        {
            await kernel.DisposeAsync();
            throw;
        }
    }

    /// <summary>Sends one request and waits for its reply; null when the kernel exited instead of answering.</summary>
    public async Task<KernelReply?> ExecuteAsync(KernelRequest request, CancellationToken cancellationToken)
    {
        var line = JsonSerializer.Serialize(request, KernelJsonContext.Default.KernelRequest);
        try
        {
            await _process.StandardInput.WriteLineAsync(line.AsMemory(), cancellationToken);
            await _process.StandardInput.FlushAsync(cancellationToken);
        }
        catch (IOException)
        {
            return null;
        }
        return await ReadReplyAsync(cancellationToken);
    }

    private async Task<KernelReply?> ReadReplyAsync(CancellationToken cancellationToken)
    {
        var line = await _process.StandardOutput.ReadLineAsync(cancellationToken);
        return line is null ? null : JsonSerializer.Deserialize(line, KernelJsonContext.Default.KernelReply);
    }

    /// <summary>Waits briefly for the process to exit so that its exit code can be reported.</summary>
    public async Task WaitForExitAsync()
    {
        using var wait = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        try
        {
            await _process.WaitForExitAsync(wait.Token);
        }
        catch (OperationCanceledException)
        {
            Kill();
        }
    }

    /// <summary>Kills bwrap and everything under it (the sandbox's pid namespace dies with its init).</summary>
    public void Kill()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
            }
        }
        catch (InvalidOperationException)
        {
        }
        catch (System.ComponentModel.Win32Exception)
        {
        }
    }

    private void OnError(object sender, DataReceivedEventArgs e)
    {
        if (e.Data is null)
        {
            return;
        }
        lock (_diagnostics)
        {
            if (_diagnostics.Length < MaxDiagnosticChars)
            {
                _diagnostics.AppendLine(e.Data);
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        Kill();
        try
        {
            using var wait = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            await _process.WaitForExitAsync(wait.Token);
        }
        catch (OperationCanceledException)
        {
        }
        _process.Dispose();
    }
}

/// <summary>The sandbox cannot run code (bwrap missing or refused, kernel failed to start).</summary>
public sealed class SandboxUnavailableException(string message) : Exception(message);
