using System.Data.Common;
using Microsoft.Data.Sqlite;
using Threadloom.Core.Domain;
using Threadloom.Core.Storage;

namespace Threadloom.Storage.Sqlite;

/// <summary>
/// Vector stores, their files and batches over <c>0004_vector_stores.sql</c>. The <c>status</c> and
/// <c>usage_bytes</c> columns mirror the file document so counts are one aggregate query and a claim is one
/// <c>UPDATE … RETURNING</c> (SQLite serialises writers; PostgreSQL will add <c>FOR UPDATE SKIP LOCKED</c>).
/// </summary>
public sealed class SqliteVectorStoreStore(SqliteDatabase database) : IVectorStoreStore, IIngestionJobQueue
{
    private const string CountColumns =
        "COALESCE(SUM(status = 'in_progress'), 0), COALESCE(SUM(status = 'completed'), 0), COALESCE(SUM(status = 'failed'), 0), " +
        "COALESCE(SUM(status = 'cancelled'), 0), COUNT(*), COALESCE(SUM(usage_bytes), 0)";

    private readonly DocumentTable<VectorStore> _stores = new(database, "vector_stores", DomainJson.Default.VectorStore);
    private readonly DocumentTable<VectorStoreFile> _files = new(database, "vector_store_files", DomainJson.Default.VectorStoreFile);
    private readonly DocumentTable<VectorStoreFileBatch> _batches = new(database, "vector_store_file_batches", DomainJson.Default.VectorStoreFileBatch);

    public static string WireStatus(VectorStoreFileStatus status) => status switch
    {
        VectorStoreFileStatus.InProgress => "in_progress",
        VectorStoreFileStatus.Completed => "completed",
        VectorStoreFileStatus.Cancelled => "cancelled",
        _ => "failed",
    };

    public Task CreateAsync(VectorStore store, IReadOnlyList<VectorStoreFile> files, CancellationToken cancellationToken) =>
        database.WriteAsync(async (c, t) =>
        {
            await c.ExecuteAsync("INSERT INTO vector_stores (id, project_id, data) VALUES ($id, $p, $d)", t, cancellationToken,
                ("$id", store.Id), ("$p", store.ProjectId), ("$d", _stores.Serialize(store)));
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
            if (await c.ExecuteAsync("DELETE FROM vector_stores WHERE id = $id AND project_id = $p", t, cancellationToken, ("$id", id), ("$p", projectId)) == 0)
            {
                return false;
            }
            await c.ExecuteAsync("DELETE FROM vector_store_files WHERE vector_store_id = $id", t, cancellationToken, ("$id", id));
            await c.ExecuteAsync("DELETE FROM vector_store_file_batches WHERE vector_store_id = $id", t, cancellationToken, ("$id", id));
            return true;
        }, cancellationToken);

    public Task AddFilesAsync(IReadOnlyList<VectorStoreFile> files, VectorStoreFileBatch? batch, CancellationToken cancellationToken) =>
        database.WriteAsync(async (c, t) =>
        {
            if (batch is not null)
            {
                await c.ExecuteAsync("INSERT INTO vector_store_file_batches (id, project_id, vector_store_id, data) VALUES ($id, $p, $vs, $d)", t, cancellationToken,
                    ("$id", batch.Id), ("$p", batch.ProjectId), ("$vs", batch.VectorStoreId), ("$d", _batches.Serialize(batch)));
            }
            foreach (var file in files)
            {
                await UpsertFileAsync(c, t, file, cancellationToken);
            }
            return true;
        }, cancellationToken);

    public Task<VectorStoreFile?> FindFileAsync(string projectId, string vectorStoreId, string fileId, CancellationToken cancellationToken) =>
        _files.FindAsync(projectId, fileId, "AND vector_store_id = $vs", cancellationToken, ("$vs", vectorStoreId));

    public Task<Page<VectorStoreFile>> ListFilesAsync(string projectId, string vectorStoreId, string? batchId, VectorStoreFileStatus? status, PageRequest page, CancellationToken cancellationToken)
    {
        var filter = "AND vector_store_id = $vs" + (batchId is null ? "" : " AND batch_id = $b") + (status is null ? "" : " AND status = $s");
        return _files.ListAsync(projectId, page, filter, cancellationToken,
            ("$vs", vectorStoreId), ("$b", batchId), ("$s", status is { } s ? WireStatus(s) : null));
    }

