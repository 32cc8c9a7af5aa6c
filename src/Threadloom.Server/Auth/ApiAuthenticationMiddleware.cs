using System.Collections.Concurrent;
using Microsoft.Extensions.Options;
using Threadloom.Core.Storage;
using Threadloom.Server.Http;

namespace Threadloom.Server.Auth;

public sealed class AuthOptions
{
    public const string SectionName = "Auth";

    /// <summary>Dev mode: with no key in the database and a loopback-only listener, any key maps to the default project.</summary>
    public bool AllowDevMode { get; init; } = true;
}

/// <summary>
/// Resolves the caller of every <c>/v1</c> and <c>/openai</c> request: the project its key belongs to (from
/// <c>Authorization: Bearer</c> or Azure's <c>api-key</c> header) and the dialect (v1 or v2).
/// </summary>
/// <remarks>Design notes: key lookups are cached by hash for a short time so that a hot GET costs no extra query.
/// The dev-mode decision is re-read every few seconds, so the first key created with the CLI ends dev mode on a
/// running server.</remarks>
internal sealed class ApiAuthenticationMiddleware(
    RequestDelegate next,
    IProjectStore projects,
    DevMode devMode,
    TimeProvider time)
{
    private static readonly TimeSpan CacheFor = TimeSpan.FromSeconds(5);
    private readonly ConcurrentDictionary<string, (string? ProjectId, DateTimeOffset Until, int Generation)> _cache = new();

    public async Task InvokeAsync(HttpContext context)
    {
        var path = context.Request.Path;
        var isAzure = path.StartsWithSegments("/openai", StringComparison.Ordinal);
        if (!isAzure && !path.StartsWithSegments("/v1", StringComparison.Ordinal))
        {
            await next(context);
            return;
        }
        // Azure picks the dialect from api-version alone and ignores OpenAI-Beta (DIGEST §1, §10); OpenAI reads the header.
        var dialect = isAzure
            ? AzureApiVersions.DialectOf(context.Request.Query["api-version"].ToString())
            : context.Request.Headers["OpenAI-Beta"].ToString().Contains("assistants=v1", StringComparison.Ordinal) ? ApiDialect.V1 : ApiDialect.V2;

        var key = ReadKey(context.Request);
        if (string.IsNullOrEmpty(key))
        {
            throw ApiErrors.Unauthorized("You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or in an 'api-key' header.");
        }
        var projectId = await ResolveProjectAsync(key, context.RequestAborted)
            ?? throw ApiErrors.Unauthorized($"Incorrect API key provided: {Redact(key)}.", "invalid_api_key");
        context.Items[ApiCaller.ItemKey] = new ApiCaller(projectId, dialect);
        await next(context);
    }

    private async Task<string?> ResolveProjectAsync(string key, CancellationToken cancellationToken)
    {
        var hash = ApiKeys.Hash(key);
        var now = time.GetUtcNow();
        // An entry from before the last key was created in this process is stale: dev mode may have ended.
        if (_cache.TryGetValue(hash, out var cached) && cached.Until > now && cached.Generation == devMode.Generation)
        {
            return cached.ProjectId;
        }
        var generation = devMode.Generation;
        var projectId = (await projects.FindKeyByHashAsync(hash, cancellationToken))?.ProjectId;
        if (projectId is null && await devMode.IsActiveAsync(cancellationToken))
        {
            projectId = devMode.ProjectId;
        }
        _cache[hash] = (projectId, now + CacheFor, generation);
        return projectId;
    }

    private static string? ReadKey(HttpRequest request)
    {
        var authorization = request.Headers.Authorization.ToString();
        if (authorization.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
        {
            return authorization["Bearer ".Length..].Trim();
        }
        var apiKey = request.Headers["api-key"].ToString();
        return string.IsNullOrEmpty(apiKey) ? null : apiKey.Trim();
    }

    private static string Redact(string key) => key.Length <= 8 ? "****" : $"{key[..3]}****{key[^4..]}";
}

/// <summary>Whether dev mode is on: allowed by configuration, no key exists, and the server listens on loopback only.</summary>
public sealed partial class DevMode(IProjectStore projects, IOptions<AuthOptions> options, TimeProvider time, ILogger<DevMode> logger)
{
    private static readonly TimeSpan RecheckEvery = TimeSpan.FromSeconds(5);
    private (bool Active, DateTimeOffset Until) _state;

    public string ProjectId { get; private set; } = "";

    public bool LoopbackOnly { get; set; } = true;

    public async Task InitializeAsync(CancellationToken cancellationToken)
    {
        ProjectId = (await projects.GetOrCreateAsync(ApiKeys.DefaultProjectName, cancellationToken)).Id;
        if (await IsActiveAsync(cancellationToken))
        {
            LogDevMode();
        }
    }

    private int _generation;

    /// <summary>Bumped whenever a key is created in this process; callers that cache grants compare it.</summary>
    public int Generation => Volatile.Read(ref _generation);

    /// <summary>Re-reads the key table on the next request: a key created in this process ends dev mode at once.</summary>
    public void Invalidate()
    {
        _state = default;
        Interlocked.Increment(ref _generation);
    }

    public async Task<bool> IsActiveAsync(CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        if (_state.Until > now)
        {
            return _state.Active;
        }
        var active = options.Value.AllowDevMode && LoopbackOnly && !await projects.AnyKeysAsync(cancellationToken);
        _state = (active, now + RecheckEvery);
        return active;
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Dev mode: no API key exists, so any key is accepted and maps to the default project. Create a key with 'threadloom keys create --project NAME'.")]
    private partial void LogDevMode();
}
