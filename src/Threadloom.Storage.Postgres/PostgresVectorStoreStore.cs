using System.Globalization;
using Npgsql;
using Threadloom.Core.Domain;
using Threadloom.Core.Storage;

namespace Threadloom.Storage.Postgres;

/// <summary>
/// Vector stores, their files and batches, and the ingestion job queue over the file rows. The <c>status</c> and
/// <c>usage_bytes</c> columns mirror the file document so counts are one aggregate and a claim is one statement
/// (<c>FOR UPDATE SKIP LOCKED</c>). Document edits that keep stored fields read the row <c>FOR UPDATE</c> and write
/// it back in one transaction, so they never lose a concurrent status change.
/// </summary>
public sealed class PostgresVectorStoreStore(PostgresDatabase database) : IVectorStoreStore, IIngestionJobQueue
{
    private const string CountColumns =
        "COUNT(*) FILTER (WHERE status = 'in_progress'), COUNT(*) FILTER (WHERE status = 'completed'), COUNT(*) FILTER (WHERE status = 'failed'), " +
        "COUNT(*) FILTER (WHERE status = 'cancelled'), COUNT(*), COALESCE(SUM(usage_bytes), 0)::bigint";

    private readonly PgDocumentTable<VectorStore> _stores = new(database, "vector_stores", DomainJson.Default.VectorStore);
    private readonly PgDocumentTable<VectorStoreFile> _files = new(database, "vector_store_files", DomainJson.Default.VectorStoreFile);
    private readonly PgDocumentTable<VectorStoreFileBatch> _batches = new(database, "vector_store_file_batches", DomainJson.Default.VectorStoreFileBatch);

    private static string WireStatus(VectorStoreFileStatus status) => status switch
    {
        VectorStoreFileStatus.InProgress => "in_progress",
        VectorStoreFileStatus.Completed => "completed",
        VectorStoreFileStatus.Cancelled => "cancelled",
        _ => "failed",
    };

    public Task CreateAsync(VectorStore store, IReadOnlyList<VectorStoreFile> files, CancellationToken cancellationToken) =>
        database.WriteAsync(async (c, t) =>
        {
            await c.ExecuteAsync("INSERT INTO vector_stores (id, project_id, data) VALUES ($1, $2, $3)", t, cancellationToken, store.Id, store.ProjectId, _stores.Serialize(store));
            foreach (var file in files)
            {
                await UpsertFileAsync(c, t, file, cancellationToken);
            }
            return true;
        }, cancellationToken);

    public async Task<VectorStoreState?> FindAsync(string projectId, string id, CancellationToken cancellationToken)
    {
        var store = await _stores.FindAsync(projectId, id, null, cancellationToken);
        return store is null ? null : await StateAsync(store, cancellationToken);
    }

    public async Task<Page<VectorStoreState>> ListAsync(string projectId, PageRequest page, CancellationToken cancellationToken)
    {
        var stores = await _stores.ListAsync(projectId, page, null, cancellationToken);
        var states = new List<VectorStoreState>(stores.Items.Count);
        foreach (var store in stores.Items)
        {
            states.Add(await StateAsync(store, cancellationToken));
        }
        return new Page<VectorStoreState>(states, stores.HasMore);
    }

    public Task<bool> UpdateAsync(VectorStore store, CancellationToken cancellationToken) => _stores.UpdateAsync(store, cancellationToken);

    public Task<bool> DeleteAsync(string projectId, string id, CancellationToken cancellationToken) =>
        database.WriteAsync(async (c, t) =>
        {
            if (await c.ExecuteAsync("DELETE FROM vector_stores WHERE project_id = $1 AND id = $2", t, cancellationToken, projectId, id) == 0)
            {
                return false;
            }
            await c.ExecuteAsync("DELETE FROM vector_store_files WHERE vector_store_id = $1", t, cancellationToken, id);
            await c.ExecuteAsync("DELETE FROM vector_store_file_batches WHERE vector_store_id = $1", t, cancellationToken, id);
            return true;
        }, cancellationToken);

    public Task AddFilesAsync(IReadOnlyList<VectorStoreFile> files, VectorStoreFileBatch? batch, CancellationToken cancellationToken) =>
        database.WriteAsync(async (c, t) =>
        {
            if (batch is not null)
            {
                await c.ExecuteAsync("INSERT INTO vector_store_file_batches (id, project_id, vector_store_id, data) VALUES ($1, $2, $3, $4)", t, cancellationToken,
                    batch.Id, batch.ProjectId, batch.VectorStoreId, _batches.Serialize(batch));
            }
            foreach (var file in files)
            {
                await UpsertFileAsync(c, t, file, cancellationToken);
            }
            return true;
        }, cancellationToken);

    public Task<VectorStoreFile?> FindFileAsync(string projectId, string vectorStoreId, string fileId, CancellationToken cancellationToken) =>
        _files.FindAsync(projectId, fileId, "AND vector_store_id = $3", cancellationToken, vectorStoreId);

