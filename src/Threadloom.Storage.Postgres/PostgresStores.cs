using Npgsql;
using Threadloom.Core.Domain;
using Threadloom.Core.Storage;

namespace Threadloom.Storage.Postgres;

public sealed class PostgresAssistantStore(PostgresDatabase database) : IAssistantStore
{
    private readonly PgDocumentTable<Assistant> _table = new(database, "assistants", DomainJson.Default.Assistant);

    public Task CreateAsync(Assistant assistant, CancellationToken cancellationToken) =>
        database.WriteAsync((c, t) => c.ExecuteAsync("INSERT INTO assistants (id, project_id, data) VALUES ($1, $2, $3)", t, cancellationToken,
            assistant.Id, assistant.ProjectId, _table.Serialize(assistant)), cancellationToken);

    public Task<Assistant?> FindAsync(string projectId, string id, CancellationToken cancellationToken) => _table.FindAsync(projectId, id, null, cancellationToken);

    public Task<bool> UpdateAsync(Assistant assistant, CancellationToken cancellationToken) => _table.UpdateAsync(assistant, cancellationToken);

    public Task<bool> DeleteAsync(string projectId, string id, CancellationToken cancellationToken) => _table.DeleteAsync(projectId, id, null, cancellationToken);

    public Task<Page<Assistant>> ListAsync(string projectId, PageRequest page, CancellationToken cancellationToken) => _table.ListAsync(projectId, page, null, cancellationToken);
}

public sealed class PostgresThreadStore(PostgresDatabase database, IUnitOfWork unitOfWork) : IThreadStore
{
    private readonly PgDocumentTable<AssistantThread> _table = new(database, "threads", DomainJson.Default.AssistantThread);

    public Task CreateAsync(AssistantThread thread, IReadOnlyList<ThreadMessage> initialMessages, CancellationToken cancellationToken) =>
        unitOfWork.CreateThreadAsync(thread, initialMessages, cancellationToken);

    public Task<AssistantThread?> FindAsync(string projectId, string id, CancellationToken cancellationToken) => _table.FindAsync(projectId, id, null, cancellationToken);

    public Task<bool> UpdateAsync(AssistantThread thread, CancellationToken cancellationToken) => _table.UpdateAsync(thread, cancellationToken);

    public Task<bool> DeleteAsync(string projectId, string id, CancellationToken cancellationToken) =>
        database.WriteAsync(async (c, t) =>
        {
            if (await c.ExecuteAsync("DELETE FROM threads WHERE project_id = $1 AND id = $2", t, cancellationToken, projectId, id) == 0)
            {
                return false;
            }
            foreach (var table in (string[])["messages", "runs", "run_steps", "run_prompts"])
            {
                await c.ExecuteAsync($"DELETE FROM {table} WHERE project_id = $1 AND thread_id = $2", t, cancellationToken, projectId, id);
            }
            return true;
        }, cancellationToken);

    public Task<Page<AssistantThread>> ListAsync(string projectId, PageRequest page, CancellationToken cancellationToken) => _table.ListAsync(projectId, page, null, cancellationToken);
}

public sealed class PostgresMessageStore(PostgresDatabase database, IUnitOfWork unitOfWork) : IMessageStore
{
    private readonly PgDocumentTable<ThreadMessage> _table = new(database, "messages", DomainJson.Default.ThreadMessage);

    public Task CreateAsync(ThreadMessage message, CancellationToken cancellationToken) =>
        unitOfWork.ExecuteAsync(async (w, ct) =>
        {
            await w.InsertMessageAsync(message, ct);
            return true;
        }, cancellationToken);

    public Task<ThreadMessage?> FindAsync(string projectId, string threadId, string id, CancellationToken cancellationToken) =>
        _table.FindAsync(projectId, id, "AND thread_id = $3", cancellationToken, threadId);

    public Task<bool> UpdateAsync(ThreadMessage message, CancellationToken cancellationToken) => _table.UpdateAsync(message, cancellationToken);

