using Microsoft.Extensions.AI;

namespace Threadloom.Core.Ingestion;

public static class QueryEmbeddings
{
    /// <summary>
    /// Search queries' vectors as a search computes them: through the generator's <see cref="IQueryEmbeddingGenerator"/>
    /// when it offers one (a query instruction, as arctic-embed's), else as documents.
    /// </summary>
    public static Task<GeneratedEmbeddings<Embedding<float>>> EmbedAsQueriesAsync(this IEmbeddingGenerator<string, Embedding<float>> generator,
        IReadOnlyList<string> queries, CancellationToken cancellationToken) =>
        generator.GetService<IQueryEmbeddingGenerator>() is { } queryModel
            ? queryModel.EmbedQueriesAsync(queries, cancellationToken)
            : generator.GenerateAsync(queries, cancellationToken: cancellationToken);
}
