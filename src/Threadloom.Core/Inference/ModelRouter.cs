using Microsoft.Extensions.Options;

namespace Threadloom.Core.Inference;

/// <summary>A model name resolved to a provider, with what truncation needs to know about it.</summary>
/// <param name="RequestedModel">The assistant's (or run's) model name.</param>
/// <param name="ProviderName">Key under <c>Inference:Providers</c>.</param>
/// <param name="ProviderType"><c>openai</c> or <c>azure</c>.</param>
/// <param name="UpstreamModel">Model name (openai) or deployment name (azure) sent upstream.</param>
/// <param name="ContextWindow">Context window in tokens.</param>
/// <param name="TokenizerEncoding">Tokenizer encoding, e.g. <c>o200k_base</c>.</param>
/// <param name="Reasoning">The route marks a reasoning model: <c>reasoning_effort</c> is sent, sampling settings are not.</param>
/// <param name="Vision">The route's model accepts image input.</param>
public sealed record ResolvedModel(
    string RequestedModel,
    string ProviderName,
    string ProviderType,
    string UpstreamModel,
    int ContextWindow,
    string TokenizerEncoding,
    bool Reasoning = false,
    bool Vision = true);

/// <summary>Either a <see cref="ResolvedModel"/> or an error message safe to show users.</summary>
public sealed record ModelResolution(ResolvedModel? Model, string? Error)
{
    public bool Succeeded => Model is not null;
}

/// <summary>Maps assistant model names to providers (the <c>Inference:Models</c> routes).</summary>
public interface IModelRouter
{
    /// <summary>Resolves <paramref name="model"/>; never throws for a missing provider or route.</summary>
    ModelResolution Resolve(string model);

    /// <summary>True when at least one provider is configured (explicitly or through <c>OPENAI_*</c>).</summary>
    bool HasProviders { get; }

    /// <summary>The configured route names without wildcards, for <c>GET /v1/models</c>.</summary>
    IReadOnlyList<string> ListedModels { get; }

    /// <summary>
    /// The provider a catch-all route (<c>*</c>, or no route with one provider) sends unlisted names to unchanged, or
    /// null when there is none (a catch-all that maps every name to one upstream model does not pass names through).
    /// </summary>
    string? PassThroughProvider { get; }
}

internal sealed class ModelRouter : IModelRouter
{
    internal const string HowToConfigure =
        "Set the OPENAI_BASE_URL and OPENAI_API_KEY environment variables for any OpenAI-compatible endpoint, " +
        "or configure Inference:Providers:<name> (Type, BaseUrl or Endpoint, ApiKey, ApiVersion) and Inference:Models routes. " +
        "See docs/providers.md.";

    private readonly InferenceOptions _options;

    public ModelRouter(IOptions<InferenceOptions> options)
    {
        _options = options.Value;
        ListedModels = [.. _options.Models.Select(m => m.Name).Where(n => !n.Contains('*', StringComparison.Ordinal)).Distinct(StringComparer.Ordinal)];
    }

    public bool HasProviders => _options.Providers.Count > 0;

    public IReadOnlyList<string> ListedModels { get; }

    public string? PassThroughProvider
    {
        get
        {
            if (_options.Providers.Count == 0)
            {
                return null;
            }
            var catchAll = _options.Models.FirstOrDefault(m => m.Name == "*");
            if (catchAll is null)
            {
                return _options.Models.Count == 0 && _options.Providers.Count == 1 ? _options.Providers.Keys.Single() : null;
            }
            if (!string.IsNullOrWhiteSpace(catchAll.Model) || !string.IsNullOrWhiteSpace(catchAll.Deployment))
            {
                return null;
            }
            var provider = catchAll.Provider ?? (_options.Providers.Count == 1 ? _options.Providers.Keys.Single() : null);
            return provider is not null && _options.Providers.ContainsKey(provider) ? provider : null;
        }
    }

    public ModelResolution Resolve(string model)
    {
        if (_options.Providers.Count == 0)
        {
            return new(null, $"No model provider is configured, so model '{model}' cannot be called. {HowToConfigure}");
        }
        var route = FindRoute(model);
        if (route is null)
        {
            if (_options.Models.Count == 0 && _options.Providers.Count == 1)
            {
                // One provider and no routes: pass every model name through to it.
                route = new ModelRouteOptions { Name = "*" };
            }
            else
            {
                return new(null,
                    $"No model route matches '{model}'. Add an Inference:Models entry with Name '{model}' (or '*' as a catch-all) " +
                    $"that names one of the configured providers ({string.Join(", ", _options.Providers.Keys.Order(StringComparer.Ordinal))}). See docs/providers.md.");
            }
        }
        var providerName = route.Provider ?? _options.Providers.Keys.Single();
        if (!_options.Providers.TryGetValue(providerName, out var provider))
        {
            return new(null, $"The route for model '{model}' names provider '{providerName}', which is not configured. {HowToConfigure}");
        }
        var upstream = string.IsNullOrWhiteSpace(route.Model) ? route.Deployment : route.Model;
        return new(new ResolvedModel(
            model,
            providerName,
            provider.Type.ToLowerInvariant(),
            string.IsNullOrWhiteSpace(upstream) ? model : upstream,
            route.ContextWindow ?? _options.DefaultContextWindow,
            route.Tokenizer ?? _options.DefaultTokenizer,
            route.Reasoning,
            route.Vision), null);
    }

    private ModelRouteOptions? FindRoute(string model)
    {
        ModelRouteOptions? best = null;
        var bestRank = -1;
        foreach (var route in _options.Models)
        {
            var name = route.Name;
            int rank;
            if (string.Equals(name, model, StringComparison.Ordinal))
            {
                return route;
            }
            else if (name == "*")
            {
                rank = 0;
            }
            else if (name.EndsWith('*') && model.StartsWith(name[..^1], StringComparison.Ordinal))
            {
                rank = name.Length;
            }
            else
            {
                continue;
            }
            if (rank > bestRank)
            {
                best = route;
                bestRank = rank;
            }
        }
        return best;
    }
}
