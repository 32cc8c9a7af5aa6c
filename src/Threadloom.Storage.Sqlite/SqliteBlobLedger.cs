using Threadloom.Core.Storage.Blobs;

namespace Threadloom.Storage.Sqlite;

/// <summary>
/// <see cref="IBlobLedger"/> over the <c>blobs</c> table (migration 0006). Both methods are writes, so SQLite's single
/// writer orders a hold and a collection of the same key: one finishes before the other starts.
/// </summary>
public sealed class SqliteBlobLedger(SqliteDatabase database) : IBlobLedger
{
    public Task HoldAsync(string key, long length, DateTimeOffset now, CancellationToken cancellationToken) =>
        database.WriteAsync((c, t) => c.ExecuteAsync(
            "INSERT INTO blobs (key, length, held_at) VALUES ($k, $l, $h) ON CONFLICT(key) DO UPDATE SET held_at = MAX(held_at, excluded.held_at), length = excluded.length",
            t, cancellationToken, ("$k", BlobKeys.Require(key)), ("$l", length), ("$h", now.ToUnixTimeMilliseconds())), cancellationToken);

    public Task<IReadOnlyList<BlobInfo>> CollectAsync(DateTimeOffset heldBefore, int limit, Func<string, CancellationToken, Task> deleteBytes, CancellationToken cancellationToken) =>
        database.WriteAsync<IReadOnlyList<BlobInfo>>(async (c, t) =>
        {
            var doomed = await c.QueryAsync(
                "SELECT key, length FROM blobs b WHERE held_at < $h AND NOT EXISTS (SELECT 1 FROM files f WHERE f.blob_key = b.key) ORDER BY held_at LIMIT $n", t,
                r => new BlobInfo(r.GetString(0), r.GetInt64(1)), cancellationToken, ("$h", heldBefore.ToUnixTimeMilliseconds()), ("$n", limit));
            foreach (var blob in doomed)
            {
                // Bytes first, inside the transaction: if the delete fails, the row stays and the next sweep retries.
                await deleteBytes(blob.Key, cancellationToken);
                await c.ExecuteAsync("DELETE FROM blobs WHERE key = $k", t, cancellationToken, ("$k", blob.Key));
            }
            return doomed;
        }, cancellationToken);
}
