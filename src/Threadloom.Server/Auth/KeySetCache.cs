using System.Collections.Concurrent;
using Microsoft.Extensions.Options;
using Threadloom.Core.Storage;

namespace Threadloom.Server.Auth;

/// <summary>
/// This node's view of the key set: the <see cref="KeySetState"/> read at most once per
/// <see cref="AuthOptions.KeySetRefreshInterval"/>, and the grants (key hash → project) cached under it.
/// </summary>
/// <remarks>
/// Design notes (issue #9 §4): a grant is good only for the key-set version it was read under. Every create or
/// revoke moves the version in the database, and the first request after the refresh interval reads it (one small
/// row, shared by concurrent requests), so a key revoked on any node, or with the CLI, stops working on every node
/// within one interval, whatever the number of processes on the database. Only grants are cached, never refusals
/// (a refusal costs one indexed read), and the cache is bounded, so random keys cannot grow it.
/// </remarks>
public sealed class KeySetCache(IProjectStore projects, IOptions<AuthOptions> options, TimeProvider time)
{
    private const int MaxGrants = 10_000;
    private readonly ConcurrentDictionary<string, Grant> _grants = new(StringComparer.Ordinal);
    private readonly Lock _gate = new();
    private volatile Snapshot? _snapshot;
    private Task<KeySetState>? _refresh;
    private int _generation;

    /// <summary>A key's project; <see cref="KeyId"/> is null for a dev-mode grant.</summary>
    public sealed record Grant(string ProjectId, string? KeyId, long Version);

    /// <summary>The key-set state, read again when the last read is older than the refresh interval.</summary>
    public async Task<KeySetState> GetStateAsync(CancellationToken cancellationToken)
    {
        if (_snapshot is { } snapshot && IsFresh(snapshot.ReadAt))
        {
            return snapshot.State;
        }
        Task<KeySetState> refresh;
        lock (_gate)
        {
            if (_snapshot is { } current && IsFresh(current.ReadAt))
            {
                return current.State;
            }
            // Concurrent requests share one read; a failed read is retried by the next request.
            if (_refresh is null || _refresh.IsCompleted)
            {
                var generation = _generation;
                _refresh = Task.Run(() => ReadAsync(generation));
            }
            refresh = _refresh;
        }
        return await refresh.WaitAsync(cancellationToken);
    }

    /// <summary>The cached grant of <paramref name="keyHash"/>, if it was read under <paramref name="state"/>'s version.</summary>
    public Grant? Find(string keyHash, KeySetState state) =>
        _grants.TryGetValue(keyHash, out var grant) && grant.Version == state.Version ? grant : null;

    public void Add(string keyHash, Grant grant)
    {
        if (_grants.Count >= MaxGrants)
        {
            _grants.Clear();
        }
        _grants[keyHash] = grant;
    }

    /// <summary>Makes the next request read the state again: a key created or revoked in this process applies at once.</summary>
    public void Invalidate()
    {
        lock (_gate)
        {
            _snapshot = null;
            _refresh = null;
            _generation++;
        }
    }

    /// <summary>Fresh while less than the interval old; a clock that moved back makes it stale, never fresh for longer.</summary>
    private bool IsFresh(DateTimeOffset readAt) => time.GetUtcNow() - readAt is var age && age >= TimeSpan.Zero && age < options.Value.KeySetRefreshInterval;

    private async Task<KeySetState> ReadAsync(int generation)
    {
        var readAt = time.GetUtcNow();
        var state = await projects.GetKeySetStateAsync(CancellationToken.None);
        lock (_gate)
        {
            if (_snapshot is { } previous && previous.State.Version != state.Version)
            {
                _grants.Clear();
            }
            // A read that began before an Invalidate may predate the change that caused it: use it once, keep it not.
            if (generation == _generation)
            {
                _snapshot = new Snapshot(state, readAt);
            }
        }
        return state;
    }

    private sealed record Snapshot(KeySetState State, DateTimeOffset ReadAt);
}