    public Task<bool> UpdateFileAsync(VectorStoreFile file, CancellationToken cancellationToken) =>
        database.WriteAsync(async (c, t) => await c.ExecuteAsync(
            "UPDATE vector_store_files SET data = json_set($d, '$.status', json_extract(data, '$.status'), '$.usage_bytes', usage_bytes, " +
            "'$.last_error', json_extract(data, '$.last_error')) WHERE vector_store_id = $vs AND id = $id AND project_id = $p", t, cancellationToken,
            ("$d", _files.Serialize(file)), ("$vs", file.VectorStoreId), ("$id", file.Id), ("$p", file.ProjectId)) == 1, cancellationToken);

    public Task<bool> DeleteFileAsync(string projectId, string vectorStoreId, string fileId, CancellationToken cancellationToken) =>
        _files.DeleteAsync(projectId, fileId, "AND vector_store_id = $vs", cancellationToken, ("$vs", vectorStoreId));

    public Task<IReadOnlyList<string>> RemoveFileEverywhereAsync(string projectId, string fileId, CancellationToken cancellationToken) =>
        database.WriteAsync<IReadOnlyList<string>>(async (c, t) => await c.QueryAsync(
            "DELETE FROM vector_store_files WHERE project_id = $p AND id = $id RETURNING vector_store_id", t,
            r => r.GetString(0), cancellationToken, ("$p", projectId), ("$id", fileId)), cancellationToken);

    public Task<VectorStoreFileBatch?> FindBatchAsync(string projectId, string vectorStoreId, string batchId, CancellationToken cancellationToken) =>
        _batches.FindAsync(projectId, batchId, "AND vector_store_id = $vs", cancellationToken, ("$vs", vectorStoreId));

    public async Task<VectorStoreFileCounts> CountBatchAsync(string vectorStoreId, string batchId, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        var rows = await connection.QueryAsync($"SELECT {CountColumns} FROM vector_store_files WHERE vector_store_id = $vs AND batch_id = $b",
            ReadCounts, cancellationToken, ("$vs", vectorStoreId), ("$b", batchId));
        return rows[0].Counts;
    }

    public Task<bool> CancelBatchAsync(string projectId, string vectorStoreId, string batchId, CancellationToken cancellationToken) =>
        database.WriteAsync(async (c, t) =>
        {
            var batch = await c.ScalarAsync("SELECT data FROM vector_store_file_batches WHERE id = $id AND project_id = $p AND vector_store_id = $vs", t, cancellationToken,
                ("$id", batchId), ("$p", projectId), ("$vs", vectorStoreId)) as string;
            if (batch is null)
            {
                return false;
            }
            await c.ExecuteAsync("UPDATE vector_store_file_batches SET data = $d WHERE id = $id", t, cancellationToken,
                ("$d", _batches.Serialize(_batches.Deserialize(batch) with { Cancelled = true })), ("$id", batchId));
            await c.ExecuteAsync(
                "UPDATE vector_store_files SET status = 'cancelled', locked_by = NULL, locked_until = NULL, data = json_set(data, '$.status', 'Cancelled') " +
                "WHERE vector_store_id = $vs AND batch_id = $b AND status = 'in_progress'", t, cancellationToken, ("$vs", vectorStoreId), ("$b", batchId));
            return true;
        }, cancellationToken);

    public Task TouchAsync(string projectId, IReadOnlyCollection<string> ids, DateTimeOffset now, CancellationToken cancellationToken) =>
        database.WriteAsync(async (c, t) =>
        {
            foreach (var id in ids)
            {
                // An expired store stays expired: touching it would move expires_at past now and revive it.
                var data = await c.ScalarAsync("SELECT data FROM vector_stores WHERE id = $id AND project_id = $p", t, cancellationToken, ("$id", id), ("$p", projectId));
                if (data is not string json || _stores.Deserialize(json).IsExpiredAt(now))
                {
                    continue;
                }
                await c.ExecuteAsync("UPDATE vector_stores SET data = json_set(data, '$.last_active_at', $now) WHERE id = $id AND project_id = $p", t, cancellationToken,
                    ("$now", now.ToString("O", System.Globalization.CultureInfo.InvariantCulture)), ("$id", id), ("$p", projectId));
            }
            return true;
        }, cancellationToken);

