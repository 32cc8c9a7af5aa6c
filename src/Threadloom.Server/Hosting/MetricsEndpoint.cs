using System.ComponentModel.DataAnnotations;
using System.Net;
using Microsoft.Extensions.Options;
using OpenTelemetry.Metrics;
using Threadloom.Core.Storage;
using Threadloom.Server.Auth;

namespace Threadloom.Server.Hosting;

/// <summary>Who may read <c>/metrics</c>.</summary>
public enum MetricsAccess
{
    /// <summary>Callers whose connection comes from a loopback address; others get a 404.</summary>
    Loopback,

    /// <summary>Callers with an active key of the project <see cref="MetricsOptions.Project"/>; others get a 401.</summary>
    Key,

    /// <summary>Only a separate listener on <see cref="MetricsOptions.BindAddress"/>:<see cref="MetricsOptions.Port"/>; the API listeners answer 404.</summary>
    Port,
}

/// <summary>Section <c>Metrics</c>: access to the Prometheus scrape endpoint (issue #9 §4).</summary>
public sealed class MetricsOptions : IValidatableObject
{
    public const string SectionName = "Metrics";

    public MetricsAccess Access { get; init; } = MetricsAccess.Loopback;

    /// <summary>With <see cref="MetricsAccess.Key"/>: the project whose keys may scrape (create one with <c>keys create --project metrics</c>).</summary>
    public string Project { get; init; } = "metrics";

    /// <summary>With <see cref="MetricsAccess.Port"/>: the port of the metrics-only listener.</summary>
    [Range(0, 65535)]
    public int Port { get; init; }

    /// <summary>With <see cref="MetricsAccess.Port"/>: the address of the metrics-only listener; <c>0.0.0.0</c> to scrape from another machine.</summary>
    public string BindAddress { get; init; } = "127.0.0.1";

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (Access == MetricsAccess.Port && Port == 0)
        {
            yield return new ValidationResult("Metrics:Access 'port' needs Metrics:Port.", [nameof(Port)]);
        }
        if (Access == MetricsAccess.Port && !IPAddress.TryParse(BindAddress, out _))
        {
            yield return new ValidationResult("Metrics:BindAddress must be an IP address.", [nameof(BindAddress)]);
        }
        if (Access == MetricsAccess.Key && string.IsNullOrWhiteSpace(Project))
        {
            yield return new ValidationResult("Metrics:Access 'key' needs Metrics:Project.", [nameof(Project)]);
        }
    }
}

/// <summary>
/// Serves <c>/metrics</c> as <see cref="MetricsOptions.Access"/> says. The metrics carry no project, thread or key
/// label (only routes, statuses and totals), so whoever may scrape learns nothing about one tenant.
/// </summary>
internal static class MetricsEndpoint
{
    public const string Path = "/metrics";

    public static async Task MapAsync(WebApplication app, CancellationToken cancellationToken)
    {
        var options = app.Services.GetRequiredService<IOptions<MetricsOptions>>().Value;
        string? projectId = null;
        if (options.Access == MetricsAccess.Key)
        {
            projectId = (await app.Services.GetRequiredService<IProjectStore>().GetOrCreateAsync(options.Project, cancellationToken)).Id;
        }
        var projects = app.Services.GetRequiredService<IProjectStore>();
        app.Use(async (context, next) =>
        {
            if (!context.Request.Path.StartsWithSegments(Path, StringComparison.OrdinalIgnoreCase))
            {
                await next(context);
                return;
            }
            switch (options.Access)
            {
                case MetricsAccess.Loopback when context.Connection.RemoteIpAddress is { } ip && IPAddress.IsLoopback(ip.IsIPv4MappedToIPv6 ? ip.MapToIPv4() : ip):
                    await next(context);
                    return;
                case MetricsAccess.Key when ApiKeys.ReadKey(context.Request) is { Length: > 0 } key:
                    if ((await projects.FindKeyByHashAsync(ApiKeys.Hash(key), context.RequestAborted))?.ProjectId == projectId)
                    {
                        await next(context);
                        return;
                    }
                    context.Response.StatusCode = StatusCodes.Status401Unauthorized;
                    return;
                case MetricsAccess.Key:
                    context.Response.StatusCode = StatusCodes.Status401Unauthorized;
                    return;
                default:
                    context.Response.StatusCode = StatusCodes.Status404NotFound;
                    return;
            }
        });
        if (options.Access != MetricsAccess.Port)
        {
            app.MapPrometheusScrapingEndpoint(Path);
        }
    }
}

/// <summary>
/// With <see cref="MetricsAccess.Port"/>: a second, metrics-only Kestrel on its own address, reading the main
/// application's meters. It serves nothing else, so exposing it exposes no API.
/// </summary>
internal sealed class MetricsListener(IOptions<MetricsOptions> options, MeterProvider meters) : IHostedService, IAsyncDisposable
{
    private WebApplication? _app;

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        if (options.Value.Access != MetricsAccess.Port)
        {
            return;
        }
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls($"http://{FormatHost(options.Value.BindAddress)}:{options.Value.Port}");
        var app = builder.Build();
        app.MapPrometheusScrapingEndpoint(MetricsEndpoint.Path, meters, null, null);
        await app.StartAsync(cancellationToken);
        _app = app;
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (_app is not null)
        {
            await _app.StopAsync(cancellationToken);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_app is not null)
        {
            await _app.DisposeAsync();
        }
    }

    private static string FormatHost(string address) =>
        IPAddress.TryParse(address, out var ip) && ip.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? $"[{address}]" : address;
}
