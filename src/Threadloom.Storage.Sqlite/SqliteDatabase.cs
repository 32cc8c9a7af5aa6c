using System.Threading.Channels;
using Microsoft.Data.Sqlite;

namespace Threadloom.Storage.Sqlite;

/// <summary>
/// One SQLite file. Reads open pooled connections. Writes go through <see cref="WriteAsync{T}"/> to a single writer
/// connection that commits them in groups.
/// </summary>
/// <remarks>Design notes: SQLite allows one writer at a time, so concurrent writers would only queue on the file lock
/// (or spin on SQLITE_BUSY). Queueing them in process instead lets one transaction carry every write that arrived while
/// the previous commit ran ("group commit"): each write runs inside its own savepoint, so a failing write rolls back
/// alone, and no caller is answered before the transaction holding its write has committed.</remarks>
public sealed class SqliteDatabase : IAsyncDisposable
{
    private const int MaxGroup = 256;
    private readonly string _connectionString;
    private readonly Channel<IWrite> _writes = Channel.CreateUnbounded<IWrite>(new UnboundedChannelOptions { SingleReader = true });
    private readonly Task _writer;

    public SqliteDatabase(string path)
    {
        Path = path;
        _connectionString = new SqliteConnectionStringBuilder
        {
            DataSource = path,
            Mode = SqliteOpenMode.ReadWriteCreate,
            Cache = SqliteCacheMode.Private,
            Pooling = true,
            DefaultTimeout = 30,
        }.ToString();
        _writer = Task.Run(WriteLoopAsync);
    }

    public string Path { get; }

    /// <summary>Opens a (pooled) connection for reading. WAL mode is a property of the file, set by the migrator.</summary>
    public async Task<SqliteConnection> OpenAsync(CancellationToken cancellationToken)
    {
        var connection = new SqliteConnection(_connectionString);
        await connection.OpenAsync(cancellationToken);
        return connection;
    }

    /// <summary>Runs <paramref name="work"/> inside a write transaction, possibly shared with other writes; returns once committed.</summary>
    public Task<T> WriteAsync<T>(Func<SqliteConnection, SqliteTransaction, Task<T>> work, CancellationToken cancellationToken)
    {
        var write = new Write<T>(work, cancellationToken);
        ObjectDisposedException.ThrowIf(!_writes.Writer.TryWrite(write), this);
        return write.Completion.Task;
    }

    private async Task WriteLoopAsync()
    {
        // The writer connection is opened on the first write, after the migrator has created the file.
        if (!await _writes.Reader.WaitToReadAsync())
        {
            return;
        }
        await using var connection = await OpenAsync(CancellationToken.None);
        await using (var pragma = connection.CreateCommand())
        {
            pragma.CommandText = "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;";
            await pragma.ExecuteNonQueryAsync();
        }
        var group = new List<IWrite>(MaxGroup);
        while (await _writes.Reader.WaitToReadAsync())
        {
            while (group.Count < MaxGroup && _writes.Reader.TryRead(out var next))
            {
                group.Add(next);
            }
            try
            {
                await using var transaction = (SqliteTransaction)await connection.BeginTransactionAsync();
                for (var i = 0; i < group.Count; i++)
                {
                    var savepoint = "w" + i;
                    await transaction.SaveAsync(savepoint);
                    if (!await group[i].RunAsync(connection, transaction))
                    {
                        await transaction.RollbackAsync(savepoint);
                    }
                    await transaction.ReleaseAsync(savepoint);
                }
                await transaction.CommitAsync();
                group.ForEach(w => w.Complete());
            }
            catch (Exception e)
            {
                group.ForEach(w => w.Fail(e));
            }
            group.Clear();
        }
    }

    public async ValueTask DisposeAsync()
    {
        _writes.Writer.TryComplete();
        await _writer;
    }

    private interface IWrite
    {
        /// <summary>Runs the write; false when it failed or was cancelled, and its savepoint must be rolled back.</summary>
        Task<bool> RunAsync(SqliteConnection connection, SqliteTransaction transaction);

        void Complete();

        void Fail(Exception exception);
    }

    private sealed class Write<T>(Func<SqliteConnection, SqliteTransaction, Task<T>> work, CancellationToken cancellationToken) : IWrite
    {
        private T? _result;
        private Exception? _error;

        public TaskCompletionSource<T> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public async Task<bool> RunAsync(SqliteConnection connection, SqliteTransaction transaction)
        {
            try
            {
                cancellationToken.ThrowIfCancellationRequested();
                _result = await work(connection, transaction);
                return true;
            }
            catch (Exception e)
            {
                _error = e;
                return false;
            }
        }

        public void Complete()
        {
            if (_error is not null)
            {
                Completion.TrySetException(_error);
            }
            else
            {
                Completion.TrySetResult(_result!);
            }
        }

        public void Fail(Exception exception) => Completion.TrySetException(_error ?? exception);
    }
}