    public Task<bool> DeleteAsync(string projectId, string threadId, string id, CancellationToken cancellationToken) =>
        _table.DeleteAsync(projectId, id, "AND thread_id = $3", cancellationToken, threadId);

    public Task<Page<ThreadMessage>> ListAsync(string projectId, string threadId, string? runId, PageRequest page, CancellationToken cancellationToken) =>
        runId is null
            ? _table.ListAsync(projectId, page, "AND thread_id = $3", cancellationToken, threadId)
            : _table.ListAsync(projectId, page, "AND thread_id = $3 AND run_id = $4", cancellationToken, threadId, runId);
}

public sealed class PostgresFileStore(PostgresDatabase database) : IFileStore
{
    private readonly PgDocumentTable<StoredFile> _table = new(database, "files", DomainJson.Default.StoredFile);

    public Task CreateAsync(StoredFile file, CancellationToken cancellationToken) =>
        database.WriteAsync((c, t) => InsertAsync(c, t, file, cancellationToken), cancellationToken);

    /// <summary>The insert, for callers that write a file inside their own transaction (upload completion).</summary>
    internal Task<int> InsertAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, StoredFile file, CancellationToken cancellationToken) =>
        connection.ExecuteAsync("INSERT INTO files (id, project_id, purpose, blob_key, expires_at, data) VALUES ($1, $2, $3, $4, $5, $6)", transaction, cancellationToken,
            file.Id, file.ProjectId, file.Purpose, file.BlobKey,
            new NpgsqlParameter<long?> { TypedValue = file.ExpiresAt?.ToUnixTimeSeconds(), NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Bigint }, _table.Serialize(file));

    public async Task<IReadOnlyList<StoredFile>> ListExpiredAsync(DateTimeOffset now, int limit, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        return await connection.QueryAsync("SELECT data FROM files WHERE expires_at IS NOT NULL AND expires_at <= $1 ORDER BY expires_at LIMIT $2", null,
            r => _table.Deserialize(r.GetString(0)), cancellationToken, now.ToUnixTimeSeconds(), limit);
    }

    public Task<StoredFile?> FindAsync(string projectId, string id, CancellationToken cancellationToken) => _table.FindAsync(projectId, id, null, cancellationToken);

    public Task<bool> DeleteAsync(string projectId, string id, CancellationToken cancellationToken) => _table.DeleteAsync(projectId, id, null, cancellationToken);

    public Task<Page<StoredFile>> ListAsync(string projectId, string? purpose, PageRequest page, CancellationToken cancellationToken) =>
        purpose is null
            ? _table.ListAsync(projectId, page, null, cancellationToken)
            : _table.ListAsync(projectId, page, "AND purpose = $3", cancellationToken, purpose);

    public async Task<IReadOnlyList<string>> FindMissingAsync(string projectId, IReadOnlyCollection<string> ids, CancellationToken cancellationToken)
    {
        if (ids.Count == 0)
        {
            return [];
        }
        await using var connection = await database.OpenAsync(cancellationToken);
        var found = await connection.QueryAsync("SELECT id FROM files WHERE project_id = $1 AND id = ANY($2)", null, r => r.GetString(0), cancellationToken,
            projectId, PgCommands.TextArray(ids));
        return ids.Except(found, StringComparer.Ordinal).ToList();
    }
}

public sealed class PostgresProjectStore(PostgresDatabase database, TimeProvider time, IIdGenerator ids) : IProjectStore
{
    public Task<Project> GetOrCreateAsync(string name, CancellationToken cancellationToken) =>
        database.WriteAsync(async (c, t) =>
        {
            // ON CONFLICT makes a race between two nodes creating the same project one row.
            var project = new Project(ids.NewId(Ids.Project), name, time.GetUtcNow());
            await c.ExecuteAsync("INSERT INTO projects (id, name, created_at) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING", t, cancellationToken,
                project.Id, name, project.CreatedAt.ToUnixTimeSeconds());
            var rows = await c.QueryAsync("SELECT id, created_at FROM projects WHERE name = $1", t,
                r => new Project(r.GetString(0), name, DateTimeOffset.FromUnixTimeSeconds(r.GetInt64(1))), cancellationToken, name);
            return rows[0];
        }, cancellationToken);

