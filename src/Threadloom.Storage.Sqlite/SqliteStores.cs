using Microsoft.Data.Sqlite;
using Threadloom.Core.Domain;
using Threadloom.Core.Storage;

namespace Threadloom.Storage.Sqlite;

public sealed class SqliteAssistantStore(SqliteDatabase database) : IAssistantStore
{
    private readonly DocumentTable<Assistant> _table = new(database, "assistants", DomainJson.Default.Assistant);

    public Task CreateAsync(Assistant assistant, CancellationToken cancellationToken) =>
        database.WriteAsync((c, t) => c.ExecuteAsync("INSERT INTO assistants (id, project_id, data) VALUES ($id, $p, $d)", t, cancellationToken,
            ("$id", assistant.Id), ("$p", assistant.ProjectId), ("$d", _table.Serialize(assistant))), cancellationToken);

    public Task<Assistant?> FindAsync(string projectId, string id, CancellationToken cancellationToken) => _table.FindAsync(projectId, id, null, cancellationToken);

    public Task<bool> UpdateAsync(Assistant assistant, CancellationToken cancellationToken) => _table.UpdateAsync(assistant, cancellationToken);

    public Task<bool> DeleteAsync(string projectId, string id, CancellationToken cancellationToken) => _table.DeleteAsync(projectId, id, null, cancellationToken);

    public Task<Page<Assistant>> ListAsync(string projectId, PageRequest page, CancellationToken cancellationToken) => _table.ListAsync(projectId, page, null, cancellationToken);
}

public sealed class SqliteThreadStore(SqliteDatabase database) : IThreadStore
{
    private readonly DocumentTable<AssistantThread> _table = new(database, "threads", DomainJson.Default.AssistantThread);
    private readonly SqliteUnitOfWork _unitOfWork = new(database);

    public Task CreateAsync(AssistantThread thread, IReadOnlyList<ThreadMessage> initialMessages, CancellationToken cancellationToken) =>
        _unitOfWork.CreateThreadAsync(thread, initialMessages, cancellationToken);

    public Task<AssistantThread?> FindAsync(string projectId, string id, CancellationToken cancellationToken) => _table.FindAsync(projectId, id, null, cancellationToken);

    public Task<bool> UpdateAsync(AssistantThread thread, CancellationToken cancellationToken) => _table.UpdateAsync(thread, cancellationToken);

    public Task<bool> DeleteAsync(string projectId, string id, CancellationToken cancellationToken) =>
        database.WriteAsync(async (c, t) =>
        {
            if (await c.ExecuteAsync("DELETE FROM threads WHERE id = $id AND project_id = $p", t, cancellationToken, ("$id", id), ("$p", projectId)) == 0)
            {
                return false;
            }
            foreach (var table in (string[])["messages", "runs", "run_steps", "run_prompts"])
            {
                await c.ExecuteAsync($"DELETE FROM {table} WHERE thread_id = $id AND project_id = $p", t, cancellationToken, ("$id", id), ("$p", projectId));
            }
            return true;
        }, cancellationToken);

    public Task<Page<AssistantThread>> ListAsync(string projectId, PageRequest page, CancellationToken cancellationToken) => _table.ListAsync(projectId, page, null, cancellationToken);
}

public sealed class SqliteMessageStore(SqliteDatabase database) : IMessageStore
{
    private readonly DocumentTable<ThreadMessage> _table = new(database, "messages", DomainJson.Default.ThreadMessage);

    public Task CreateAsync(ThreadMessage message, CancellationToken cancellationToken) =>
        database.WriteAsync(async (c, t) =>
        {
            await new SqliteStoreWriter(c, t).InsertMessageAsync(message, cancellationToken);
            return true;
        }, cancellationToken);

    public Task<ThreadMessage?> FindAsync(string projectId, string threadId, string id, CancellationToken cancellationToken) =>
        _table.FindAsync(projectId, id, "AND thread_id = $t", cancellationToken, ("$t", threadId));

    public Task<bool> UpdateAsync(ThreadMessage message, CancellationToken cancellationToken) => _table.UpdateAsync(message, cancellationToken);

