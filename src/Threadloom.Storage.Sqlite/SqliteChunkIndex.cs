using System.Data.Common;
using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Options;
using Threadloom.Core.Storage;
using Threadloom.Core.Tools.FileSearch;

namespace Threadloom.Storage.Sqlite;

/// <summary>
/// <see cref="IChunkIndex"/> on SQLite: FTS5 (bm25) for keywords; float32 blobs for vectors, loaded per vector store
/// into one contiguous matrix and scanned with <see cref="TensorPrimitives.Dot(ReadOnlySpan{float}, ReadOnlySpan{float})"/>.
/// </summary>
/// <remarks>
/// Design notes: vectors are unit length, so the dot product is the cosine. The per-store matrix is cached in memory
/// and dropped on every write to that store; a version counter stops a load that raced a write from caching stale
/// rows. 100,000 chunks of 384 dimensions take about 150 MB. Attribute filters are evaluated in process on the
/// store's file rows (attributes are per file), giving the set of allowed files for both the FTS query and the scan.
/// </remarks>
public sealed class SqliteChunkIndex(SqliteDatabase database, IOptions<SqliteChunkIndexOptions>? options = null) : IChunkIndex
{
    private readonly long _cacheBudget = (options?.Value ?? new SqliteChunkIndexOptions()).VectorCacheMegabytes * 1024L * 1024;
    private long _cacheBytes;
    private long _cacheClock;

    private const string HitColumns = "c.id, c.vector_store_id, c.file_id, c.filename, c.chunk_index, c.text, c.page, c.heading, f.attributes, c.start_char, c.end_char";

    private readonly Lock _cacheLock = new();
    private readonly Dictionary<string, StoreVectors> _cache = new(StringComparer.Ordinal);
    private readonly Dictionary<string, long> _versions = new(StringComparer.Ordinal);

    // Keyword fast path: bm25 weights (text 1.0, context 0.5), how deep the store-agnostic ranking goes, and which terms it uses.
    private const string Bm25 = "bm25(1.0, 0.5, 0.0)"; // text, context (file name + heading), store_token
    private const int OverFetch = 4;
    private const int MinFetch = 200;
    private const int MaxFetch = 4_000;

    /// <summary>How the keyword fast path picks its terms (<see cref="KeywordPathTuning.Default"/>; others for the benchmark).</summary>
    internal KeywordPathTuning KeywordTuning { get; init; } = KeywordPathTuning.Default;

    /// <summary>When loaded stores are partitioned for the vector scan (<see cref="VectorPartitioning.Default"/>; others for tests and the benchmark).</summary>
    internal VectorPartitioning Partitioning { get; init; } = VectorPartitioning.Default;

    private readonly SqliteKeywordTables _keywordTables = new(database);
    private readonly Lock _dfLock = new();
    private readonly Dictionary<string, KeywordStatistics> _statistics = new(StringComparer.Ordinal);
    private readonly KeywordTermScores _termScores = new(database, (options?.Value ?? new SqliteChunkIndexOptions()).KeywordCacheMegabytes * 1024L * 1024);

    /// <summary>Completes once the frequent terms asked for so far have their scores cached (tests and the benchmark).</summary>
    internal Task WhenKeywordTermsCachedAsync() => _termScores.WhenLoadedAsync();

    internal int CachedKeywordTerms => _termScores.Count;

