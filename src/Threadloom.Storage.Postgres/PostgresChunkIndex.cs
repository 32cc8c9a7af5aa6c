using System.Text;
using System.Text.Json;
using Npgsql;
using Pgvector;
using Threadloom.Core.Storage;
using Threadloom.Core.Tools.FileSearch;

namespace Threadloom.Storage.Postgres;

/// <summary>
/// <see cref="IChunkIndex"/> on PostgreSQL: <c>tsvector</c> with a GIN index for keywords (ranked by
/// <c>ts_rank</c>, text weighted over context as SQLite weights bm25), pgvector for vectors (cosine).
/// </summary>
/// <remarks>
/// Design notes: the HNSW indexes are partial, one per common width (migration 0002). A large store is searched
/// through its width's index with pgvector's iterative scan, so the store filter still yields a full page; a small
/// store (or a width with no index) is scanned exactly through its b-tree rows, which is both faster and exact. The
/// ranking functions use no corpus-wide statistics, so one tenant's documents never move another's scores.
/// Attribute filters are evaluated in process on the store's file rows, as on SQLite.
/// </remarks>
public sealed class PostgresChunkIndex(PostgresDatabase database) : IChunkIndex
{
    /// <summary>The widths that have an HNSW index (migration 0002).</summary>
    private static readonly HashSet<int> IndexedWidths = [384, 768, 1024, 1536];

    /// <summary>Below this many chunks a store is scanned exactly: a few thousand distance computations beat a graph walk.</summary>
    public const int ExactScanBelow = 20_000;

    /// <summary>HNSW candidate list size: recall against speed (pgvector's default is 40).</summary>
    public const int EfSearch = 100;

    private const string HitColumns = "c.id, c.vector_store_id, c.file_id, c.filename, c.chunk_index, c.text, c.page, c.heading, f.attributes, c.start_char, c.end_char";

