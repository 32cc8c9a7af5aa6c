using System.Security.Cryptography;
using Npgsql;
using Threadloom.Core.Storage.Blobs;

namespace Threadloom.Storage.Postgres;

/// <summary>
/// <see cref="IBlobLedger"/> over the <c>blobs</c> table, for bytes in a (shared) folder. A hold is an upsert, and a
/// collection locks the rows it takes (<c>FOR UPDATE SKIP LOCKED</c>) until the bytes are deleted and it commits: a
/// hold of the same key waits for that commit, then inserts the row afresh, and only then are the bytes moved in.
/// </summary>
public sealed class PostgresBlobLedger(PostgresDatabase database) : IBlobLedger
{
    public Task HoldAsync(string key, long length, DateTimeOffset now, CancellationToken cancellationToken) =>
        database.WriteAsync((c, t) => Hold(c, t, key, length, now, cancellationToken), cancellationToken);

    /// <summary>Holds the key; true when this created its row (the bytes were not there as far as the database knows).</summary>
    internal static async Task<bool> Hold(NpgsqlConnection c, NpgsqlTransaction t, string key, long length, DateTimeOffset now, CancellationToken cancellationToken) =>
        (bool)(await c.ScalarAsync(
            "INSERT INTO blobs (key, length, held_at) VALUES ($1, $2, $3) ON CONFLICT (key) DO UPDATE SET held_at = GREATEST(blobs.held_at, excluded.held_at) " +
            "RETURNING (xmax = 0)", t, cancellationToken, BlobKeys.Require(key), length, now.ToUnixTimeMilliseconds()))!;

    public Task<IReadOnlyList<BlobInfo>> CollectAsync(DateTimeOffset heldBefore, int limit, Func<string, CancellationToken, Task> deleteBytes, CancellationToken cancellationToken) =>
        database.WriteAsync((c, t) => Collect(c, t, heldBefore, limit, deleteBytes, cancellationToken), cancellationToken);

    internal static async Task<IReadOnlyList<BlobInfo>> Collect(NpgsqlConnection c, NpgsqlTransaction t, DateTimeOffset heldBefore, int limit,
        Func<string, CancellationToken, Task> deleteBytes, CancellationToken cancellationToken)
    {
        var doomed = await c.QueryAsync(
            "SELECT key, length FROM blobs b WHERE held_at < $1 AND NOT EXISTS (SELECT 1 FROM files f WHERE f.blob_key = b.key) " +
            "ORDER BY held_at LIMIT $2 FOR UPDATE SKIP LOCKED", t,
            r => new BlobInfo(r.GetString(0), r.GetInt64(1)), cancellationToken, heldBefore.ToUnixTimeMilliseconds(), limit);
        foreach (var blob in doomed)
        {
            await deleteBytes(blob.Key, cancellationToken);
        }
        if (doomed.Count > 0)
        {
            await c.ExecuteAsync("DELETE FROM blobs WHERE key = ANY($1)", t, cancellationToken, PgCommands.TextArray(doomed.Select(b => b.Key)));
        }
        return doomed;
    }
}

/// <summary>
/// Blob bytes in PostgreSQL as 1 MiB <c>bytea</c> chunks, so a cluster needs nothing but its database. A write
/// streams its chunks under a temporary key in one transaction, then renames them to the content's key (or drops
/// them, when the content is there already) and holds the blob, in the same transaction: a crash at any point leaves
/// nothing, and no row can point at missing bytes. Reads fetch one chunk at a time.
/// </summary>
public sealed class PostgresDatabaseBlobStore(PostgresDatabase database, TimeProvider time) : IBlobStore
{
    public const int ChunkBytes = 1024 * 1024;
    private const int CollectBatch = 256;

