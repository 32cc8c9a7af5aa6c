using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using OpenAI.Models;

namespace Threadloom.Core.Inference;

/// <summary>The model names <c>GET /v1/models</c> lists.</summary>
public interface IModelCatalog
{
    /// <summary>
    /// The configured route names, then, when a catch-all route passes names through to a provider, the models that
    /// provider lists at its <c>/models</c> (cached for <see cref="InferenceOptions.ModelListCacheTtl"/>). An upstream
    /// that fails or is slow only leaves its models out; this never throws for it.
    /// </summary>
    Task<IReadOnlyList<string>> ListAsync(CancellationToken cancellationToken);
}

/// <remarks>
/// Design notes: one refresh at a time (later callers wait for it and share its result); a failed fetch is cached
/// too, for at most <see cref="FailureTtl"/>, so an upstream outage does not add its timeout to every listing.
/// Azure providers are not asked: their model list is not the deployment names a route sends.
/// </remarks>
internal sealed partial class ModelCatalog(
    IModelRouter router,
    UpstreamClientOptions upstream,
    IOptions<InferenceOptions> options,
    TimeProvider time,
    ILogger<ModelCatalog> logger) : IModelCatalog, IDisposable
{
    internal static readonly TimeSpan FailureTtl = TimeSpan.FromSeconds(30);

    private readonly SemaphoreSlim _refresh = new(1, 1);
    private (IReadOnlyList<string> Models, DateTimeOffset Until)? _cached;

    public async Task<IReadOnlyList<string>> ListAsync(CancellationToken cancellationToken)
    {
        var configured = router.ListedModels;
        if (router.PassThroughProvider is not { } provider
            || !string.Equals(options.Value.Providers[provider].Type, ModelProviderTypes.OpenAI, StringComparison.OrdinalIgnoreCase))
        {
            return configured;
        }
        var upstreamModels = await UpstreamModelsAsync(provider, cancellationToken);
        return [.. configured.Concat(upstreamModels).Distinct(StringComparer.Ordinal)];
    }

    private async Task<IReadOnlyList<string>> UpstreamModelsAsync(string provider, CancellationToken cancellationToken)
    {
        if (_cached is { } hit && hit.Until > time.GetUtcNow())
        {
            return hit.Models;
        }
        await _refresh.WaitAsync(cancellationToken);
        try
        {
            if (_cached is { } again && again.Until > time.GetUtcNow())
            {
                return again.Models;
            }
            var ttl = options.Value.ModelListCacheTtl;
            try
            {
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                timeout.CancelAfter(options.Value.ModelListTimeout);
                var setup = upstream.Create(provider, "models");
                setup.Options.RetryPolicy = new System.ClientModel.Primitives.ClientRetryPolicy(0);
                var client = new OpenAIModelClient(setup.Credential, setup.Options);
                var models = await client.GetModelsAsync(timeout.Token);
                IReadOnlyList<string> ids = [.. models.Value.Select(m => m.Id).Where(id => !string.IsNullOrEmpty(id)).Take(options.Value.MaxListedUpstreamModels)];
                _cached = (ids, time.GetUtcNow() + ttl);
                return ids;
            }
            catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                LogListFailed(provider, e.GetType().Name);
                _cached = ([], time.GetUtcNow() + (ttl < FailureTtl ? ttl : FailureTtl));
                return [];
            }
        }
        finally
        {
            _refresh.Release();
        }
    }

    public void Dispose() => _refresh.Dispose();

    [LoggerMessage(Level = LogLevel.Warning, Message = "Listing the models of provider {Provider} failed ({ExceptionType}); GET /v1/models shows the configured routes only")]
    private partial void LogListFailed(string provider, string exceptionType);
}
