using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;
using Threadloom.Testing;

namespace Threadloom.Server.Tests.Hostile;

/// <summary>
/// Issue #9 §4: <c>/metrics</c> has its own access setting (<c>Metrics:Access</c>): loopback callers only by default,
/// a key of the metrics project, or a separate port. It never names a project, thread or key.
/// </summary>
public sealed class MetricsAccessTests
{
    [Fact]
    public async Task Issue9_MetricsDefault_RefusesANetworkCaller_ServesLoopback_AndTheApiStillServesTheNetwork()
    {
        var lan = NonLoopbackAddress();
        Assert.True(lan is not null, "the test needs a non-loopback IPv4 address on this machine");
        using var dataFolder = new TempDataDirectory();
        var data = dataFolder.Path;
        var key = await ThreadloomProcess.CreateKeyAsync(data, "team");
        await using var server = ThreadloomProcess.Start(data, bindArguments: port => ["--urls", $"http://0.0.0.0:{port}"]);
        await server.WaitHealthyAsync();
        using var fromNetwork = new HttpClient { BaseAddress = new Uri($"http://{lan}:{server.Port}/") };
        Assert.Equal(HttpStatusCode.NotFound, (await fromNetwork.GetAsync("metrics")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await fromNetwork.GetAsync("metrics/")).StatusCode);

        using var local = new HttpClient { BaseAddress = server.BaseAddress };
        var scrape = await local.GetAsync("metrics");
        Assert.Equal(HttpStatusCode.OK, scrape.StatusCode);

        using var api = new HttpRequestMessage(HttpMethod.Get, "v1/assistants");
        api.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", key);
        Assert.Equal(HttpStatusCode.OK, (await fromNetwork.SendAsync(api)).StatusCode);
    }

    [Fact]
    public async Task Issue9_MetricsKey_OnlyTheMetricsProjectsKeyScrapes_AndNoProjectIsNamed()
    {
        using var dataFolder = new TempDataDirectory();
        var data = dataFolder.Path;
        var (tenantKey, tenantProject) = await KeyAndProjectAsync(data, "team");
        var (metricsKey, _) = await KeyAndProjectAsync(data, "metrics");
        await using var server = await ThreadloomProcess.StartHealthyAsync(data, ["--Metrics:Access", "key"]);
        using var tenant = new ProcessClient(server, tenantKey);
        var assistant = (await tenant.PostOkAsync("assistants", """{"model":"gpt-4o"}"""))["id"]!.GetValue<string>();
        var thread = (await tenant.PostOkAsync("threads", "{}"))["id"]!.GetValue<string>();
        await tenant.GetOkAsync($"assistants/{assistant}");

        Assert.Equal(HttpStatusCode.Unauthorized, await ScrapeStatusAsync(server, null));
        Assert.Equal(HttpStatusCode.Unauthorized, await ScrapeStatusAsync(server, tenantKey));
        Assert.Equal(HttpStatusCode.Unauthorized, await ScrapeStatusAsync(server, "sk-made-up"));
        using var scraper = new HttpClient { BaseAddress = server.BaseAddress };
        scraper.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", metricsKey);
        var text = await scraper.GetStringAsync("metrics");
        Assert.Contains("http_server_request_duration", text, StringComparison.Ordinal);
        foreach (var id in (string[])[tenantProject, assistant, thread, tenantKey])
        {
            Assert.DoesNotContain(id, text, StringComparison.Ordinal);
        }
        Assert.DoesNotContain("proj_", text, StringComparison.Ordinal);
        Assert.DoesNotContain("asst_", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Issue9_MetricsPort_ServedOnlyOnItsOwnPort_WhichServesNoApi()
    {
        using var dataFolder = new TempDataDirectory();
        var data = dataFolder.Path;
        var key = await ThreadloomProcess.CreateKeyAsync(data, "team");
        var metricsPort = ThreadloomProcess.FreePort();
        await using var server = await ThreadloomProcess.StartHealthyAsync(data, ["--Metrics:Access", "port", "--Metrics:Port", $"{metricsPort}"]);
        Assert.Equal(HttpStatusCode.NotFound, await ScrapeStatusAsync(server, null));
        using var tenant = new ProcessClient(server, key);
        await tenant.GetOkAsync("assistants");

        using var metrics = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{metricsPort}/") };
        Assert.Contains("http_server_request_duration", await metrics.GetStringAsync("metrics"), StringComparison.Ordinal);
        using var api = new HttpRequestMessage(HttpMethod.Get, "v1/assistants");
        api.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", key);
        Assert.Equal(HttpStatusCode.NotFound, (await metrics.SendAsync(api)).StatusCode);
    }

    private static async Task<HttpStatusCode> ScrapeStatusAsync(ThreadloomProcess server, string? key)
    {
        using var http = new HttpClient { BaseAddress = server.BaseAddress };
        if (key is not null)
        {
            http.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", key);
        }
        using var response = await http.GetAsync("metrics");
        return response.StatusCode;
    }

    private static async Task<(string Key, string ProjectId)> KeyAndProjectAsync(string data, string project)
    {
        var (exit, output) = await ThreadloomProcess.RunCliAsync(data, "keys", "create", "--project", project);
        Assert.Equal(0, exit);
        var lines = output.Split('\n');
        var projectLine = lines.Single(l => l.StartsWith("project: ", StringComparison.Ordinal));
        var projectId = projectLine[(projectLine.IndexOf('(', StringComparison.Ordinal) + 1)..projectLine.IndexOf(')', StringComparison.Ordinal)];
        return (lines.Single(l => l.StartsWith("key: ", StringComparison.Ordinal))["key: ".Length..].Trim(), projectId);
    }

    private static IPAddress? NonLoopbackAddress() =>
        NetworkInterface.GetAllNetworkInterfaces()
            .Where(n => n.OperationalStatus == OperationalStatus.Up && n.NetworkInterfaceType != NetworkInterfaceType.Loopback)
            .SelectMany(n => n.GetIPProperties().UnicastAddresses)
            .Select(a => a.Address)
            .FirstOrDefault(a => a.AddressFamily == AddressFamily.InterNetwork && !IPAddress.IsLoopback(a));
}
