using System.ClientModel;
using System.ClientModel.Primitives;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using OpenAI;

namespace Threadloom.Core.Inference;

/// <summary>What an OpenAI SDK client of one provider and upstream model is built from.</summary>
internal sealed record UpstreamClientSetup(ApiKeyCredential Credential, OpenAIClientOptions Options);

/// <summary>
/// Builds the OpenAI SDK client options for one configured provider: endpoint, retry policy, network timeout and, for
/// Azure, the deployment policy. Chat and embedding clients both come from here, so a provider behaves the same way
/// whichever API is called.
/// </summary>
/// <remarks>
/// Design notes: both provider types go through the OpenAI SDK. Azure deployments are addressed by pointing the
/// endpoint at <c>{endpoint}/openai/deployments/{deployment}</c> and adding <see cref="AzureDeploymentPolicy"/>
/// (api-version query, api-key header). That avoids a second, beta SDK (Azure.AI.OpenAI) for a URL shape and a
/// header; Entra ID auth is not supported yet.
/// </remarks>
internal sealed class UpstreamClientOptions(
    IOptions<InferenceOptions> options,
    TimeProvider timeProvider,
    ILoggerFactory loggerFactory)
{
    internal const string AzureDefaultApiVersion = "2024-10-21";
    private const string PlaceholderKey = "unused";

    private readonly ILogger _logger = loggerFactory.CreateLogger("Threadloom.Core.Inference.Upstream");

    /// <param name="providerName">A key of <see cref="InferenceOptions.Providers"/>.</param>
    /// <param name="upstreamModel">Model (openai) or deployment (azure) name; Azure puts it in the URL.</param>
    public UpstreamClientSetup Create(string providerName, string upstreamModel)
    {
        var inference = options.Value;
        var provider = inference.Providers[providerName];
        var clientOptions = new OpenAIClientOptions
        {
            RetryPolicy = new UpstreamRetryPolicy(
                inference.MaxRetries, inference.RetryBaseDelay, inference.MaxRetryDelay, providerName, timeProvider, _logger),
            NetworkTimeout = inference.RequestTimeout,
        };
        var key = string.IsNullOrEmpty(provider.ApiKey) ? PlaceholderKey : provider.ApiKey;
        if (string.Equals(provider.Type, ModelProviderTypes.Azure, StringComparison.OrdinalIgnoreCase))
        {
            var endpoint = provider.Endpoint!.TrimEnd('/');
            clientOptions.Endpoint = new Uri($"{endpoint}/openai/deployments/{Uri.EscapeDataString(upstreamModel)}");
            clientOptions.AddPolicy(
                new AzureDeploymentPolicy(provider.ApiVersion ?? AzureDefaultApiVersion, provider.ApiKey),
                PipelinePosition.BeforeTransport);
        }
        else
        {
            clientOptions.Endpoint = new Uri((provider.BaseUrl ?? InferenceEnvironmentFallback.OpenAIDefaultBaseUrl).TrimEnd('/'));
        }
        return new UpstreamClientSetup(new ApiKeyCredential(key), clientOptions);
    }
}
