using Threadloom.Core.Domain;
using Threadloom.Storage.Sqlite;

namespace Threadloom.Storage.Tests;

public sealed class SqliteStoreTests : StoreContract
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "threadloom-store-tests", Guid.NewGuid().ToString("N"));
    private SqliteDatabase? _database;

    protected override async Task<StoreSet> CreateStoresAsync()
    {
        _database = new SqliteDatabase(Path.Combine(_dir, "t.db"));
        await new SqliteMigrator(_database).MigrateAsync(CancellationToken.None);
        // Migrating twice is a no-op.
        await new SqliteMigrator(_database).MigrateAsync(CancellationToken.None);
        var messages = new SqliteMessageStore(_database);
        return new StoreSet(new SqliteAssistantStore(_database), new SqliteThreadStore(_database, messages), messages, new SqliteFileStore(_database),
            new SqliteProjectStore(_database, TimeProvider.System, new RandomIdGenerator()), new LocalBlobStore(Path.Combine(_dir, "blobs")));
    }

    public override Task DisposeAsync()
    {
        _database?.Dispose();
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Directory.Delete(_dir, recursive: true);
        return Task.CompletedTask;
    }

    [Fact]
    public async Task Database_IsInWalMode()
    {
        await using var connection = await _database!.OpenAsync(CancellationToken.None);
        await using var command = connection.CreateCommand();
        command.CommandText = "PRAGMA journal_mode";
        Assert.Equal("wal", (string)(await command.ExecuteScalarAsync())!);
    }
}
