using Threadloom.Testing;

namespace Threadloom.Server.Tests;

/// <summary>One real server per test class, in dev mode (no keys, loopback).</summary>
public sealed class ServerFixture : IAsyncLifetime
{
    public ThreadloomServer Server { get; private set; } = null!;

    public ApiClient Api { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Server = await ThreadloomServer.StartAsync(new Dictionary<string, string?>
        {
            ["Files:MaxUploadBytes"] = "1048576",
            ["Inference:Providers:local:Type"] = "openai",
            ["Inference:Providers:local:BaseUrl"] = "http://127.0.0.1:9/v1",
            ["Inference:Providers:local:ApiKey"] = "unused",
            ["Inference:Models:0:Name"] = "gpt-4o",
            ["Inference:Models:0:Provider"] = "local",
            ["Inference:Models:0:Model"] = "llama3.1:8b",
            ["Inference:Models:1:Name"] = "*",
            ["Inference:Models:1:Provider"] = "local",
        });
        Api = new ApiClient(Server.CreateClient());
    }

    public async Task DisposeAsync() => await Server.DisposeAsync();
}
