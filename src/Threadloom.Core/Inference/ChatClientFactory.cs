using System.ClientModel;
using System.ClientModel.Primitives;
using System.Collections.Concurrent;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using OpenAI;

namespace Threadloom.Core.Inference;

/// <summary>Builds and caches one M.E.AI <see cref="IChatClient"/> per provider and upstream model.</summary>
/// <remarks>
/// Design notes: both provider types go through the OpenAI SDK's <see cref="OpenAI.Chat.ChatClient"/>. Azure
/// deployments are addressed by pointing the endpoint at <c>{endpoint}/openai/deployments/{deployment}</c> and adding
/// <see cref="AzureDeploymentPolicy"/> (api-version query, api-key header). That avoids a second, beta SDK
/// (Azure.AI.OpenAI) for a URL shape and a header; Entra ID auth is not supported yet.
/// </remarks>
internal sealed class ChatClientFactory(
    IOptions<InferenceOptions> options,
    TimeProvider timeProvider,
    ILoggerFactory loggerFactory)
{
    internal const string AzureDefaultApiVersion = "2024-10-21";
    private const string PlaceholderKey = "unused";

    private readonly ConcurrentDictionary<(string Provider, string Model), IChatClient> _clients = new();
    private readonly ILogger _logger = loggerFactory.CreateLogger("Threadloom.Core.Inference.Upstream");

    public IChatClient Get(ResolvedModel model) =>
        _clients.GetOrAdd((model.ProviderName, model.UpstreamModel), key => Create(key.Provider, key.Model));

    private IChatClient Create(string providerName, string upstreamModel)
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
        var chatClient = new OpenAI.Chat.ChatClient(upstreamModel, new ApiKeyCredential(key), clientOptions);
        return chatClient.AsIChatClient();
    }
}