    public Task<bool> DeleteAsync(string projectId, string threadId, string id, CancellationToken cancellationToken) =>
        _table.DeleteAsync(projectId, id, "AND thread_id = $t", cancellationToken, ("$t", threadId));

    public Task<Page<ThreadMessage>> ListAsync(string projectId, string threadId, string? runId, PageRequest page, CancellationToken cancellationToken) =>
        runId is null
            ? _table.ListAsync(projectId, page, "AND thread_id = $t", cancellationToken, ("$t", threadId))
            : _table.ListAsync(projectId, page, "AND thread_id = $t AND run_id = $r", cancellationToken, ("$t", threadId), ("$r", runId));
}

public sealed class SqliteFileStore(SqliteDatabase database) : IFileStore
{
    private readonly DocumentTable<StoredFile> _table = new(database, "files", DomainJson.Default.StoredFile);

    public Task CreateAsync(StoredFile file, CancellationToken cancellationToken) =>
        database.WriteAsync((c, t) => InsertAsync(c, t, file, cancellationToken), cancellationToken);

    /// <summary>The insert, for callers that write a file inside their own transaction (upload completion).</summary>
    internal Task<int> InsertAsync(SqliteConnection connection, SqliteTransaction transaction, StoredFile file, CancellationToken cancellationToken) =>
        connection.ExecuteAsync("INSERT INTO files (id, project_id, purpose, blob_key, expires_at, data) VALUES ($id, $p, $pu, $b, $e, $d)", transaction, cancellationToken,
            ("$id", file.Id), ("$p", file.ProjectId), ("$pu", file.Purpose), ("$b", file.BlobKey), ("$e", file.ExpiresAt?.ToUnixTimeSeconds()), ("$d", _table.Serialize(file)));

    public async Task<IReadOnlyList<StoredFile>> ListExpiredAsync(DateTimeOffset now, int limit, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        return await connection.QueryAsync($"SELECT data FROM files WHERE expires_at IS NOT NULL AND expires_at <= $now ORDER BY expires_at LIMIT {limit}",
            r => _table.Deserialize(r.GetString(0)), cancellationToken, ("$now", now.ToUnixTimeSeconds()));
    }

    public Task<StoredFile?> FindAsync(string projectId, string id, CancellationToken cancellationToken) => _table.FindAsync(projectId, id, null, cancellationToken);

    public Task<bool> DeleteAsync(string projectId, string id, CancellationToken cancellationToken) => _table.DeleteAsync(projectId, id, null, cancellationToken);

    public Task<Page<StoredFile>> ListAsync(string projectId, string? purpose, PageRequest page, CancellationToken cancellationToken) =>
        purpose is null
            ? _table.ListAsync(projectId, page, null, cancellationToken)
            : _table.ListAsync(projectId, page, "AND purpose = $pu", cancellationToken, ("$pu", purpose));

    public async Task<IReadOnlyList<string>> FindMissingAsync(string projectId, IReadOnlyCollection<string> ids, CancellationToken cancellationToken)
    {
        if (ids.Count == 0)
        {
            return [];
        }
        await using var connection = await database.OpenAsync(cancellationToken);
        var names = ids.Select((_, i) => "$f" + i).ToArray();
        var found = await connection.QueryAsync($"SELECT id FROM files WHERE project_id = $p AND id IN ({string.Join(',', names)})", r => r.GetString(0), cancellationToken,
            [("$p", projectId), .. ids.Select((id, i) => (names[i], (object?)id))]);
        return ids.Except(found, StringComparer.Ordinal).ToList();
    }
}

public sealed class SqliteProjectStore(SqliteDatabase database, TimeProvider time, IIdGenerator ids) : IProjectStore
{
    public async Task<Project> GetOrCreateAsync(string name, CancellationToken cancellationToken)
    {
        return await database.WriteAsync(async (c, t) =>
        {
            var existing = await c.QueryAsync("SELECT id, created_at FROM projects WHERE name = $n", t, r => new Project(r.GetString(0), name, DateTimeOffset.FromUnixTimeSeconds(r.GetInt64(1))), cancellationToken, ("$n", name));
            if (existing.Count > 0)
            {
                return existing[0];
            }
            var project = new Project(ids.NewId(Ids.Project), name, time.GetUtcNow());
            await c.ExecuteAsync("INSERT INTO projects (id, name, created_at) VALUES ($id, $n, $c)", t, cancellationToken,
                ("$id", project.Id), ("$n", name), ("$c", project.CreatedAt.ToUnixTimeSeconds()));
            return project;
        }, cancellationToken);
    }

