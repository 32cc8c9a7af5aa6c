using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using OpenTelemetry.Metrics;
using Threadloom.Core.Domain;
using Threadloom.Core.Inference;
using Threadloom.Core.Ingestion;
using Threadloom.Core.Runs;
using Threadloom.Core.Storage;
using Threadloom.Core.Storage.Blobs;
using Threadloom.Core.Tools.CodeInterpreter;
using Threadloom.Sandbox;
using Threadloom.Server.Auth;
using Threadloom.Server.Features;
using Threadloom.Server.Features.Assistants;
using Threadloom.Server.Features.Files;
using Threadloom.Server.Features.Messages;
using Threadloom.Server.Features.Models;
using Threadloom.Server.Features.Playground;
using Threadloom.Server.Features.Runs;
using Threadloom.Server.Features.Threads;
using Threadloom.Server.Features.Uploads;
using Threadloom.Server.Features.VectorStores;
using Threadloom.Server.Http;

namespace Threadloom.Server.Hosting;

/// <summary>The composition root: builds the web application that <c>Program</c> runs and the tests host.</summary>
public static class ThreadloomApp
{
    /// <summary>Shutdown time beyond the run grace period: failing the runs left, then stopping the other services.</summary>
    private static readonly TimeSpan ShutdownMargin = TimeSpan.FromSeconds(15);

    public static WebApplicationBuilder CreateBuilder(string[] args)
    {
        var builder = WebApplication.CreateBuilder(args);
        // Defaults below every other configuration source: console lines show their scopes, so each line written for a
        // request names its x-request-id (RequestIdMiddleware).
        builder.Configuration.Sources.Insert(0, new Microsoft.Extensions.Configuration.Memory.MemoryConfigurationSource
        {
            InitialData = new Dictionary<string, string?> { ["Logging:Console:FormatterOptions:IncludeScopes"] = "true" },
        });
        if (string.IsNullOrEmpty(builder.Configuration["urls"]) && string.IsNullOrEmpty(builder.Configuration["ASPNETCORE_URLS"]))
        {
            builder.WebHost.UseUrls(ServerOptions.DefaultUrl);
        }
        builder.WebHost.ConfigureKestrel(k => k.Limits.MaxRequestBodySize = 32 * 1024 * 1024);
        AddServices(builder.Services, builder.Configuration);
        return builder;
    }

    public static string DataDirectory(IConfiguration configuration) =>
        Path.GetFullPath(configuration[$"{ServerOptions.SectionName}:DataDirectory"]
            ?? Environment.GetEnvironmentVariable("THREADLOOM_DATA_DIR")
            ?? "data");

    private static void AddServices(IServiceCollection services, IConfiguration configuration)
    {
        services.AddProblemDetails();
        services.AddExceptionHandler<ApiExceptionHandler>();
        services.Configure<RouteHandlerOptions>(o => o.ThrowOnBadRequest = true);
        services.ConfigureHttpJsonOptions(o => ApiJsonContext.Configure(o.SerializerOptions));
        services.AddSingleton(TimeProvider.System);
        services.AddOpenTelemetry().WithMetrics(metrics => metrics
            .AddAspNetCoreInstrumentation()
            .AddMeter("Threadloom.Inference", "Threadloom.Runs", "Threadloom.Sandbox")
            .AddPrometheusExporter());
        services.AddSingleton<IIdGenerator, RandomIdGenerator>();
        // The document of Threadloom's own surface, generated from the endpoints (DESIGN §7): /openapi/v1.json.
        services.AddOpenApi(ServerOpenApi.DocumentName, o => o.AddDocumentTransformer((document, _, _) =>
        {
            document.Info.Title = "Threadloom";
            document.Info.Description = "The OpenAI Assistants API (v2, and v1 on Azure's early api-versions) as Threadloom serves it, on /v1 and /openai.";
            return Task.CompletedTask;
        }));

        services.AddStorage(configuration, DataDirectory(configuration));

        services.AddOptions<AuthOptions>().BindConfiguration(AuthOptions.SectionName).ValidateDataAnnotations().ValidateOnStart();
        services.AddOptions<MetricsOptions>().BindConfiguration(MetricsOptions.SectionName).ValidateDataAnnotations().ValidateOnStart();
        services.AddOptions<ServerOptions>().BindConfiguration(ServerOptions.SectionName);
        services.AddOptions<FilesOptions>().BindConfiguration(FilesOptions.SectionName).ValidateDataAnnotations().ValidateOnStart();
        services.AddSingleton<KeySetCache>();
        services.AddSingleton<DevMode>();
        services.AddSingleton<ApiKeys>();
        services.AddHostedService<ListenerGuard>();
        services.AddHostedService<MetricsListener>();
        // Restarts and shutdowns (issue #9 §5): leases name a node id that survives restarts, and the host waits for
        // the run worker's drain (the grace period, plus time to fail what is left).
        var dataDirectory = DataDirectory(configuration);
        services.AddSingleton(sp => NodeIdentity.Acquire(dataDirectory, sp.GetRequiredService<IOptions<ServerOptions>>().Value.NodeId));
        services.AddSingleton(sp => sp.GetRequiredService<NodeIdentity>().Holder);
        services.AddOptions<HostOptions>().Configure<IOptions<RunsOptions>>((host, runs) =>
        {
            var needed = runs.Value.ShutdownGracePeriod + ShutdownMargin;
            if (host.ShutdownTimeout < needed)
            {
                host.ShutdownTimeout = needed;
            }
        });
        services.AddSingleton<ToolResourcesBinder>();
        services.AddSingleton<MessageFactory>();
        services.AddSingleton<FileDeletion>();
        services.AddHostedService<ExpirySweeper>();
        services.AddSingleton<ThreadGuard>();

        services.AddInference(configuration);
        services.AddRunEngine();
        // The sandbox's hosted service only logs when bubblewrap is unusable: the server still starts, and runs that
        // call code_interpreter fail with a clear last_error. Code never runs unsandboxed.
        services.AddCodeSandbox(configuration);
        services.AddSingleton<IBuiltInTool, CodeInterpreterTool>();
        services.TryAddSingleton<ICodeSessionCloser, LocalCodeSessionCloser>();

        services.AddOptions<IngestionOptions>().BindConfiguration(IngestionOptions.SectionName);
        services.AddOptions<EmbeddingsOptions>().BindConfiguration(EmbeddingsOptions.SectionName);
        services.AddFileSearchEngine().AddVectorStoreEngine();
        services.AddSingleton<VectorStoreService>();
        services.AddSingleton<ThreadFileSearch>();
    }

