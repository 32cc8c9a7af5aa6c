using Threadloom.Core.Storage;

namespace Threadloom.Storage.Sqlite;

/// <summary>Applies the embedded <c>Migrations/NNNN_*.sql</c> files in order, under <c>BEGIN EXCLUSIVE</c>.</summary>
public sealed class SqliteMigrator(SqliteDatabase database) : IMigrator
{
    public async Task MigrateAsync(CancellationToken cancellationToken)
    {
        var directory = System.IO.Path.GetDirectoryName(database.Path);
        if (!string.IsNullOrEmpty(directory))
        {
            Directory.CreateDirectory(directory);
        }
        await using var connection = await database.OpenAsync(cancellationToken);
        // WAL is a property of the file: set once here, it holds for every later connection.
        await connection.ExecuteAsync("PRAGMA journal_mode=WAL", null, cancellationToken);
        await connection.ExecuteAsync("BEGIN EXCLUSIVE", null, cancellationToken);
        try
        {
            await connection.ExecuteAsync("CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY, applied_at INTEGER NOT NULL)", null, cancellationToken);
            var applied = (await connection.QueryAsync("SELECT name FROM schema_migrations", r => r.GetString(0), cancellationToken)).ToHashSet();
            foreach (var (name, sql) in Scripts())
            {
                if (applied.Contains(name))
                {
                    continue;
                }
                await connection.ExecuteAsync(sql, null, cancellationToken);
                await connection.ExecuteAsync("INSERT INTO schema_migrations (name, applied_at) VALUES ($n, $t)", null, cancellationToken,
                    ("$n", name), ("$t", DateTimeOffset.UtcNow.ToUnixTimeSeconds()));
            }
            await connection.ExecuteAsync("COMMIT", null, cancellationToken);
        }
        catch
        {
            await connection.ExecuteAsync("ROLLBACK", null, CancellationToken.None);
            throw;
        }
    }

    internal static IEnumerable<(string Name, string Sql)> Scripts()
    {
        var assembly = typeof(SqliteMigrator).Assembly;
        const string prefix = "Threadloom.Storage.Sqlite.Migrations.";
        foreach (var resource in assembly.GetManifestResourceNames().Where(n => n.StartsWith(prefix, StringComparison.Ordinal)).Order(StringComparer.Ordinal))
        {
            using var stream = assembly.GetManifestResourceStream(resource)!;
            using var reader = new StreamReader(stream);
            yield return (resource[prefix.Length..], reader.ReadToEnd());
        }
    }
}
