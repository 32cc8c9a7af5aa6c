using System.Security.Cryptography;
using Threadloom.Core.Storage;

namespace Threadloom.Storage.Sqlite;

/// <summary>
/// Content-addressed blobs on local disk: streamed to a temporary file while hashing, fsynced, then renamed into
/// <c>ab/cdef…</c>. The caller commits the row only after the rename, so a row never points at a partial blob.
/// </summary>
public sealed class LocalBlobStore(string root) : IBlobStore
{
    public async Task<BlobInfo> WriteAsync(Stream content, long maxBytes, CancellationToken cancellationToken)
    {
        var tmpDir = System.IO.Path.Combine(root, "tmp");
        Directory.CreateDirectory(tmpDir);
        var tmp = System.IO.Path.Combine(tmpDir, Guid.NewGuid().ToString("N"));
        try
        {
            long length = 0;
            string key;
            await using (var file = new FileStream(tmp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 81920, FileOptions.Asynchronous))
            using (var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256))
            {
                var buffer = new byte[81920];
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
                key = Convert.ToHexStringLower(hash.GetHashAndReset());
            }
            var target = PathOf(key);
            Directory.CreateDirectory(System.IO.Path.GetDirectoryName(target)!);
            File.Move(tmp, target, overwrite: true);
            return new BlobInfo(key, length);
        }
        finally
        {
            if (File.Exists(tmp))
            {
                File.Delete(tmp);
            }
        }
    }

    public Stream OpenRead(string key) => new FileStream(PathOf(key), FileMode.Open, FileAccess.Read, FileShare.Read, 81920, FileOptions.Asynchronous);

    public Task DeleteAsync(string key, CancellationToken cancellationToken)
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
        if (key.Length < 8 || !key.All(char.IsAsciiHexDigitLower))
        {
            throw new ArgumentException("Not a blob key.", nameof(key));
        }
        return System.IO.Path.Combine(root, key[..2], key[2..]);
    }
}
