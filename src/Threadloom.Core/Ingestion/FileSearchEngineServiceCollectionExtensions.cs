using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Threadloom.Core.Tools.FileSearch;

namespace Threadloom.Core.Ingestion;

public static class FileSearchEngineServiceCollectionExtensions
{
    /// <summary>
    /// Registers extraction, chunking, the local MiniLM embedding generator (unless an
    /// <see cref="IEmbeddingGenerator{TInput, TEmbedding}"/> is already registered), <see cref="FileIngestor"/> and
    /// <see cref="HybridFileSearch"/>. An <see cref="IChunkIndex"/> must come from a storage provider
    /// (<c>AddSqliteChunkIndex()</c>). The host binds <see cref="IngestionOptions"/> to the <c>Ingestion</c> section (Core has no configuration binder).
    /// </summary>
    public static IServiceCollection AddFileSearchEngine(this IServiceCollection services)
    {
        services.AddOptions<IngestionOptions>().ValidateDataAnnotations().ValidateOnStart();
        services.TryAddSingleton<ITextExtractor, TextExtractor>();
        services.TryAddSingleton<TextChunker>();
        services.TryAddSingleton<IEmbeddingGenerator<string, Embedding<float>>>(_ => new MiniLmEmbeddingGenerator());
        services.TryAddSingleton<FileIngestor>();
        services.TryAddSingleton<HybridFileSearch>();
        return services;
    }
}
