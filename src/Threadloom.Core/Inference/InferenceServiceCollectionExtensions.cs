using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace Threadloom.Core.Inference;

public static class InferenceServiceCollectionExtensions
{
    /// <summary>
    /// Registers <see cref="InferenceOptions"/> (section <c>Inference</c>, validated at startup), the
    /// <c>OPENAI_BASE_URL</c>/<c>OPENAI_API_KEY</c> fallback read from <paramref name="configuration"/>,
    /// <see cref="IModelRouter"/> and <see cref="IModelClient"/> (singletons), and <see cref="TimeProvider.System"/>
    /// unless one is registered.
    /// </summary>
    public static IServiceCollection AddInference(this IServiceCollection services, IConfiguration configuration)
    {
        services.TryAddSingleton(configuration);
        services.TryAddSingleton(TimeProvider.System);
        services.AddOptions<InferenceOptions>()
            .BindConfiguration(InferenceOptions.SectionName)
            .ValidateDataAnnotations()
            .ValidateOnStart();
        services.AddSingleton<IPostConfigureOptions<InferenceOptions>>(new InferenceEnvironmentFallback(configuration));
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<InferenceOptions>, InferenceOptionsValidator>());
        services.TryAddSingleton<IModelRouter, ModelRouter>();
        services.TryAddSingleton<UpstreamClientOptions>();
        services.TryAddSingleton<ChatClientFactory>();
        services.TryAddSingleton<IModelClient, ModelClient>();
        services.TryAddSingleton<IModelCatalog, ModelCatalog>();
        return services;
    }
}
