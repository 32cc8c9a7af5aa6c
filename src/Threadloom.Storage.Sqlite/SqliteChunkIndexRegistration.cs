using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Threadloom.Core.Tools.FileSearch;

namespace Threadloom.Storage.Sqlite;

public static class SqliteChunkIndexRegistration
{
    /// <summary>Registers <see cref="SqliteChunkIndex"/> as the <see cref="IChunkIndex"/>; needs <c>AddSqliteStorage</c> first.</summary>
    public static IServiceCollection AddSqliteChunkIndex(this IServiceCollection services)
    {
        services.TryAddSingleton<SqliteChunkIndex>();
        services.TryAddSingleton<IChunkIndex>(sp => sp.GetRequiredService<SqliteChunkIndex>());
        return services;
    }
}