    public async Task<ChunkWriteResult> ReplaceFileAsync(ChunkSource source, string embeddingModel, IReadOnlyList<IndexedChunk> chunks, CancellationToken cancellationToken)
    {
        var dimensions = chunks.Count > 0 ? chunks[0].Embedding.Length : 0;
        if (chunks.Any(c => c.Embedding.Length != dimensions))
        {
            throw new ArgumentException("All chunks of a file must have embeddings of the same length.", nameof(chunks));
        }
        var usage = chunks.Sum(c => (long)Encoding.UTF8.GetByteCount(c.Text) + c.Embedding.Length * sizeof(float));
        var attributes = source.Attributes is null ? null : JsonSerializer.Serialize(source.Attributes, FileSearchJson.Default.IReadOnlyDictionaryStringJsonElement);
        await _keywordTables.EnsureReadyAsync(cancellationToken);
        try
        {
            return await database.WriteAsync(async (c, t) =>
            {
                if (chunks.Count > 0)
                {
                    var existing = await ModelOfAsync(c, t, source.ProjectId, source.VectorStoreId, cancellationToken);
                    if (existing is null)
                    {
                        await c.ExecuteAsync("INSERT INTO chunk_stores (vector_store_id, project_id, embedding_model, dimensions) VALUES ($vs, $p, $m, $d)", t, cancellationToken,
                            ("$vs", source.VectorStoreId), ("$p", source.ProjectId), ("$m", embeddingModel), ("$d", dimensions));
                    }
                    else if (existing.Model != embeddingModel || existing.Dimensions != dimensions)
                    {
                        throw new EmbeddingModelMismatchException(source.VectorStoreId, existing, new ChunkStoreModel(embeddingModel, dimensions));
                    }
                }
                await DeleteFileRowsAsync(c, t, source.ProjectId, source.VectorStoreId, source.FileId, cancellationToken);
                await c.ExecuteAsync("INSERT INTO chunk_files (vector_store_id, file_id, project_id, filename, attributes, chunk_count, usage_bytes) VALUES ($vs, $f, $p, $n, $a, $cc, $u)", t, cancellationToken,
                    ("$vs", source.VectorStoreId), ("$f", source.FileId), ("$p", source.ProjectId), ("$n", source.FileName), ("$a", attributes), ("$cc", chunks.Count), ("$u", usage));

                await using var insert = c.Command(
                    "INSERT INTO chunks (project_id, vector_store_id, file_id, filename, chunk_index, text, context, start_char, end_char, token_count, page, heading, embedding, store_token) " +
                    "VALUES ($p, $vs, $f, $n, $i, $t, $ctx, $s, $e, $tc, $pg, $h, $v, $st)", t,
                    ("$p", source.ProjectId), ("$vs", source.VectorStoreId), ("$f", source.FileId), ("$n", source.FileName), ("$st", StoreToken(source.VectorStoreId)),
                    ("$i", 0), ("$t", ""), ("$ctx", ""), ("$s", 0), ("$e", 0), ("$tc", 0), ("$pg", null), ("$h", null), ("$v", Array.Empty<byte>()));
                insert.Prepare();
                foreach (var chunk in chunks)
                {
                    insert.Parameters["$i"].Value = chunk.ChunkIndex;
                    insert.Parameters["$t"].Value = chunk.Text;
                    insert.Parameters["$ctx"].Value = ChunkKeywords.Context(source, chunk);
                    insert.Parameters["$s"].Value = chunk.StartChar;
                    insert.Parameters["$e"].Value = chunk.EndChar;
                    insert.Parameters["$tc"].Value = chunk.TokenCount;
                    insert.Parameters["$pg"].Value = (object?)chunk.PageNumber ?? DBNull.Value;
                    insert.Parameters["$h"].Value = (object?)chunk.Heading ?? DBNull.Value;
                    insert.Parameters["$v"].Value = MemoryMarshal.AsBytes(chunk.Embedding.Span).ToArray();
                    await insert.ExecuteNonQueryAsync(cancellationToken);
                }
                if (chunks.Count > 0)
                {
                    var table = await SqliteKeywordTables.GetOrCreateAsync(c, t, source.ProjectId, cancellationToken);
                    await SqliteKeywordTables.IndexFileAsync(c, t, table, source.ProjectId, source.VectorStoreId, source.FileId, cancellationToken);
                }
                return new ChunkWriteResult(chunks.Count, usage);
            }, cancellationToken);
        }
        finally
        {
            Invalidate(source.VectorStoreId);
            NoteWrite(source.ProjectId, source.VectorStoreId, chunks.Count + 1);
        }
    }

    public async Task<bool> UpdateAttributesAsync(string projectId, string vectorStoreId, string fileId, IReadOnlyDictionary<string, JsonElement>? attributes, CancellationToken cancellationToken)
    {
        var json = attributes is null ? null : JsonSerializer.Serialize(attributes, FileSearchJson.Default.IReadOnlyDictionaryStringJsonElement);
        try
        {
            return await database.WriteAsync(async (c, t) => await c.ExecuteAsync(
                "UPDATE chunk_files SET attributes = $a WHERE vector_store_id = $vs AND file_id = $f AND project_id = $p", t, cancellationToken,
                ("$a", json), ("$vs", vectorStoreId), ("$f", fileId), ("$p", projectId)) == 1, cancellationToken);
        }
        finally
        {
            // The cached vectors carry their files' attributes, which filters read (found by the contract suite).
            Invalidate(vectorStoreId);
        }
    }

