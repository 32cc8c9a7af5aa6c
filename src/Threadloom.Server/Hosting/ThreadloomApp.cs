using System.Net;
using OpenTelemetry.Metrics;
using Threadloom.Core.Domain;
using Threadloom.Core.Inference;
using Threadloom.Core.Ingestion;
using Threadloom.Core.Runs;
using Threadloom.Core.Storage;
using Threadloom.Core.Tools.CodeInterpreter;
using Threadloom.Sandbox;
using Threadloom.Server.Auth;
using Threadloom.Server.Features;
using Threadloom.Server.Features.Assistants;
using Threadloom.Server.Features.Files;
using Threadloom.Server.Features.Messages;
using Threadloom.Server.Features.Models;
using Threadloom.Server.Features.Runs;
using Threadloom.Server.Features.Threads;
using Threadloom.Server.Features.Uploads;
using Threadloom.Server.Features.VectorStores;
using Threadloom.Server.Http;
using Threadloom.Storage.Sqlite;

namespace Threadloom.Server.Hosting;

/// <summary>The composition root: builds the web application that <c>Program</c> runs and the tests host.</summary>
public static class ThreadloomApp
{
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

        services.AddSqliteStorage(DataDirectory(configuration));

        services.AddOptions<AuthOptions>().BindConfiguration(AuthOptions.SectionName);
        services.AddOptions<FilesOptions>().BindConfiguration(FilesOptions.SectionName).ValidateDataAnnotations().ValidateOnStart();
        services.AddSingleton<DevMode>();
        services.AddSingleton<ApiKeys>();
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

        services.AddOptions<IngestionOptions>().BindConfiguration(IngestionOptions.SectionName);
        services.AddOptions<SqliteChunkIndexOptions>().BindConfiguration(SqliteChunkIndexOptions.SectionName).ValidateDataAnnotations().ValidateOnStart();
        services.AddOptions<EmbeddingsOptions>().BindConfiguration(EmbeddingsOptions.SectionName);
        services.AddSqliteChunkIndex().AddFileSearchEngine().AddVectorStoreEngine();
        services.AddSingleton<VectorStoreService>();
        services.AddSingleton<ThreadFileSearch>();
    }

    /// <summary>Migrates the database, decides dev mode, and maps every route.</summary>
    public static async Task<WebApplication> BuildAsync(WebApplicationBuilder builder, CancellationToken cancellationToken = default)
    {
        var app = builder.Build();
        await app.Services.GetRequiredService<IMigrator>().MigrateAsync(cancellationToken);

        var devMode = app.Services.GetRequiredService<DevMode>();
        devMode.LoopbackOnly = ListensOnLoopbackOnly(app);
        if (!devMode.LoopbackOnly && !await app.Services.GetRequiredService<IProjectStore>().AnyKeysAsync(cancellationToken))
        {
            throw new InvalidOperationException(
                "Refusing to listen on a non-loopback address with no API key configured. Create one with 'threadloom keys create --project NAME', or listen on 127.0.0.1.");
        }
        await devMode.InitializeAsync(cancellationToken);

        // Outside the exception handler, so that 500s carry the request id headers too.
        app.UseMiddleware<RequestIdMiddleware>();
        app.UseExceptionHandler();
        app.Use(async (context, next) =>
        {
            AzureDeploymentAlias.Rewrite(context.Request);
            await next(context);
        });
        // Routing runs after the alias rewrite, so the rewritten path is the one matched.
        app.UseRouting();
        app.UseMiddleware<ApiAuthenticationMiddleware>();

        app.MapGet("/healthz", () => Results.Text("ok"));
        app.MapGet("/readyz", () => Results.Text("ready"));
        app.MapPrometheusScrapingEndpoint("/metrics");
        app.MapOpenApi(ServerOpenApi.Route);

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
            .MapThreadEndpoints()
            .MapMessageEndpoints()
            .MapRunEndpoints()
            .MapFileEndpoints()
            .MapUploadEndpoints()
            .MapVectorStoreEndpoints()
            .MapModelEndpoints();
    }

    private static bool ListensOnLoopbackOnly(WebApplication app)
    {
        var urls = app.Urls.Count > 0 ? app.Urls : (app.Configuration["urls"] ?? ServerOptions.DefaultUrl).Split(';');
        return urls.All(url =>
        {
            var host = BindingHost(url);
            return host is "localhost" || (IPAddress.TryParse(host.Trim('[', ']'), out var ip) && IPAddress.IsLoopback(ip));
        });
    }

    private static string BindingHost(string url)
    {
        var rest = url[(url.IndexOf("://", StringComparison.Ordinal) + 3)..];
        var end = rest.StartsWith('[') ? rest.IndexOf(']', StringComparison.Ordinal) + 1 : rest.IndexOfAny([':', '/']);
        return end <= 0 ? rest : rest[..end];
    }
}
