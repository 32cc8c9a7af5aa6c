using System.Net;
using Threadloom.Testing;

namespace Threadloom.Server.Tests.Hostile;

/// <summary>
/// Issue #9 §4: dev mode is decided from the addresses the server really bound, whichever configuration route bound
/// them. Each route binds every interface (<c>0.0.0.0</c>); with no key ever created the process must refuse to run,
/// and once a key exists the same configuration serves that key's project normally and refuses any other key.
/// </summary>
public sealed class ListenerTests
{
    public static TheoryData<string> Routes => new() { "command-line", "environment", "appsettings" };

    [Theory]
    [MemberData(nameof(Routes))]
    public async Task Issue9_KestrelEndpointOnEveryInterface_NoKeyEver_RefusesToStart(string route)
    {
        using var dataFolder = new TempDataDirectory();
        var data = dataFolder.Path;
        using var settingsFolder = new TempDataDirectory();
        var workingDirectory = Directory.CreateDirectory(settingsFolder.Path).FullName;
        await using var server = StartOnEveryInterface(route, data, workingDirectory);
        Assert.True(await server.WaitForExitAsync(TimeSpan.FromSeconds(120)), $"The server kept running on 0.0.0.0 in dev mode:\n{server.Output}");
        Assert.NotEqual(0, server.ExitCode);
        Assert.Contains("Refusing to start", server.Output, StringComparison.Ordinal);
        Assert.Contains("0.0.0.0", server.Output, StringComparison.Ordinal);
    }

    [Theory]
    [MemberData(nameof(Routes))]
    public async Task Issue9_KestrelEndpointOnEveryInterface_WithAKey_ServesThatKeyOnly(string route)
    {
        using var dataFolder = new TempDataDirectory();
        var data = dataFolder.Path;
        using var settingsFolder = new TempDataDirectory();
        var workingDirectory = Directory.CreateDirectory(settingsFolder.Path).FullName;
        var key = await ThreadloomProcess.CreateKeyAsync(data, "team");
        await using var server = StartOnEveryInterface(route, data, workingDirectory);
        await server.WaitHealthyAsync();

        using var owner = server.CreateClient(key);
        var created = await owner.PostAsync("assistants", new StringContent("""{"model":"gpt-4o","name":"listener"}""", System.Text.Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.OK, created.StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await owner.GetAsync("assistants")).StatusCode);

        using var stranger = server.CreateClient("sk-anything-at-all");
        Assert.Equal(HttpStatusCode.Unauthorized, (await stranger.GetAsync("assistants")).StatusCode);
    }

    [Fact]
    public async Task Issue9_LoopbackOnly_NoKey_IsDevMode_AndAnotherKeyIsServed()
    {
        using var dataFolder = new TempDataDirectory();
        var data = dataFolder.Path;
        await using var server = await ThreadloomProcess.StartHealthyAsync(data);
        using var a = server.CreateClient("sk-dev-a");
        Assert.Equal(HttpStatusCode.OK, (await a.GetAsync("assistants")).StatusCode);
        using var b = server.CreateClient("sk-dev-b");
        Assert.Equal(HttpStatusCode.OK, (await b.GetAsync("assistants")).StatusCode);
    }

    [Theory]
    [InlineData("http://127.0.0.1:5000", true)]
    [InlineData("http://[::1]:5000", true)]
    [InlineData("http://localhost:5000", true)]
    [InlineData("http://unix:/run/threadloom.sock", true)]
    [InlineData("http://0.0.0.0:5000", false)]
    [InlineData("http://[::]:5000", false)]
    [InlineData("http://192.168.1.20:5000", false)]
    [InlineData("http://myhost.example:5000", false)]
    [InlineData("http://*:5000", false)]
    [InlineData("http://+:5000", false)]
    public void Issue9_BoundAddress_IsLocalOnlyForLoopback(string address, bool local) =>
        Assert.Equal(local, Hosting.ListenerGuard.IsLocal(address));

    private static ThreadloomProcess StartOnEveryInterface(string route, string data, string workingDirectory)
    {
        var port = ThreadloomProcess.FreePort();
        var url = $"http://0.0.0.0:{port}";
        return route switch
        {
            "command-line" => ThreadloomProcess.Start(data, port: port, bindArguments: _ => ["--Kestrel:Endpoints:e1:Url", url]),
            "environment" => ThreadloomProcess.Start(data, port: port, bindArguments: _ => [],
                environment: new Dictionary<string, string> { ["Kestrel__Endpoints__e1__Url"] = url }),
            _ => StartWithAppSettings(data, workingDirectory, port, url),
        };
    }

    private static ThreadloomProcess StartWithAppSettings(string data, string workingDirectory, int port, string url)
    {
        File.WriteAllText(Path.Combine(workingDirectory, "appsettings.json"), """{"Kestrel":{"Endpoints":{"e1":{"Url":""" + "\"" + url + "\"" + "}}}}");
        return ThreadloomProcess.Start(data, port: port, bindArguments: _ => [], workingDirectory: workingDirectory);
    }
}