    public Task<IngestionClaim?> ClaimNextAsync(string nodeId, DateTimeOffset now, TimeSpan lease, CancellationToken cancellationToken) =>
        database.WriteAsync(async (c, t) =>
        {
            var rows = await c.QueryAsync(
                "UPDATE vector_store_files SET locked_by = $n, locked_until = $u, attempts = attempts + 1 WHERE seq = (SELECT seq FROM vector_store_files WHERE status = 'in_progress' " +
                "AND (locked_by IS NULL OR locked_until < $now) ORDER BY seq LIMIT 1) RETURNING data, attempts", t,
                r => (Data: r.GetString(0), Attempts: r.GetInt32(1)), cancellationToken,
                ("$n", nodeId), ("$u", (now + lease).ToUnixTimeMilliseconds()), ("$now", now.ToUnixTimeMilliseconds()));
            return rows.Count == 0 ? null : new IngestionClaim(_files.Deserialize(rows[0].Data), rows[0].Attempts);
        }, cancellationToken);

    public Task<bool> RenewLeaseAsync(string vectorStoreId, string fileId, string nodeId, DateTimeOffset lockedUntil, CancellationToken cancellationToken) =>
        database.WriteAsync(async (c, t) => await c.ExecuteAsync(
            "UPDATE vector_store_files SET locked_until = $u WHERE vector_store_id = $vs AND id = $id AND locked_by = $n AND status = 'in_progress'", t, cancellationToken,
            ("$u", lockedUntil.ToUnixTimeMilliseconds()), ("$vs", vectorStoreId), ("$id", fileId), ("$n", nodeId)) == 1, cancellationToken);

    public Task<bool> CompleteAsync(VectorStoreFile file, string nodeId, CancellationToken cancellationToken) =>
        database.WriteAsync(async (c, t) => await c.ExecuteAsync(
            "UPDATE vector_store_files SET status = $s, usage_bytes = $u, data = $d, locked_by = NULL, locked_until = NULL " +
            "WHERE vector_store_id = $vs AND id = $id AND locked_by = $n AND status = 'in_progress'", t, cancellationToken,
            ("$s", WireStatus(file.Status)), ("$u", file.UsageBytes), ("$d", _files.Serialize(file)),
            ("$vs", file.VectorStoreId), ("$id", file.Id), ("$n", nodeId)) == 1, cancellationToken);

    public Task ReleaseAsync(string vectorStoreId, string fileId, string nodeId, CancellationToken cancellationToken, bool countAttempt = false) =>
        database.WriteAsync((c, t) => c.ExecuteAsync(
            "UPDATE vector_store_files SET locked_by = NULL, locked_until = NULL, attempts = CASE WHEN $keep = 1 THEN attempts ELSE MAX(attempts - 1, 0) END " +
            "WHERE vector_store_id = $vs AND id = $id AND locked_by = $n", t, cancellationToken,
            ("$vs", vectorStoreId), ("$id", fileId), ("$n", nodeId), ("$keep", countAttempt ? 1 : 0)), cancellationToken);

    private Task<int> UpsertFileAsync(SqliteConnection connection, SqliteTransaction transaction, VectorStoreFile file, CancellationToken cancellationToken) =>
        connection.ExecuteAsync(
            "INSERT INTO vector_store_files (id, vector_store_id, project_id, batch_id, status, usage_bytes, data) VALUES ($id, $vs, $p, $b, $s, $u, $d) " +
            "ON CONFLICT(vector_store_id, id) DO UPDATE SET batch_id = excluded.batch_id, status = excluded.status, usage_bytes = excluded.usage_bytes, " +
            "data = excluded.data, locked_by = NULL, locked_until = NULL, attempts = 0", transaction, cancellationToken,
            ("$id", file.Id), ("$vs", file.VectorStoreId), ("$p", file.ProjectId), ("$b", file.BatchId), ("$s", WireStatus(file.Status)),
            ("$u", file.UsageBytes), ("$d", _files.Serialize(file)));

    private async Task<VectorStoreState> StateAsync(VectorStore store, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        var rows = await connection.QueryAsync($"SELECT {CountColumns} FROM vector_store_files WHERE vector_store_id = $vs",
            ReadCounts, cancellationToken, ("$vs", store.Id));
        return new VectorStoreState(store, rows[0].Counts, rows[0].Usage);
    }

    private static (VectorStoreFileCounts Counts, long Usage) ReadCounts(DbDataReader r) =>
        (new VectorStoreFileCounts(r.GetInt32(0), r.GetInt32(1), r.GetInt32(2), r.GetInt32(3), r.GetInt32(4)), r.GetInt64(5));
}
