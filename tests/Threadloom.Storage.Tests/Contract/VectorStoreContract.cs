using Threadloom.Core.Domain;
using Threadloom.Core.Ingestion;
using Threadloom.Core.Storage;

namespace Threadloom.Storage.Tests.Contract;

/// <summary>Vector stores, their files and batches, and the ingestion job queue over the file rows.</summary>
public abstract class VectorStoreContract<TProvider> : ContractTests<TProvider> where TProvider : ITestStorageProvider, new()
{
    private static readonly DateTimeOffset T0 = DateTimeOffset.FromUnixTimeMilliseconds(1_700_000_000_000);

    private static VectorStore NewStore(string id, string project = "p1") =>
        new(id, project, T0, "docs", null, new Dictionary<string, string>(), null, T0, "all-MiniLM-L6-v2");

    private static VectorStoreFile NewFile(string id, string store, VectorStoreFileStatus status = VectorStoreFileStatus.InProgress, string? batch = null, string project = "p1") =>
        new(id, project, T0, store, status, 0, new StaticChunkingStrategy(800, 400), null, BatchId: batch);

    [SkippableFact]
    public async Task Create_WithFiles_CountsAndListsThem()
    {
        await Stores.VectorStores.CreateAsync(NewStore("vs_1"), [NewFile("file-1", "vs_1"), NewFile("file-2", "vs_1", VectorStoreFileStatus.Completed)], CancellationToken.None);
        var state = (await Stores.VectorStores.FindAsync("p1", "vs_1", CancellationToken.None))!;
        Assert.Equal(new VectorStoreFileCounts(1, 1, 0, 0, 2), state.Counts);
        Assert.Null(await Stores.VectorStores.FindAsync("p2", "vs_1", CancellationToken.None));
        var completed = await Stores.VectorStores.ListFilesAsync("p1", "vs_1", null, VectorStoreFileStatus.Completed, new PageRequest(), CancellationToken.None);
        Assert.Equal(["file-2"], completed.Items.Select(f => f.Id));
        Assert.Equal(["vs_1"], (await Stores.VectorStores.ListAsync("p1", new PageRequest(), CancellationToken.None)).Items.Select(s => s.Store.Id));
        Assert.Empty((await Stores.VectorStores.ListAsync("p2", new PageRequest(), CancellationToken.None)).Items);
    }

    [SkippableFact]
    public async Task Batches_CountAndCancel_OnlyTheirOwnFiles()
    {
        await Stores.VectorStores.CreateAsync(NewStore("vs_b"), [NewFile("file-0", "vs_b")], CancellationToken.None);
        await Stores.VectorStores.AddFilesAsync([NewFile("file-1", "vs_b", batch: "vsfb_1"), NewFile("file-2", "vs_b", VectorStoreFileStatus.Completed, "vsfb_1")],
            new VectorStoreFileBatch("vsfb_1", "p1", T0, "vs_b"), CancellationToken.None);
        Assert.Equal(new VectorStoreFileCounts(1, 1, 0, 0, 2), await Stores.VectorStores.CountBatchAsync("vs_b", "vsfb_1", CancellationToken.None));
        Assert.False(await Stores.VectorStores.CancelBatchAsync("p2", "vs_b", "vsfb_1", CancellationToken.None));
        Assert.True(await Stores.VectorStores.CancelBatchAsync("p1", "vs_b", "vsfb_1", CancellationToken.None));
        Assert.True((await Stores.VectorStores.FindBatchAsync("p1", "vs_b", "vsfb_1", CancellationToken.None))!.Cancelled);
        Assert.Equal(VectorStoreFileStatus.Cancelled, (await Stores.VectorStores.FindFileAsync("p1", "vs_b", "file-1", CancellationToken.None))!.Status);
        Assert.Equal(VectorStoreFileStatus.InProgress, (await Stores.VectorStores.FindFileAsync("p1", "vs_b", "file-0", CancellationToken.None))!.Status);
        var batchFiles = await Stores.VectorStores.ListFilesAsync("p1", "vs_b", "vsfb_1", null, new PageRequest(Ascending: true), CancellationToken.None);
        Assert.Equal(["file-1", "file-2"], batchFiles.Items.Select(f => f.Id));
    }

