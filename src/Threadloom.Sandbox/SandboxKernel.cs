using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.Win32.SafeHandles;
using Threadloom.Sandbox.Files;
using Threadloom.Sandbox.Kernel;

namespace Threadloom.Sandbox;

/// <summary>One running kernel.py inside bubblewrap, talking JSON lines over its stdin and stdout.</summary>
/// <remarks>Design notes: the process tree is <c>bwrap</c> (host namespaces, <see cref="ProcessId"/>) → <c>bwrap</c>
/// (init of the sandbox's pid namespace) → <c>python3 kernel.py</c>. Every process the sandbox can create is a
/// descendant of that init: orphans, including daemons that <c>setsid</c> and double-fork, are reparented to it, and a
/// process cannot leave its pid namespace. So the host finds every process the user's code started by walking the
/// init's and the kernel's children in <c>/proc</c>, without asking the kernel, and kills all but the kernel.</remarks>
internal sealed class SandboxKernel : IAsyncDisposable
{
    private const int MaxDiagnosticChars = 4096;
    private readonly Process _process;
    private readonly KernelChannel _channel;
    private readonly StringBuilder _diagnostics = new();
    private SafeFileHandle? _initTasks;
    private SafeFileHandle? _kernelTasks;

    private SandboxKernel(Process process, SessionFolder folder, int maxReplyBytes)
    {
        _process = process;
        Folder = folder;
        var stdout = process.StandardOutput.BaseStream;
        _channel = new KernelChannel(stdout, maxReplyBytes, (stdout as System.IO.Pipes.PipeStream)?.SafePipeHandle);
    }

    public SessionFolder Folder { get; }
    public int HostUid => Folder.Uid;
    public int ProcessId => _process.Id;
    public bool HasExited => _process.HasExited;
    public int? ExitCode => _process.HasExited ? _process.ExitCode : null;

    /// <summary>Host pid of the sandbox's init (bwrap inside the pid namespace), once known.</summary>
    public int InitPid { get; private set; }

    /// <summary>Host pid of the Python kernel, once known.</summary>
    public int KernelPid { get; private set; }

    /// <summary>Why the reply channel stopped trusting this kernel, or null.</summary>
    public string? ProtocolViolation => _channel.Violation;

    /// <summary>True when the kernel wrote output that no request asked for: the session cannot be trusted to be in step.</summary>
    public bool HasUnexpectedOutput => _channel.HasUnexpectedOutput;

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

    /// <summary>The longest reply line accepted: the logs, JSON-escaped at worst (6 bytes a byte), plus the small fields.</summary>
    public static int MaxReplyBytes(CodeInterpreterOptions options) => checked((options.MaxLogBytes * 6) + (64 << 10));

    public static async Task<SandboxKernel> StartAsync(ProcessLauncher launcher, CodeInterpreterOptions options, SandboxLayout layout,
        SessionFolder folder, CancellationToken cancellationToken)
    {
        var environment = new Dictionary<string, string> { ["TL_PRELOAD"] = string.Join(',', options.PreloadModules) };
        var info = BubblewrapCommand.Create(options, layout, folder, ["-I", "-X", "utf8", "/opt/threadloom/kernel.py"], environment);
        var process = await launcher.StartAsync(info);
        var kernel = new SandboxKernel(process, folder, MaxReplyBytes(options));
        _ = Task.Run(() => kernel.DrainDiagnosticsAsync(process.StandardError.BaseStream), CancellationToken.None);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(options.StartTimeout);
        try
        {
            KernelReply? greeting;
            using (timeout.Token.Register(kernel.Kill))
            {
                greeting = await kernel.ReadReplyAsync(timeout.Token);
            }
            if (greeting is not { Ready: true } || !kernel.FindProcesses())
            {
                await kernel.WaitForExitAsync();
                throw new SandboxUnavailableException(
                    $"The sandbox kernel did not start (exit code {kernel.ExitCode?.ToString(CultureInfo.InvariantCulture) ?? "none"}): {kernel.Diagnostics.Trim()}");
            }
            return kernel;
        }
        catch
        {
            await kernel.DisposeAsync();
            throw;
        }
    }

