using System.Security.Cryptography;

namespace Threadloom.Core.Storage.Blobs;

/// <summary>
/// Content-addressed blobs in a folder (local, or shared by every node of a cluster): streamed to
/// <c>tmp/</c> while hashing, fsynced, held in the ledger, then renamed into <c>ab/cdef…</c>. The caller commits the
/// file row only after that, so a row never points at a partial or missing blob.
/// </summary>
/// <remarks>
/// Design notes: a writer keeps its temporary file open with <see cref="FileShare.None"/>, which .NET on Linux backs
/// with an exclusive <c>flock</c>; <see cref="ClearPartialWritesAsync"/> deletes only files it can open the same way,
/// so it never removes a write still in progress, even another process's on a shared folder. The ledger's hold comes
/// before the rename: a collection of the same key either finished before the hold (the bytes renamed in afterwards
/// are new) or waits for the grace period (issue #9 §3).
/// </remarks>
public sealed class LocalBlobStore(string root, IBlobLedger ledger, TimeProvider time) : IBlobStore
{
    private const int BufferSize = 81920;
    private const int CollectBatch = 256;

    public string Root => root;

    private string TmpDirectory => Path.Combine(root, "tmp");

    public async Task<BlobInfo> WriteAsync(Stream content, long maxBytes, CancellationToken cancellationToken)
    {
        Directory.CreateDirectory(TmpDirectory);
        var tmp = Path.Combine(TmpDirectory, Guid.NewGuid().ToString("N"));
        try
        {
            long length = 0;
            // The file stays open (and locked) until it is renamed, so ClearPartialWritesAsync never takes it.
            await using var file = new FileStream(tmp, FileMode.CreateNew, FileAccess.Write, FileShare.None, BufferSize, FileOptions.Asynchronous);
            using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            var buffer = new byte[BufferSize];
            int read;
            while ((read = await content.ReadAsync(buffer, cancellationToken)) > 0)
            {
                length += read;
                if (length > maxBytes)
                {
                    throw new BlobTooLargeException(maxBytes);
                }
                hash.AppendData(buffer, 0, read);
                await file.WriteAsync(buffer.AsMemory(0, read), cancellationToken);
            }
            await file.FlushAsync(cancellationToken);
            file.Flush(flushToDisk: true);
            var key = Convert.ToHexStringLower(hash.GetHashAndReset());
            await ledger.HoldAsync(key, length, time.GetUtcNow(), cancellationToken);
            var target = PathOf(key);
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Move(tmp, target, overwrite: true);
            return new BlobInfo(key, length);
        }
        catch
        {
            if (File.Exists(tmp))
            {
                File.Delete(tmp);
            }
            throw;
        }
    }

    public Task<Stream> OpenReadAsync(string key, CancellationToken cancellationToken)
    {
        try
        {
            return Task.FromResult<Stream>(new FileStream(PathOf(key), FileMode.Open, FileAccess.Read, FileShare.Read, BufferSize, FileOptions.Asynchronous));
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new BlobNotFoundException(key);
        }
    }

    public async Task<BlobSweep> CollectAsync(DateTimeOffset heldBefore, CancellationToken cancellationToken)
    {
        var count = 0;
        long bytes = 0;
        while (true)
        {
            var collected = await ledger.CollectAsync(heldBefore, CollectBatch, DeleteBytesAsync, cancellationToken);
            count += collected.Count;
            bytes += collected.Sum(b => b.Length);
            if (collected.Count < CollectBatch)
            {
                return new BlobSweep(count, bytes);
            }
        }
    }

    public Task<BlobSweep> ClearPartialWritesAsync(CancellationToken cancellationToken)
    {
        if (!Directory.Exists(TmpDirectory))
        {
            return Task.FromResult(BlobSweep.None);
        }
        var count = 0;
        long bytes = 0;
        foreach (var path in Directory.EnumerateFiles(TmpDirectory))
        {
            cancellationToken.ThrowIfCancellationRequested();
            try
            {
                long length;
                // Opening with FileShare.None fails while a live writer holds the file (its flock).
                using (var probe = new FileStream(path, FileMode.Open, FileAccess.ReadWrite, FileShare.None))
                {
                    length = probe.Length;
                }
                File.Delete(path);
                count++;
                bytes += length;
            }
            catch (IOException)
            {
                // Being written right now, or already renamed or removed by its writer.
            }
        }
        return Task.FromResult(new BlobSweep(count, bytes));
    }

    private Task DeleteBytesAsync(string key, CancellationToken cancellationToken)
    {
        var path = PathOf(key);
        if (File.Exists(path))
        {
            File.Delete(path);
        }
        return Task.CompletedTask;
    }

    private string PathOf(string key)
    {
        BlobKeys.Require(key);
        return Path.Combine(root, key[..2], key[2..]);
    }
}