    [SkippableFact]
    public async Task Files_UpdateKeepsStatus_RemoveEverywhere_DeleteStore()
    {
        await Stores.VectorStores.CreateAsync(NewStore("vs_x"), [NewFile("file-1", "vs_x")], CancellationToken.None);
        await Stores.VectorStores.CreateAsync(NewStore("vs_y"), [NewFile("file-1", "vs_y"), NewFile("file-2", "vs_y")], CancellationToken.None);
        var attributes = new Dictionary<string, System.Text.Json.JsonElement> { ["k"] = System.Text.Json.JsonDocument.Parse("\"v\"").RootElement };
        Assert.True(await Stores.VectorStores.UpdateFileAsync(NewFile("file-1", "vs_x", VectorStoreFileStatus.Completed) with { Attributes = attributes }, CancellationToken.None));
        var updated = (await Stores.VectorStores.FindFileAsync("p1", "vs_x", "file-1", CancellationToken.None))!;
        Assert.Equal(VectorStoreFileStatus.InProgress, updated.Status);
        Assert.Equal("v", updated.Attributes!["k"].GetString());

        Assert.Empty(await Stores.VectorStores.RemoveFileEverywhereAsync("p2", "file-1", CancellationToken.None));
        Assert.Equal(["vs_x", "vs_y"], (await Stores.VectorStores.RemoveFileEverywhereAsync("p1", "file-1", CancellationToken.None)).Order());
        Assert.True(await Stores.VectorStores.DeleteFileAsync("p1", "vs_y", "file-2", CancellationToken.None));
        Assert.False(await Stores.VectorStores.DeleteFileAsync("p1", "vs_y", "file-2", CancellationToken.None));

        Assert.False(await Stores.VectorStores.DeleteAsync("p2", "vs_x", CancellationToken.None));
        Assert.True(await Stores.VectorStores.DeleteAsync("p1", "vs_x", CancellationToken.None));
        Assert.Null(await Stores.VectorStores.FindAsync("p1", "vs_x", CancellationToken.None));
        Assert.True(await Stores.VectorStores.UpdateAsync(NewStore("vs_y") with { Name = "renamed" }, CancellationToken.None));
        Assert.Equal("renamed", (await Stores.VectorStores.FindAsync("p1", "vs_y", CancellationToken.None))!.Store.Name);
    }

    [SkippableFact]
    public async Task Touch_MovesLastActiveAt_ButNeverRevivesAnExpiredStore()
    {
        var expiring = NewStore("vs_a") with { ExpiresAfter = new VectorStoreExpiration("last_active_at", 1) };
        await Stores.VectorStores.CreateAsync(expiring, [], CancellationToken.None);
        await Stores.VectorStores.CreateAsync(NewStore("vs_n"), [], CancellationToken.None);

        await Stores.VectorStores.TouchAsync("p1", ["vs_a", "vs_n"], T0.AddHours(20), CancellationToken.None);
        Assert.Equal(T0.AddHours(20), (await Stores.VectorStores.FindAsync("p1", "vs_a", CancellationToken.None))!.Store.LastActiveAt);

        var late = T0.AddHours(20).AddDays(1).AddSeconds(1);
        await Stores.VectorStores.TouchAsync("p1", ["vs_a", "vs_n"], late, CancellationToken.None);
        var expired = (await Stores.VectorStores.FindAsync("p1", "vs_a", CancellationToken.None))!.Store;
        Assert.Equal(T0.AddHours(20), expired.LastActiveAt);
        Assert.True(expired.IsExpiredAt(late));
        Assert.Equal(late, (await Stores.VectorStores.FindAsync("p1", "vs_n", CancellationToken.None))!.Store.LastActiveAt);
    }

    [SkippableFact]
    public async Task Jobs_ConcurrentClaims_EachJobOnce_OnlyTheHolderCompletes()
    {
        await Stores.VectorStores.CreateAsync(NewStore("vs_j"), [.. Enumerable.Range(0, 10).Select(i => NewFile($"file-{i}", "vs_j"))], CancellationToken.None);
        var claims = await Task.WhenAll(Enumerable.Range(0, 20).Select(i => Task.Run(() =>
            Stores.Jobs.ClaimNextAsync($"node-{i}", T0, TimeSpan.FromMinutes(1), CancellationToken.None))));
        var held = claims.Select((job, i) => (job, node: $"node-{i}")).Where(c => c.job is not null).ToList();
        Assert.Equal(10, held.Count);
        Assert.Equal(10, held.Select(h => h.job!.File.Id).Distinct().Count());
        Assert.All(held, h => Assert.Equal(1, h.job!.Attempt));
        Assert.Null(await Stores.Jobs.ClaimNextAsync("late", T0, TimeSpan.FromMinutes(1), CancellationToken.None));

        var (job, node) = held[0];
        var done = job!.File with { Status = VectorStoreFileStatus.Completed, UsageBytes = 1234 };
        Assert.False(await Stores.Jobs.CompleteAsync(done, "someone-else", CancellationToken.None));
        Assert.True(await Stores.Jobs.CompleteAsync(done, node, CancellationToken.None));
        Assert.False(await Stores.Jobs.CompleteAsync(done, node, CancellationToken.None));
        var state = (await Stores.VectorStores.FindAsync("p1", "vs_j", CancellationToken.None))!;
        Assert.Equal(new VectorStoreFileCounts(9, 1, 0, 0, 10), state.Counts);
        Assert.Equal(1234, state.UsageBytes);
    }

