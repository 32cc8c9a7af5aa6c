using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Threadloom.Core.Storage;

namespace Threadloom.Storage.Sqlite;

public static class SqliteStorage
{
    /// <summary>Registers the SQLite stores over <c>{dataDir}/threadloom.db</c> and the blob folder <c>{dataDir}/blobs</c>.</summary>
    public static IServiceCollection AddSqliteStorage(this IServiceCollection services, string dataDirectory)
    {
        services.AddSingleton(new SqliteDatabase(System.IO.Path.Combine(dataDirectory, "threadloom.db")));
        services.AddSingleton<IMigrator, SqliteMigrator>();
        services.AddSingleton<IAssistantStore, SqliteAssistantStore>();
        services.AddSingleton<SqliteMessageStore>();
        services.AddSingleton<IMessageStore>(sp => sp.GetRequiredService<SqliteMessageStore>());
        services.AddSingleton<IThreadStore, SqliteThreadStore>();
        services.AddSingleton<SqliteFileStore>();
        services.AddSingleton<IFileStore>(sp => sp.GetRequiredService<SqliteFileStore>());
        services.AddSingleton<IUploadStore, SqliteUploadStore>();
        services.TryAddSingleton<IUploadPartStore>(new LocalUploadPartStore(System.IO.Path.Combine(dataDirectory, "uploads")));
        services.AddSingleton<IProjectStore, SqliteProjectStore>();
        services.AddSingleton<SqliteRunStepStore>();
        services.AddSingleton<IRunStepStore>(sp => sp.GetRequiredService<SqliteRunStepStore>());
        services.AddSingleton<IRunStore, SqliteRunStore>();
        services.AddSingleton<IVectorStoreStore, SqliteVectorStoreStore>();
        services.TryAddSingleton<IBlobStore>(new LocalBlobStore(System.IO.Path.Combine(dataDirectory, "blobs")));
        return services;
    }
}
