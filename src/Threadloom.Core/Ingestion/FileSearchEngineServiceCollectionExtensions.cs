using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using Threadloom.Core.Inference;
using Threadloom.Core.Tools.FileSearch;

namespace Threadloom.Core.Ingestion;

public static class FileSearchEngineServiceCollectionExtensions
{
    /// <summary>
    /// Registers extraction, chunking, the embedding generator (unless an
    /// <see cref="IEmbeddingGenerator{TInput, TEmbedding}"/> is already registered), <see cref="FileIngestor"/> and
    /// <see cref="HybridFileSearch"/>. The generator is the local MiniLM (or the built-in model that
    /// <c>Embeddings:Provider</c> <c>local</c> and <c>Embeddings:Model</c> name), or the upstream model that
    /// <see cref="EmbeddingsOptions"/> names (validated at startup against <c>Inference:Providers</c>, so
    /// <c>AddInference</c> should be registered too). An <see cref="Storage.IChunkIndex"/> must come from a storage provider
    /// (<c>Storage:Provider</c>). The host binds <see cref="IngestionOptions"/> to <c>Ingestion</c> and
    /// <see cref="EmbeddingsOptions"/> to <c>Embeddings</c>.
    /// </summary>
    public static IServiceCollection AddFileSearchEngine(this IServiceCollection services)
    {
        services.AddOptions<IngestionOptions>().ValidateDataAnnotations().ValidateOnStart();
        services.AddOptions<EmbeddingsOptions>().ValidateDataAnnotations().ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<EmbeddingsOptions>, EmbeddingsOptionsValidator>());
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton<UpstreamClientOptions>();
        services.TryAddSingleton<ITextExtractor, IsolatedTextExtractor>();
        services.TryAddSingleton<TextChunker>();
        // Built on first use: a node that never ingests nor searches never loads the local model.
        services.TryAddSingleton<IEmbeddingGenerator<string, Embedding<float>>>(sp =>
            sp.GetRequiredService<IOptions<EmbeddingsOptions>>().Value.IsUpstream
                ? ActivatorUtilities.CreateInstance<UpstreamEmbeddingGenerator>(sp)
                : LocalGenerator(sp.GetRequiredService<IOptions<EmbeddingsOptions>>().Value));
        services.TryAddSingleton(sp => new EmbeddingModels(sp.GetRequiredService<IEmbeddingGenerator<string, Embedding<float>>>()));
        services.TryAddSingleton<FileIngestor>();
        services.TryAddSingleton<IngestionCancellations>();
        services.TryAddSingleton<HybridFileSearch>();
        return services;
    }

    private static MiniLmEmbeddingGenerator LocalGenerator(EmbeddingsOptions options) =>
        new(options.LocalModel ?? LocalEmbeddingModel.MiniLm, options.UsesLocalInt8 ? MiniLmRuntime.DefaultInt8 : MiniLmRuntime.Default);
}
