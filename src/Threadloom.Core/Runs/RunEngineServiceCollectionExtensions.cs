using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Threadloom.Core.Runs;

public static class RunEngineServiceCollectionExtensions
{
    /// <summary>
    /// Registers the run engine: <see cref="RunsOptions"/> (section <c>Runs</c>, validated at startup), the work signal,
    /// event bus and cancellation registry (in-process unless registered before), <see cref="RunLifecycle"/>, <see cref="RunCommands"/>, <see cref="RunExecutor"/> and the
    /// <see cref="RunWorker"/> hosted service, and a <see cref="Workers.LeaseHolder"/> unless the host registered one. Built-in tools are added as <see cref="IBuiltInTool"/> singletons.
    /// Needs the stores, <c>AddInference</c>, <c>TimeProvider</c> and <c>IIdGenerator</c>.
    /// </summary>
    public static IServiceCollection AddRunEngine(this IServiceCollection services)
    {
        services.AddOptions<RunsOptions>().BindConfiguration(RunsOptions.SectionName).ValidateDataAnnotations().ValidateOnStart();
        // The host registers the node's real identity first (a stable node id per data folder); this fallback can
        // recognise no earlier life, so its crashed runs wait for their leases to lapse.
        services.TryAddSingleton(_ => Workers.LeaseHolder.Ephemeral());
        // In-process defaults; a cluster's storage provider registers its own first (issue #12 §3).
        services.TryAddSingleton<Workers.IWorkSignal, Workers.LocalWorkSignal>();
        services.TryAddSingleton<IRunEventBus, LocalRunEventBus>();
        services.TryAddSingleton<RunCancellations>();
        services.TryAddSingleton<IRunCancellation>(sp => sp.GetRequiredService<RunCancellations>());
        services.TryAddSingleton<RunLifecycle>();
        services.TryAddSingleton<RunCommands>();
        services.TryAddSingleton<PromptBuilder>();
        services.TryAddSingleton<RunExecutor>();
        services.AddHostedService<RunWorker>();
        return services;
    }
}
