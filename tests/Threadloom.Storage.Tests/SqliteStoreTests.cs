using Threadloom.Core.Domain;
using Threadloom.Storage.Sqlite;

namespace Threadloom.Storage.Tests;

/// <summary>What only the SQLite provider has: group commit, WAL, and the schema's unique partial index.</summary>
public sealed class SqliteOnlyTests : IAsyncLifetime
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "threadloom-store-tests", Guid.NewGuid().ToString("N"));
    private SqliteDatabase? _database;
    private SqliteAssistantStore _assistants = null!;

    public async Task InitializeAsync()
    {
        _database = new SqliteDatabase(Path.Combine(_dir, "t.db"));
        await new SqliteMigrator(_database).MigrateAsync(CancellationToken.None);
        // Migrating twice is a no-op.
        await new SqliteMigrator(_database).MigrateAsync(CancellationToken.None);
        _assistants = new SqliteAssistantStore(_database);
    }

    public async Task DisposeAsync()
    {
        if (_database is not null)
        {
            await _database.DisposeAsync();
        }
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Directory.Delete(_dir, recursive: true);
    }

    [Fact]
    public async Task GroupCommit_AFailingWriteRollsBackAlone()
    {
        var assistant = new Assistant("asst_dup", "p1", DateTimeOffset.UnixEpoch, "m", null, null, null, [], null, new Dictionary<string, string>(), null, null, null);
        await _assistants.CreateAsync(assistant, CancellationToken.None);
        // Many concurrent writes share transactions; the duplicates fail, the others all land.
        var writes = Enumerable.Range(0, 200).Select(i => i % 10 == 0
            ? _assistants.CreateAsync(assistant, CancellationToken.None)
            : _assistants.CreateAsync(assistant with { Id = $"asst_g{i}" }, CancellationToken.None)).ToList();
        var outcomes = await Task.WhenAll(writes.Select(async w => { try { await w; return true; } catch (Microsoft.Data.Sqlite.SqliteException) { return false; } }));
        Assert.Equal(20, outcomes.Count(ok => !ok));
        var page = await _assistants.ListAsync("p1", new Core.Storage.PageRequest(Limit: 100), CancellationToken.None);
        var more = await _assistants.ListAsync("p1", new Core.Storage.PageRequest(Limit: 100, After: page.Items[^1].Id), CancellationToken.None);
        Assert.Equal(181, page.Items.Count + more.Items.Count);
    }

    [Fact]
    public async Task Database_IsInWalMode()
    {
        await using var connection = await _database!.OpenAsync(CancellationToken.None);
        await using var command = connection.CreateCommand();
        command.CommandText = "PRAGMA journal_mode";
        Assert.Equal("wal", (string)(await command.ExecuteScalarAsync())!);
    }

    [Fact]
    public async Task Schema_OneActiveRunPerThread_IsAUniquePartialIndex()
    {
        await using var connection = await _database!.OpenAsync(CancellationToken.None);
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT sql FROM sqlite_master WHERE type = 'index' AND name = 'ux_runs_active_thread'";
        var sql = (string?)await command.ExecuteScalarAsync();
        Assert.NotNull(sql);
        Assert.Contains("UNIQUE", sql, StringComparison.Ordinal);
        Assert.Contains("WHERE status IN", sql, StringComparison.Ordinal);
    }
}