    public async Task<BlobInfo> WriteAsync(Stream content, long maxBytes, CancellationToken cancellationToken)
    {
        var staging = "tmp-" + Guid.NewGuid().ToString("N");
        return await database.WriteAsync(async (c, t) =>
        {
            using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            var buffer = new byte[ChunkBytes];
            long length = 0;
            var seq = 0;
            while (true)
            {
                var filled = 0;
                int read;
                while (filled < buffer.Length && (read = await content.ReadAsync(buffer.AsMemory(filled), cancellationToken)) > 0)
                {
                    filled += read;
                    length += read;
                    if (length > maxBytes)
                    {
                        throw new BlobTooLargeException(maxBytes);
                    }
                }
                if (filled == 0)
                {
                    break;
                }
                hash.AppendData(buffer, 0, filled);
                await c.ExecuteAsync("INSERT INTO blob_chunks (blob_key, seq, data) VALUES ($1, $2, $3)", t, cancellationToken,
                    staging, seq++, new NpgsqlParameter<ReadOnlyMemory<byte>> { TypedValue = buffer.AsMemory(0, filled), NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Bytea });
                if (filled < buffer.Length)
                {
                    break;
                }
            }
            var key = Convert.ToHexStringLower(hash.GetHashAndReset());
            if (await PostgresBlobLedger.Hold(c, t, key, length, time.GetUtcNow(), cancellationToken))
            {
                await c.ExecuteAsync("DELETE FROM blob_chunks WHERE blob_key = $1", t, cancellationToken, key);
                await c.ExecuteAsync("UPDATE blob_chunks SET blob_key = $1 WHERE blob_key = $2", t, cancellationToken, key, staging);
            }
            else
            {
                await c.ExecuteAsync("DELETE FROM blob_chunks WHERE blob_key = $1", t, cancellationToken, staging);
            }
            return new BlobInfo(key, length);
        }, cancellationToken);
    }

    public async Task<Stream> OpenReadAsync(string key, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        var length = await connection.ScalarAsync("SELECT length FROM blobs WHERE key = $1", null, cancellationToken, BlobKeys.Require(key));
        return length is long bytes ? new ChunkedReadStream(database, key, bytes) : throw new BlobNotFoundException(key);
    }

    public async Task<BlobSweep> CollectAsync(DateTimeOffset heldBefore, CancellationToken cancellationToken)
    {
        var count = 0;
        long bytes = 0;
        while (true)
        {
            var collected = await database.WriteAsync((c, t) => PostgresBlobLedger.Collect(c, t, heldBefore, CollectBatch,
                (key, ct) => c.ExecuteAsync("DELETE FROM blob_chunks WHERE blob_key = $1", t, ct, key), cancellationToken), cancellationToken);
            count += collected.Count;
            bytes += collected.Sum(b => b.Length);
            if (collected.Count < CollectBatch)
            {
                return new BlobSweep(count, bytes);
            }
        }
    }

    /// <summary>Nothing to clear: an interrupted write's transaction never committed, so its chunks never existed.</summary>
    public Task<BlobSweep> ClearPartialWritesAsync(CancellationToken cancellationToken) => Task.FromResult(BlobSweep.None);

    /// <summary>Reads a blob chunk by chunk, one short query each, so neither side holds it whole.</summary>
    private sealed class ChunkedReadStream(PostgresDatabase database, string key, long length) : Stream
    {
        private byte[] _chunk = [];
        private int _offset;
        private int _nextSeq;
        private long _position;

        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => length;

        public override long Position
        {
            get => _position;
            set => throw new NotSupportedException();
        }

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            if (_position >= length || buffer.Length == 0)
            {
                return 0;
            }
            if (_offset >= _chunk.Length)
            {
                await using var connection = await database.OpenAsync(cancellationToken);
                _chunk = await connection.ScalarAsync("SELECT data FROM blob_chunks WHERE blob_key = $1 AND seq = $2", null, cancellationToken, key, _nextSeq) as byte[]
                    ?? throw new BlobNotFoundException(key);
                _nextSeq++;
                _offset = 0;
            }
            var n = Math.Min(buffer.Length, _chunk.Length - _offset);
            _chunk.AsMemory(_offset, n).CopyTo(buffer);
            _offset += n;
            _position += n;
            return n;
        }

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override int Read(byte[] buffer, int offset, int count)
        {
            if (_position >= length || count == 0)
            {
                return 0;
            }
            if (_offset >= _chunk.Length)
            {
                using var connection = database.DataSource.OpenConnection();
                using var command = connection.Command("SELECT data FROM blob_chunks WHERE blob_key = $1 AND seq = $2", null, key, _nextSeq);
                _chunk = command.ExecuteScalar() as byte[] ?? throw new BlobNotFoundException(key);
                _nextSeq++;
                _offset = 0;
            }
            var n = Math.Min(count, _chunk.Length - _offset);
            _chunk.AsSpan(_offset, n).CopyTo(buffer.AsSpan(offset, n));
            _offset += n;
            _position += n;
            return n;
        }

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
