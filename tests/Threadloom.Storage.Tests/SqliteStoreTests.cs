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
            new SqliteProjectStore(_database, TimeProvider.System, new RandomIdGenerator()), new LocalBlobStore(Path.Combine(_dir, "blobs")),
            new SqliteRunStore(_database, messages, new SqliteRunStepStore(_database)));
    }

    public override async Task DisposeAsync()
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
        await Stores.Assistants.CreateAsync(assistant, CancellationToken.None);
        // Many concurrent writes share transactions; the duplicates fail, the others all land.
        var writes = Enumerable.Range(0, 200).Select(i => i % 10 == 0
            ? Stores.Assistants.CreateAsync(assistant, CancellationToken.None)
            : Stores.Assistants.CreateAsync(assistant with { Id = $"asst_g{i}" }, CancellationToken.None)).ToList();
        var outcomes = await Task.WhenAll(writes.Select(async w => { try { await w; return true; } catch (Microsoft.Data.Sqlite.SqliteException) { return false; } }));
        Assert.Equal(20, outcomes.Count(ok => !ok));
        var page = await Stores.Assistants.ListAsync("p1", new Core.Storage.PageRequest(Limit: 100), CancellationToken.None);
        var more = await Stores.Assistants.ListAsync("p1", new Core.Storage.PageRequest(Limit: 100, After: page.Items[^1].Id), CancellationToken.None);
        Assert.Equal(181, page.Items.Count + more.Items.Count);
    }

    [Fact]
    public async Task VectorStoreTouch_MovesLastActiveAt_ButNeverRevivesAnExpiredStore()
    {
        var stores = new SqliteVectorStoreStore(_database!);
        var t0 = DateTimeOffset.FromUnixTimeSeconds(1_700_000_000);
        var expiring = new VectorStore("vs_a", "p1", t0, "a", null, new Dictionary<string, string>(), new VectorStoreExpiration("last_active_at", 1), t0, "m");
        await stores.CreateAsync(expiring, [], CancellationToken.None);
        await stores.CreateAsync(expiring with { Id = "vs_b", ExpiresAfter = null }, [], CancellationToken.None);

        await stores.TouchAsync("p1", ["vs_a", "vs_b"], t0.AddHours(20), CancellationToken.None);
        Assert.Equal(t0.AddHours(20), (await stores.FindAsync("p1", "vs_a", CancellationToken.None))!.Store.LastActiveAt);

        var late = t0.AddHours(20).AddDays(1).AddSeconds(1);
        await stores.TouchAsync("p1", ["vs_a", "vs_b"], late, CancellationToken.None);
        var expired = (await stores.FindAsync("p1", "vs_a", CancellationToken.None))!.Store;
        Assert.Equal(t0.AddHours(20), expired.LastActiveAt);
        Assert.True(expired.IsExpiredAt(late));
        Assert.Equal(late, (await stores.FindAsync("p1", "vs_b", CancellationToken.None))!.Store.LastActiveAt);
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
