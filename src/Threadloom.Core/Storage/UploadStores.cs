using Threadloom.Core.Domain;

namespace Threadloom.Core.Storage;

/// <summary>Uploads and their part rows. Status changes are conditional on the status the caller saw.</summary>
public interface IUploadStore
{
    Task CreateAsync(Upload upload, CancellationToken cancellationToken);

    Task<Upload?> FindAsync(string projectId, string id, CancellationToken cancellationToken);

    /// <summary>
    /// Records <paramref name="part"/> if the upload is still pending and its parts, this one included, stay within
    /// the declared bytes; both checks and the insert are one transaction, so parallel parts cannot overshoot.
    /// </summary>
    Task<bool> TryAddPartAsync(UploadPart part, long declaredBytes, CancellationToken cancellationToken);

    Task<IReadOnlyList<UploadPart>> ListPartsAsync(string uploadId, CancellationToken cancellationToken);

    /// <summary>Marks the pending upload completed and inserts <paramref name="file"/>, in one transaction; false if it was no longer pending.</summary>
    Task<bool> TryCompleteAsync(Upload completed, StoredFile file, CancellationToken cancellationToken);

    /// <summary>Moves a pending upload to <paramref name="to"/> (cancelled or expired); false if it was no longer pending.</summary>
    Task<bool> TryEndAsync(string projectId, string id, UploadStatus to, CancellationToken cancellationToken);

    /// <summary>Drops the part rows of an upload that ended.</summary>
    Task DeletePartsAsync(string uploadId, CancellationToken cancellationToken);

    /// <summary>Pending uploads of every project whose expiry is past <paramref name="now"/>, oldest first.</summary>
    Task<IReadOnlyList<Upload>> ListExpiredAsync(DateTimeOffset now, int limit, CancellationToken cancellationToken);
}

/// <summary>The staged bytes of upload parts, until completion concatenates them into one blob.</summary>
public interface IUploadPartStore
{
    /// <summary>Streams one part to storage and returns its length; throws <see cref="Blobs.BlobTooLargeException"/> past <paramref name="maxBytes"/>, leaving nothing behind.</summary>
    Task<long> WriteAsync(string uploadId, string partId, Stream content, long maxBytes, CancellationToken cancellationToken);

    Stream OpenRead(string uploadId, string partId);

    /// <summary>Removes one staged part (a part whose row was refused); a missing part is no error.</summary>
    Task DeleteAsync(string uploadId, string partId, CancellationToken cancellationToken);

    /// <summary>Removes every staged part of the upload.</summary>
    Task DeleteAllAsync(string uploadId, CancellationToken cancellationToken);
}
