using System.Text.Json;
using Threadloom.Core.Tools.FileSearch;

namespace Threadloom.Core.Storage;

/// <summary>
/// The file a set of chunks belongs to. Attributes are the vector store file's <c>attributes</c>, used by filters.
/// <see cref="Title"/> is the document's title when extraction found one; like the file name and each chunk's heading
/// it is searchable by keyword in every chunk of the file (a context field, weighted below the chunk text).
/// </summary>
public sealed record ChunkSource(string ProjectId, string VectorStoreId, string FileId, string FileName, IReadOnlyDictionary<string, JsonElement>? Attributes = null, string? Title = null);

/// <summary>A chunk ready to be indexed: its text and position, and its embedding (unit length).</summary>
public sealed record IndexedChunk(int ChunkIndex, string Text, int StartChar, int EndChar, int TokenCount, int? PageNumber, string? Heading, ReadOnlyMemory<float> Embedding);

/// <summary>
/// A chunk found by a search, with the score of the list that found it (bm25 or cosine; higher is better).
/// <see cref="Text"/> is exactly the indexed chunk's text, and <see cref="StartChar"/>/<see cref="EndChar"/> are the
/// offsets it was indexed with (UTF-16 units of the extracted document text): citations quote the file from them.
/// </summary>
public sealed record ChunkHit(
    long ChunkId, string VectorStoreId, string FileId, string FileName, int ChunkIndex, string Text, int? PageNumber, string? Heading,
    IReadOnlyDictionary<string, JsonElement>? Attributes, double Score, int StartChar, int EndChar);

/// <summary>Storage used by one vector store: chunks, files and bytes (text plus vectors).</summary>
public sealed record ChunkIndexUsage(int FileCount, int ChunkCount, long UsageBytes, string? EmbeddingModel);

/// <summary>What one file's indexing wrote.</summary>
public sealed record ChunkWriteResult(int ChunkCount, long UsageBytes);

/// <summary>The embedding model a vector store was built with, and the width of its vectors.</summary>
public sealed record ChunkStoreModel(string Model, int Dimensions);

/// <summary>
/// Thrown when chunks embedded by one model (or at another width) are added to a vector store that was built with
/// another. The message is safe to show users.
/// </summary>
public sealed class EmbeddingModelMismatchException(string vectorStoreId, ChunkStoreModel storeModel, ChunkStoreModel model)
    : Exception(storeModel.Model == model.Model
        ? $"Vector store '{vectorStoreId}' was built with embedding model '{storeModel.Model}' at {storeModel.Dimensions} dimensions, not {model.Dimensions}."
        : $"Vector store '{vectorStoreId}' was built with embedding model '{storeModel.Model}', not '{model.Model}'.")
{
    public ChunkStoreModel StoreModel { get; } = storeModel;
    public ChunkStoreModel Model { get; } = model;
}

/// <summary>
/// The searchable chunks of vector stores: a keyword (BM25) index and a vector index over the same rows.
/// Implementations: SQLite (FTS5 plus float32 blobs scanned in memory); PostgreSQL (tsvector plus pgvector HNSW).
/// </summary>
/// <remarks>
/// A vector store keeps one embedding model for its whole life: the first write records it, and a write with another
/// model throws <see cref="EmbeddingModelMismatchException"/>. Every method is scoped by project.
/// <para>
/// Keyword ranking statistics (document count, average length, each term's document frequency, and anything an
/// implementation derives from them, such as which query terms it matches on) are computed over the project's own
/// chunks at most, never over other projects': one project's writes never change another project's keyword scores or
/// order (issue #9 §3; <c>ChunkIndexContract.Issue9_KeywordScores_OtherProjectIndexes_DoNotMove</c>). SQLite keeps
/// them per project; a dialect may keep them per vector store, which is stricter.
/// </para>
/// </remarks>
public interface IChunkIndex
{
    /// <summary>Replaces all chunks of the file in the vector store (idempotent, one transaction).</summary>
    Task<ChunkWriteResult> ReplaceFileAsync(ChunkSource source, string embeddingModel, IReadOnlyList<IndexedChunk> chunks, CancellationToken cancellationToken);

    /// <summary>Updates the attributes filters see for the file's chunks. False when the file has no chunks here.</summary>
    Task<bool> UpdateAttributesAsync(string projectId, string vectorStoreId, string fileId, IReadOnlyDictionary<string, JsonElement>? attributes, CancellationToken cancellationToken);

    /// <summary>Deletes the file's chunks from the vector store. False when there were none.</summary>
    Task<bool> DeleteFileAsync(string projectId, string vectorStoreId, string fileId, CancellationToken cancellationToken);

    /// <summary>Deletes every chunk of the vector store and forgets its embedding model. Returns the number of chunks deleted.</summary>
    Task<int> DeleteVectorStoreAsync(string projectId, string vectorStoreId, CancellationToken cancellationToken);

    /// <summary>
    /// BM25 over chunk text (and file name and heading), best first, at most <paramref name="limit"/> hits of the store
    /// (and of files <paramref name="filter"/> allows). Any user text is safe: it never yields a syntax error. Scores
    /// are comparable within one result list only; their statistics are the project's (see the remarks above).
    /// </summary>
    Task<IReadOnlyList<ChunkHit>> KeywordSearchAsync(string projectId, string vectorStoreId, string query, int limit, AttributeFilter? filter, CancellationToken cancellationToken);

    /// <summary>Nearest chunks by dot product with <paramref name="queryVector"/> (unit length, the store's model).</summary>
    Task<IReadOnlyList<ChunkHit>> VectorSearchAsync(string projectId, string vectorStoreId, ReadOnlyMemory<float> queryVector, int limit, AttributeFilter? filter, CancellationToken cancellationToken);

    /// <summary>The embedding model (and width) the vector store was built with; null while it has no chunks.</summary>
    Task<ChunkStoreModel?> GetEmbeddingModelAsync(string projectId, string vectorStoreId, CancellationToken cancellationToken);

    Task<ChunkIndexUsage> GetUsageAsync(string projectId, string vectorStoreId, CancellationToken cancellationToken);

    /// <summary>The indexed chunk texts of a file in a vector store, in chunk order; empty when it has none.</summary>
    Task<IReadOnlyList<string>> ReadFileChunksAsync(string projectId, string vectorStoreId, string fileId, CancellationToken cancellationToken);
}

/// <summary>What both dialects index besides a chunk's text.</summary>
public static class ChunkKeywords
{
    /// <summary>
    /// The keyword context field of a chunk: file name, title and heading, weighted below the text (SQLite's bm25 0.5,
    /// PostgreSQL's weight B).
    /// </summary>
    public static string Context(ChunkSource source, IndexedChunk chunk)
    {
        var context = source.FileName;
        if (!string.IsNullOrWhiteSpace(source.Title))
        {
            context += " " + source.Title;
        }
        if (!string.IsNullOrWhiteSpace(chunk.Heading) && chunk.Heading != source.Title)
        {
            context += " " + chunk.Heading;
        }
        return context;
    }
}
