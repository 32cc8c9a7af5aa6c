using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Threadloom.Server.Hosting;

namespace Threadloom.Testing;

/// <summary>
/// A real Threadloom server on a free loopback port, with its own data folder, for tests and benchmarks.
/// Clients talk to it over real HTTP, exactly as the official SDKs do.
/// </summary>
public sealed class ThreadloomServer : IAsyncDisposable
{
    private readonly WebApplication _app;

    private ThreadloomServer(WebApplication app, string dataDirectory, Uri baseAddress)
    {
        _app = app;
        DataDirectory = dataDirectory;
        BaseAddress = baseAddress;
    }

    public string DataDirectory { get; }

    /// <summary>The root, e.g. <c>http://127.0.0.1:41234/</c>; the OpenAI base URL is <c>{BaseAddress}v1/</c>.</summary>
    public Uri BaseAddress { get; }

    public Uri OpenAIEndpoint => new(BaseAddress, "v1/");

    public IServiceProvider Services => _app.Services;

    public static async Task<ThreadloomServer> StartAsync(IDictionary<string, string?>? settings = null, Action<IServiceCollection>? configureServices = null, string? dataDirectory = null)
    {
        dataDirectory ??= Path.Combine(Path.GetTempPath(), "threadloom-tests", Guid.NewGuid().ToString("N"));
        // No drain by default: disposing a test server cancels its runs at once, as before issue #9 §5; a test of
        // the drain sets Runs:ShutdownGracePeriod itself (the last value given wins).
        var args = new List<string>
        {
            "--urls", "http://127.0.0.1:0", "--Server:DataDirectory", dataDirectory, "--Logging:LogLevel:Default", "Warning",
            "--Runs:ShutdownGracePeriod", "00:00:00",
        };
        foreach (var (key, value) in settings ?? new Dictionary<string, string?>())
        {
            args.Add($"--{key}");
            args.Add(value ?? "");
        }
        var builder = ThreadloomApp.CreateBuilder([.. args]);
        configureServices?.Invoke(builder.Services);
        var app = await ThreadloomApp.BuildAsync(builder);
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return new ThreadloomServer(app, dataDirectory, new Uri(address.TrimEnd('/') + "/"));
    }

    /// <summary>An HttpClient for the OpenAI route set, with a bearer key.</summary>
    public HttpClient CreateClient(string apiKey = "test-key")
    {
        // Every response this client reads is checked against the spec of its dialect.
        var client = new HttpClient(new Schemas.SchemaCheckingHandler()) { BaseAddress = OpenAIEndpoint };
        client.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", apiKey);
        client.DefaultRequestHeaders.Add("OpenAI-Beta", "assistants=v2");
        return client;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
        try
        {
            Directory.Delete(DataDirectory, recursive: true);
        }
        catch (IOException)
        {
            // A file still held open by a finishing request; the temp folder is cleaned by the OS.
        }
    }
}
