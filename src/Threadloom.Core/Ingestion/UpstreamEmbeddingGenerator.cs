using System.Numerics.Tensors;
using System.Text;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Threadloom.Core.Inference;

namespace Threadloom.Core.Ingestion;

/// <summary>
/// An upstream embeddings model (OpenAI-compatible or Azure OpenAI) through the OpenAI SDK's
/// <see cref="OpenAI.Embeddings.EmbeddingClient"/> and M.E.AI, configured by <see cref="EmbeddingsOptions"/>.
/// </summary>
/// <remarks>
/// Design notes:
/// <list type="bullet">
/// <item>The client options (endpoint, retries with backoff, timeout, Azure deployment policy) come from
/// <see cref="UpstreamClientOptions"/>, exactly as for chat, so a provider is configured once.</item>
/// <item><see cref="EmbeddingGeneratorMetadata.DefaultModelId"/> is the configured model name: it is what a vector
/// store records on its first write, and what the search compares before using a store's vectors.</item>
/// <item>Every vector is scaled to unit length: the chunk index scores by dot product, which is the cosine only for
/// unit vectors, and not every OpenAI-compatible server normalises (OpenAI does).</item>
/// <item>Inputs are split into requests of at most <see cref="EmbeddingsOptions.MaxBatchSize"/> inputs and
/// <see cref="EmbeddingsOptions.MaxBatchTokens"/> estimated tokens, sent one after another, results in input order.</item>
/// <item>Failures, once the SDK's retries are exhausted, surface as <see cref="ModelCallException"/> with a message
/// that is safe to show (no keys, no URLs); ingestion turns it into the file's <c>last_error</c>.</item>
/// </list>
/// </remarks>
internal sealed partial class UpstreamEmbeddingGenerator : IEmbeddingGenerator<string, Embedding<float>>
{
    private const string ModelSetting = EmbeddingsOptions.SectionName + ":Model";

    private readonly IEmbeddingGenerator<string, Embedding<float>> _inner;
    private readonly EmbeddingGeneratorMetadata _metadata;
    private readonly EmbeddingsOptions _options;
    private readonly string _provider;
    private readonly string _model;
    private readonly ILogger _logger;

    public UpstreamEmbeddingGenerator(
        UpstreamClientOptions upstream,
        IOptions<EmbeddingsOptions> options,
        IOptions<InferenceOptions> inference,
        ILogger<UpstreamEmbeddingGenerator> logger)
    {
        _options = options.Value;
        _model = _options.Model!;
        _provider = _options.ResolveProvider(inference.Value)
            ?? throw new InvalidOperationException("The Embeddings section names no usable provider; startup validation should have stopped the server.");
        _logger = logger;
        var setup = upstream.Create(_provider, _model);
        var client = new OpenAI.Embeddings.EmbeddingClient(_model, setup.Credential, setup.Options);
        _inner = client.AsIEmbeddingGenerator(_options.Dimensions);
        var providerType = inference.Value.Providers[_provider].Type.ToLowerInvariant();
        _metadata = new EmbeddingGeneratorMetadata(providerType, setup.Options.Endpoint, _model, _options.Dimensions);
    }

    public async Task<GeneratedEmbeddings<Embedding<float>>> GenerateAsync(
        IEnumerable<string> values, EmbeddingGenerationOptions? options = null, CancellationToken cancellationToken = default)
    {
        var inputs = values as IReadOnlyList<string> ?? values.ToList();
        var result = new GeneratedEmbeddings<Embedding<float>>(inputs.Count);
        foreach (var batch in Batches(inputs, _options.MaxBatchSize, _options.MaxBatchTokens))
        {
            GeneratedEmbeddings<Embedding<float>> generated;
            try
            {
                // The configured dimensions were given to the inner generator; a caller's options are not passed on,
                // because a vector of another width could not be compared with the store's.
                generated = await _inner.GenerateAsync(batch, cancellationToken: cancellationToken);
            }
            catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                var failure = ModelClient.Classify(e, ModelSetting);
                LogCallFailed(_logger, _provider, _model, failure.Code, failure.UpstreamStatus ?? 0, e.GetType().Name);
                throw failure;
            }
            if (generated.Count != batch.Count)
            {
                LogCallFailed(_logger, _provider, _model, ModelErrorCodes.ServerError, 200, "WrongVectorCount");
                throw new ModelCallException(ModelErrorCodes.ServerError,
                    $"The embedding model provider returned {generated.Count} vectors for {batch.Count} inputs.");
            }
            foreach (var embedding in generated)
            {
                result.Add(new Embedding<float>(Normalize(embedding.Vector.Span)) { ModelId = _model, CreatedAt = embedding.CreatedAt });
            }
        }
        return result;
    }

    /// <summary>Consecutive runs of inputs within both limits; an input over the token limit on its own goes alone.</summary>
    internal static IEnumerable<List<string>> Batches(IReadOnlyList<string> inputs, int maxInputs, int maxTokens)
    {
        var batch = new List<string>();
        long tokens = 0;
        foreach (var input in inputs)
        {
            var estimate = Math.Max(1, Encoding.UTF8.GetByteCount(input));
            if (batch.Count > 0 && (batch.Count >= maxInputs || tokens + estimate > maxTokens))
            {
                yield return batch;
                batch = [];
                tokens = 0;
            }
            batch.Add(input);
            tokens += estimate;
        }
        if (batch.Count > 0)
        {
            yield return batch;
        }
    }

    internal static float[] Normalize(ReadOnlySpan<float> source)
    {
        var vector = source.ToArray();
        var norm = TensorPrimitives.Norm(vector);
        if (norm > 0 && float.IsFinite(norm))
        {
            TensorPrimitives.Divide(vector, norm, vector);
        }
        return vector;
    }

    public object? GetService(Type serviceType, object? serviceKey = null) =>
        serviceKey is null && serviceType == typeof(EmbeddingGeneratorMetadata) ? _metadata
        : serviceKey is null && serviceType.IsInstanceOfType(this) ? this
        : _inner.GetService(serviceType, serviceKey);

    public void Dispose() => _inner.Dispose();

    [LoggerMessage(Level = LogLevel.Warning, Message = "Embedding call to {Provider}/{Model} failed: {Code} (HTTP {Status}, {ExceptionType})")]
    private static partial void LogCallFailed(ILogger logger, string provider, string model, string code, int status, string exceptionType);
}
