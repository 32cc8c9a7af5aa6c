using System.Collections.Concurrent;
using System.Globalization;
using Microsoft.Data.Sqlite;

namespace Threadloom.Storage.Sqlite;

/// <summary>
/// One FTS5 table per project (<c>chunks_fts_{n}</c>, external content over <c>chunks</c>), so that bm25's statistics
/// (row count, average length, each term's document frequency) and the term choice built on them come from the
/// project's own chunks only: one tenant's files never move another tenant's scores (issue #9 §3).
/// </summary>
/// <remarks>
/// Design notes (docs/adr/0002): per project, not per vector store, because SQLite parses the whole schema on every
/// connection open and after every schema change, and that cost grows faster than linearly with FTS5 tables (5 schema
/// rows each): 100 tables 2.5 ms, 300 tables 28 ms, 3,000 tables 2.7 s in a probe. Implicit thread stores would make
/// thousands. Names come from an integer key in <c>chunk_fts_tables</c>, never from user text. The rows are written by
/// the index in the same transaction as the chunk rows (triggers cannot pick a table per row). Databases written
/// before migration 0006 hold one shared <c>chunks_fts</c>; the first use of the index splits it per project.
/// </remarks>
internal sealed class SqliteKeywordTables(SqliteDatabase database)
{
    private readonly ConcurrentDictionary<string, string> _names = new(StringComparer.Ordinal);
    private readonly Lock _splitLock = new();
    private Task? _split;

    /// <summary>The project's FTS table, or null when the project has never indexed a chunk (read side; cached once committed).</summary>
    public async Task<string?> FindAsync(SqliteConnection connection, string projectId, CancellationToken cancellationToken)
    {
        await EnsureSplitAsync(cancellationToken);
        if (_names.TryGetValue(projectId, out var name))
        {
            return name;
        }
        var found = await connection.QueryAsync("SELECT id FROM chunk_fts_tables WHERE project_id = $p", r => TableName(r.GetInt64(0)), cancellationToken, ("$p", projectId));
        if (found.Count == 0)
        {
            return null;
        }
        _names.TryAdd(projectId, found[0]);
        return found[0];
    }

    /// <summary>The project's FTS table, created inside <paramref name="transaction"/> when missing (write side; not cached until read).</summary>
    public static async Task<string> GetOrCreateAsync(SqliteConnection connection, SqliteTransaction transaction, string projectId, CancellationToken cancellationToken)
    {
        var found = await connection.QueryAsync("SELECT id FROM chunk_fts_tables WHERE project_id = $p", transaction, r => r.GetInt64(0), cancellationToken, ("$p", projectId));
        if (found.Count > 0)
        {
            return TableName(found[0]);
        }
        var id = (await connection.QueryAsync("INSERT INTO chunk_fts_tables (project_id) VALUES ($p) RETURNING id", transaction, r => r.GetInt64(0), cancellationToken, ("$p", projectId)))[0];
        var name = TableName(id);
        await connection.ExecuteAsync(
            $"CREATE VIRTUAL TABLE {name} USING fts5(text, context, store_token, content = 'chunks', content_rowid = 'id', tokenize = 'porter unicode61 remove_diacritics 2')",
            transaction, cancellationToken);
        return name;
    }

    /// <summary>Indexes the chunk rows of one file (call after inserting them).</summary>
    public static Task IndexFileAsync(SqliteConnection connection, SqliteTransaction transaction, string table, string projectId, string vectorStoreId, string fileId, CancellationToken cancellationToken) =>
        connection.ExecuteAsync(
            $"INSERT INTO {table} (rowid, text, context, store_token) SELECT id, text, context, store_token FROM chunks WHERE vector_store_id = $vs AND file_id = $f AND project_id = $p",
            transaction, cancellationToken, ("$vs", vectorStoreId), ("$f", fileId), ("$p", projectId));

    /// <summary>
    /// Removes from the project's FTS table the chunk rows matching <paramref name="where"/> over <c>chunks</c>
    /// (call before deleting them: an external-content delete needs the indexed values).
    /// </summary>
    public static async Task UnindexAsync(SqliteConnection connection, SqliteTransaction transaction, string projectId, string where, CancellationToken cancellationToken, params (string Name, object? Value)[] parameters)
    {
        var found = await connection.QueryAsync("SELECT id FROM chunk_fts_tables WHERE project_id = $p", transaction, r => r.GetInt64(0), cancellationToken, ("$p", projectId));
        if (found.Count == 0)
        {
            return;
        }
        var table = TableName(found[0]);
        await connection.ExecuteAsync(
            $"INSERT INTO {table} ({table}, rowid, text, context, store_token) SELECT 'delete', id, text, context, store_token FROM chunks WHERE {where}",
            transaction, cancellationToken, parameters);
    }

    private static string TableName(long id) => "chunks_fts_" + id.ToString(CultureInfo.InvariantCulture);

    /// <summary>Moves a database written before migration 0006 (one <c>chunks_fts</c> for all projects) to per-project tables, once.</summary>
    private Task EnsureSplitAsync(CancellationToken cancellationToken)
    {
        Task split;
        lock (_splitLock)
        {
            if (_split is null || _split.IsFaulted || _split.IsCanceled)
            {
                _split = SplitAsync(); // not tied to one caller's token: a cancelled search must not cancel it for the others
            }
            split = _split;
        }
        return split.IsCompletedSuccessfully ? Task.CompletedTask : split.WaitAsync(cancellationToken);
    }

    private Task<int> SplitAsync() =>
        database.WriteAsync(async (c, t) =>
        {
            var legacy = await c.QueryAsync("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'chunks_fts'", t, r => r.GetInt32(0), CancellationToken.None);
            if (legacy.Count == 0)
            {
                return 0;
            }
            var projects = await c.QueryAsync("SELECT DISTINCT project_id FROM chunks", t, r => r.GetString(0), CancellationToken.None);
            foreach (var project in projects)
            {
                var table = await GetOrCreateAsync(c, t, project, CancellationToken.None);
                await c.ExecuteAsync($"INSERT INTO {table} (rowid, text, context, store_token) SELECT id, text, context, store_token FROM chunks WHERE project_id = $p",
                    t, CancellationToken.None, ("$p", project));
            }
            await c.ExecuteAsync("DROP TABLE chunks_fts", t, CancellationToken.None);
            return projects.Count;
        }, CancellationToken.None);

    /// <summary>Runs the one-time split before the first write too, so a legacy table never misses a write.</summary>
    public Task EnsureReadyAsync(CancellationToken cancellationToken) => EnsureSplitAsync(cancellationToken);
}