    /// <summary>
    /// Sends one request, with a fresh random id, and waits for its reply. Null when the kernel exited instead of
    /// answering. Throws <see cref="KernelProtocolException"/> when the reply is not the answer to this request.
    /// Cancelling kills the kernel (so nothing can keep the read going) and throws.
    /// </summary>
    public async Task<KernelReply?> ExecuteAsync(string code, CodeInterpreterOptions options, CancellationToken cancellationToken)
    {
        var id = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));
        var request = new KernelRequest(id, code, options.MaxLogBytes, options.CpuSecondsPerExecution, options.MaxProcesses);
        var line = JsonSerializer.Serialize(request, KernelJsonContext.Default.KernelRequest);
        using var kill = cancellationToken.Register(Kill);
        try
        {
            await _process.StandardInput.WriteLineAsync(line.AsMemory(), cancellationToken);
            await _process.StandardInput.FlushAsync(cancellationToken);
        }
        catch (IOException)
        {
            return null;
        }
        var reply = await ReadReplyAsync(cancellationToken);
        cancellationToken.ThrowIfCancellationRequested();
        if (reply is null)
        {
            return _channel.Violation is { } violation ? throw new KernelProtocolException(violation) : null;
        }
        if (!string.Equals(reply.Id, id, StringComparison.Ordinal))
        {
            throw new KernelProtocolException("the kernel's reply did not answer this request (its id did not match)");
        }
        return reply;
    }

    private async Task<KernelReply?> ReadReplyAsync(CancellationToken cancellationToken)
    {
        var line = await _channel.ReadLineAsync(cancellationToken);
        if (line is null)
        {
            return null;
        }
        try
        {
            return JsonSerializer.Deserialize(line, KernelJsonContext.Default.KernelReply)
                ?? throw new KernelProtocolException("the kernel sent an empty reply");
        }
        catch (JsonException)
        {
            throw new KernelProtocolException("the kernel sent a reply that is not valid JSON");
        }
    }

    /// <summary>
    /// Kills every process in the sandbox except its init and the kernel: what the user's code left running (children,
    /// daemons). Repeats until none is left, since a dying process's children are reparented to the init. Returns how
    /// many processes were killed.
    /// </summary>
    public int KillStrays()
    {
        if (InitPid == 0 || KernelPid == 0)
        {
            return 0;
        }
        var killed = new HashSet<int>();
        var strays = new List<int>();
        for (var round = 0; round < 200 && _initTasks is not null && _kernelTasks is not null; round++)
        {
            strays.Clear();
            ProcessTree.AddChildren(_initTasks, strays);
            strays.Remove(KernelPid);
            ProcessTree.AddChildren(_kernelTasks, strays);
            if (strays.Count == 0)
            {
                break;
            }
            strays.RemoveAll(ProcessTree.IsZombie);
            if (strays.Count == 0)
            {
                break;
            }
            foreach (var pid in strays)
            {
                Native.KillProcess(pid);
                killed.Add(pid);
            }
            Thread.Sleep(1);
        }
        return killed.Count;
    }

    /// <summary>Finds the init and kernel pids under the outer bwrap; false when the tree is not the expected one.</summary>
    private bool FindProcesses()
    {
        var init = ProcessTree.Children(_process.Id);
        if (init.Count != 1)
        {
            return false;
        }
        var kernel = ProcessTree.Children(init[0]);
        if (kernel.Count != 1)
        {
            return false;
        }
        InitPid = init[0];
        KernelPid = kernel[0];
        _initTasks = ProcessTree.OpenTasks(InitPid);
        _kernelTasks = ProcessTree.OpenTasks(KernelPid);
        return _initTasks is not null && _kernelTasks is not null;
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

    /// <summary>Keeps the first few KiB of what reaches the real stderr and discards the rest, never buffering a whole line.</summary>
    private async Task DrainDiagnosticsAsync(Stream stderr)
    {
        var buffer = new byte[4096];
        try
        {
            int read;
            while ((read = await stderr.ReadAsync(buffer)) > 0)
            {
                lock (_diagnostics)
                {
                    if (_diagnostics.Length < MaxDiagnosticChars)
                    {
                        var text = Encoding.UTF8.GetString(buffer, 0, read);
                        _diagnostics.Append(text.AsSpan(0, Math.Min(text.Length, MaxDiagnosticChars - _diagnostics.Length)));
                    }
                }
            }
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException)
        {
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
        _initTasks?.Dispose();
        _kernelTasks?.Dispose();
    }
}

/// <summary>The sandbox cannot run code (bwrap missing or refused, kernel failed to start).</summary>
public sealed class SandboxUnavailableException(string message) : Exception(message);

/// <summary>The kernel's reply channel broke the protocol (desynchronised, oversized or malformed): discard the session's kernel.</summary>
internal sealed class KernelProtocolException(string message) : Exception(message);