    public async Task<bool> DeleteFileAsync(string projectId, string vectorStoreId, string fileId, CancellationToken cancellationToken)
    {
        await _keywordTables.EnsureReadyAsync(cancellationToken);
        try
        {
            var (chunks, existed) = await database.WriteAsync((c, t) => DeleteFileRowsAsync(c, t, projectId, vectorStoreId, fileId, cancellationToken), cancellationToken);
            NoteWrite(projectId, vectorStoreId, chunks + 1);
            return existed;
        }
        finally
        {
            Invalidate(vectorStoreId);
        }
    }

    public async Task<int> DeleteVectorStoreAsync(string projectId, string vectorStoreId, CancellationToken cancellationToken)
    {
        await _keywordTables.EnsureReadyAsync(cancellationToken);
        try
        {
            var deleted = await DeleteStoreRowsAsync(projectId, vectorStoreId, cancellationToken);
            NoteWrite(projectId, vectorStoreId, deleted + 1);
            return deleted;
        }
        finally
        {
            Invalidate(vectorStoreId);
        }
    }

    private Task<int> DeleteStoreRowsAsync(string projectId, string vectorStoreId, CancellationToken cancellationToken) =>
        database.WriteAsync(async (c, t) =>
        {
            (string, object?)[] key = [("$vs", vectorStoreId), ("$p", projectId)];
            await SqliteKeywordTables.UnindexAsync(c, t, projectId, "vector_store_id = $vs AND project_id = $p", cancellationToken, key);
            var deleted = await c.ExecuteAsync("DELETE FROM chunks WHERE vector_store_id = $vs AND project_id = $p", t, cancellationToken, key);
            await c.ExecuteAsync("DELETE FROM chunk_files WHERE vector_store_id = $vs AND project_id = $p", t, cancellationToken, key);
            await c.ExecuteAsync("DELETE FROM chunk_stores WHERE vector_store_id = $vs AND project_id = $p", t, cancellationToken, key);
            return deleted;
        }, cancellationToken);

