using System.Collections.Concurrent;
using Microsoft.Extensions.Options;
using Threadloom.Core.Storage;
using Threadloom.Server.Http;

namespace Threadloom.Server.Auth;

public sealed class AuthOptions
{
    public const string SectionName = "Auth";

    /// <summary>Dev mode: while no key was ever created and every bound address is loopback, any key maps to the default project.</summary>
    public bool AllowDevMode { get; init; } = true;

    /// <summary>How stale a node's view of the key set may be: a key created or revoked anywhere applies within this time.</summary>
    [System.ComponentModel.DataAnnotations.Range(typeof(TimeSpan), "00:00:00.010", "00:01:00")]
    public TimeSpan KeySetRefreshInterval { get; init; } = TimeSpan.FromSeconds(1);
}

/// <summary>
/// Resolves the caller of every <c>/v1</c>, <c>/openai</c> and <c>/playground/api</c> request: the project its key belongs to (from
/// <c>Authorization: Bearer</c> or Azure's <c>api-key</c> header) and the dialect (v1 or v2).
/// </summary>
/// <remarks>Design notes: grants are cached in <see cref="KeySetCache"/> under the key-set version, which is read at
/// most once per <see cref="AuthOptions.KeySetRefreshInterval"/>, so a hot GET costs no extra query and a revoked key
/// stops working on every node within that interval. A key's last use is written at most once a minute per node, off
/// the request path.</remarks>
internal sealed partial class ApiAuthenticationMiddleware(
    RequestDelegate next,
    IProjectStore projects,
    KeySetCache cache,
    DevMode devMode,
    TimeProvider time,
    ILogger<ApiAuthenticationMiddleware> logger)
{
    private static readonly TimeSpan RecordUseEvery = TimeSpan.FromMinutes(1);
    private readonly ConcurrentDictionary<string, DateTimeOffset> _usesRecorded = new(StringComparer.Ordinal);

    public async Task InvokeAsync(HttpContext context)
    {
        var path = context.Request.Path;
        var isAzure = path.StartsWithSegments("/openai", StringComparison.Ordinal);
        // The playground's own API (/playground/api) takes the same keys and scoping as /v1.
        if (!isAzure && !path.StartsWithSegments("/v1", StringComparison.Ordinal)
            && !path.StartsWithSegments(Features.Playground.PlaygroundEndpoints.Root + "/api", StringComparison.Ordinal))
        {
            await next(context);
            return;
        }
        // Azure picks the dialect from api-version alone and ignores OpenAI-Beta (DIGEST §1, §10); OpenAI reads the header.
        var dialect = isAzure
            ? AzureApiVersions.DialectOf(context.Request.Query["api-version"].ToString())
            : context.Request.Headers["OpenAI-Beta"].ToString().Contains("assistants=v1", StringComparison.Ordinal) ? ApiDialect.V1 : ApiDialect.V2;

        var key = ApiKeys.ReadKey(context.Request);
        if (string.IsNullOrEmpty(key))
        {
            throw ApiErrors.Unauthorized("You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or in an 'api-key' header.");
        }
        var grant = await ResolveAsync(key, context.RequestAborted)
            ?? throw ApiErrors.Unauthorized($"Incorrect API key provided: {ApiKeys.Redact(key)}.", "invalid_api_key");
        context.Items[ApiCaller.ItemKey] = new ApiCaller(grant.ProjectId, dialect);
        await next(context);
    }

    private async Task<KeySetCache.Grant?> ResolveAsync(string key, CancellationToken cancellationToken)
    {
        var hash = ApiKeys.Hash(key);
        var state = await cache.GetStateAsync(cancellationToken);
        var grant = cache.Find(hash, state);
        if (grant is null)
        {
            if (await projects.FindKeyByHashAsync(hash, cancellationToken) is { } stored)
            {
                grant = new KeySetCache.Grant(stored.ProjectId, stored.Id, state.Version);
            }
            else if (devMode.IsActive(state))
            {
                grant = new KeySetCache.Grant(devMode.ProjectId, null, state.Version);
            }
            else
            {
                return null;
            }
            cache.Add(hash, grant);
        }
        if (grant.KeyId is { } keyId)
        {
            RecordUse(keyId);
        }
        return grant;
    }

    private void RecordUse(string keyId)
    {
        var now = time.GetUtcNow();
        if (_usesRecorded.TryGetValue(keyId, out var last) && now - last < RecordUseEvery)
        {
            return;
        }
        _usesRecorded[keyId] = now;
        _ = Task.Run(async () =>
        {
            try
            {
                await projects.RecordKeyUseAsync(keyId, now, CancellationToken.None);
            }
            catch (Exception e)
            {
                LogRecordUseFailed(e, keyId);
            }
        });
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "Recording the last use of key {KeyId} failed")]
    private partial void LogRecordUseFailed(Exception exception, string keyId);
}

/// <summary>
/// Whether dev mode is on: allowed by configuration, no key was ever created, and every address the server really
/// bound is loopback. Until the bound addresses are known (just after startup) dev mode is off.
/// </summary>
public sealed partial class DevMode(IProjectStore projects, IOptions<AuthOptions> options, ILogger<DevMode> logger)
{
    private volatile bool _loopbackOnly;

    public string ProjectId { get; private set; } = "";

    /// <summary>True once <c>Hosting.ListenerGuard</c> saw only loopback addresses bound.</summary>
    public bool LoopbackOnly => _loopbackOnly;

    /// <summary>Whether dev mode would apply to a server that listens beyond loopback; such a start is refused.</summary>
    public bool WouldApply(KeySetState state) => options.Value.AllowDevMode && !state.KeysConfigured;

    public bool IsActive(KeySetState state) => _loopbackOnly && WouldApply(state);

    public async Task InitializeAsync(CancellationToken cancellationToken) =>
        ProjectId = (await projects.GetOrCreateAsync(ApiKeys.DefaultProjectName, cancellationToken)).Id;

    /// <summary>Records what the server bound, once started; logs the dev-mode warning when it applies.</summary>
    public void ListenersBound(bool loopbackOnly, KeySetState state)
    {
        _loopbackOnly = loopbackOnly;
        if (IsActive(state))
        {
            LogDevMode();
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Dev mode: no API key was ever created and the server listens on loopback only, so any key is accepted and maps to the default project. Create a key with 'threadloom keys create --project NAME'.")]
    private partial void LogDevMode();
}
