using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Threadloom.Core.Storage;
using Threadloom.Core.Storage.Blobs;

namespace Threadloom.Storage.Postgres;

public static class PostgresStorage
{
    /// <summary>
    /// Registers the PostgreSQL stores over <paramref name="connectionString"/>, the chunk index, and blobs in the
    /// database or in <paramref name="blobDirectory"/> (a folder every node shares, with its ledger in the database).
    /// </summary>
    public static IServiceCollection AddPostgresStorage(this IServiceCollection services, string connectionString, BlobLocation blobs, string blobDirectory)
    {
        services.AddSingleton(new PostgresDatabase(connectionString));
        services.AddSingleton<IMigrator, PostgresMigrator>();
        services.AddSingleton<IUnitOfWork, PostgresUnitOfWork>();
        services.AddSingleton<IAssistantStore, PostgresAssistantStore>();
        services.AddSingleton<IMessageStore, PostgresMessageStore>();
        services.AddSingleton<IThreadStore, PostgresThreadStore>();
        services.AddSingleton<IFileStore, PostgresFileStore>();
        services.AddSingleton<IProjectStore, PostgresProjectStore>();
        services.AddSingleton<IRunStepStore, PostgresRunStepStore>();
        services.AddSingleton<IRunStore, PostgresRunStore>();
        services.AddSingleton<PostgresVectorStoreStore>();
        services.AddSingleton<IVectorStoreStore>(sp => sp.GetRequiredService<PostgresVectorStoreStore>());
        services.AddSingleton<IIngestionJobQueue>(sp => sp.GetRequiredService<PostgresVectorStoreStore>());
        services.TryAddSingleton<IChunkIndex, PostgresChunkIndex>();
        services.AddSingleton<IBlobLedger, PostgresBlobLedger>();
        if (blobs == BlobLocation.Database)
        {
            services.TryAddSingleton<IBlobStore, PostgresDatabaseBlobStore>();
        }
        else
        {
            services.TryAddSingleton<IBlobStore>(sp => new LocalBlobStore(blobDirectory, sp.GetRequiredService<IBlobLedger>(), sp.GetRequiredService<TimeProvider>()));
        }
        return services;
    }
}
