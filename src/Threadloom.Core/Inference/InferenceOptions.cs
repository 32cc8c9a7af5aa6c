using System.ComponentModel.DataAnnotations;

namespace Threadloom.Core.Inference;

/// <summary>
/// Model providers and model routes, bound from the <c>Inference</c> section. With no provider configured,
/// <c>OPENAI_BASE_URL</c>/<c>OPENAI_API_KEY</c> define a provider named <c>default</c>; with neither, the server
/// still starts and runs fail with a message that says how to configure one.
/// </summary>
public sealed class InferenceOptions
{
    public const string SectionName = "Inference";

    /// <summary>Name of the provider built from <c>OPENAI_BASE_URL</c>/<c>OPENAI_API_KEY</c>.</summary>
    public const string DefaultProviderName = "default";

    /// <summary>Providers by name: <c>Inference:Providers:&lt;name&gt;:Type|BaseUrl|Endpoint|ApiKey|ApiVersion</c>.</summary>
    public Dictionary<string, ModelProviderOptions> Providers { get; init; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>
    /// Routes, tried in order of specificity: exact name, then prefix patterns ending in <c>*</c> (longest first),
    /// then the catch-all <c>*</c>. A list rather than a map because model names such as <c>llama3.1:8b</c>
    /// contain the configuration key separator.
    /// </summary>
    public List<ModelRouteOptions> Models { get; init; } = [];

    /// <summary>Retries of an upstream 408/429/5xx or network failure, after the first try.</summary>
    [Range(0, 10)]
    public int MaxRetries { get; init; } = 3;

    /// <summary>First retry delay; doubled on each further retry. A <c>Retry-After</c> header wins when present.</summary>
    public TimeSpan RetryBaseDelay { get; init; } = TimeSpan.FromMilliseconds(800);

    /// <summary>Upper bound of any single retry delay, including one asked for by <c>Retry-After</c>.</summary>
    public TimeSpan MaxRetryDelay { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Network timeout of one upstream call (covers a whole streamed response).</summary>
    public TimeSpan RequestTimeout { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>How long <c>GET /v1/models</c> keeps the model list of a catch-all route's provider.</summary>
    public TimeSpan ModelListCacheTtl { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>How long <c>GET /v1/models</c> waits for that list; past it the configured routes are listed alone.</summary>
    public TimeSpan ModelListTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>At most this many upstream models are listed (an upstream's list is outside input).</summary>
    [Range(0, 100_000)]
    public int MaxListedUpstreamModels { get; init; } = 1000;

    /// <summary>Context window of a route that does not give one.</summary>
    [Range(256, 100_000_000)]
    public int DefaultContextWindow { get; init; } = 128_000;

    /// <summary>Tokenizer encoding of a route that does not give one: <c>o200k_base</c> or <c>cl100k_base</c>.</summary>
    public string DefaultTokenizer { get; init; } = "o200k_base";
}

/// <summary>One upstream provider.</summary>
public sealed class ModelProviderOptions
{
    /// <summary><c>openai</c> (any OpenAI-compatible chat-completions endpoint) or <c>azure</c> (Azure OpenAI deployments).</summary>
    public string Type { get; init; } = ModelProviderTypes.OpenAI;

    /// <summary>openai: base URL including the version segment, e.g. <c>https://api.openai.com/v1</c> or <c>http://localhost:11434/v1</c>.</summary>
    public string? BaseUrl { get; init; }

    /// <summary>azure: resource endpoint, e.g. <c>https://my-resource.openai.azure.com</c>.</summary>
    public string? Endpoint { get; init; }

    /// <summary>Sent as <c>Authorization: Bearer</c> (openai) or <c>api-key</c> (azure). Optional for local servers.</summary>
    public string? ApiKey { get; init; }

    /// <summary>azure: the <c>api-version</c> query value.</summary>
    public string? ApiVersion { get; init; }
}

/// <summary>One route from an assistant's model name to a provider.</summary>
public sealed class ModelRouteOptions
{
    /// <summary>The assistant model name; <c>*</c> is the catch-all, <c>gpt-4o*</c> a prefix pattern.</summary>
    public string Name { get; init; } = "";

    /// <summary>Provider name; may be omitted when exactly one provider is configured.</summary>
    public string? Provider { get; init; }

    /// <summary>Upstream model (openai) or deployment (azure) name; defaults to the assistant's model name.</summary>
    public string? Model { get; init; }

    /// <summary>Alias of <see cref="Model"/> that reads better for Azure.</summary>
    public string? Deployment { get; init; }

    /// <summary>Context window in tokens; defaults to <see cref="InferenceOptions.DefaultContextWindow"/>.</summary>
    public int? ContextWindow { get; init; }

    /// <summary>Tokenizer encoding; defaults to <see cref="InferenceOptions.DefaultTokenizer"/>.</summary>
    public string? Tokenizer { get; init; }

    /// <summary>
    /// The upstream model is a reasoning model (o-series, gpt-5, DeepSeek-R1 behind vLLM…): a run's
    /// <c>reasoning_effort</c> is sent to it, and <c>temperature</c>/<c>top_p</c> are not (reasoning models reject them).
    /// Other routes never receive <c>reasoning_effort</c>: OpenAI's non-reasoning models reject the field.
    /// </summary>
    public bool Reasoning { get; init; }

    /// <summary>
    /// The upstream model accepts image input. When false, a run whose prompt holds a user image fails with
    /// <c>invalid_prompt</c>, and code interpreter images are not shown to the model.
    /// </summary>
    public bool Vision { get; init; } = true;
}

public static class ModelProviderTypes
{
    public const string OpenAI = "openai";
    public const string Azure = "azure";
}
