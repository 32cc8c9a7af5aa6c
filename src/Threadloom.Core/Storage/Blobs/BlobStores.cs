namespace Threadloom.Core.Storage.Blobs;

/// <summary>A blob as written: its content-addressed key (lower-case SHA-256 hex) and its length.</summary>
public sealed record BlobInfo(string Key, long Length);

/// <summary>What a sweep removed: how many blobs (or partial writes) and how many bytes.</summary>
public sealed record BlobSweep(int Count, long Bytes)
{
    public static BlobSweep None { get; } = new(0, 0);
}

/// <summary>
/// File bytes, content-addressed: the same bytes uploaded twice (by any project) are stored once, under one key.
/// </summary>
/// <remarks>
/// Design notes (issue #9 §3): blob lifetime is transactional with its references. Nothing deletes a blob on a
/// request's path, neither when an upload fails nor when a file is deleted, because another request may be about to
/// commit a row that points at the same content. A write holds its blob for a grace period; only
/// <see cref="CollectAsync"/> removes blobs, those whose hold has lapsed and that no file row references, in a
/// transaction that a concurrent write of the same key waits for.
/// </remarks>
public interface IBlobStore
{
    /// <summary>
    /// Streams <paramref name="content"/> into the store and holds the blob (the collector leaves it alone for its
    /// grace period), so a file row committed after this returns never points at missing bytes. Throws
    /// <see cref="BlobTooLargeException"/> past <paramref name="maxBytes"/>, leaving nothing behind.
    /// </summary>
    Task<BlobInfo> WriteAsync(Stream content, long maxBytes, CancellationToken cancellationToken);

    /// <summary>Opens the blob for reading; throws <see cref="BlobNotFoundException"/> when it is not there.</summary>
    Task<Stream> OpenReadAsync(string key, CancellationToken cancellationToken);

    /// <summary>Deletes blobs last held before <paramref name="heldBefore"/> that no file row references.</summary>
    Task<BlobSweep> CollectAsync(DateTimeOffset heldBefore, CancellationToken cancellationToken);

    /// <summary>
    /// Removes what writes interrupted by a crash left behind (a partial temporary file). Safe at any time: a write
    /// still in progress is left alone.
    /// </summary>
    Task<BlobSweep> ClearPartialWritesAsync(CancellationToken cancellationToken);
}

/// <summary>
/// The database's record of the blobs whose bytes live outside it (a local or shared folder): when each was last
/// written, and so whether it may be collected. Implemented by each storage provider over its <c>blobs</c> table.
/// </summary>
public interface IBlobLedger
{
    /// <summary>
    /// Records that <paramref name="key"/> is being written now. Called before the bytes are moved into place: once it
    /// returns, a collection of the key either finished before it (and the bytes about to be moved in are new) or
    /// will not happen for the grace period.
    /// </summary>
    Task HoldAsync(string key, long length, DateTimeOffset now, CancellationToken cancellationToken);

    /// <summary>
    /// In one write transaction: takes up to <paramref name="limit"/> blobs held before <paramref name="heldBefore"/>
    /// that no file row references, calls <paramref name="deleteBytes"/> for each, and forgets them. A
    /// <see cref="HoldAsync"/> of one of those keys waits until the transaction ends.
    /// </summary>
    Task<IReadOnlyList<BlobInfo>> CollectAsync(DateTimeOffset heldBefore, int limit, Func<string, CancellationToken, Task> deleteBytes, CancellationToken cancellationToken);
}

public sealed class BlobTooLargeException(long maxBytes) : Exception($"The file is larger than the limit of {maxBytes} bytes.")
{
    public long MaxBytes { get; } = maxBytes;
}

/// <summary>Thrown when a blob's bytes are not in the store. The message names only the key.</summary>
public sealed class BlobNotFoundException(string key) : Exception($"Blob '{key}' was not found.")
{
    public string Key { get; } = key;
}

/// <summary>Blob keys: lower-case SHA-256 hex, checked before a key becomes a path or a query parameter.</summary>
public static class BlobKeys
{
    public static bool IsValid(string key) => key.Length == 64 && key.All(char.IsAsciiHexDigitLower);

    public static string Require(string key) =>
        IsValid(key) ? key : throw new ArgumentException("Not a blob key.", nameof(key));
}
