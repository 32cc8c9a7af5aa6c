using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using Threadloom.Core.Storage;
using Threadloom.Core.Storage.Blobs;

namespace Threadloom.Storage.Sqlite;

public static class SqliteStorage
{
    /// <summary>
    /// Registers the SQLite stores over <c>{dataDir}/threadloom.db</c>, the chunk index, and the blob folder
    /// (<paramref name="blobDirectory"/>, default <c>{dataDir}/blobs</c>) with its ledger in the same database.
    /// </summary>
    public static IServiceCollection AddSqliteStorage(this IServiceCollection services, string dataDirectory, string? blobDirectory = null)
    {
        services.AddSingleton(new SqliteDatabase(System.IO.Path.Combine(dataDirectory, "threadloom.db")));
        services.AddSingleton<IMigrator, SqliteMigrator>();
        services.AddSingleton<IUnitOfWork, SqliteUnitOfWork>();
        services.AddSingleton<IAssistantStore, SqliteAssistantStore>();
        services.AddSingleton<IMessageStore, SqliteMessageStore>();
        services.AddSingleton<IThreadStore, SqliteThreadStore>();
        services.AddSingleton<SqliteFileStore>();
        services.AddSingleton<IFileStore>(sp => sp.GetRequiredService<SqliteFileStore>());
        services.AddSingleton<IUploadStore, SqliteUploadStore>();
        services.TryAddSingleton<IUploadPartStore>(new LocalUploadPartStore(System.IO.Path.Combine(dataDirectory, "uploads")));
        services.AddSingleton<IProjectStore, SqliteProjectStore>();
        services.AddSingleton<IRunStepStore, SqliteRunStepStore>();
        services.AddSingleton<IRunStore, SqliteRunStore>();
        services.AddSingleton<IRunPromptStore, SqliteRunPromptStore>();
        services.AddSingleton<SqliteVectorStoreStore>();
        services.AddSingleton<IVectorStoreStore>(sp => sp.GetRequiredService<SqliteVectorStoreStore>());
        services.AddSingleton<IIngestionJobQueue>(sp => sp.GetRequiredService<SqliteVectorStoreStore>());
        services.AddOptions<SqliteChunkIndexOptions>().BindConfiguration(SqliteChunkIndexOptions.SectionName).ValidateDataAnnotations().ValidateOnStart();
        services.TryAddSingleton<SqliteChunkIndex>(sp => new SqliteChunkIndex(sp.GetRequiredService<SqliteDatabase>(), sp.GetRequiredService<IOptions<SqliteChunkIndexOptions>>()));
        services.TryAddSingleton<IChunkIndex>(sp => sp.GetRequiredService<SqliteChunkIndex>());
        services.AddSingleton<IBlobLedger, SqliteBlobLedger>();
        var blobs = blobDirectory ?? System.IO.Path.Combine(dataDirectory, "blobs");
        services.TryAddSingleton<IBlobStore>(sp => new LocalBlobStore(blobs, sp.GetRequiredService<IBlobLedger>(), sp.GetRequiredService<TimeProvider>()));
        return services;
    }
}
