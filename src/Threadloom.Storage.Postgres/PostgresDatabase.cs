using Npgsql;

namespace Threadloom.Storage.Postgres;

/// <summary>
/// One PostgreSQL database, through one <see cref="NpgsqlDataSource"/> (its pool) with the pgvector type mapping.
/// Writes are short transactions; every statement that must be atomic across nodes is one statement.
/// </summary>
/// <remarks>
/// A run costs a few dozen short statements (docs/benchmarks.md), so per-statement overhead is what bounds a node on
/// PostgreSQL. Unless the connection string says otherwise, the pool therefore keeps sessions as they are between uses
/// (<c>No Reset On Close</c>: no <c>DISCARD ALL</c>, one statement and one transaction fewer on every use) and
/// prepares the statements a connection runs repeatedly (<c>Max Auto Prepare</c>), so the server parses and plans
/// them once. Nothing that uses the pool leaves session state behind: <c>SET LOCAL</c> only, advisory locks released
/// in <c>finally</c>; the <c>LISTEN</c> connection comes from <see cref="OpenUnpooledAsync"/>.
/// </remarks>
public sealed class PostgresDatabase : IAsyncDisposable
{
    private readonly NpgsqlDataSource _unpooled;

    public PostgresDatabase(string connectionString)
    {
        var given = new System.Data.Common.DbConnectionStringBuilder { ConnectionString = connectionString };
        var builder = new NpgsqlDataSourceBuilder(connectionString);
        if (!given.ContainsKey("No Reset On Close") && !given.ContainsKey("NoResetOnClose"))
        {
            builder.ConnectionStringBuilder.NoResetOnClose = true;
        }
        if (!given.ContainsKey("Max Auto Prepare") && !given.ContainsKey("MaxAutoPrepare"))
        {
            builder.ConnectionStringBuilder.MaxAutoPrepare = 64;
            builder.ConnectionStringBuilder.AutoPrepareMinUsages = 2;
        }
        builder.UseVector();
        DataSource = builder.Build();
        _unpooled = NpgsqlDataSource.Create(new NpgsqlConnectionStringBuilder(connectionString) { Pooling = false });
    }

    public NpgsqlDataSource DataSource { get; }

    public ValueTask<NpgsqlConnection> OpenAsync(CancellationToken cancellationToken) => DataSource.OpenConnectionAsync(cancellationToken);

    /// <summary>A connection of its own, closed for good when disposed: for session state (<c>LISTEN</c>) that must not return to the pool.</summary>
    public ValueTask<NpgsqlConnection> OpenUnpooledAsync(CancellationToken cancellationToken) => _unpooled.OpenConnectionAsync(cancellationToken);

    /// <summary>
    /// Runs one statement that is atomic on its own (an <c>UPDATE … RETURNING</c> with its <c>FOR UPDATE SKIP LOCKED</c>
    /// subquery) in autocommit: no <c>BEGIN</c>, and no <c>COMMIT</c> round trip of its own (issue #12).
    /// </summary>
    public async Task<T> WriteOneStatementAsync<T>(Func<NpgsqlConnection, Task<T>> statement, CancellationToken cancellationToken)
    {
        await using var connection = await OpenAsync(cancellationToken);
        return await statement(connection);
    }

    /// <summary>Runs <paramref name="work"/> in a transaction (read committed) and commits it; rolls back if it throws.</summary>
    public async Task<T> WriteAsync<T>(Func<NpgsqlConnection, NpgsqlTransaction, Task<T>> work, CancellationToken cancellationToken)
    {
        await using var connection = await OpenAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        var result = await work(connection, transaction);
        await transaction.CommitAsync(cancellationToken);
        return result;
    }

    public async ValueTask DisposeAsync()
    {
        await _unpooled.DisposeAsync();
        await DataSource.DisposeAsync();
    }
}

/// <summary>Small ADO.NET helpers; they stay inside this project. Parameters are positional (<c>$1</c>, <c>$2</c>, …).</summary>
internal static class PgCommands
{
    public static NpgsqlCommand Command(this NpgsqlConnection connection, string sql, NpgsqlTransaction? transaction, params object?[] parameters)
    {
        var command = new NpgsqlCommand(sql, connection, transaction);
        foreach (var value in parameters)
        {
            command.Parameters.Add(value is NpgsqlParameter p ? p : new NpgsqlParameter { Value = value ?? DBNull.Value });
        }
        return command;
    }

    public static async Task<int> ExecuteAsync(this NpgsqlConnection connection, string sql, NpgsqlTransaction? transaction, CancellationToken cancellationToken, params object?[] parameters)
    {
        await using var command = connection.Command(sql, transaction, parameters);
        return await command.ExecuteNonQueryAsync(cancellationToken);
    }

    public static async Task<object?> ScalarAsync(this NpgsqlConnection connection, string sql, NpgsqlTransaction? transaction, CancellationToken cancellationToken, params object?[] parameters)
    {
        await using var command = connection.Command(sql, transaction, parameters);
        var value = await command.ExecuteScalarAsync(cancellationToken);
        return value is DBNull ? null : value;
    }

    public static async Task<List<T>> QueryAsync<T>(this NpgsqlConnection connection, string sql, NpgsqlTransaction? transaction, Func<NpgsqlDataReader, T> map, CancellationToken cancellationToken, params object?[] parameters)
    {
        await using var command = connection.Command(sql, transaction, parameters);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var list = new List<T>();
        while (await reader.ReadAsync(cancellationToken))
        {
            list.Add(map(reader));
        }
        return list;
    }

    /// <summary>A text array parameter (for <c>= ANY($n)</c>).</summary>
    public static NpgsqlParameter TextArray(IEnumerable<string> values) =>
        new() { Value = values.ToArray(), NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Array | NpgsqlTypes.NpgsqlDbType.Text };

    /// <summary>PostgreSQL text cannot hold U+0000; user text keeps every other character.</summary>
    public static string NoNul(string text) => text.Contains('\0', StringComparison.Ordinal) ? text.Replace('\0', ' ') : text;
}
