using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;
using Threadloom.Core.Domain;
using Threadloom.Core.Storage;
using Threadloom.Core.Storage.Blobs;
using Threadloom.Storage.Postgres;
using Threadloom.Storage.Sqlite;

namespace Threadloom.Storage.Tests.Contract;

/// <summary>Every store of one provider, resolved from the provider's real registration.</summary>
public sealed record StoreSet(
    IAssistantStore Assistants, IThreadStore Threads, IMessageStore Messages, IFileStore Files, IProjectStore Projects,
    IRunStore Runs, IRunStepStore Steps, IVectorStoreStore VectorStores, IIngestionJobQueue Jobs, IChunkIndex ChunkIndex,
    IBlobStore Blobs, IUnitOfWork UnitOfWork)
{
    public static StoreSet From(IServiceProvider services) => new(
        services.GetRequiredService<IAssistantStore>(), services.GetRequiredService<IThreadStore>(), services.GetRequiredService<IMessageStore>(),
        services.GetRequiredService<IFileStore>(), services.GetRequiredService<IProjectStore>(), services.GetRequiredService<IRunStore>(),
        services.GetRequiredService<IRunStepStore>(), services.GetRequiredService<IVectorStoreStore>(), services.GetRequiredService<IIngestionJobQueue>(),
        services.GetRequiredService<IChunkIndex>(), services.GetRequiredService<IBlobStore>(), services.GetRequiredService<IUnitOfWork>());
}

/// <summary>A fresh, migrated database of one provider, deleted on dispose.</summary>
public sealed class TestStorage(ServiceProvider services, Func<IServiceProvider> newNode, Func<ValueTask> cleanUp, string blobDirectory) : IAsyncDisposable
{
    public StoreSet Stores { get; } = StoreSet.From(services);

    public IServiceProvider Services => services;

    /// <summary>The folder blob bytes go to (when the provider keeps them in a folder).</summary>
    public string BlobDirectory => blobDirectory;

    /// <summary>Another node on the same database: its own services (and migrator), not yet migrated.</summary>
    public IServiceProvider NewNode() => newNode();

    public async ValueTask DisposeAsync()
    {
        await services.DisposeAsync();
        await cleanUp();
    }

    internal static ServiceCollection BaseServices()
    {
        var services = new ServiceCollection();
        services.AddSingleton(TimeProvider.System);
        services.AddSingleton<IIdGenerator, RandomIdGenerator>();
        services.AddSingleton<ILoggerFactory>(NullLoggerFactory.Instance);
        services.AddSingleton(typeof(ILogger<>), typeof(NullLogger<>));
        services.AddOptions();
        services.AddSingleton<Microsoft.Extensions.Configuration.IConfiguration>(new Microsoft.Extensions.Configuration.ConfigurationBuilder().Build());
        return services;
    }
}

/// <summary>A storage provider under test. <see cref="Unavailable"/> says why its tests are skipped, when they are.</summary>
public interface ITestStorageProvider
{
    string? Unavailable { get; }

    /// <summary>A fresh database; migrated unless <paramref name="migrate"/> is false.</summary>
    Task<TestStorage> CreateAsync(bool migrate = true);
}

public sealed class SqliteProvider : ITestStorageProvider
{
    public string? Unavailable => null;

    public async Task<TestStorage> CreateAsync(bool migrate = true)
    {
        var dir = Path.Combine(Path.GetTempPath(), "threadloom-contract", Guid.NewGuid().ToString("N"));
        ServiceProvider Build()
        {
            var services = TestStorage.BaseServices();
            services.AddSqliteStorage(dir);
            return services.BuildServiceProvider();
        }
        var provider = Build();
        if (migrate)
        {
            await provider.GetRequiredService<IMigrator>().MigrateAsync(CancellationToken.None);
        }
        var nodes = new List<ServiceProvider>();
        return new TestStorage(provider, () => { var node = Build(); nodes.Add(node); return node; }, async () =>
        {
            foreach (var node in nodes)
            {
                await node.DisposeAsync();
            }
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            Directory.Delete(dir, recursive: true);
        }, Path.Combine(dir, "blobs"));
    }
}

/// <summary>
/// PostgreSQL at <c>THREADLOOM_TEST_POSTGRES</c> (set by <c>.ci/run</c>). Each test gets its own schema. With
/// <c>CI=true</c> and no connection string the tests fail instead of skipping: a skipped PostgreSQL suite counts as a
/// failure in CI.
/// </summary>
public class PostgresProvider : ITestStorageProvider
{
    public const string Variable = "THREADLOOM_TEST_POSTGRES";
    private static readonly SemaphoreSlim ExtensionOnce = new(1, 1);
    private static bool _extensionReady;

