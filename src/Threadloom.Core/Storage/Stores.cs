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

    /// <summary>Deletes the thread with its messages, runs, run steps and run prompts.</summary>
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

    /// <summary>Files of every project whose <c>expires_at</c> is at or before <paramref name="now"/>, soonest first.</summary>
    Task<IReadOnlyList<StoredFile>> ListExpiredAsync(DateTimeOffset now, int limit, CancellationToken cancellationToken);
}

/// <summary>
/// Projects and their API keys (the key store). Every change to the set of keys moves the key-set version, so that
/// each node can drop its cached grants within a second by reading one small row (issue #9 §4).
/// </summary>
public interface IProjectStore
{
    Task<Project> GetOrCreateAsync(string name, CancellationToken cancellationToken);

    /// <summary>
    /// Stores <paramref name="key"/> and, in the same transaction, increments the key-set version and records for good
    /// that keys are configured (<see cref="KeySetState.KeysConfigured"/>).
    /// </summary>
    Task CreateKeyAsync(ApiKey key, CancellationToken cancellationToken);

    /// <summary>The active key with this hash; a revoked key is never found.</summary>
    Task<ApiKey?> FindKeyByHashAsync(string keyHash, CancellationToken cancellationToken);

    /// <summary>Every key, revoked ones included, oldest first, with the name of its project.</summary>
    Task<IReadOnlyList<ApiKeyListing>> ListKeysAsync(CancellationToken cancellationToken);

    /// <summary>
    /// Revokes the key: from the commit on, <see cref="FindKeyByHashAsync"/> no longer finds it, and the key-set version
    /// moves in the same transaction. <see cref="KeySetState.KeysConfigured"/> stays true even when no active key is left.
    /// Returns false when no active key has this id.
    /// </summary>
    Task<bool> RevokeKeyAsync(string keyId, DateTimeOffset revokedAt, CancellationToken cancellationToken);

    /// <summary>
    /// The current key-set version and whether a key was ever created. One small read: nodes call it at most once per
    /// <c>Auth:KeySetRefreshInterval</c>, from any number of processes sharing the database.
    /// </summary>
    Task<KeySetState> GetKeySetStateAsync(CancellationToken cancellationToken);

    /// <summary>Sets the key's <see cref="ApiKey.LastUsedAt"/> (a later time only); does not move the key-set version.</summary>
    Task RecordKeyUseAsync(string keyId, DateTimeOffset usedAt, CancellationToken cancellationToken);
}

/// <summary>
/// <paramref name="Version"/> changes (increases) with every key created or revoked. <paramref name="KeysConfigured"/>
/// is true once any key was ever created, and never goes back: revoking the last key does not re-enable dev mode.
/// </summary>
public sealed record KeySetState(long Version, bool KeysConfigured);

/// <summary>A key with the name of its project, for <c>threadloom keys list</c>.</summary>
public sealed record ApiKeyListing(ApiKey Key, string ProjectName);

/// <summary>Applies the numbered schema migrations of one dialect.</summary>
public interface IMigrator
{
    Task MigrateAsync(CancellationToken cancellationToken);
}
