using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;
using Threadloom.Core.Inference;

namespace Threadloom.Core.Ingestion;

/// <summary>
/// The embedding model of file search, section <c>Embeddings</c>. With no <see cref="Model"/> the built-in
/// all-MiniLM-L6-v2 runs locally; with <see cref="Provider"/> <c>local</c>, <see cref="Model"/> names a built-in model
/// (<c>all-MiniLM-L6-v2</c> or <c>snowflake-arctic-embed-xs</c>, see <see cref="LocalEmbeddingModel"/>); otherwise an
/// upstream OpenAI-compatible or Azure OpenAI embeddings endpoint of an <c>Inference:Providers</c> entry is called.
/// </summary>
/// <remarks>
/// A vector store keeps the model it was built with for its whole life (issue #4): changing these settings affects new
/// stores. An existing store built with a built-in model keeps it while the server runs a built-in model
/// (<see cref="EmbeddingModels"/>); otherwise its vectors are searched by keywords only, and files added to it fail.
/// </remarks>
public sealed class EmbeddingsOptions
{
    public const string SectionName = "Embeddings";

    /// <summary>The <see cref="Provider"/> value that selects a built-in model, run in this process.</summary>
    public const string LocalProvider = "local";

    /// <summary>
    /// A key of <c>Inference:Providers</c>. May be omitted when exactly one provider is configured (the same rule as
    /// <c>Inference:Models</c> routes), which includes the <c>default</c> provider made from <c>OPENAI_BASE_URL</c>.
    /// </summary>
    public string? Provider { get; init; }

    /// <summary>Upstream model (openai) or deployment (azure), e.g. <c>text-embedding-3-small</c>. Unset: the built-in model.</summary>
    public string? Model { get; init; }

    /// <summary>Sent as <c>dimensions</c> (text-embedding-3 models can shorten their vectors); unset sends nothing.</summary>
    [Range(1, 65_536)]
    public int? Dimensions { get; init; }

    /// <summary>Inputs per upstream request; OpenAI accepts at most 2048.</summary>
    [Range(1, 2048)]
    public int MaxBatchSize { get; init; } = 2048;

    /// <summary>
    /// Estimated tokens per upstream request (OpenAI's limit is 300,000). The estimate is the UTF-8 byte count, an
    /// upper bound for byte-level BPE tokenizers, so a request never goes over it.
    /// </summary>
    [Range(1, 100_000_000)]
    public int MaxBatchTokens { get; init; } = 300_000;

    /// <summary>
    /// The built-in model with its weight matrices quantized to int8 at load (issue #11): 1.3–1.9× less model
    /// time on an AVX2 CPU, vectors close to but not equal to the float model's, so it is another model id
    /// (<see cref="MiniLmEmbeddingGenerator.Int8ModelId"/>). Unset: on for all-MiniLM-L6-v2 (within 0.005 of the float
    /// model's hybrid MRR@10 on both labelled sets, docs/file-search.md), off for a model without int8 weights. Either
    /// way it applies to new stores: a store built with the other weights keeps them (<see cref="EmbeddingModels"/>).
    /// </summary>
    public bool? LocalInt8 { get; init; }

    /// <summary>Whether new stores of the built-in model get int8 weights: <see cref="LocalInt8"/>, or by default when the model has them.</summary>
    public bool UsesLocalInt8 => LocalInt8 ?? LocalModel is { OffersInt8: true };

    /// <summary>True when an upstream model is configured.</summary>
    public bool IsUpstream => !string.IsNullOrWhiteSpace(Model) && !IsLocalProvider;

    /// <summary>True when <see cref="Provider"/> is <c>local</c>.</summary>
    public bool IsLocalProvider => string.Equals(Provider?.Trim(), LocalProvider, StringComparison.OrdinalIgnoreCase);

    /// <summary>The built-in model to run when not upstream (null when <see cref="Model"/> names none; the validator says so).</summary>
    public LocalEmbeddingModel? LocalModel => IsUpstream ? null : LocalEmbeddingModel.Find(IsLocalProvider ? Model : null);

    /// <summary>The provider key to call, or null when it cannot be resolved (the validator reports why).</summary>
    internal string? ResolveProvider(InferenceOptions inference)
    {
        if (string.IsNullOrWhiteSpace(Provider))
        {
            return inference.Providers.Count == 1 ? inference.Providers.Keys.Single() : null;
        }
        // The configured spelling may differ in case from the key; the SDK setup looks the key up again.
        return inference.Providers.Keys.FirstOrDefault(k => string.Equals(k, Provider, StringComparison.OrdinalIgnoreCase));
    }
}

/// <summary>
/// Checks the <c>Embeddings</c> section against the configured providers, so a wrong setting stops startup instead of
/// failing the first file. Reads <see cref="InferenceOptions"/> after its <c>OPENAI_*</c> fallback has been applied.
/// </summary>
internal sealed class EmbeddingsOptionsValidator(IOptions<InferenceOptions> inference) : IValidateOptions<EmbeddingsOptions>
{
    private const string Builtin = "Leave Embeddings:Model and Embeddings:Provider unset to use the built-in all-MiniLM-L6-v2, or set Embeddings:Provider to 'local' and Embeddings:Model to a built-in model.";

    public ValidateOptionsResult Validate(string? name, EmbeddingsOptions options)
    {
        var section = EmbeddingsOptions.SectionName;
        if (!options.IsUpstream)
        {
            var failures = new List<string>();
            if (options.LocalModel is null)
            {
                failures.Add($"{section}:Model '{options.Model}' is not a built-in model (with {section}:Provider '{EmbeddingsOptions.LocalProvider}'); the built-in models are " +
                    string.Join(", ", LocalEmbeddingModel.All.Select(m => $"'{m.Alias}' ({m.Id})")) + ".");
            }
            if (!string.IsNullOrWhiteSpace(options.Provider) && !options.IsLocalProvider)
            {
                failures.Add($"{section}:Model is required when {section}:Provider is set: the upstream embedding model or Azure deployment, e.g. text-embedding-3-small. {Builtin}");
            }
            if (options.LocalInt8 == true && options.LocalModel is { OffersInt8: false } unquantizable)
            {
                failures.Add($"{section}:LocalInt8 is built for {LocalEmbeddingModel.MiniLm.Alias} only, not {unquantizable.Alias}.");
            }
            if (options.Dimensions is not null)
            {
                failures.Add($"{section}:Dimensions applies to an upstream model only ({section}:Model); the built-in models have {MiniLmEmbeddingGenerator.Dimensions}.");
            }
            return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
        }

        if (options.LocalInt8 == true)
        {
            return ValidateOptionsResult.Fail($"{section}:LocalInt8 applies to the built-in model only; unset it or {section}:Model.");
        }
        var providers = inference.Value.Providers;
        var known = string.Join(", ", providers.Keys.Order(StringComparer.Ordinal));
        if (options.ResolveProvider(inference.Value) is not null)
        {
            return ValidateOptionsResult.Success;
        }
        return ValidateOptionsResult.Fail(
            providers.Count == 0
                ? $"{section}:Model '{options.Model}' needs a model provider, and none is configured. Configure Inference:Providers:<name> " +
                  $"(or OPENAI_BASE_URL/OPENAI_API_KEY) and name it in {section}:Provider. {Builtin}"
                : string.IsNullOrWhiteSpace(options.Provider)
                    ? $"{section}:Provider is required when several providers are configured ({known})."
                    : $"{section}:Provider '{options.Provider}' is not one of Inference:Providers ({known}).");
    }
}