    public Task<Page<VectorStoreFile>> ListFilesAsync(string projectId, string vectorStoreId, string? batchId, VectorStoreFileStatus? status, PageRequest page, CancellationToken cancellationToken)
    {
        var filter = "AND vector_store_id = $3";
        List<object?> parameters = [vectorStoreId];
        if (batchId is not null)
        {
            parameters.Add(batchId);
            filter += $" AND batch_id = ${parameters.Count + 2}";
        }
        if (status is { } s)
        {
            parameters.Add(WireStatus(s));
            filter += $" AND status = ${parameters.Count + 2}";
        }
        return _files.ListAsync(projectId, page, filter, cancellationToken, [.. parameters]);
    }

    public Task<bool> UpdateFileAsync(VectorStoreFile file, CancellationToken cancellationToken) =>
        database.WriteAsync(async (c, t) =>
        {
            var rows = await c.QueryAsync("SELECT data FROM vector_store_files WHERE project_id = $1 AND vector_store_id = $2 AND id = $3 FOR UPDATE", t,
                r => r.GetString(0), cancellationToken, file.ProjectId, file.VectorStoreId, file.Id);
            if (rows.Count == 0)
            {
                return false;
            }
            // The caller replaces attributes (and the like); status, usage and last_error stay what the worker wrote.
            var stored = _files.Deserialize(rows[0]);
            var merged = file with { Status = stored.Status, UsageBytes = stored.UsageBytes, LastError = stored.LastError };
            await c.ExecuteAsync("UPDATE vector_store_files SET data = $1 WHERE vector_store_id = $2 AND id = $3", t, cancellationToken,
                _files.Serialize(merged), file.VectorStoreId, file.Id);
            return true;
        }, cancellationToken);

    public Task<bool> DeleteFileAsync(string projectId, string vectorStoreId, string fileId, CancellationToken cancellationToken) =>
        _files.DeleteAsync(projectId, fileId, "AND vector_store_id = $3", cancellationToken, vectorStoreId);

    public Task<IReadOnlyList<string>> RemoveFileEverywhereAsync(string projectId, string fileId, CancellationToken cancellationToken) =>
        database.WriteAsync<IReadOnlyList<string>>(async (c, t) => await c.QueryAsync(
            "DELETE FROM vector_store_files WHERE project_id = $1 AND id = $2 RETURNING vector_store_id", t,
            r => r.GetString(0), cancellationToken, projectId, fileId), cancellationToken);

    public Task<VectorStoreFileBatch?> FindBatchAsync(string projectId, string vectorStoreId, string batchId, CancellationToken cancellationToken) =>
        _batches.FindAsync(projectId, batchId, "AND vector_store_id = $3", cancellationToken, vectorStoreId);

    public async Task<VectorStoreFileCounts> CountBatchAsync(string vectorStoreId, string batchId, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        var rows = await connection.QueryAsync($"SELECT {CountColumns} FROM vector_store_files WHERE vector_store_id = $1 AND batch_id = $2", null,
            ReadCounts, cancellationToken, vectorStoreId, batchId);
        return rows[0].Counts;
    }

    public Task<bool> CancelBatchAsync(string projectId, string vectorStoreId, string batchId, CancellationToken cancellationToken) =>
        database.WriteAsync(async (c, t) =>
        {
            var batch = await c.ScalarAsync("SELECT data FROM vector_store_file_batches WHERE id = $1 AND project_id = $2 AND vector_store_id = $3 FOR UPDATE", t, cancellationToken,
                batchId, projectId, vectorStoreId) as string;
            if (batch is null)
            {
                return false;
            }
            await c.ExecuteAsync("UPDATE vector_store_file_batches SET data = $1 WHERE id = $2", t, cancellationToken,
                _batches.Serialize(_batches.Deserialize(batch) with { Cancelled = true }), batchId);
            var files = await c.QueryAsync(
                "SELECT id, data FROM vector_store_files WHERE vector_store_id = $1 AND batch_id = $2 AND status = 'in_progress' FOR UPDATE", t,
                r => (Id: r.GetString(0), Data: r.GetString(1)), cancellationToken, vectorStoreId, batchId);
            foreach (var (id, data) in files)
            {
                await c.ExecuteAsync("UPDATE vector_store_files SET status = 'cancelled', locked_by = NULL, locked_until = NULL, data = $1 WHERE vector_store_id = $2 AND id = $3",
                    t, cancellationToken, _files.Serialize(_files.Deserialize(data) with { Status = VectorStoreFileStatus.Cancelled }), vectorStoreId, id);
            }
            return true;
        }, cancellationToken);