    public async Task<IReadOnlyList<ChunkHit>> KeywordSearchAsync(string projectId, string vectorStoreId, string query, int limit, AttributeFilter? filter, CancellationToken cancellationToken)
    {
        var terms = SqliteChunkIndexQuery.Terms(query);
        if (terms.Count == 0 || limit <= 0)
        {
            return [];
        }
        await using var connection = await database.OpenAsync(cancellationToken);
        var fts = await _keywordTables.FindAsync(connection, projectId, cancellationToken);
        if (fts is null)
        {
            return [];
        }
        string? allowed = null;
        if (filter is not null)
        {
            var files = await AllowedFilesAsync(connection, projectId, vectorStoreId, filter, cancellationToken);
            if (files.Count == 0)
            {
                return [];
            }
            allowed = JsonSerializer.Serialize(files, FileSearchJson.Default.ListString);
        }

        // Fast path: rank over the FTS index alone (no join per matching row) on the rarest terms, then keep the top
        // rows of this store. When those terms match fewer rows than wanted, the next-rarest terms rank the rest, below
        // them, in up to MaxPasses passes; terms left after that are each more frequent than the budget and are dropped.
        // The ranking covers every store of the project (its own FTS table: statistics never include other projects'
        // chunks), so it goes deeper the smaller this store's share of the project's index is; past MaxFetch rows the store is too small a share for the fast path to be likely to fill, and the
        // terms' document frequencies are not even counted.
        var statisticsSpan = FileSearchTracing.Start(FileSearchTracing.Phases.KeywordStatistics);
        var statistics = StatisticsOf(projectId, fts);
        var total = await statistics.IndexedChunksAsync(connection, cancellationToken);
        var storeRows = await statistics.StoreChunksAsync(connection, vectorStoreId, cancellationToken);
        var depth = Math.Max(MinFetch, (long)limit * OverFetch * total / Math.Max(1, storeRows));
        var cut = depth > MaxFetch;
        if (cut)
        {
            statisticsSpan?.Dispose();
        }
        else
        {
            // Counted up to the budget: a term over it is only ever chosen alone, as the rarest left, and only then
            // are the counts of such terms needed exactly (to know which is rarest).
            var budget = KeywordTuning.BudgetFor(total);
            var remaining = (await statistics.DocumentFrequenciesAsync(connection, terms, budget + 1, cancellationToken)).Where(f => f.Df > 0).OrderBy(f => f.Df).ToList();
            statisticsSpan?.Dispose();
            // Terms in more than CachedTermMinRows rows with cached scores join the first pass's ranking from the cache;
            // the others are asked for (loaded off this path) and, this time, are ranked by FTS5 as before: within the
            // budget, alone in a later pass, or dropped.
            // At most MaxCachedTerms terms, rarest first, are looked up (and asked for): a question of hundreds of
            // frequent words costs a bounded merge and a bounded number of loads.
            var cached = new List<KeywordTermScores.Entry>();
            for (var (i, considered) = (0, 0); KeywordTuning.CacheFrequentTerms && i < remaining.Count && considered < KeywordTuning.MaxCachedTerms;)
            {
                if (remaining[i].Df > KeywordTuning.CachedTermMinRows)
                {
                    considered++;
                    if (_termScores.Find(statistics, fts, remaining[i].Term, KeywordTuning.QuietAfterWrite) is { } entry)
                    {
                        cached.Add(entry);
                        remaining.RemoveAt(i);
                        continue;
                    }
                }
                i++;
            }
            var hits = new List<ChunkHit>();
            for (var pass = 0; !cut && pass < KeywordTuning.MaxPasses && (remaining.Count > 0 || cached.Count > 0); pass++)
            {
                if (remaining.Count > 1 && !remaining[0].Exact)
                {
                    using (FileSearchTracing.Start(FileSearchTracing.Phases.KeywordStatistics))
                    {
                        var exact = await statistics.DocumentFrequenciesAsync(connection, remaining.Select(f => f.Term).ToList(), long.MaxValue, cancellationToken);
                        remaining = exact.OrderBy(f => f.Df).ToList();
                    }
                }
                List<(long Id, double Score)> ranked = [];
                if (remaining.Count > 0)
                {
                    var dfOf = remaining.ToDictionary(f => f.Term, f => f.Df, StringComparer.Ordinal);
                    var shaped = SqliteChunkIndexQuery.Shape(remaining.Select(f => (f.Term, f.Df)).ToList(), budget, KeywordTuning.MaxShapedTerms);
                    remaining.RemoveRange(0, shaped.Count);
                    using var span = FileSearchTracing.Start(FileSearchTracing.Phases.KeywordPass);
                    ranked = await connection.QueryAsync(
                        $"SELECT rowid, rank FROM {fts} WHERE {fts} MATCH $q AND rank MATCH '{Bm25}' ORDER BY rank LIMIT $m",
                        r => (Id: r.GetInt64(0), Score: -r.GetDouble(1)), cancellationToken, ("$q", SqliteChunkIndexQuery.Or(shaped)),
                        // Before a merge, every row the pass matches (at most the budget): FTS5 scores them all anyway,
                        // and a row cut here would enter the merge without its rare terms' score.
                        ("$m", cached.Count > 0 ? Math.Max(depth, budget) : depth));
                    span?.SetTag("terms", shaped.Count).SetTag("rows", ranked.Count).SetTag("df_sum", shaped.Sum(t => dfOf[t]));
                }
                if (cached.Count > 0)
                {
                    // bm25 is a sum over terms, so adding each cached term's own score gives the score over all of them.
                    using var span = FileSearchTracing.Start(FileSearchTracing.Phases.KeywordCachedTerms);
                    span?.SetTag("terms", cached.Count).SetTag("rows", cached.Sum(e => e.Rows.Length));
                    ranked = KeywordTermScores.Merge(ranked, cached, (int)depth);
                    cached.Clear();
                }
                var seen = hits.Select(h => h.ChunkId).ToHashSet();
                hits.AddRange(await FetchAsync(connection, projectId, vectorStoreId, ranked.Where(r => !seen.Contains(r.Id)).ToList(), allowed, limit - hits.Count, cancellationToken));
                if (hits.Count >= limit)
                {
                    return hits;
                }
                // Cut at its depth by other stores' rows (or a filter): this store's next rows are unknown.
                cut = ranked.Count == depth;
            }
            if (!cut)
            {
                return hits; // every term that occurs was ranked, or the passes ran out (no term occurring at all: empty)
            }
        }

        // Slow path: every term. Without a filter, FTS5 itself keeps to the store (its token in the store_token
        // column), so only the store's rows are scored. With one, the store's matching rows are joined to their
        // files and bm25() is computed for the rows that pass the join.
        using var fullQuery = FileSearchTracing.Start(FileSearchTracing.Phases.KeywordFullQuery);
        if (allowed is null)
        {
            var storeMatch = $"store_token : {SqliteChunkIndexQuery.Quote(StoreToken(vectorStoreId))} AND {{text context}} : ({SqliteChunkIndexQuery.Or(terms)})";
            var ranked = await connection.QueryAsync(
                $"SELECT rowid, rank FROM {fts} WHERE {fts} MATCH $q AND rank MATCH '{Bm25}' ORDER BY rank LIMIT $n",
                r => (Id: r.GetInt64(0), Score: -r.GetDouble(1)), cancellationToken, ("$q", storeMatch), ("$n", limit));
            return await FetchAsync(connection, projectId, vectorStoreId, ranked, null, limit, cancellationToken);
        }
        (string, object?)[] parameters = [("$q", SqliteChunkIndexQuery.Or(terms)), ("$vs", vectorStoreId), ("$p", projectId), ("$n", limit), ("$allowed", allowed)];
        return await connection.QueryAsync(
            $"SELECT {HitColumns}, -bm25({fts}, 1.0, 0.5, 0.0) AS score FROM {fts} " +
            $"JOIN chunks c ON c.id = {fts}.rowid JOIN chunk_files f ON f.vector_store_id = c.vector_store_id AND f.file_id = c.file_id " +
            $"WHERE {fts} MATCH $q AND c.vector_store_id = $vs AND c.project_id = $p AND c.file_id IN (SELECT value FROM json_each($allowed)) ORDER BY score DESC LIMIT $n",
            r => ReadHit(r, r.GetDouble(11)), cancellationToken, parameters);
    }

