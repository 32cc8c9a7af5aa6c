using System.Security.Cryptography;
using Threadloom.Core.Domain;
using Threadloom.Core.Storage.Blobs;

namespace Threadloom.Storage.Tests.Contract;

/// <summary>
/// Blobs: content-addressed, streamed, and deleted only by the collector, never under a row that references them
/// (issue #9 §3). Run over every provider and, for PostgreSQL, over both blob locations.
/// </summary>
public abstract class BlobContract<TProvider> : ContractTests<TProvider> where TProvider : ITestStorageProvider, new()
{
    private static readonly DateTimeOffset Far = DateTimeOffset.UtcNow.AddYears(1);

    private static MemoryStream Bytes(string text) => new(System.Text.Encoding.UTF8.GetBytes(text));

    private async Task<string> ReadAsync(string key)
    {
        await using var stream = await Stores.Blobs.OpenReadAsync(key, CancellationToken.None);
        using var reader = new StreamReader(stream);
        return await reader.ReadToEndAsync();
    }

    private Task ReferenceAsync(string fileId, BlobInfo blob) =>
        Stores.Files.CreateAsync(new StoredFile(fileId, "p1", DateTimeOffset.UtcNow, fileId + ".txt", "assistants", blob.Length, blob.Key), CancellationToken.None);

    [SkippableFact]
    public async Task Write_ReadBack_SameBytesShareOneKey()
    {
        var first = await Stores.Blobs.WriteAsync(Bytes("hello"), 100, CancellationToken.None);
        var second = await Stores.Blobs.WriteAsync(Bytes("hello"), 100, CancellationToken.None);
        Assert.Equal(first, second);
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData("hello"u8)), first.Key);
        Assert.Equal(5, first.Length);
        Assert.Equal("hello", await ReadAsync(first.Key));
        var empty = await Stores.Blobs.WriteAsync(new MemoryStream(), 100, CancellationToken.None);
        Assert.Equal("", await ReadAsync(empty.Key));
    }

    [SkippableFact]
    public async Task Write_PastTheLimit_ThrowsAndLeavesNothing()
    {
        await Assert.ThrowsAsync<BlobTooLargeException>(() => Stores.Blobs.WriteAsync(new MemoryStream(new byte[101]), 100, CancellationToken.None));
        Assert.Equal(BlobSweep.None, await Stores.Blobs.ClearPartialWritesAsync(CancellationToken.None));
        await Assert.ThrowsAsync<BlobNotFoundException>(() => Stores.Blobs.OpenReadAsync(Convert.ToHexStringLower(SHA256.HashData(new byte[101])), CancellationToken.None));
        Assert.Equal(BlobSweep.None, await Stores.Blobs.CollectAsync(Far, CancellationToken.None));
    }

    [SkippableFact]
    public async Task Write_SeveralMegabytes_StreamsBackIdentical()
    {
        var data = new byte[5 * 1024 * 1024 + 123];
        new Random(7).NextBytes(data);
        var blob = await Stores.Blobs.WriteAsync(new MemoryStream(data), long.MaxValue, CancellationToken.None);
        await using var read = await Stores.Blobs.OpenReadAsync(blob.Key, CancellationToken.None);
        using var copy = new MemoryStream();
        var buffer = new byte[7919]; // an odd size, so reads straddle the store's chunks
        int n;
        while ((n = await read.ReadAsync(buffer)) > 0)
        {
            copy.Write(buffer, 0, n);
        }
        Assert.Equal(SHA256.HashData(data), SHA256.HashData(copy.ToArray()));
    }

    [SkippableFact]
    public async Task Collect_OnlyUnreferencedBlobsPastTheirGrace()
    {
        var kept = await Stores.Blobs.WriteAsync(Bytes("referenced"), 100, CancellationToken.None);
        await ReferenceAsync("file-k", kept);
        var orphan = await Stores.Blobs.WriteAsync(Bytes("orphan"), 100, CancellationToken.None);

        // Within the grace period nothing goes, referenced or not.
        Assert.Equal(BlobSweep.None, await Stores.Blobs.CollectAsync(DateTimeOffset.UtcNow.AddHours(-1), CancellationToken.None));
        Assert.Equal("orphan", await ReadAsync(orphan.Key));

        Assert.Equal(new BlobSweep(1, orphan.Length), await Stores.Blobs.CollectAsync(Far, CancellationToken.None));
        await Assert.ThrowsAsync<BlobNotFoundException>(() => Stores.Blobs.OpenReadAsync(orphan.Key, CancellationToken.None));
        Assert.Equal("referenced", await ReadAsync(kept.Key));

        // Once its last file is gone, the blob goes too (after the grace period).
        Assert.True(await Stores.Files.DeleteAsync("p1", "file-k", CancellationToken.None));
        Assert.Equal(1, (await Stores.Blobs.CollectAsync(Far, CancellationToken.None)).Count);
        await Assert.ThrowsAsync<BlobNotFoundException>(() => Stores.Blobs.OpenReadAsync(kept.Key, CancellationToken.None));
    }

    [SkippableFact]
    public async Task Issue9_SameBytesWrittenAgainAfterCollection_AreThereAgain()
    {
        var first = await Stores.Blobs.WriteAsync(Bytes("shared"), 100, CancellationToken.None);
        Assert.Equal(1, (await Stores.Blobs.CollectAsync(Far, CancellationToken.None)).Count);
        var again = await Stores.Blobs.WriteAsync(Bytes("shared"), 100, CancellationToken.None);
        Assert.Equal(first.Key, again.Key);
        await ReferenceAsync("file-s", again);
        Assert.Equal("shared", await ReadAsync(again.Key));
        Assert.Equal(BlobSweep.None, await Stores.Blobs.CollectAsync(Far, CancellationToken.None));
    }

    [SkippableFact]
    public async Task Issue9_WritesOfOneKeyRacingCollections_NeverLoseTheReferencedBytes()
    {
        // Each round: an old unreferenced blob (its hold is before the cutoff), then a collection racing a new upload
        // of the same bytes whose row commits. Whatever the interleaving, the committed row's bytes are readable: the
        // collection either ends before the new hold (and the bytes are moved in again) or sees the hold and skips.
        for (var round = 0; round < 20; round++)
        {
            var content = $"round-{round}";
            await Stores.Blobs.WriteAsync(Bytes(content), 100, CancellationToken.None);
            await Task.Delay(5);
            var cutoff = DateTimeOffset.UtcNow;
            await Task.Delay(5);
            var collect = Task.Run(() => Stores.Blobs.CollectAsync(cutoff, CancellationToken.None));
            var blob = await Task.Run(() => Stores.Blobs.WriteAsync(Bytes(content), 100, CancellationToken.None));
            await ReferenceAsync($"file-r{round}", blob);
            await collect;
            Assert.Equal(content, await ReadAsync(blob.Key));
        }
    }
}

public sealed class SqliteBlobTests : BlobContract<SqliteProvider>;

public sealed class PostgresFolderBlobTests : BlobContract<PostgresProvider>;

public sealed class PostgresDatabaseBlobTests : BlobContract<PostgresDatabaseBlobsProvider>;
