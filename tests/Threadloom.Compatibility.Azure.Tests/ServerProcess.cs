using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace Threadloom.Compatibility.Azure.Tests;

/// <summary>Runs the built server (<c>threadloom.dll</c>) as a child process on a free loopback port, with its own data folder.</summary>
public sealed class ServerProcess : IAsyncLifetime
{
    private Process? _process;
    private ModelResponder? _model;
    private readonly string _data = Path.Combine(Path.GetTempPath(), "threadloom-azure-tests", Guid.NewGuid().ToString("N"));

    public Uri BaseAddress { get; private set; } = null!;

    /// <summary>The model the server's default provider points at (see <see cref="ModelResponder"/>).</summary>
    public ModelResponder Model => _model!;

    public async Task InitializeAsync()
    {
        _model = await ModelResponder.StartAsync();
        var port = FreePort();
        BaseAddress = new Uri($"http://127.0.0.1:{port}/");
        var configuration = new DirectoryInfo(AppContext.BaseDirectory).Parent!.Name;
        var root = FindRoot();
        var dll = Path.Combine(root, "src", "Threadloom.Server", "bin", configuration, "net10.0", "threadloom.dll");
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        string[] args =
        [
            dll, "--urls", BaseAddress.ToString().TrimEnd('/'), "--Server:DataDirectory", _data, "--Logging:LogLevel:Default", "Warning",
            "--Inference:Providers:default:BaseUrl", _model.BaseAddress.ToString(), "--Inference:Providers:default:ApiKey", "responder-key",
        ];
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }
        _process = Process.Start(start)!;
        _process.OutputDataReceived += (_, _) => { };
        _process.ErrorDataReceived += (_, _) => { };
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
        using var http = new HttpClient { BaseAddress = BaseAddress };
        for (var i = 0; i < 300; i++)
        {
            try
            {
                if ((await http.GetAsync("healthz")).IsSuccessStatusCode)
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
                await Task.Delay(100);
            }
        }
        throw new InvalidOperationException("The server did not start.");
    }

    public async Task DisposeAsync()
    {
        _process?.Kill(entireProcessTree: true);
        _process?.WaitForExit();
        _process?.Dispose();
        if (_model is not null)
        {
            await _model.DisposeAsync();
        }
        try
        {
            Directory.Delete(_data, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Threadloom.slnx")))
            {
                return dir.FullName;
            }
        }
        throw new InvalidOperationException("Threadloom.slnx not found.");
    }
}