    private const string KeyColumns = "k.id, k.project_id, k.name, k.key_hash, k.created_at, k.hint, k.last_used_at, k.revoked_at";

    public Task CreateKeyAsync(ApiKey key, CancellationToken cancellationToken) =>
        database.WriteAsync(async (c, t) =>
        {
            await c.ExecuteAsync("INSERT INTO api_keys (id, project_id, name, key_hash, created_at, hint) VALUES ($1, $2, $3, $4, $5, $6)", t, cancellationToken,
                key.Id, key.ProjectId, key.Name, key.KeyHash, key.CreatedAt.ToUnixTimeSeconds(),
                new NpgsqlParameter<string?> { TypedValue = key.Hint, NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Text });
            return await c.ExecuteAsync("UPDATE key_set SET version = version + 1, keys_configured = TRUE WHERE id = 1", t, cancellationToken);
        }, cancellationToken);

    public async Task<ApiKey?> FindKeyByHashAsync(string keyHash, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        var keys = await connection.QueryAsync($"SELECT {KeyColumns} FROM api_keys k WHERE k.key_hash = $1 AND k.revoked_at IS NULL", null,
            ReadKey, cancellationToken, keyHash);
        return keys.Count == 0 ? null : keys[0];
    }

    public async Task<IReadOnlyList<ApiKeyListing>> ListKeysAsync(CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        return await connection.QueryAsync($"SELECT {KeyColumns}, p.name FROM api_keys k JOIN projects p ON p.id = k.project_id ORDER BY k.created_at, k.id", null,
            r => new ApiKeyListing(ReadKey(r), r.GetString(8)), cancellationToken);
    }

    public Task<bool> RevokeKeyAsync(string keyId, DateTimeOffset revokedAt, CancellationToken cancellationToken) =>
        database.WriteAsync(async (c, t) =>
        {
            if (await c.ExecuteAsync("UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL", t, cancellationToken,
                    revokedAt.ToUnixTimeSeconds(), keyId) != 1)
            {
                return false;
            }
            await c.ExecuteAsync("UPDATE key_set SET version = version + 1 WHERE id = 1", t, cancellationToken);
            return true;
        }, cancellationToken);

    public async Task<KeySetState> GetKeySetStateAsync(CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        var rows = await connection.QueryAsync("SELECT version, keys_configured FROM key_set WHERE id = 1", null,
            r => new KeySetState(r.GetInt64(0), r.GetBoolean(1)), cancellationToken);
        return rows.Count == 0 ? new KeySetState(0, false) : rows[0];
    }

    public Task RecordKeyUseAsync(string keyId, DateTimeOffset usedAt, CancellationToken cancellationToken) =>
        database.WriteAsync((c, t) => c.ExecuteAsync(
            "UPDATE api_keys SET last_used_at = $1 WHERE id = $2 AND (last_used_at IS NULL OR last_used_at < $1)", t, cancellationToken,
            usedAt.ToUnixTimeSeconds(), keyId), cancellationToken);

    private static ApiKey ReadKey(NpgsqlDataReader r) =>
        new(r.GetString(0), r.GetString(1), r.GetString(2), r.GetString(3), DateTimeOffset.FromUnixTimeSeconds(r.GetInt64(4)),
            r.IsDBNull(5) ? null : r.GetString(5),
            r.IsDBNull(6) ? null : DateTimeOffset.FromUnixTimeSeconds(r.GetInt64(6)),
            r.IsDBNull(7) ? null : DateTimeOffset.FromUnixTimeSeconds(r.GetInt64(7)));
}