    [SkippableFact]
    public async Task Jobs_LeaseLapses_AnotherNodeReclaims_ReleaseGivesItBackAtOnce()
    {
        await Stores.VectorStores.CreateAsync(NewStore("vs_l"), [NewFile("file-l", "vs_l")], CancellationToken.None);
        var lease = TimeSpan.FromSeconds(30);
        Assert.NotNull(await Stores.Jobs.ClaimNextAsync("node-a", T0, lease, CancellationToken.None));
        Assert.Null(await Stores.Jobs.ClaimNextAsync("node-b", T0.AddSeconds(20), lease, CancellationToken.None));
        Assert.True(await Stores.Jobs.RenewLeaseAsync("vs_l", "file-l", "node-a", T0.AddSeconds(50), CancellationToken.None));
        Assert.Null(await Stores.Jobs.ClaimNextAsync("node-b", T0.AddSeconds(40), lease, CancellationToken.None));
        Assert.Equal("file-l", (await Stores.Jobs.ClaimNextAsync("node-b", T0.AddSeconds(51), lease, CancellationToken.None))?.File.Id);
        Assert.False(await Stores.Jobs.RenewLeaseAsync("vs_l", "file-l", "node-a", T0.AddSeconds(90), CancellationToken.None));

        await Stores.Jobs.ReleaseAsync("vs_l", "file-l", "node-b", CancellationToken.None);
        Assert.Equal("file-l", (await Stores.Jobs.ClaimNextAsync("node-c", T0.AddSeconds(52), lease, CancellationToken.None))?.File.Id);
    }

    [SkippableFact]
    public async Task Jobs_EachClaimCountsAnAttempt_ShutdownReleaseDoesNot_ReAddResets()
    {
        await Stores.VectorStores.CreateAsync(NewStore("vs_a"), [NewFile("file-a", "vs_a")], CancellationToken.None);
        var lease = TimeSpan.FromSeconds(30);
        Assert.Equal(1, (await Stores.Jobs.ClaimNextAsync("node-a", T0, lease, CancellationToken.None))?.Attempt);
        // The node died: its lease lapses and the next claim is the second attempt.
        Assert.Equal(2, (await Stores.Jobs.ClaimNextAsync("node-b", T0.AddSeconds(31), lease, CancellationToken.None))?.Attempt);
        // A crash of the extraction worker gives the job back with the attempt counted.
        await Stores.Jobs.ReleaseAsync("vs_a", "file-a", "node-b", CancellationToken.None, countAttempt: true);
        Assert.Equal(3, (await Stores.Jobs.ClaimNextAsync("node-c", T0.AddSeconds(32), lease, CancellationToken.None))?.Attempt);
        // A node that stops gives it back without counting: the next claim is the same attempt again.
        await Stores.Jobs.ReleaseAsync("vs_a", "file-a", "node-c", CancellationToken.None);
        var claim = await Stores.Jobs.ClaimNextAsync("node-d", T0.AddSeconds(33), lease, CancellationToken.None);
        Assert.Equal(3, claim?.Attempt);
        Assert.Equal("file-a", claim?.File.Id);
        // Re-adding the file starts over.
        await Stores.VectorStores.AddFilesAsync([NewFile("file-a", "vs_a")], null, CancellationToken.None);
        Assert.Equal(1, (await Stores.Jobs.ClaimNextAsync("node-e", T0.AddSeconds(34), lease, CancellationToken.None))?.Attempt);
    }

    [SkippableFact]
    public async Task Jobs_CancelledOrCompletedRows_AreNotClaimed()
    {
        await Stores.VectorStores.CreateAsync(NewStore("vs_c"), [NewFile("file-c", "vs_c", VectorStoreFileStatus.Cancelled), NewFile("file-d", "vs_c", VectorStoreFileStatus.Completed)], CancellationToken.None);
        Assert.Null(await Stores.Jobs.ClaimNextAsync("node-a", T0, TimeSpan.FromMinutes(1), CancellationToken.None));
        // Re-adding a file re-queues it.
        await Stores.VectorStores.AddFilesAsync([NewFile("file-c", "vs_c")], null, CancellationToken.None);
        Assert.Equal("file-c", (await Stores.Jobs.ClaimNextAsync("node-a", T0, TimeSpan.FromMinutes(1), CancellationToken.None))?.File.Id);
    }
}

public sealed class SqliteVectorStoreTests : VectorStoreContract<SqliteProvider>;

public sealed class PostgresVectorStoreTests : VectorStoreContract<PostgresProvider>;
