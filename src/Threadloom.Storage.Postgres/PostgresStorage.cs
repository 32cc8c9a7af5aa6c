using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Threadloom.Core.Runs;
using Threadloom.Core.Storage;
using Threadloom.Core.Storage.Blobs;
using Threadloom.Core.Tools.CodeInterpreter;
using Threadloom.Core.Workers;

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
        services.AddSingleton<PostgresFileStore>();
        services.AddSingleton<IFileStore>(sp => sp.GetRequiredService<PostgresFileStore>());
        services.AddSingleton<IUploadStore, PostgresUploadStore>();
        // COMPAT (cluster): staged parts live in a folder beside the blob folder, so in a cluster every node must
        // mount it (as with folder blobs); a part sent to a node that does not see the folder cannot be completed.
        services.TryAddSingleton<IUploadPartStore>(new LocalUploadPartStore(Path.Combine(Path.GetDirectoryName(Path.GetFullPath(blobDirectory)) ?? blobDirectory, "uploads")));
        services.AddSingleton<IProjectStore, PostgresProjectStore>();
        services.AddSingleton<IRunStepStore, PostgresRunStepStore>();
        services.AddSingleton<IRunStore, PostgresRunStore>();
        services.AddSingleton<IRunPromptStore, PostgresRunPromptStore>();
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
        AddCluster(services);
        return services;
    }

    /// <summary>
    /// The pieces that let nodes share the work (issue #12 §3): run events through <c>run_events</c>, and the work
    /// signal, run cancellation and code session ends through <c>LISTEN/NOTIFY</c>. Registered before the run engine's in-process defaults.
    /// </summary>
    private static void AddCluster(IServiceCollection services)
    {
        services.AddSingleton<PostgresNotifications>();
        services.AddHostedService(sp => sp.GetRequiredService<PostgresNotifications>());
        services.AddSingleton<PostgresRunEventBus>();
        services.AddSingleton<IRunEventBus>(sp => sp.GetRequiredService<PostgresRunEventBus>());
        services.AddHostedService(sp => sp.GetRequiredService<PostgresRunEventBus>());
        services.AddSingleton<IWorkSignal, PostgresWorkSignal>();
        services.TryAddSingleton<RunCancellations>();
        services.AddSingleton<IRunCancellation, PostgresRunCancellation>();
        services.AddSingleton<PostgresCodeSessionCloser>();
        services.AddSingleton<ICodeSessionCloser>(sp => sp.GetRequiredService<PostgresCodeSessionCloser>());
        services.AddHostedService(sp => sp.GetRequiredService<PostgresCodeSessionCloser>());
    }
}
