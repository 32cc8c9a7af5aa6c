using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Threadloom.Core.Runs;
using Threadloom.Core.Tools.FileSearch;

namespace Threadloom.Core.Ingestion;

public static class VectorStoreEngineServiceCollectionExtensions
{
    /// <summary>
    /// Registers the ingestion job queue (<see cref="IngestionWorker"/>, the <see cref="Workers.IWorkSignal"/>,
    /// <see cref="IngestionWorkerOptions"/> bound to <c>IngestionWorker</c>) and the <c>file_search</c> built-in tool.
    /// Needs <c>AddFileSearchEngine</c>, an <c>IChunkIndex</c> and an <c>IVectorStoreStore</c>.
    /// </summary>
    public static IServiceCollection AddVectorStoreEngine(this IServiceCollection services)
    {
        services.AddOptions<IngestionWorkerOptions>().BindConfiguration(IngestionWorkerOptions.SectionName).ValidateDataAnnotations().ValidateOnStart();
        services.TryAddSingleton<Workers.IWorkSignal, Workers.LocalWorkSignal>();
        services.AddHostedService<IngestionWorker>();
        services.TryAddSingleton<FileSearchTool>();
        services.AddSingleton<IBuiltInTool>(sp => sp.GetRequiredService<FileSearchTool>());
        return services;
    }
}
