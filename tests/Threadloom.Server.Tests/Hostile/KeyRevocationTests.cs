using System.Diagnostics;
using System.Net;
using Microsoft.Extensions.Options;
using Threadloom.Core.Domain;
using Threadloom.Server.Auth;
using Threadloom.Storage.Sqlite;
using Threadloom.Testing;
using Xunit.Abstractions;

namespace Threadloom.Server.Tests.Hostile;

/// <summary>
/// Issue #9 §4: keys are listed and revoked with the CLI; a revocation reaches every running node on the same
/// database within one key-set refresh (1 s), and revoking the last key never turns dev mode back on.
/// </summary>
public sealed class KeyRevocationTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Issue9_KeysRevoke_TwoServersOnOneDataFolder_BothRefuseTheKey_OtherKeysStillServed()
    {
        using var dataFolder = new TempDataDirectory();
        var data = dataFolder.Path;
        var revoked = await ThreadloomProcess.CreateKeyAsync(data, "team-a", "doomed");
        var sibling = await ThreadloomProcess.CreateKeyAsync(data, "team-a", "sibling");
        var other = await ThreadloomProcess.CreateKeyAsync(data, "team-b");
        await using var first = await ThreadloomProcess.StartHealthyAsync(data);
        await using var second = await ThreadloomProcess.StartHealthyAsync(data);
        ThreadloomProcess[] nodes = [first, second];
        foreach (var node in nodes)
        {
            // Warm each node's grant cache with the key about to be revoked.
            Assert.Equal(HttpStatusCode.OK, await StatusAsync(node, revoked));
            Assert.Equal(HttpStatusCode.OK, await StatusAsync(node, revoked));
        }

        var list = await ThreadloomProcess.RunCliAsync(data, "keys", "list");
        Assert.Equal(0, list.ExitCode);
        var id = KeyIdOf(list.Output, "doomed");
        var (exit, said) = await ThreadloomProcess.RunCliAsync(data, "keys", "revoke", id);
        Assert.True(exit == 0, said);
        var revokedAt = Stopwatch.StartNew();

        foreach (var node in nodes)
        {
            while (await StatusAsync(node, revoked) != HttpStatusCode.Unauthorized)
            {
                Assert.True(revokedAt.Elapsed < TimeSpan.FromSeconds(20), $"node on port {node.Port} still accepts the revoked key");
                await Task.Delay(50);
            }
            output.WriteLine($"node {node.Port}: revoked key refused {revokedAt.ElapsedMilliseconds} ms after the CLI returned");
            Assert.Equal(HttpStatusCode.OK, await StatusAsync(node, sibling));
            Assert.Equal(HttpStatusCode.OK, await StatusAsync(node, other));
        }
        Assert.Equal(1, (await ThreadloomProcess.RunCliAsync(data, "keys", "revoke", id)).ExitCode);
    }

    [Fact]
    public async Task Issue9_KeysList_ShowsIdProjectNameAndUse_NeverTheSecretOrHash()
    {
        using var dataFolder = new TempDataDirectory();
        var data = dataFolder.Path;
        var key = await ThreadloomProcess.CreateKeyAsync(data, "team-list");
        var unused = await ThreadloomProcess.CreateKeyAsync(data, "team-quiet");
        await using (var server = await ThreadloomProcess.StartHealthyAsync(data))
        {
            Assert.Equal(HttpStatusCode.OK, await StatusAsync(server, key));
            string listed;
            var waited = Stopwatch.StartNew();
            do
            {
                await Task.Delay(200);
                listed = (await ThreadloomProcess.RunCliAsync(data, "keys", "list")).Output;
                Assert.True(waited.Elapsed < TimeSpan.FromSeconds(60), $"last use never recorded:\n{listed}");
            }
            while (LineOf(listed, "team-list").Split("  ", StringSplitOptions.RemoveEmptyEntries).Count(c => c.EndsWith('Z')) < 2);
            output.WriteLine(listed);
        }
        var table = (await ThreadloomProcess.RunCliAsync(data, "keys", "list")).Output;
        Assert.StartsWith("ID", table, StringComparison.Ordinal);
        Assert.Contains("team-quiet", table, StringComparison.Ordinal);
        Assert.Contains("active", LineOf(table, "team-list"), StringComparison.Ordinal);
        foreach (var secret in (string[])[key, unused])
        {
            Assert.DoesNotContain(secret, table, StringComparison.Ordinal);
            Assert.DoesNotContain(ApiKeys.Hash(secret), table, StringComparison.Ordinal);
            Assert.DoesNotContain(ApiKeys.Hash(secret)[..16], table, StringComparison.Ordinal);
            Assert.Contains("…" + secret[^4..], table, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task Issue9_LastKeyRevoked_DevModeStaysOff_AcrossARestart()
    {
        using var dataFolder = new TempDataDirectory();
        var data = dataFolder.Path;
        var only = await ThreadloomProcess.CreateKeyAsync(data, "team-last");
        var id = KeyIdOf((await ThreadloomProcess.RunCliAsync(data, "keys", "list")).Output, "team-last");
        await using (var server = await ThreadloomProcess.StartHealthyAsync(data))
        {
            Assert.Equal(HttpStatusCode.OK, await StatusAsync(server, only));
            Assert.Equal(0, (await ThreadloomProcess.RunCliAsync(data, "keys", "revoke", id)).ExitCode);
            var waited = Stopwatch.StartNew();
            while (await StatusAsync(server, only) != HttpStatusCode.Unauthorized)
            {
                Assert.True(waited.Elapsed < TimeSpan.FromSeconds(20), "the revoked key is still accepted");
                await Task.Delay(50);
            }
            // No active key is left, yet any key is refused: dev mode did not come back.
            Assert.Equal(HttpStatusCode.Unauthorized, await StatusAsync(server, "sk-anything"));
            // A new key for another project is served normally.
            var fresh = await ThreadloomProcess.CreateKeyAsync(data, "team-next");
            Assert.Equal(HttpStatusCode.OK, await StatusAsync(server, fresh));
        }
        await using (var restarted = await ThreadloomProcess.StartHealthyAsync(data))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, await StatusAsync(restarted, "sk-anything"));
            Assert.Equal(HttpStatusCode.Unauthorized, await StatusAsync(restarted, only));
        }
    }

    /// <summary>
    /// The cache itself, on a fake clock: a revocation written through another connection (as another process would)
    /// is seen once the refresh interval has passed, and not a moment later.
    /// </summary>
    [Fact]
    public async Task Issue9_KeySetCache_SeesAnotherWritersRevocation_WithinOneInterval()
    {
        var dir = Path.Combine(Path.GetTempPath(), "threadloom-keyset-tests", Guid.NewGuid().ToString("N"));
        var file = Path.Combine(dir, "t.db");
        await using var mine = new SqliteDatabase(file);
        await new SqliteMigrator(mine).MigrateAsync(CancellationToken.None);
        await using var theirs = new SqliteDatabase(file);
        try
        {
            var clock = new ManualTimeProvider();
            var ids = new RandomIdGenerator();
            var store = new SqliteProjectStore(mine, clock, ids);
            var otherProcess = new SqliteProjectStore(theirs, clock, ids);
            var cache = new KeySetCache(store, Options.Create(new AuthOptions()), clock);
            var project = await store.GetOrCreateAsync("p", CancellationToken.None);
            await otherProcess.CreateKeyAsync(new ApiKey("key_x", project.Id, "x", "hash-x", clock.GetUtcNow()), CancellationToken.None);

            var state = await cache.GetStateAsync(CancellationToken.None);
            cache.Add("hash-x", new KeySetCache.Grant(project.Id, "key_x", state.Version));
            Assert.NotNull(cache.Find("hash-x", await cache.GetStateAsync(CancellationToken.None)));

            Assert.True(await otherProcess.RevokeKeyAsync("key_x", clock.GetUtcNow(), CancellationToken.None));
            clock.Advance(TimeSpan.FromMilliseconds(999));
            Assert.NotNull(cache.Find("hash-x", await cache.GetStateAsync(CancellationToken.None)));
            clock.Advance(TimeSpan.FromMilliseconds(1));
            Assert.Null(cache.Find("hash-x", await cache.GetStateAsync(CancellationToken.None)));
        }
        finally
        {
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        }
    }

    private static async Task<HttpStatusCode> StatusAsync(ThreadloomProcess node, string key)
    {
        using var client = node.CreateClient(key);
        using var response = await client.GetAsync("assistants");
        return response.StatusCode;
    }

    /// <summary>The line of the table whose project or key name is <paramref name="cell"/>.</summary>
    private static string LineOf(string table, string cell) =>
        table.Split('\n').First(l => l.Contains("  " + cell + "  ", StringComparison.Ordinal));

    private static string KeyIdOf(string table, string cell) => LineOf(table, cell).Split(' ', 2)[0];
}
