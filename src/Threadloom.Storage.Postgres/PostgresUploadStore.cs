using Threadloom.Core.Domain;
using Threadloom.Core.Storage;

namespace Threadloom.Storage.Postgres;

/// <summary>
/// Uploads over the <c>uploads</c> and <c>upload_parts</c> tables. Adding a part locks its upload row
/// (<c>FOR UPDATE</c>), so parallel parts on any number of nodes cannot overshoot the declared bytes.
/// </summary>
public sealed class PostgresUploadStore(PostgresDatabase database, PostgresFileStore files) : IUploadStore
{
    private readonly PgDocumentTable<Upload> _table = new(database, "uploads", DomainJson.Default.Upload);

    public Task CreateAsync(Upload upload, CancellationToken cancellationToken) =>
        database.WriteAsync((c, t) => c.ExecuteAsync("INSERT INTO uploads (id, project_id, status, expires_at, data) VALUES ($1, $2, $3, $4, $5)", t, cancellationToken,
            upload.Id, upload.ProjectId, UploadStatuses.Name(upload.Status), upload.ExpiresAt.ToUnixTimeSeconds(), _table.Serialize(upload)), cancellationToken);

    public Task<Upload?> FindAsync(string projectId, string id, CancellationToken cancellationToken) => _table.FindAsync(projectId, id, null, cancellationToken);

    public Task<bool> TryAddPartAsync(UploadPart part, long declaredBytes, CancellationToken cancellationToken) =>
        database.WriteAsync(async (c, t) =>
        {
            var status = (string?)await c.ScalarAsync("SELECT status FROM uploads WHERE id = $1 FOR UPDATE", t, cancellationToken, part.UploadId);
            if (status != "pending")
            {
                return false;
            }
            var total = (long)(await c.ScalarAsync("SELECT coalesce(sum(bytes), 0)::bigint FROM upload_parts WHERE upload_id = $1", t, cancellationToken, part.UploadId))!;
            if (total + part.Bytes > declaredBytes)
            {
                return false;
            }
            await c.ExecuteAsync("INSERT INTO upload_parts (id, upload_id, bytes, created_at) VALUES ($1, $2, $3, $4)", t, cancellationToken,
                part.Id, part.UploadId, part.Bytes, part.CreatedAt.ToUnixTimeSeconds());
            return true;
        }, cancellationToken);

    public async Task<IReadOnlyList<UploadPart>> ListPartsAsync(string uploadId, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        return await connection.QueryAsync("SELECT id, bytes, created_at FROM upload_parts WHERE upload_id = $1 ORDER BY seq", null,
            r => new UploadPart(r.GetString(0), uploadId, DateTimeOffset.FromUnixTimeSeconds(r.GetInt64(2)), r.GetInt64(1)), cancellationToken, uploadId);
    }

    public Task<bool> TryCompleteAsync(Upload completed, StoredFile file, CancellationToken cancellationToken) =>
        database.WriteAsync(async (c, t) =>
        {
            var changed = await c.ExecuteAsync("UPDATE uploads SET status = 'completed', data = $1 WHERE id = $2 AND project_id = $3 AND status = 'pending'", t, cancellationToken,
                _table.Serialize(completed), completed.Id, completed.ProjectId);
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
            var json = (string?)await c.ScalarAsync("SELECT data FROM uploads WHERE id = $1 AND project_id = $2 AND status = 'pending' FOR UPDATE", t, cancellationToken, id, projectId);
            if (json is null)
            {
                return false;
            }
            var ended = _table.Deserialize(json) with { Status = to };
            return await c.ExecuteAsync("UPDATE uploads SET status = $1, data = $2 WHERE id = $3 AND status = 'pending'", t, cancellationToken,
                UploadStatuses.Name(to), _table.Serialize(ended), id) == 1;
        }, cancellationToken);

    public Task DeletePartsAsync(string uploadId, CancellationToken cancellationToken) =>
        database.WriteAsync((c, t) => c.ExecuteAsync("DELETE FROM upload_parts WHERE upload_id = $1", t, cancellationToken, uploadId), cancellationToken);

    public async Task<IReadOnlyList<Upload>> ListExpiredAsync(DateTimeOffset now, int limit, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        return await connection.QueryAsync("SELECT data FROM uploads WHERE status = 'pending' AND expires_at <= $1 ORDER BY expires_at LIMIT $2", null,
            r => _table.Deserialize(r.GetString(0)), cancellationToken, now.ToUnixTimeSeconds(), limit);
    }
}
