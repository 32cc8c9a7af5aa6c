using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Threadloom.Testing;

/// <summary>
/// The built server (<c>threadloom.dll</c>) as a real child process: for what only a process shows (the addresses
/// it binds, its exit code, kill -9, SIGTERM, several processes on one data folder) and for the CLI.
/// </summary>
public sealed class ThreadloomProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _output = new();
    private readonly Lock _gate = new();

    private ThreadloomProcess(Process process, int port, string dataDirectory)
    {
        _process = process;
        Port = port;
        DataDirectory = dataDirectory;
    }

    public int Port { get; }

    public string DataDirectory { get; }

    public Uri BaseAddress => new($"http://127.0.0.1:{Port}/");

    public int ProcessId => _process.Id;

    public bool HasExited => _process.HasExited;

    public int ExitCode => _process.ExitCode;

    /// <summary>Everything the process wrote to stdout and stderr so far.</summary>
    public string Output
    {
        get
        {
            lock (_gate)
            {
                return _output.ToString();
            }
        }
    }

    /// <summary>The server under test; <c>THREADLOOM_TEST_SERVER_DLL</c> points it at another build (e.g. an older commit, to see a test fail there).</summary>
    public static string ServerDll
    {
        get
        {
            if (Environment.GetEnvironmentVariable("THREADLOOM_TEST_SERVER_DLL") is { Length: > 0 } overridden)
            {
                return overridden;
            }
            var configuration = new DirectoryInfo(AppContext.BaseDirectory).Parent!.Name;
            return Path.Combine(RepoPaths.Root, "src", "Threadloom.Server", "bin", configuration, "net10.0", "threadloom.dll");
        }
    }

    public static string NewDataDirectory() => Path.Combine(Path.GetTempPath(), "threadloom-process-tests", Guid.NewGuid().ToString("N"));

    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>
    /// Starts the server on <paramref name="dataDirectory"/> with <paramref name="arguments"/> (<c>--urls</c> on a free
    /// loopback port unless <paramref name="bindArguments"/> says otherwise), without waiting for it.
    /// </summary>
    public static ThreadloomProcess Start(
        string dataDirectory,
        IEnumerable<string>? arguments = null,
        IDictionary<string, string>? environment = null,
        string? workingDirectory = null,
        int? port = null,
        Func<int, IEnumerable<string>>? bindArguments = null)
    {
        var chosen = port ?? FreePort();
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = workingDirectory ?? Path.GetTempPath(),
        };
        start.ArgumentList.Add(ServerDll);
        foreach (var arg in bindArguments?.Invoke(chosen) ?? ["--urls", $"http://127.0.0.1:{chosen}"])
        {
            start.ArgumentList.Add(arg);
        }
        foreach (var arg in (string[])["--Server:DataDirectory", dataDirectory, "--Logging:LogLevel:Default", "Warning", "--CodeInterpreter:WarmPoolSize", "0"])
        {
            start.ArgumentList.Add(arg);
        }
        foreach (var arg in arguments ?? [])
        {
            start.ArgumentList.Add(arg);
        }
        start.Environment.Remove("ASPNETCORE_URLS");
        start.Environment.Remove("ASPNETCORE_HTTP_PORTS");
        foreach (var (name, value) in environment ?? new Dictionary<string, string>())
        {
            start.Environment[name] = value;
        }
        var process = Process.Start(start)!;
        var server = new ThreadloomProcess(process, chosen, dataDirectory);
        process.OutputDataReceived += (_, e) => server.Append(e.Data);
        process.ErrorDataReceived += (_, e) => server.Append(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return server;
    }

    /// <summary>Starts the server and waits until <c>/healthz</c> answers.</summary>
    public static async Task<ThreadloomProcess> StartHealthyAsync(string dataDirectory, IEnumerable<string>? arguments = null, IDictionary<string, string>? environment = null)
    {
        var server = Start(dataDirectory, arguments, environment);
        await server.WaitHealthyAsync();
        return server;
    }

    public async Task WaitHealthyAsync(TimeSpan? timeout = null)
    {
        using var http = new HttpClient { BaseAddress = BaseAddress, Timeout = TimeSpan.FromSeconds(5) };
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(90));
        while (DateTime.UtcNow < deadline)
        {
            if (_process.HasExited)
            {
                throw new InvalidOperationException($"The server exited with {_process.ExitCode}:\n{Output}");
            }
            try
            {
                if ((await http.GetAsync("healthz")).IsSuccessStatusCode)
                {
                    return;
                }
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
            {
            }
            await Task.Delay(100);
        }
        throw new TimeoutException($"The server did not answer /healthz:\n{Output}");
    }

    /// <summary>Waits for the process to exit; returns false when it still runs after <paramref name="timeout"/>.</summary>
    public async Task<bool> WaitForExitAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await _process.WaitForExitAsync(cts.Token);
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    /// <summary>kill -9: no shutdown code runs.</summary>
    public async Task KillAsync()
    {
        _process.Kill(entireProcessTree: true);
        await _process.WaitForExitAsync();
    }

    /// <summary>Sends SIGTERM, as a service manager or container runtime does on stop.</summary>
    public async Task TerminateAsync()
    {
        using var kill = Process.Start("kill", ["-TERM", _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)])!;
        await kill.WaitForExitAsync();
    }

    /// <summary>Runs <c>threadloom keys …</c> on <paramref name="dataDirectory"/> and returns its exit code and output.</summary>
    public static async Task<(int ExitCode, string Output)> RunCliAsync(string dataDirectory, params string[] arguments)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = Path.GetTempPath() };
        // Both routes to the data folder, so that an older build whose CLI ignores one of them still finds it.
        start.Environment["THREADLOOM_DATA_DIR"] = dataDirectory;
        start.ArgumentList.Add(ServerDll);
        foreach (var arg in arguments.Concat(["--Server:DataDirectory", dataDirectory]))
        {
            start.ArgumentList.Add(arg);
        }
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        return (process.ExitCode, await stdout + await stderr);
    }

    /// <summary>Creates a key with the CLI and returns it.</summary>
    public static async Task<string> CreateKeyAsync(string dataDirectory, string project, string name = "cli")
    {
        var (exit, output) = await RunCliAsync(dataDirectory, "keys", "create", "--project", project, "--name", name);
        if (exit != 0)
        {
            throw new InvalidOperationException($"keys create exited with {exit}: {output}");
        }
        return output.Split('\n').Single(l => l.StartsWith("key: ", StringComparison.Ordinal))["key: ".Length..].Trim();
    }

    /// <summary>An HttpClient for the OpenAI route set of this process, with a bearer key.</summary>
    public HttpClient CreateClient(string apiKey)
    {
        var client = new HttpClient { BaseAddress = new Uri(BaseAddress, "v1/"), Timeout = TimeSpan.FromSeconds(30) };
        client.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", apiKey);
        client.DefaultRequestHeaders.Add("OpenAI-Beta", "assistants=v2");
        return client;
    }

    private void Append(string? line)
    {
        if (line is null)
        {
            return;
        }
        lock (_gate)
        {
            if (_output.Length < 1_000_000)
            {
                _output.AppendLine(line);
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }
        _process.Dispose();
    }

    /// <summary>Deletes a data folder once every process on it has ended.</summary>
    public static void DeleteDataDirectory(string dataDirectory)
    {
        try
        {
            Directory.Delete(dataDirectory, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

/// <summary>A fresh data folder for server processes, deleted on dispose (declare it before the processes that use it).</summary>
public sealed class TempDataDirectory : IDisposable
{
    public string Path { get; } = ThreadloomProcess.NewDataDirectory();

    public void Dispose() => ThreadloomProcess.DeleteDataDirectory(Path);
}
