using Npgsql;

namespace Threadloom.Storage.Postgres;

/// <summary>
/// One PostgreSQL database, through one <see cref="NpgsqlDataSource"/> (its pool) with the pgvector type mapping.
/// Writes are short transactions; every statement that must be atomic across nodes is one statement.
/// </summary>
public sealed class PostgresDatabase : IAsyncDisposable
{
    public PostgresDatabase(string connectionString)
    {
        var builder = new NpgsqlDataSourceBuilder(connectionString);
        builder.UseVector();
        DataSource = builder.Build();
    }

    public NpgsqlDataSource DataSource { get; }

    public ValueTask<NpgsqlConnection> OpenAsync(CancellationToken cancellationToken) => DataSource.OpenConnectionAsync(cancellationToken);

    /// <summary>Runs <paramref name="work"/> in a transaction (read committed) and commits it; rolls back if it throws.</summary>
    public async Task<T> WriteAsync<T>(Func<NpgsqlConnection, NpgsqlTransaction, Task<T>> work, CancellationToken cancellationToken)
    {
        await using var connection = await OpenAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        var result = await work(connection, transaction);
        await transaction.CommitAsync(cancellationToken);
        return result;
    }

    public ValueTask DisposeAsync() => DataSource.DisposeAsync();
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