    public Task TouchAsync(string projectId, IReadOnlyCollection<string> ids, DateTimeOffset now, CancellationToken cancellationToken) =>
        database.WriteAsync(async (c, t) =>
        {
            foreach (var id in ids)
            {
                // An expired store stays expired: touching it would move expires_at past now and revive it.
                var data = await c.ScalarAsync("SELECT data FROM vector_stores WHERE id = $1 AND project_id = $2 FOR UPDATE", t, cancellationToken, id, projectId);
                if (data is not string json || _stores.Deserialize(json) is var store && store.IsExpiredAt(now))
                {
                    continue;
                }
                await c.ExecuteAsync("UPDATE vector_stores SET data = $1 WHERE id = $2", t, cancellationToken, _stores.Serialize(store with { LastActiveAt = now }), id);
            }
            return true;
        }, cancellationToken);

    public Task<IngestionClaim?> ClaimNextAsync(string nodeId, DateTimeOffset now, TimeSpan lease, CancellationToken cancellationToken) =>
        database.WriteAsync(async (c, t) =>
        {
            var rows = await c.QueryAsync(
                "UPDATE vector_store_files SET locked_by = $1, locked_until = $2, attempts = attempts + 1 WHERE seq = (SELECT seq FROM vector_store_files WHERE status = 'in_progress' " +
                "AND (locked_by IS NULL OR locked_until < $3) ORDER BY seq FOR UPDATE SKIP LOCKED LIMIT 1) RETURNING data, attempts", t,
                r => (Data: r.GetString(0), Attempts: r.GetInt32(1)), cancellationToken, nodeId, (now + lease).ToUnixTimeMilliseconds(), now.ToUnixTimeMilliseconds());
            return rows.Count == 0 ? null : new IngestionClaim(_files.Deserialize(rows[0].Data), rows[0].Attempts);
        }, cancellationToken);

    public Task<bool> RenewLeaseAsync(string vectorStoreId, string fileId, string nodeId, DateTimeOffset lockedUntil, CancellationToken cancellationToken) =>
        database.WriteAsync(async (c, t) => await c.ExecuteAsync(
            "UPDATE vector_store_files SET locked_until = $1 WHERE vector_store_id = $2 AND id = $3 AND locked_by = $4 AND status = 'in_progress'", t, cancellationToken,
            lockedUntil.ToUnixTimeMilliseconds(), vectorStoreId, fileId, nodeId) == 1, cancellationToken);

    public Task<bool> CompleteAsync(VectorStoreFile file, string nodeId, CancellationToken cancellationToken) =>
        database.WriteAsync(async (c, t) => await c.ExecuteAsync(
            "UPDATE vector_store_files SET status = $1, usage_bytes = $2, data = $3, locked_by = NULL, locked_until = NULL " +
            "WHERE vector_store_id = $4 AND id = $5 AND locked_by = $6 AND status = 'in_progress'", t, cancellationToken,
            WireStatus(file.Status), file.UsageBytes, _files.Serialize(file), file.VectorStoreId, file.Id, nodeId) == 1, cancellationToken);

    public Task ReleaseAsync(string vectorStoreId, string fileId, string nodeId, CancellationToken cancellationToken, bool countAttempt = false) =>
        database.WriteAsync((c, t) => c.ExecuteAsync(
            "UPDATE vector_store_files SET locked_by = NULL, locked_until = NULL, attempts = CASE WHEN $4 THEN attempts ELSE GREATEST(attempts - 1, 0) END " +
            "WHERE vector_store_id = $1 AND id = $2 AND locked_by = $3", t, cancellationToken,
            vectorStoreId, fileId, nodeId, countAttempt), cancellationToken);

    private Task<int> UpsertFileAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, VectorStoreFile file, CancellationToken cancellationToken) =>
        connection.ExecuteAsync(
            "INSERT INTO vector_store_files (id, vector_store_id, project_id, batch_id, status, usage_bytes, data) VALUES ($1, $2, $3, $4, $5, $6, $7) " +
            "ON CONFLICT (vector_store_id, id) DO UPDATE SET batch_id = excluded.batch_id, status = excluded.status, usage_bytes = excluded.usage_bytes, " +
            "data = excluded.data, locked_by = NULL, locked_until = NULL, attempts = 0", transaction, cancellationToken,
            file.Id, file.VectorStoreId, file.ProjectId, new NpgsqlParameter<string?> { TypedValue = file.BatchId, NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Text },
            WireStatus(file.Status), file.UsageBytes, _files.Serialize(file));

    private async Task<VectorStoreState> StateAsync(VectorStore store, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        var rows = await connection.QueryAsync($"SELECT {CountColumns} FROM vector_store_files WHERE vector_store_id = $1", null,
            ReadCounts, cancellationToken, store.Id);
        return new VectorStoreState(store, rows[0].Counts, rows[0].Usage);
    }

    private static (VectorStoreFileCounts Counts, long Usage) ReadCounts(NpgsqlDataReader r) =>
        (new VectorStoreFileCounts((int)r.GetInt64(0), (int)r.GetInt64(1), (int)r.GetInt64(2), (int)r.GetInt64(3), (int)r.GetInt64(4)),
            Convert.ToInt64(r.GetValue(5), CultureInfo.InvariantCulture));
}