    public async Task<ChunkWriteResult> ReplaceFileAsync(ChunkSource source, string embeddingModel, IReadOnlyList<IndexedChunk> chunks, CancellationToken cancellationToken)
    {
        var dimensions = chunks.Count > 0 ? chunks[0].Embedding.Length : 0;
        if (chunks.Any(c => c.Embedding.Length != dimensions))
        {
            throw new ArgumentException("All chunks of a file must have embeddings of the same length.", nameof(chunks));
        }
        var usage = chunks.Sum(c => (long)Encoding.UTF8.GetByteCount(c.Text) + c.Embedding.Length * sizeof(float));
        var attributes = source.Attributes is null ? null : JsonSerializer.Serialize(source.Attributes, FileSearchJson.Default.IReadOnlyDictionaryStringJsonElement);
        var fileName = PgCommands.NoNul(source.FileName);
        return await database.WriteAsync(async (c, t) =>
        {
            if (chunks.Count > 0)
            {
                // ON CONFLICT: two files of a new store indexed at once on two nodes agree on one model row.
                await c.ExecuteAsync("INSERT INTO chunk_stores (vector_store_id, project_id, embedding_model, dimensions) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                    t, cancellationToken, source.VectorStoreId, source.ProjectId, embeddingModel, dimensions);
                var existing = await ModelOfAsync(c, t, source.ProjectId, source.VectorStoreId, cancellationToken);
                if (existing is null || existing.Model != embeddingModel || existing.Dimensions != dimensions)
                {
                    throw new EmbeddingModelMismatchException(source.VectorStoreId, existing ?? new ChunkStoreModel("(another project's)", 0), new ChunkStoreModel(embeddingModel, dimensions));
                }
            }
            await DeleteFileRowsAsync(c, t, source.ProjectId, source.VectorStoreId, source.FileId, cancellationToken);
            await c.ExecuteAsync("INSERT INTO chunk_files (vector_store_id, file_id, project_id, filename, attributes, chunk_count, usage_bytes) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                t, cancellationToken, source.VectorStoreId, source.FileId, source.ProjectId, fileName,
                new NpgsqlParameter<string?> { TypedValue = attributes, NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Text }, chunks.Count, usage);
            if (chunks.Count > 0)
            {
                await using var importer = await c.BeginBinaryImportAsync(
                    "COPY chunks (project_id, vector_store_id, file_id, filename, chunk_index, text, context, start_char, end_char, token_count, page, heading, dimensions, embedding) FROM STDIN (FORMAT BINARY)",
                    cancellationToken);
                foreach (var chunk in chunks)
                {
                    var heading = chunk.Heading is null ? null : PgCommands.NoNul(chunk.Heading);
                    await importer.StartRowAsync(cancellationToken);
                    await importer.WriteAsync(source.ProjectId, cancellationToken);
                    await importer.WriteAsync(source.VectorStoreId, cancellationToken);
                    await importer.WriteAsync(source.FileId, cancellationToken);
                    await importer.WriteAsync(fileName, cancellationToken);
                    await importer.WriteAsync(chunk.ChunkIndex, cancellationToken);
                    await importer.WriteAsync(PgCommands.NoNul(chunk.Text), cancellationToken);
                    await importer.WriteAsync(PgCommands.NoNul(ChunkKeywords.Context(source, chunk)), cancellationToken);
                    await importer.WriteAsync(chunk.StartChar, cancellationToken);
                    await importer.WriteAsync(chunk.EndChar, cancellationToken);
                    await importer.WriteAsync(chunk.TokenCount, cancellationToken);
                    await importer.WriteAsync(chunk.PageNumber, NpgsqlTypes.NpgsqlDbType.Integer, cancellationToken);
                    await importer.WriteAsync(heading, NpgsqlTypes.NpgsqlDbType.Text, cancellationToken);
                    await importer.WriteAsync(dimensions, cancellationToken);
                    await importer.WriteAsync(new Vector(chunk.Embedding), "vector", cancellationToken);
                }
                await importer.CompleteAsync(cancellationToken);
            }
            return new ChunkWriteResult(chunks.Count, usage);
        }, cancellationToken);
    }

    public async Task<bool> UpdateAttributesAsync(string projectId, string vectorStoreId, string fileId, IReadOnlyDictionary<string, JsonElement>? attributes, CancellationToken cancellationToken)
    {
        var json = attributes is null ? null : JsonSerializer.Serialize(attributes, FileSearchJson.Default.IReadOnlyDictionaryStringJsonElement);
        return await database.WriteAsync(async (c, t) => await c.ExecuteAsync(
            "UPDATE chunk_files SET attributes = $1 WHERE vector_store_id = $2 AND file_id = $3 AND project_id = $4", t, cancellationToken,
            new NpgsqlParameter<string?> { TypedValue = json, NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Text }, vectorStoreId, fileId, projectId) == 1, cancellationToken);
    }

    public Task<bool> DeleteFileAsync(string projectId, string vectorStoreId, string fileId, CancellationToken cancellationToken) =>
        database.WriteAsync((c, t) => DeleteFileRowsAsync(c, t, projectId, vectorStoreId, fileId, cancellationToken), cancellationToken);

    public Task<int> DeleteVectorStoreAsync(string projectId, string vectorStoreId, CancellationToken cancellationToken) =>
        database.WriteAsync(async (c, t) =>
        {
            var deleted = await c.ExecuteAsync("DELETE FROM chunks WHERE vector_store_id = $1 AND project_id = $2", t, cancellationToken, vectorStoreId, projectId);
            await c.ExecuteAsync("DELETE FROM chunk_files WHERE vector_store_id = $1 AND project_id = $2", t, cancellationToken, vectorStoreId, projectId);
            await c.ExecuteAsync("DELETE FROM chunk_stores WHERE vector_store_id = $1 AND project_id = $2", t, cancellationToken, vectorStoreId, projectId);
            return deleted;
        }, cancellationToken);

    public async Task<IReadOnlyList<ChunkHit>> KeywordSearchAsync(string projectId, string vectorStoreId, string query, int limit, AttributeFilter? filter, CancellationToken cancellationToken)
    {
        var terms = KeywordTerms.Of(query);
        if (terms.Count == 0 || limit <= 0)
        {
            return [];
        }
        await using var connection = await database.OpenAsync(cancellationToken);
        List<object?> parameters = [vectorStoreId, projectId, limit];
        var allowed = "";
        if (filter is not null)
        {
            var files = await AllowedFilesAsync(connection, projectId, vectorStoreId, filter, cancellationToken);
            if (files.Count == 0)
            {
                return [];
            }
            parameters.Add(PgCommands.TextArray(files));
            allowed = $" AND c.file_id = ANY(${parameters.Count})";
        }
        // Each term becomes its own plainto_tsquery (any text is a valid argument), OR-joined so partial matches rank.
        var tsquery = string.Join(" || ", terms.Select(term =>
        {
            parameters.Add(term);
            return $"plainto_tsquery('english', ${parameters.Count})";
        }));
        return await connection.QueryAsync(
            $"SELECT {HitColumns}, ts_rank(c.tsv, q.query, 1) AS score FROM (SELECT {tsquery} AS query) q " +
            "JOIN chunks c ON c.tsv @@ q.query JOIN chunk_files f ON f.vector_store_id = c.vector_store_id AND f.file_id = c.file_id " +
            $"WHERE c.vector_store_id = $1 AND c.project_id = $2{allowed} ORDER BY score DESC, c.id LIMIT $3", null,
            r => ReadHit(r, r.GetFloat(11)), cancellationToken, [.. parameters]);
    }

    public async Task<IReadOnlyList<ChunkHit>> VectorSearchAsync(string projectId, string vectorStoreId, ReadOnlyMemory<float> queryVector, int limit, AttributeFilter? filter, CancellationToken cancellationToken)
    {
        if (limit <= 0)
        {
            return [];
        }
        await using var connection = await database.OpenAsync(cancellationToken);
        var model = await ModelOfAsync(connection, null, projectId, vectorStoreId, cancellationToken);
        if (model is null)
        {
            return [];
        }
        if (queryVector.Length != model.Dimensions)
        {
            throw new ArgumentException($"The query vector has {queryVector.Length} dimensions; the vector store has {model.Dimensions}.", nameof(queryVector));
        }
        List<object?> parameters = [vectorStoreId, projectId, limit, new Vector(queryVector)];
        var allowed = "";
        if (filter is not null)
        {
            var files = await AllowedFilesAsync(connection, projectId, vectorStoreId, filter, cancellationToken);
            if (files.Count == 0)
            {
                return [];
            }
            parameters.Add(PgCommands.TextArray(files));
            allowed = $" AND c.file_id = ANY(${parameters.Count})";
        }
        var rows = (await connection.QueryAsync("SELECT COALESCE(SUM(chunk_count), 0)::bigint FROM chunk_files WHERE vector_store_id = $1 AND project_id = $2", null,
            r => r.GetInt64(0), cancellationToken, vectorStoreId, projectId))[0];
        var d = model.Dimensions;
        var useIndex = rows >= ExactScanBelow && IndexedWidths.Contains(d);
        // The HNSW path names the partial index's cast and predicate; the exact path orders by the plain column,
        // which no index serves, so the planner reads the store's rows through ix_chunks_file.
        var distance = useIndex ? $"c.embedding::vector({d}) <=> $4::vector({d})" : "c.embedding <=> $4";
        var sql = $"SELECT {HitColumns}, 1 - ({distance}) AS score FROM chunks c " +
                  "JOIN chunk_files f ON f.vector_store_id = c.vector_store_id AND f.file_id = c.file_id " +
                  $"WHERE c.vector_store_id = $1 AND c.project_id = $2{allowed}{(useIndex ? $" AND c.dimensions = {d}" : "")} ORDER BY {distance} LIMIT $3";
        if (!useIndex)
        {
            return await connection.QueryAsync(sql, null, r => ReadHit(r, r.GetDouble(11)), cancellationToken, [.. parameters]);
        }
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        await connection.ExecuteAsync($"SET LOCAL hnsw.ef_search = {Math.Max(EfSearch, limit)}; SET LOCAL hnsw.iterative_scan = relaxed_order", transaction, cancellationToken);
        var hits = await connection.QueryAsync(sql, transaction, r => ReadHit(r, r.GetDouble(11)), cancellationToken, [.. parameters]);
        await transaction.CommitAsync(cancellationToken);
        // relaxed_order may return neighbours slightly out of order: the list is re-sorted by its exact scores.
        return [.. hits.OrderByDescending(h => h.Score)];
    }

    public async Task<ChunkStoreModel?> GetEmbeddingModelAsync(string projectId, string vectorStoreId, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        return await ModelOfAsync(connection, null, projectId, vectorStoreId, cancellationToken);
    }

    public async Task<ChunkIndexUsage> GetUsageAsync(string projectId, string vectorStoreId, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        var usage = await connection.QueryAsync(
            "SELECT COUNT(*), COALESCE(SUM(chunk_count), 0)::bigint, COALESCE(SUM(usage_bytes), 0)::bigint FROM chunk_files WHERE vector_store_id = $1 AND project_id = $2", null,
            r => (Files: (int)r.GetInt64(0), Chunks: (int)r.GetInt64(1), Bytes: r.GetInt64(2)), cancellationToken, vectorStoreId, projectId);
        var model = await ModelOfAsync(connection, null, projectId, vectorStoreId, cancellationToken);
        return new ChunkIndexUsage(usage[0].Files, usage[0].Chunks, usage[0].Bytes, model?.Model);
    }

    public async Task<IReadOnlyList<string>> ReadFileChunksAsync(string projectId, string vectorStoreId, string fileId, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        return await connection.QueryAsync("SELECT text FROM chunks WHERE project_id = $1 AND vector_store_id = $2 AND file_id = $3 ORDER BY chunk_index", null,
            r => r.GetString(0), cancellationToken, projectId, vectorStoreId, fileId);
    }

    private static async Task<ChunkStoreModel?> ModelOfAsync(NpgsqlConnection connection, NpgsqlTransaction? transaction, string projectId, string vectorStoreId, CancellationToken cancellationToken)
    {
        var rows = await connection.QueryAsync("SELECT embedding_model, dimensions FROM chunk_stores WHERE vector_store_id = $1 AND project_id = $2", transaction,
            r => new ChunkStoreModel(r.GetString(0), r.GetInt32(1)), cancellationToken, vectorStoreId, projectId);
        return rows.Count == 0 ? null : rows[0];
    }

    private static async Task<bool> DeleteFileRowsAsync(NpgsqlConnection c, NpgsqlTransaction t, string projectId, string vectorStoreId, string fileId, CancellationToken cancellationToken)
    {
        await c.ExecuteAsync("DELETE FROM chunks WHERE vector_store_id = $1 AND file_id = $2 AND project_id = $3", t, cancellationToken, vectorStoreId, fileId, projectId);
        return await c.ExecuteAsync("DELETE FROM chunk_files WHERE vector_store_id = $1 AND file_id = $2 AND project_id = $3", t, cancellationToken, vectorStoreId, fileId, projectId) > 0;
    }

    private static async Task<List<string>> AllowedFilesAsync(NpgsqlConnection connection, string projectId, string vectorStoreId, AttributeFilter filter, CancellationToken cancellationToken)
    {
        var files = await connection.QueryAsync("SELECT file_id, attributes FROM chunk_files WHERE vector_store_id = $1 AND project_id = $2", null,
            r => (Id: r.GetString(0), Attributes: ParseAttributes(r.IsDBNull(1) ? null : r.GetString(1))), cancellationToken, vectorStoreId, projectId);
        return files.Where(f => filter.Matches(f.Attributes)).Select(f => f.Id).ToList();
    }

    private static Dictionary<string, JsonElement>? ParseAttributes(string? json) =>
        json is null ? null : JsonSerializer.Deserialize(json, FileSearchJson.Default.DictionaryStringJsonElement);

    private static ChunkHit ReadHit(NpgsqlDataReader r, double score) => new(
        r.GetInt64(0), r.GetString(1), r.GetString(2), r.GetString(3), r.GetInt32(4), r.GetString(5),
        r.IsDBNull(6) ? null : r.GetInt32(6), r.IsDBNull(7) ? null : r.GetString(7), ParseAttributes(r.IsDBNull(8) ? null : r.GetString(8)), score,
        r.GetInt32(9), r.GetInt32(10));
}