    /// <summary>The store id as the FTS5 tokenizer will see it in <c>store_token</c>; migration 0005 computes the same in SQL.</summary>
    private static string StoreToken(string vectorStoreId) => vectorStoreId.Replace("_", "", StringComparison.Ordinal).Replace("-", "", StringComparison.Ordinal);

    /// <summary>
    /// The first <paramref name="limit"/> rows of <paramref name="ranked"/> that belong to the store (and allowed
    /// files), in the given order, with the given scores.
    /// </summary>
    /// <remarks>
    /// Both statements start from the id list (<c>CROSS JOIN</c> fixes that order): left to itself the planner scans
    /// the store's index and tests every row of the store against the list, 20 ms at 100k chunks instead of 0.4. The
    /// first statement reads only the leading columns, so candidates that are not kept never load their text.
    /// </remarks>
    private static async Task<List<ChunkHit>> FetchAsync(SqliteConnection connection, string projectId, string vectorStoreId, List<(long Id, double Score)> ranked,
        string? allowedFiles, int limit, CancellationToken cancellationToken)
    {
        if (ranked.Count == 0)
        {
            return [];
        }
        using var span = FileSearchTracing.Start(FileSearchTracing.Phases.RowFetch);
        span?.SetTag("candidates", ranked.Count);
        var candidates = ranked;
        if (ranked.Count > limit || allowedFiles is not null)
        {
            var fileClause = allowedFiles is null ? "" : "AND c.file_id IN (SELECT value FROM json_each($allowed))";
            var kept = (await connection.QueryAsync(
                $"SELECT c.id FROM json_each($ids) j CROSS JOIN chunks c ON c.id = j.value WHERE c.vector_store_id = $vs AND c.project_id = $p {fileClause}",
                r => r.GetInt64(0), cancellationToken, ("$ids", IdList(ranked)), ("$vs", vectorStoreId), ("$p", projectId), ("$allowed", allowedFiles))).ToHashSet();
            candidates = ranked.Where(t => kept.Contains(t.Id)).Take(limit).ToList();
        }
        var rows = await connection.QueryAsync(
            $"SELECT {HitColumns} FROM json_each($ids) j CROSS JOIN chunks c ON c.id = j.value JOIN chunk_files f ON f.vector_store_id = c.vector_store_id AND f.file_id = c.file_id " +
            "WHERE c.vector_store_id = $vs AND c.project_id = $p",
            r => ReadHit(r, 0), cancellationToken, ("$ids", IdList(candidates)), ("$vs", vectorStoreId), ("$p", projectId));
        var byId = rows.ToDictionary(r => r.ChunkId);
        return candidates.Where(t => byId.ContainsKey(t.Id)).Select(t => byId[t.Id] with { Score = t.Score }).ToList();
    }

