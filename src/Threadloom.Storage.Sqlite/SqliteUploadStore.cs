using Threadloom.Core.Domain;
using Threadloom.Core.Storage;

namespace Threadloom.Storage.Sqlite;

public sealed class SqliteUploadStore(SqliteDatabase database, SqliteFileStore files) : IUploadStore
{
    private readonly DocumentTable<Upload> _table = new(database, "uploads", DomainJson.Default.Upload);

    public Task CreateAsync(Upload upload, CancellationToken cancellationToken) =>
        database.WriteAsync((c, t) => c.ExecuteAsync("INSERT INTO uploads (id, project_id, status, expires_at, data) VALUES ($id, $p, $s, $e, $d)", t, cancellationToken,
            ("$id", upload.Id), ("$p", upload.ProjectId), ("$s", UploadStatuses.Name(upload.Status)), ("$e", upload.ExpiresAt.ToUnixTimeSeconds()), ("$d", _table.Serialize(upload))), cancellationToken);

    public Task<Upload?> FindAsync(string projectId, string id, CancellationToken cancellationToken) => _table.FindAsync(projectId, id, null, cancellationToken);

    public Task<bool> TryAddPartAsync(UploadPart part, long declaredBytes, CancellationToken cancellationToken) =>
        database.WriteAsync(async (c, t) =>
        {
            await using var check = c.Command(
                "SELECT coalesce((SELECT status FROM uploads WHERE id = $u), ''), coalesce((SELECT sum(bytes) FROM upload_parts WHERE upload_id = $u), 0)", t, ("$u", part.UploadId));
            await using var reader = await check.ExecuteReaderAsync(cancellationToken);
            await reader.ReadAsync(cancellationToken);
            var pending = reader.GetString(0) == "pending";
            var total = reader.GetInt64(1);
            await reader.DisposeAsync();
            if (!pending || total + part.Bytes > declaredBytes)
            {
                return false;
            }
            await c.ExecuteAsync("INSERT INTO upload_parts (id, upload_id, bytes, created_at) VALUES ($id, $u, $b, $c)", t, cancellationToken,
                ("$id", part.Id), ("$u", part.UploadId), ("$b", part.Bytes), ("$c", part.CreatedAt.ToUnixTimeSeconds()));
            return true;
        }, cancellationToken);

    public async Task<IReadOnlyList<UploadPart>> ListPartsAsync(string uploadId, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        return await connection.QueryAsync("SELECT id, bytes, created_at FROM upload_parts WHERE upload_id = $u ORDER BY seq",
            r => new UploadPart(r.GetString(0), uploadId, DateTimeOffset.FromUnixTimeSeconds(r.GetInt64(2)), r.GetInt64(1)), cancellationToken, ("$u", uploadId));
    }

    public Task<bool> TryCompleteAsync(Upload completed, StoredFile file, CancellationToken cancellationToken) =>
        database.WriteAsync(async (c, t) =>
        {
            var changed = await c.ExecuteAsync("UPDATE uploads SET status = 'completed', data = $d WHERE id = $id AND project_id = $p AND status = 'pending'", t, cancellationToken,
                ("$d", _table.Serialize(completed)), ("$id", completed.Id), ("$p", completed.ProjectId));
            if (changed != 1)
            {
                return false;
            }
            await files.InsertAsync(c, t, file, cancellationToken);
            return true;
        }, cancellationToken);

    public Task<bool> TryEndAsync(string projectId, string id, UploadStatus to, CancellationToken cancellationToken) =>
        database.WriteAsync(async (c, t) =>
        {
            var json = (string?)await c.ScalarAsync("SELECT data FROM uploads WHERE id = $id AND project_id = $p AND status = 'pending'", t, cancellationToken, ("$id", id), ("$p", projectId));
            if (json is null)
            {
                return false;
            }
            var ended = _table.Deserialize(json) with { Status = to };
            return await c.ExecuteAsync("UPDATE uploads SET status = $s, data = $d WHERE id = $id AND status = 'pending'", t, cancellationToken,
                ("$s", UploadStatuses.Name(to)), ("$d", _table.Serialize(ended)), ("$id", id)) == 1;
        }, cancellationToken);

    public Task DeletePartsAsync(string uploadId, CancellationToken cancellationToken) =>
        database.WriteAsync((c, t) => c.ExecuteAsync("DELETE FROM upload_parts WHERE upload_id = $u", t, cancellationToken, ("$u", uploadId)), cancellationToken);

    public async Task<IReadOnlyList<Upload>> ListExpiredAsync(DateTimeOffset now, int limit, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        return await connection.QueryAsync($"SELECT data FROM uploads WHERE status = 'pending' AND expires_at <= $now ORDER BY expires_at LIMIT {limit}",
            r => _table.Deserialize(r.GetString(0)), cancellationToken, ("$now", now.ToUnixTimeSeconds()));
    }
}