    public static string? ConnectionString => Environment.GetEnvironmentVariable(Variable) is { Length: > 0 } value ? value : null;

    public string? Unavailable =>
        ConnectionString is not null ? null
        : string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase)
            ? throw new InvalidOperationException($"CI=true but {Variable} is not set: the PostgreSQL contract suite must run in CI (.ci/run starts a cluster).")
            : $"PostgreSQL tests skipped: set {Variable} (`eval \"$(.ci/postgres.sh | tail -1)\"`).";

    /// <summary>Whether blobs go to the database (chunked bytea) rather than a folder.</summary>
    protected virtual BlobLocation Blobs => BlobLocation.Folder;

    public async Task<TestStorage> CreateAsync(bool migrate = true)
    {
        var admin = ConnectionString!;
        await EnsureExtensionAsync(admin);
        var schema = "t_" + Guid.NewGuid().ToString("N")[..20];
        await using (var connection = new NpgsqlConnection(admin))
        {
            await connection.OpenAsync();
            await using var command = new NpgsqlCommand($"CREATE SCHEMA {schema}", connection);
            await command.ExecuteNonQueryAsync();
        }
        var connectionString = new NpgsqlConnectionStringBuilder(admin) { SearchPath = $"{schema},public", MaxPoolSize = 20 }.ToString();
        var dir = Path.Combine(Path.GetTempPath(), "threadloom-contract", Guid.NewGuid().ToString("N"));
        var nodes = new List<ServiceProvider>();
        ServiceProvider Build()
        {
            var services = TestStorage.BaseServices();
            services.AddPostgresStorage(connectionString, Blobs, Path.Combine(dir, "blobs"));
            return services.BuildServiceProvider();
        }
        var provider = Build();
        if (migrate)
        {
            await provider.GetRequiredService<IMigrator>().MigrateAsync(CancellationToken.None);
        }
        return new TestStorage(provider, () => { var node = Build(); nodes.Add(node); return node; }, async () =>
        {
            foreach (var node in nodes)
            {
                await node.DisposeAsync();
            }
            NpgsqlConnection.ClearAllPools();
            await using (var connection = new NpgsqlConnection(admin))
            {
                await connection.OpenAsync();
                await using var command = new NpgsqlCommand($"DROP SCHEMA {schema} CASCADE", connection);
                await command.ExecuteNonQueryAsync();
            }
            if (Directory.Exists(dir))
            {
                Directory.Delete(dir, recursive: true);
            }
        }, Path.Combine(dir, "blobs"));
    }

    /// <summary>The extension lives in <c>public</c>, created once, so per-test schemas find the <c>vector</c> type.</summary>
    private static async Task EnsureExtensionAsync(string admin)
    {
        await ExtensionOnce.WaitAsync();
        try
        {
            if (_extensionReady)
            {
                return;
            }
            await using var connection = new NpgsqlConnection(admin);
            await connection.OpenAsync();
            await using var command = new NpgsqlCommand("SELECT pg_advisory_lock(4242); CREATE EXTENSION IF NOT EXISTS vector WITH SCHEMA public; SELECT pg_advisory_unlock(4242);", connection);
            await command.ExecuteNonQueryAsync();
            _extensionReady = true;
        }
        finally
        {
            ExtensionOnce.Release();
        }
    }
}

/// <summary>PostgreSQL with blobs in the database (chunked <c>bytea</c>).</summary>
public sealed class PostgresDatabaseBlobsProvider : PostgresProvider
{
    protected override BlobLocation Blobs => BlobLocation.Database;
}

/// <summary>
/// The base of every contract class: a fresh database per test. A provider that is not available skips each test
/// (through <see cref="Stores"/>), except in CI, where it fails.
/// </summary>
public abstract class ContractTests<TProvider> : IAsyncLifetime where TProvider : ITestStorageProvider, new()
{
    private TestStorage? _storage;
    private string? _unavailable;

    protected TestStorage Storage
    {
        get
        {
            Skip.If(_unavailable is not null, _unavailable);
            return _storage!;
        }
    }

    protected StoreSet Stores => Storage.Stores;

    public async Task InitializeAsync()
    {
        var provider = new TProvider();
        _unavailable = provider.Unavailable;
        if (_unavailable is null)
        {
            _storage = await provider.CreateAsync();
        }
    }

    public async Task DisposeAsync()
    {
        if (_storage is not null)
        {
            await _storage.DisposeAsync();
        }
    }
}