    private static string IdList(List<(long Id, double Score)> ranked) =>
        JsonSerializer.Serialize(ranked.Select(t => t.Id).ToList(), FileSearchJson.Default.ListInt64);

    private KeywordStatistics StatisticsOf(string projectId, string table)
    {
        lock (_dfLock)
        {
            if (!_statistics.TryGetValue(projectId, out var statistics))
            {
                _statistics[projectId] = statistics = new KeywordStatistics(projectId, table);
            }
            return statistics;
        }
    }

    private void NoteWrite(string projectId, string vectorStoreId, long rows)
    {
        lock (_dfLock)
        {
            if (_statistics.TryGetValue(projectId, out var statistics))
            {
                statistics.NoteWrite(vectorStoreId, rows);
            }
        }
    }

    public async Task<IReadOnlyList<ChunkHit>> VectorSearchAsync(string projectId, string vectorStoreId, ReadOnlyMemory<float> queryVector, int limit, AttributeFilter? filter, CancellationToken cancellationToken)
    {
        if (limit <= 0)
        {
            return [];
        }
        var store = await GetVectorsAsync(projectId, vectorStoreId, cancellationToken);
        if (store.Matrix.Count == 0)
        {
            return [];
        }
        if (queryVector.Length != store.Matrix.Dimensions)
        {
            throw new ArgumentException($"The query vector has {queryVector.Length} dimensions; the vector store has {store.Matrix.Dimensions}.", nameof(queryVector));
        }
        bool[]? allowedFiles = null;
        if (filter is not null)
        {
            allowedFiles = store.FileAttributes.Select(filter.Matches).ToArray();
        }
        List<(long Id, double Score)> top;
        using (FileSearchTracing.Start(FileSearchTracing.Phases.VectorScan))
        {
            top = store.Matrix.TopK(queryVector.Span, limit, allowedFiles);
        }
        if (top.Count == 0)
        {
            return [];
        }
        await using var connection = await database.OpenAsync(cancellationToken);
        return await FetchAsync(connection, projectId, vectorStoreId, top, null, limit, cancellationToken);
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
            "SELECT COUNT(*), COALESCE(SUM(chunk_count), 0), COALESCE(SUM(usage_bytes), 0) FROM chunk_files WHERE vector_store_id = $vs AND project_id = $p",
            r => (Files: r.GetInt32(0), Chunks: r.GetInt32(1), Bytes: r.GetInt64(2)), cancellationToken, ("$vs", vectorStoreId), ("$p", projectId));
        var model = await ModelOfAsync(connection, null, projectId, vectorStoreId, cancellationToken);
        return new ChunkIndexUsage(usage[0].Files, usage[0].Chunks, usage[0].Bytes, model?.Model);
    }

    public async Task<IReadOnlyList<string>> ReadFileChunksAsync(string projectId, string vectorStoreId, string fileId, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        return await connection.QueryAsync("SELECT text FROM chunks WHERE project_id = $p AND vector_store_id = $vs AND file_id = $f ORDER BY chunk_index",
            r => r.GetString(0), cancellationToken, ("$p", projectId), ("$vs", vectorStoreId), ("$f", fileId));
    }

    private static async Task<ChunkStoreModel?> ModelOfAsync(SqliteConnection connection, SqliteTransaction? transaction, string projectId, string vectorStoreId, CancellationToken cancellationToken)
    {
        await using var command = connection.Command("SELECT embedding_model, dimensions FROM chunk_stores WHERE vector_store_id = $vs AND project_id = $p", transaction,
            ("$vs", vectorStoreId), ("$p", projectId));
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        return await reader.ReadAsync(cancellationToken) ? new ChunkStoreModel(reader.GetString(0), reader.GetInt32(1)) : null;
    }

    private static async Task<(int Chunks, bool Existed)> DeleteFileRowsAsync(SqliteConnection c, SqliteTransaction t, string projectId, string vectorStoreId, string fileId, CancellationToken cancellationToken)
    {
        (string, object?)[] key = [("$vs", vectorStoreId), ("$f", fileId), ("$p", projectId)];
        await SqliteKeywordTables.UnindexAsync(c, t, projectId, "vector_store_id = $vs AND file_id = $f AND project_id = $p", cancellationToken, key);
        var chunks = await c.ExecuteAsync("DELETE FROM chunks WHERE vector_store_id = $vs AND file_id = $f AND project_id = $p", t, cancellationToken, key);
        return (chunks, await c.ExecuteAsync("DELETE FROM chunk_files WHERE vector_store_id = $vs AND file_id = $f AND project_id = $p", t, cancellationToken, key) > 0);
    }

    private static async Task<List<string>> AllowedFilesAsync(SqliteConnection connection, string projectId, string vectorStoreId, AttributeFilter filter, CancellationToken cancellationToken)
    {
        var files = await connection.QueryAsync("SELECT file_id, attributes FROM chunk_files WHERE vector_store_id = $vs AND project_id = $p",
            r => (Id: r.GetString(0), Attributes: ParseAttributes(r.IsDBNull(1) ? null : r.GetString(1))), cancellationToken, ("$vs", vectorStoreId), ("$p", projectId));
        return files.Where(f => filter.Matches(f.Attributes)).Select(f => f.Id).ToList();
    }

    private static Dictionary<string, JsonElement>? ParseAttributes(string? json) =>
        json is null ? null : JsonSerializer.Deserialize(json, FileSearchJson.Default.DictionaryStringJsonElement);

    private static ChunkHit ReadHit(DbDataReader r, double score) => new(
        r.GetInt64(0), r.GetString(1), r.GetString(2), r.GetString(3), r.GetInt32(4), r.GetString(5),
        r.IsDBNull(6) ? null : r.GetInt32(6), r.IsDBNull(7) ? null : r.GetString(7), ParseAttributes(r.IsDBNull(8) ? null : r.GetString(8)), score, r.GetInt32(9), r.GetInt32(10));

    private async Task<StoreVectors> GetVectorsAsync(string projectId, string vectorStoreId, CancellationToken cancellationToken)
    {
        long version;
        lock (_cacheLock)
        {
            if (_cache.TryGetValue(vectorStoreId, out var cached) && cached.ProjectId == projectId)
            {
                cached.LastUsed = ++_cacheClock;
                return cached;
            }
            version = _versions.GetValueOrDefault(vectorStoreId);
        }
        StoreVectors loaded;
        using (FileSearchTracing.Start(FileSearchTracing.Phases.VectorLoad))
        {
            loaded = await LoadAsync(projectId, vectorStoreId, cancellationToken);
        }
        lock (_cacheLock)
        {
            if (_versions.GetValueOrDefault(vectorStoreId) == version)
            {
                RemoveCachedLocked(vectorStoreId);
                loaded.LastUsed = ++_cacheClock;
                _cache[vectorStoreId] = loaded;
                if (loaded.Matrix.Partitions)
                {
                    // Off the search path, on a thread of its own: searches scan every row until the lists are ready.
                    loaded.Partitioned = Task.Factory.StartNew(() => PartitionQuietly(loaded), CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
                }
                _cacheBytes += loaded.Matrix.ByteSize;
                // Least recently searched stores go first; the one just loaded stays even if it alone is over the bound.
                while (_cacheBytes > _cacheBudget && _cache.Count > 1)
                {
                    RemoveCachedLocked(_cache.Where(e => e.Key != vectorStoreId).MinBy(e => e.Value.LastUsed).Key);
                }
            }
        }
        return loaded;
    }

    private void RemoveCachedLocked(string vectorStoreId)
    {
        if (_cache.Remove(vectorStoreId, out var removed))
        {
            _cacheBytes -= removed.Matrix.ByteSize;
            removed.Dropped.Cancel(); // a partition still being built for it is not needed any more
        }
    }

    private static void PartitionQuietly(StoreVectors store)
    {
        try
        {
            store.Matrix.Partition(store.Dropped.Token);
        }
        catch (Exception)
        {
            // Cancelled (the store was written or dropped), or failed: searches keep the full scan, which is exact.
        }
    }

    /// <summary>Whether the store's cached vectors are partitioned now (for tests and the benchmark).</summary>
    internal bool IsPartitioned(string vectorStoreId)
    {
        lock (_cacheLock)
        {
            return _cache.TryGetValue(vectorStoreId, out var cached) && cached.Matrix.IsPartitioned;
        }
    }

    /// <summary>Completes once the store's cached vectors are partitioned, or will not be (for tests and the benchmark).</summary>
    internal Task WhenPartitionedAsync(string vectorStoreId)
    {
        lock (_cacheLock)
        {
            return _cache.TryGetValue(vectorStoreId, out var cached) ? cached.Partitioned : Task.CompletedTask;
        }
    }

    /// <summary>Vector stores whose vectors are in memory now (for tests and diagnostics).</summary>
    public IReadOnlyCollection<string> CachedVectorStores
    {
        get
        {
            lock (_cacheLock)
            {
                return [.. _cache.Keys];
            }
        }
    }

    private async Task<StoreVectors> LoadAsync(string projectId, string vectorStoreId, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        var files = await connection.QueryAsync("SELECT file_id, attributes, chunk_count FROM chunk_files WHERE vector_store_id = $vs AND project_id = $p",
            r => (Id: r.GetString(0), Attributes: ParseAttributes(r.IsDBNull(1) ? null : r.GetString(1)), Chunks: r.GetInt32(2)), cancellationToken, ("$vs", vectorStoreId), ("$p", projectId));
        var fileIndex = files.Select((f, i) => (f.Id, i)).ToDictionary(x => x.Id, x => x.i, StringComparer.Ordinal);
        var dimensions = (await ModelOfAsync(connection, null, projectId, vectorStoreId, cancellationToken))?.Dimensions ?? 0;
        var expected = files.Sum(f => f.Chunks); // sized up front: growing a 150 MB list by doubling costs more than the read
        var ids = new List<long>(expected);
        var fileOfRow = new List<int>(expected);
        var matrix = new List<float>(expected * dimensions);
        await using (var command = connection.Command("SELECT id, file_id, embedding FROM chunks WHERE vector_store_id = $vs AND project_id = $p ORDER BY id", null,
            ("$vs", vectorStoreId), ("$p", projectId)))
        await using (var reader = await command.ExecuteReaderAsync(cancellationToken))
        {
            while (await reader.ReadAsync(cancellationToken))
            {
                var blob = (byte[])reader.GetValue(2);
                if (blob.Length != dimensions * sizeof(float) || !fileIndex.TryGetValue(reader.GetString(1), out var file))
                {
                    continue;
                }
                ids.Add(reader.GetInt64(0));
                fileOfRow.Add(file);
                matrix.AddRange(MemoryMarshal.Cast<byte, float>(blob));
            }
        }
        var attributes = files.Select(f => f.Attributes).ToArray();
        return new StoreVectors(projectId, new VectorMatrix(dimensions, [.. ids], [.. fileOfRow], [.. matrix], Partitioning), attributes);
    }

    private void Invalidate(string vectorStoreId)
    {
        lock (_cacheLock)
        {
            _versions[vectorStoreId] = _versions.GetValueOrDefault(vectorStoreId) + 1;
            RemoveCachedLocked(vectorStoreId);
        }
    }

    /// <summary>One vector store's vectors with the attributes of its files (rows refer to files by position).</summary>
    private sealed record StoreVectors(string ProjectId, VectorMatrix Matrix, IReadOnlyDictionary<string, JsonElement>?[] FileAttributes)
    {
        /// <summary>Cache clock of the last search (under the cache lock).</summary>
        public long LastUsed { get; set; }

        /// <summary>The background build of the matrix's partition (completed when there is none).</summary>
        public Task Partitioned { get; set; } = Task.CompletedTask;

        /// <summary>Cancelled when the store leaves the cache.</summary>
        public CancellationTokenSource Dropped { get; } = new();
    }
}
