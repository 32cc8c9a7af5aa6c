using Threadloom.Core.Domain;

namespace Threadloom.Core.Storage;

/// <summary>Assistants of one project. Every method is scoped by project: another project's id is simply not found.</summary>
public interface IAssistantStore
{
    Task CreateAsync(Assistant assistant, CancellationToken cancellationToken);
    Task<Assistant?> FindAsync(string projectId, string id, CancellationToken cancellationToken);
    Task<bool> UpdateAsync(Assistant assistant, CancellationToken cancellationToken);
    Task<bool> DeleteAsync(string projectId, string id, CancellationToken cancellationToken);
    Task<Page<Assistant>> ListAsync(string projectId, PageRequest page, CancellationToken cancellationToken);
}

/// <summary>Threads and, through <see cref="CreateAsync"/>, their initial messages, written in one transaction.</summary>
public interface IThreadStore
{
    Task CreateAsync(AssistantThread thread, IReadOnlyList<ThreadMessage> initialMessages, CancellationToken cancellationToken);
    Task<AssistantThread?> FindAsync(string projectId, string id, CancellationToken cancellationToken);
    Task<bool> UpdateAsync(AssistantThread thread, CancellationToken cancellationToken);

    /// <summary>Deletes the thread with its messages, runs and run steps.</summary>
    Task<bool> DeleteAsync(string projectId, string id, CancellationToken cancellationToken);
    Task<Page<AssistantThread>> ListAsync(string projectId, PageRequest page, CancellationToken cancellationToken);
}

public interface IMessageStore
{
    Task CreateAsync(ThreadMessage message, CancellationToken cancellationToken);
    Task<ThreadMessage?> FindAsync(string projectId, string threadId, string id, CancellationToken cancellationToken);
    Task<bool> UpdateAsync(ThreadMessage message, CancellationToken cancellationToken);
    Task<bool> DeleteAsync(string projectId, string threadId, string id, CancellationToken cancellationToken);
    Task<Page<ThreadMessage>> ListAsync(string projectId, string threadId, string? runId, PageRequest page, CancellationToken cancellationToken);
}

public interface IFileStore
{
    Task CreateAsync(StoredFile file, CancellationToken cancellationToken);
    Task<StoredFile?> FindAsync(string projectId, string id, CancellationToken cancellationToken);
    Task<bool> DeleteAsync(string projectId, string id, CancellationToken cancellationToken);
    Task<Page<StoredFile>> ListAsync(string projectId, string? purpose, PageRequest page, CancellationToken cancellationToken);

    /// <summary>Returns the ids among <paramref name="ids"/> that the project does not have.</summary>
    Task<IReadOnlyList<string>> FindMissingAsync(string projectId, IReadOnlyCollection<string> ids, CancellationToken cancellationToken);

    /// <summary>True while any file row still points at the blob.</summary>
    Task<bool> IsBlobReferencedAsync(string blobKey, CancellationToken cancellationToken);

    /// <summary>Files of every project whose <c>expires_at</c> is at or before <paramref name="now"/>, soonest first.</summary>
    Task<IReadOnlyList<StoredFile>> ListExpiredAsync(DateTimeOffset now, int limit, CancellationToken cancellationToken);
}

public interface IProjectStore
{
    Task<Project> GetOrCreateAsync(string name, CancellationToken cancellationToken);
    Task CreateKeyAsync(ApiKey key, CancellationToken cancellationToken);
    Task<ApiKey?> FindKeyByHashAsync(string keyHash, CancellationToken cancellationToken);
    Task<bool> AnyKeysAsync(CancellationToken cancellationToken);
}

/// <summary>A blob as written: its content-addressed key and its length.</summary>
public sealed record BlobInfo(string Key, long Length);

/// <summary>File bytes, content-addressed. Writes are atomic: a blob is complete or absent.</summary>
public interface IBlobStore
{
    /// <summary>Streams <paramref name="content"/> to the store. Throws <see cref="BlobTooLargeException"/> past <paramref name="maxBytes"/>, leaving nothing behind.</summary>
    Task<BlobInfo> WriteAsync(Stream content, long maxBytes, CancellationToken cancellationToken);
    Stream OpenRead(string key);
    Task DeleteAsync(string key, CancellationToken cancellationToken);
}

public sealed class BlobTooLargeException(long maxBytes) : Exception($"The file is larger than the limit of {maxBytes} bytes.")
{
    public long MaxBytes { get; } = maxBytes;
}

/// <summary>Applies the numbered schema migrations of one dialect.</summary>
public interface IMigrator
{
    Task MigrateAsync(CancellationToken cancellationToken);
}
