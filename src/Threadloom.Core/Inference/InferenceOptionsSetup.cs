using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;
using Threadloom.Core.Runs.Truncation;

namespace Threadloom.Core.Inference;

/// <summary>Adds the <c>default</c> provider from <c>OPENAI_BASE_URL</c>/<c>OPENAI_API_KEY</c> when no provider is configured.</summary>
internal sealed class InferenceEnvironmentFallback(IConfiguration configuration) : IPostConfigureOptions<InferenceOptions>
{
    public const string BaseUrlVariable = "OPENAI_BASE_URL";
    public const string ApiKeyVariable = "OPENAI_API_KEY";
    public const string OpenAIDefaultBaseUrl = "https://api.openai.com/v1";

    public void PostConfigure(string? name, InferenceOptions options)
    {
        if (options.Providers.Count > 0)
        {
            return;
        }
        var baseUrl = configuration[BaseUrlVariable];
        var apiKey = configuration[ApiKeyVariable];
        if (string.IsNullOrWhiteSpace(baseUrl) && string.IsNullOrWhiteSpace(apiKey))
        {
            return;
        }
        options.Providers[InferenceOptions.DefaultProviderName] = new ModelProviderOptions
        {
            Type = ModelProviderTypes.OpenAI,
            BaseUrl = string.IsNullOrWhiteSpace(baseUrl) ? OpenAIDefaultBaseUrl : baseUrl,
            ApiKey = string.IsNullOrWhiteSpace(apiKey) ? null : apiKey,
        };
    }
}

/// <summary>Cross-field checks DataAnnotations cannot express. A wrong configuration stops startup; no configuration does not.</summary>
internal sealed class InferenceOptionsValidator : IValidateOptions<InferenceOptions>
{
    public ValidateOptionsResult Validate(string? name, InferenceOptions options)
    {
        var failures = new List<string>();
        foreach (var (providerName, provider) in options.Providers)
        {
            var prefix = $"{InferenceOptions.SectionName}:Providers:{providerName}";
            switch (provider.Type.ToLowerInvariant())
            {
                case ModelProviderTypes.OpenAI:
                    if (!string.IsNullOrEmpty(provider.BaseUrl) && !IsHttpUrl(provider.BaseUrl))
                    {
                        failures.Add($"{prefix}:BaseUrl must be an absolute http(s) URL.");
                    }
                    break;
                case ModelProviderTypes.Azure:
                    if (string.IsNullOrEmpty(provider.Endpoint) || !IsHttpUrl(provider.Endpoint))
                    {
                        failures.Add($"{prefix}:Endpoint must be an absolute http(s) URL, e.g. https://my-resource.openai.azure.com.");
                    }
                    break;
                default:
                    failures.Add($"{prefix}:Type must be 'openai' or 'azure', not '{provider.Type}'.");
                    break;
            }
        }
        for (var i = 0; i < options.Models.Count; i++)
        {
            var route = options.Models[i];
            var prefix = $"{InferenceOptions.SectionName}:Models:{i}";
            if (string.IsNullOrWhiteSpace(route.Name))
            {
                failures.Add($"{prefix}:Name is required ('*' for the catch-all).");
            }
            if (route.Provider is null ? options.Providers.Count > 1 : !options.Providers.ContainsKey(route.Provider))
            {
                failures.Add($"{prefix}:Provider must name one of Inference:Providers ({string.Join(", ", options.Providers.Keys)}).");
            }
            if (route.ContextWindow is < 256)
            {
                failures.Add($"{prefix}:ContextWindow must be at least 256.");
            }
            if (route.Tokenizer is { } tokenizer && !TokenCounter.IsSupportedEncoding(tokenizer))
            {
                failures.Add($"{prefix}:Tokenizer must be one of {string.Join(", ", TokenCounter.SupportedEncodings)}.");
            }
        }
        if (!TokenCounter.IsSupportedEncoding(options.DefaultTokenizer))
        {
            failures.Add($"{InferenceOptions.SectionName}:DefaultTokenizer must be one of {string.Join(", ", TokenCounter.SupportedEncodings)}.");
        }
        if (options.ModelListCacheTtl < TimeSpan.Zero || options.ModelListTimeout <= TimeSpan.Zero)
        {
            failures.Add($"{InferenceOptions.SectionName}: ModelListCacheTtl must not be negative; ModelListTimeout must be positive.");
        }
        if (options.RetryBaseDelay < TimeSpan.Zero || options.MaxRetryDelay < TimeSpan.Zero || options.RequestTimeout <= TimeSpan.Zero)
        {
            failures.Add($"{InferenceOptions.SectionName}: RetryBaseDelay and MaxRetryDelay must not be negative; RequestTimeout must be positive.");
        }
        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }

    private static bool IsHttpUrl(string value) =>
        Uri.TryCreate(value, UriKind.Absolute, out var uri) && (uri.Scheme == Uri.UriSchemeHttp || uri.Scheme == Uri.UriSchemeHttps);
}
