using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Threadloom.Core.Tools.CodeInterpreter;

namespace Threadloom.Sandbox;

public static class SandboxServiceCollectionExtensions
{
    /// <summary>Registers the bubblewrap sandbox as <see cref="ICodeSandbox"/>, its options and its pool/reaper service.</summary>
    public static IServiceCollection AddCodeSandbox(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<CodeInterpreterOptions>()
            .Bind(configuration.GetSection(CodeInterpreterOptions.SectionName))
            .ValidateDataAnnotations()
            .ValidateOnStart();
        services.AddOptions<CodeInterpreterToolOptions>()
            .Bind(configuration.GetSection(CodeInterpreterToolOptions.SectionName))
            .ValidateDataAnnotations()
            .ValidateOnStart();
        services.TryAddSingleton(TimeProvider.System);
        services.AddSingleton<BubblewrapSandbox>();
        services.AddSingleton<ICodeSandbox>(sp => sp.GetRequiredService<BubblewrapSandbox>());
        services.AddHostedService<SandboxHostedService>();
        return services;
    }
}