    private const string KeyColumns = "k.id, k.project_id, k.name, k.key_hash, k.created_at, k.hint, k.last_used_at, k.revoked_at";

    public Task CreateKeyAsync(ApiKey key, CancellationToken cancellationToken) =>
        database.WriteAsync(async (c, t) =>
        {
            await c.ExecuteAsync("INSERT INTO api_keys (id, project_id, name, key_hash, created_at, hint) VALUES ($id, $p, $n, $h, $c, $hint)", t, cancellationToken,
                ("$id", key.Id), ("$p", key.ProjectId), ("$n", key.Name), ("$h", key.KeyHash), ("$c", key.CreatedAt.ToUnixTimeSeconds()), ("$hint", key.Hint));
            return await c.ExecuteAsync("UPDATE key_set SET version = version + 1, keys_configured = 1 WHERE id = 1", t, cancellationToken);
        }, cancellationToken);

    public async Task<ApiKey?> FindKeyByHashAsync(string keyHash, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        var keys = await connection.QueryAsync($"SELECT {KeyColumns} FROM api_keys k WHERE k.key_hash = $h AND k.revoked_at IS NULL",
            ReadKey, cancellationToken, ("$h", keyHash));
        return keys.Count == 0 ? null : keys[0];
    }

    public async Task<IReadOnlyList<ApiKeyListing>> ListKeysAsync(CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        return await connection.QueryAsync($"SELECT {KeyColumns}, p.name FROM api_keys k JOIN projects p ON p.id = k.project_id ORDER BY k.created_at, k.id",
            r => new ApiKeyListing(ReadKey(r), r.GetString(8)), cancellationToken);
    }

    public Task<bool> RevokeKeyAsync(string keyId, DateTimeOffset revokedAt, CancellationToken cancellationToken) =>
        database.WriteAsync(async (c, t) =>
        {
            if (await c.ExecuteAsync("UPDATE api_keys SET revoked_at = $r WHERE id = $id AND revoked_at IS NULL", t, cancellationToken,
                    ("$r", revokedAt.ToUnixTimeSeconds()), ("$id", keyId)) != 1)
            {
                return false;
            }
            await c.ExecuteAsync("UPDATE key_set SET version = version + 1 WHERE id = 1", t, cancellationToken);
            return true;
        }, cancellationToken);

    public async Task<KeySetState> GetKeySetStateAsync(CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        var rows = await connection.QueryAsync("SELECT version, keys_configured FROM key_set WHERE id = 1",
            r => new KeySetState(r.GetInt64(0), r.GetInt64(1) != 0), cancellationToken);
        return rows.Count == 0 ? new KeySetState(0, false) : rows[0];
    }

    public Task RecordKeyUseAsync(string keyId, DateTimeOffset usedAt, CancellationToken cancellationToken) =>
        database.WriteAsync((c, t) => c.ExecuteAsync(
            "UPDATE api_keys SET last_used_at = $u WHERE id = $id AND (last_used_at IS NULL OR last_used_at < $u)", t, cancellationToken,
            ("$u", usedAt.ToUnixTimeSeconds()), ("$id", keyId)), cancellationToken);

    private static ApiKey ReadKey(System.Data.Common.DbDataReader r) =>
        new(r.GetString(0), r.GetString(1), r.GetString(2), r.GetString(3), DateTimeOffset.FromUnixTimeSeconds(r.GetInt64(4)),
            r.IsDBNull(5) ? null : r.GetString(5),
            r.IsDBNull(6) ? null : DateTimeOffset.FromUnixTimeSeconds(r.GetInt64(6)),
            r.IsDBNull(7) ? null : DateTimeOffset.FromUnixTimeSeconds(r.GetInt64(7)));
}