    /// <summary>Migrates the database, prepares dev mode (decided once the listeners are bound), and maps every route.</summary>
    public static async Task<WebApplication> BuildAsync(WebApplicationBuilder builder, CancellationToken cancellationToken = default)
    {
        var app = builder.Build();
        await app.Services.GetRequiredService<IMigrator>().MigrateAsync(cancellationToken);
        await app.Services.GetRequiredService<BlobCollector>().ClearPartialWritesAsync(cancellationToken);

        // Dev mode stays off until ListenerGuard has seen the addresses Kestrel really bound (after start).
        await app.Services.GetRequiredService<DevMode>().InitializeAsync(cancellationToken);

        // Outside the exception handler, so that 500s carry the request id headers too.
        app.UseMiddleware<RequestIdMiddleware>();
        app.UseExceptionHandler();
        await MetricsEndpoint.MapAsync(app, cancellationToken);
        app.Use(async (context, next) =>
        {
            AzureDeploymentAlias.Rewrite(context.Request);
            await next(context);
        });
        // Routing runs after the alias rewrite, so the rewritten path is the one matched.
        app.UseRouting();
        app.UseMiddleware<ApiAuthenticationMiddleware>();

        app.MapGet("/healthz", () => Results.Text("ok"));
        // Not ready once shutdown began: a load balancer stops sending work while the node drains its runs.
        app.MapGet("/readyz", (IHostApplicationLifetime lifetime) => lifetime.ApplicationStopping.IsCancellationRequested
            ? Results.Text("draining", statusCode: StatusCodes.Status503ServiceUnavailable)
            : Results.Text("ready"));
        app.MapOpenApi(ServerOpenApi.Route);
        app.MapPlayground();

        // The same handlers serve both route sets; the Azure copies get their own endpoint names.
        var api = app.MapGroup("/v1").AddEndpointFilter<V1ShapeFilter>();
        var azure = app.MapGroup("/openai").AddEndpointFilter<V1ShapeFilter>();
        ((IEndpointConventionBuilder)azure).Finally(AzureDeploymentAlias.RenameEndpoint);
        MapApi(api);
        MapApi(azure);

        foreach (var root in (string[])["/v1", "/openai"])
        {
            app.MapFallback(root + "/{**path}", (HttpContext context) =>
                throw new ApiException(StatusCodes.Status404NotFound, new ErrorBody($"Invalid URL ({context.Request.Method} {context.Request.Path})", "invalid_request_error", null, null)));
        }
        return app;
    }

    private static void MapApi(RouteGroupBuilder api)
    {
        api.MapAssistantEndpoints()
            .MapAssistantFileEndpoints()
            .MapThreadEndpoints()
            .MapMessageEndpoints()
            .MapMessageFileEndpoints()
            .MapRunEndpoints()
            .MapFileEndpoints()
            .MapUploadEndpoints()
            .MapVectorStoreEndpoints()
            .MapModelEndpoints();
    }
}
