using Microsoft.Extensions.DependencyInjection;
using Threadloom.Core.Storage.Blobs;
using Threadloom.Storage.Tests.Contract;

namespace Threadloom.Storage.Tests;

/// <summary>The blob folder's own behaviour: partial writes a crash left in <c>tmp/</c> (issue #9 §3).</summary>
public sealed class LocalBlobStoreTests : IAsyncLifetime
{
    private TestStorage _storage = null!;

    private string Tmp => Path.Combine(_storage.BlobDirectory, "tmp");

    public async Task InitializeAsync() => _storage = await new SqliteProvider().CreateAsync();

    public async Task DisposeAsync() => await _storage.DisposeAsync();

    [Fact]
    public async Task Issue9_PartialWritesOfDeadUploads_AreCleared_ButALiveWriteIsNot()
    {
        Directory.CreateDirectory(Tmp);
        // What a kill -9 mid-upload leaves: an unlocked, partial temporary file.
        await File.WriteAllBytesAsync(Path.Combine(Tmp, "dead1"), new byte[300_000]);
        await File.WriteAllBytesAsync(Path.Combine(Tmp, "dead2"), new byte[5]);
        // A write in progress (here or on another node sharing the folder) holds its file with FileShare.None.
        await using (var live = new FileStream(Path.Combine(Tmp, "live"), FileMode.CreateNew, FileAccess.Write, FileShare.None))
        {
            live.Write(new byte[10]);
            var cleared = await _storage.Stores.Blobs.ClearPartialWritesAsync(CancellationToken.None);
            Assert.Equal(new BlobSweep(2, 300_005), cleared);
            Assert.Equal(["live"], Directory.EnumerateFiles(Tmp).Select(Path.GetFileName));
        }
        Assert.Equal(new BlobSweep(1, 10), await _storage.Stores.Blobs.ClearPartialWritesAsync(CancellationToken.None));
    }

    [Fact]
    public async Task Write_ClearingRunsDuringAWrite_TheWriteStillLands()
    {
        var gate = new GatedStream(new byte[200_000]);
        var write = Task.Run(() => _storage.Stores.Blobs.WriteAsync(gate, long.MaxValue, CancellationToken.None));
        await gate.HalfRead.Task;
        Assert.Equal(BlobSweep.None, await _storage.Stores.Blobs.ClearPartialWritesAsync(CancellationToken.None));
        gate.Release.SetResult();
        var blob = await write;
        await using var read = await _storage.Stores.Blobs.OpenReadAsync(blob.Key, CancellationToken.None);
        Assert.Equal(200_000, read.Length);
        Assert.Empty(Directory.EnumerateFiles(Tmp));
    }

    [Fact]
    public void BlobStore_IsTheFolderStore_WithTheSqliteLedger() =>
        Assert.IsType<LocalBlobStore>(_storage.Services.GetRequiredService<IBlobStore>());

    /// <summary>A stream that pauses halfway until released, so a test can act while a write is in progress.</summary>
    private sealed class GatedStream(byte[] data) : MemoryStream(data)
    {
        public TaskCompletionSource HalfRead { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public TaskCompletionSource Release { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            if (Position >= Length / 2 && !Release.Task.IsCompleted)
            {
                HalfRead.TrySetResult();
                await Release.Task;
            }
            return await base.ReadAsync(buffer[..Math.Min(buffer.Length, 8192)], cancellationToken);
        }
    }
}
