using Microsoft.Extensions.Logging;
using Npgsql;
using Threadloom.Core.Storage;

namespace Threadloom.Storage.Postgres;

/// <summary>
/// Applies the embedded <c>Migrations/NNNN_*.sql</c> files in order, each in its own transaction, under a session
/// <c>pg_advisory_lock</c>: nodes starting at once take turns, and each finds the scripts the others applied.
/// </summary>
/// <remarks>
/// Design notes: the <c>vector</c> extension is checked first, so that a server without pgvector fails at startup with
/// a message that names the fix, not with a type error in the middle of a migration. The extension is created
/// <c>IF NOT EXISTS</c>, which needs the privilege to create it once; after that any role may start nodes.
/// </remarks>
public sealed partial class PostgresMigrator(PostgresDatabase database, ILogger<PostgresMigrator> logger) : IMigrator
{
    /// <summary>The advisory lock's key: "threadloom" as a number, the same for every node of every version.</summary>
    private const long LockKey = 0x7468_7265_6164_6c6d;

    public async Task MigrateAsync(CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        await connection.ExecuteAsync("SELECT pg_advisory_lock($1)", null, cancellationToken, LockKey);
        try
        {
            await EnsureVectorExtensionAsync(connection, cancellationToken);
            await connection.ExecuteAsync("CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY, applied_at BIGINT NOT NULL)", null, cancellationToken);
            var applied = (await connection.QueryAsync("SELECT name FROM schema_migrations", null, r => r.GetString(0), cancellationToken)).ToHashSet();
            foreach (var (name, sql) in Scripts())
            {
                if (applied.Contains(name))
                {
                    continue;
                }
                await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
                await connection.ExecuteAsync(sql, transaction, cancellationToken);
                await connection.ExecuteAsync("INSERT INTO schema_migrations (name, applied_at) VALUES ($1, $2)", transaction, cancellationToken,
                    name, DateTimeOffset.UtcNow.ToUnixTimeSeconds());
                await transaction.CommitAsync(cancellationToken);
                LogApplied(name);
            }
        }
        finally
        {
            await connection.ExecuteAsync("SELECT pg_advisory_unlock($1)", null, CancellationToken.None, LockKey);
        }
        // The vector type may be new to this data source: load its mapping before any store uses it.
        await connection.ReloadTypesAsync(cancellationToken);
    }

    private static async Task EnsureVectorExtensionAsync(NpgsqlConnection connection, CancellationToken cancellationToken)
    {
        if (await connection.ScalarAsync("SELECT 1 FROM pg_extension WHERE extname = 'vector'", null, cancellationToken) is not null)
        {
            return;
        }
        if (await connection.ScalarAsync("SELECT 1 FROM pg_available_extensions WHERE name = 'vector'", null, cancellationToken) is null)
        {
            throw new InvalidOperationException(
                "PostgreSQL has no 'vector' extension (pgvector), which Threadloom's file search needs. Install pgvector on the database " +
                "server (Debian/Ubuntu: the postgresql-NN-pgvector package, or build it from source as .ci/postgres.sh does; managed services: " +
                "enable the 'vector' extension), then start Threadloom again.");
        }
        try
        {
            await connection.ExecuteAsync("CREATE EXTENSION IF NOT EXISTS vector", null, cancellationToken);
        }
        catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.InsufficientPrivilege)
        {
            throw new InvalidOperationException(
                "pgvector is installed on the PostgreSQL server but not enabled in this database, and this role may not enable it. " +
                "Have a superuser run 'CREATE EXTENSION vector;' in the database once, then start Threadloom again.", e);
        }
    }

    internal static IEnumerable<(string Name, string Sql)> Scripts()
    {
        var assembly = typeof(PostgresMigrator).Assembly;
        const string prefix = "Threadloom.Storage.Postgres.Migrations.";
        foreach (var resource in assembly.GetManifestResourceNames().Where(n => n.StartsWith(prefix, StringComparison.Ordinal)).Order(StringComparer.Ordinal))
        {
            using var stream = assembly.GetManifestResourceStream(resource)!;
            using var reader = new StreamReader(stream);
            yield return (resource[prefix.Length..], reader.ReadToEnd());
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Applied PostgreSQL migration {Name}")]
    private partial void LogApplied(string name);
}
