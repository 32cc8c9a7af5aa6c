using Microsoft.Data.Sqlite;
using Threadloom.Storage.Sqlite;
using Threadloom.Testing;

namespace Threadloom.Storage.Tests.ChunkIndex;

/// <summary>
/// Migration 0005 on a database written under 0004 (chunks without <c>store_token</c>): the FTS index is rebuilt with
/// the store tokens, and both keyword paths find the old rows.
/// </summary>
public sealed class ChunkIndexMigrationTests : IAsyncDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "threadloom-migrate-" + Guid.NewGuid().ToString("N"));

    [Fact]
    public async Task Migration0005_ChunksWrittenBefore_AreFoundInTheirStoreAfterwards()
    {
        var path = await WriteDatabaseBeforeAsync("old.db", "0005", before =>
            Assert.Equal(["0001_initial.sql", "0002_runs.sql", "0003_chunks.sql", "0004_vector_stores.sql"], before),
            "INSERT INTO chunk_stores VALUES ('vs_big', 'proj_m', 'm', 2), ('vs_small', 'proj_m', 'm', 2);" +
                "INSERT INTO chunk_files VALUES ('vs_big', 'file-big', 'proj_m', 'big.txt', NULL, 300, 1), ('vs_small', 'file-small', 'proj_m', 'small.txt', NULL, 1, 1);" +
                "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 299) " +
                "INSERT INTO chunks (project_id, vector_store_id, file_id, filename, chunk_index, text, context, start_char, end_char, token_count, embedding) " +
                "SELECT 'proj_m', 'vs_big', 'file-big', 'big.txt', i, 'harbour ferry timetable ' || i, 'big.txt', 0, 1, 1, zeroblob(8) FROM n;" +
                "INSERT INTO chunks (project_id, vector_store_id, file_id, filename, chunk_index, text, context, start_char, end_char, token_count, embedding) " +
                "VALUES ('proj_m', 'vs_small', 'file-small', 'small.txt', 0, 'the ferry leaves the harbour at noon', 'small.txt', 0, 1, 1, zeroblob(8));");

        await using var database = new SqliteDatabase(path);
        await new SqliteMigrator(database).MigrateAsync(CancellationToken.None);
        var index = new SqliteChunkIndex(database);

        // The small store is under 1% of the index: the store-limited query runs and must see the migrated token.
        var small = await index.KeywordSearchAsync("proj_m", "vs_small", "ferry harbour", 5, null, CancellationToken.None);
        Assert.Equal("the ferry leaves the harbour at noon", Assert.Single(small).Text);
        // The big store takes the fast path over the rebuilt index.
        var big = await index.KeywordSearchAsync("proj_m", "vs_big", "ferry timetable", 10, null, CancellationToken.None);
        Assert.Equal(10, big.Count);
        Assert.All(big, h => Assert.Equal("file-big", h.FileId));
    }

    [Fact]
    public async Task Migration0009_SharedKeywordIndex_IsSplitPerProject()
    {
        // Rows written under 0005's schema (one shared chunks_fts); 0006 to 0008 leave the chunk tables alone, and 0009
        // splits the keyword index per project.
        var path = await WriteDatabaseBeforeAsync("shared.db", "0006", _ => { },
            "INSERT INTO chunk_stores VALUES ('vs_a', 'proj_a', 'm', 2), ('vs_b', 'proj_b', 'm', 2);" +
                "INSERT INTO chunk_files VALUES ('vs_a', 'file-a', 'proj_a', 'a.txt', NULL, 1, 1), ('vs_b', 'file-b', 'proj_b', 'b.txt', NULL, 1, 1);" +
                "INSERT INTO chunks (project_id, vector_store_id, file_id, filename, chunk_index, text, context, start_char, end_char, token_count, embedding, store_token) VALUES " +
                "('proj_a', 'vs_a', 'file-a', 'a.txt', 0, 'the ferry leaves the harbour at noon', 'a.txt', 0, 1, 1, zeroblob(8), 'vsa')," +
                "('proj_b', 'vs_b', 'file-b', 'b.txt', 0, 'harbour dues are paid monthly', 'b.txt', 0, 1, 1, zeroblob(8), 'vsb');");

        await using var database = new SqliteDatabase(path);
        await new SqliteMigrator(database).MigrateAsync(CancellationToken.None);
        var index = new SqliteChunkIndex(database);

        Assert.Equal("the ferry leaves the harbour at noon", Assert.Single(await index.KeywordSearchAsync("proj_a", "vs_a", "harbour", 5, null, CancellationToken.None)).Text);
        Assert.Equal("harbour dues are paid monthly", Assert.Single(await index.KeywordSearchAsync("proj_b", "vs_b", "harbour", 5, null, CancellationToken.None)).Text);
        await using var connection = await database.OpenAsync(CancellationToken.None);
        await using var tables = connection.CreateCommand();
        tables.CommandText = "SELECT (SELECT COUNT(*) FROM sqlite_master WHERE name = 'chunks_fts'), (SELECT COUNT(*) FROM chunk_fts_tables)";
        await using var reader = await tables.ExecuteReaderAsync();
        Assert.True(await reader.ReadAsync());
        Assert.Equal(0, reader.GetInt32(0)); // the shared table is gone
        Assert.Equal(2, reader.GetInt32(1)); // one table per project
    }

    /// <summary>
    /// A database file written by the migrations before <paramref name="firstNotApplied"/> (recorded as applied), with
    /// <paramref name="seedSql"/> run on it: the state an older release left behind.
    /// </summary>
    private async Task<string> WriteDatabaseBeforeAsync(string name, string firstNotApplied, Action<IReadOnlyList<string>> checkApplied, string seedSql)
    {
        Directory.CreateDirectory(_dir);
        var path = Path.Combine(_dir, name);
        var folder = Path.Combine(RepoPaths.Root, "src", "Threadloom.Storage.Sqlite", "Migrations");
        var before = Directory.GetFiles(folder, "*.sql").Select(f => Path.GetFileName(f)).Order(StringComparer.Ordinal)
            .TakeWhile(n => string.CompareOrdinal(n, firstNotApplied) < 0).ToList();
        checkApplied(before);
        await using var old = new SqliteConnection($"Data Source={path};Pooling=False");
        await old.OpenAsync();
        await using var command = old.CreateCommand();
        command.CommandText = "CREATE TABLE schema_migrations (name TEXT PRIMARY KEY, applied_at INTEGER NOT NULL);" +
            string.Concat(before.Select(n => File.ReadAllText(Path.Combine(folder, n)) + ";")) +
            string.Concat(before.Select(n => $"INSERT INTO schema_migrations VALUES ('{n}', 0);")) +
            seedSql;
        await command.ExecuteNonQueryAsync();
        return path;
    }

    public ValueTask DisposeAsync()
    {
        SqliteConnection.ClearAllPools();
        if (Directory.Exists(_dir))
        {
            Directory.Delete(_dir, recursive: true);
        }
        return ValueTask.CompletedTask;
    }
}
