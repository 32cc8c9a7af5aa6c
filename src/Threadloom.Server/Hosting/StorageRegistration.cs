using Threadloom.Core.Storage;
using Threadloom.Core.Storage.Blobs;
using Threadloom.Storage.Postgres;
using Threadloom.Storage.Sqlite;

namespace Threadloom.Server.Hosting;

/// <summary>Picks the storage provider that <c>Storage:Provider</c> names: the one place the server chooses a database.</summary>
public static class StorageRegistration
{
    public static IServiceCollection AddStorage(this IServiceCollection services, IConfiguration configuration, string dataDirectory)
    {
        services.AddOptions<StorageOptions>().BindConfiguration(StorageOptions.SectionName).ValidateDataAnnotations().ValidateOnStart();
        var options = configuration.GetSection(StorageOptions.SectionName).Get<StorageOptions>() ?? new StorageOptions();
        var blobDirectory = string.IsNullOrWhiteSpace(options.BlobDirectory) ? null : Path.GetFullPath(options.BlobDirectory);
        switch (options.Provider)
        {
            case StorageProvider.Postgres:
                services.AddPostgresStorage(options.ConnectionString ?? "", options.Blobs, blobDirectory ?? Path.Combine(dataDirectory, "blobs"));
                break;
            default:
                services.AddSqliteStorage(dataDirectory, blobDirectory);
                break;
        }
        services.AddSingleton<BlobCollector>();
        services.AddHostedService(sp => sp.GetRequiredService<BlobCollector>());
        return services;
    }
}
