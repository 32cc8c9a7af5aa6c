using Threadloom.Testing;

namespace Threadloom.Server.Tests;

/// <summary>One real server per test class, in dev mode (no keys, loopback).</summary>
public sealed class ServerFixture : IAsyncLifetime
{
    public ThreadloomServer Server { get; private set; } = null!;

    public ApiClient Api { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Server = await ThreadloomServer.StartAsync(new Dictionary<string, string?> { ["Files:MaxUploadBytes"] = "1048576" });
        Api = new ApiClient(Server.CreateClient());
    }

    public async Task DisposeAsync() => await Server.DisposeAsync();
}
