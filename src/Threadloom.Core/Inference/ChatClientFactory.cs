using System.Collections.Concurrent;
using Microsoft.Extensions.AI;

namespace Threadloom.Core.Inference;

/// <summary>Builds and caches one M.E.AI <see cref="IChatClient"/> per provider and upstream model.</summary>
/// <remarks>
/// Design notes: every provider type goes through the OpenAI SDK's <see cref="OpenAI.Chat.ChatClient"/>, configured by
/// <see cref="UpstreamClientOptions"/> (shared with the upstream embedding generator).
/// </remarks>
internal sealed class ChatClientFactory(UpstreamClientOptions upstream)
{
    private readonly ConcurrentDictionary<(string Provider, string Model), IChatClient> _clients = new();

    public IChatClient Get(ResolvedModel model) =>
        _clients.GetOrAdd((model.ProviderName, model.UpstreamModel), key => Create(key.Provider, key.Model));

    private IChatClient Create(string providerName, string upstreamModel)
    {
        var setup = upstream.Create(providerName, upstreamModel);
        return new OpenAI.Chat.ChatClient(upstreamModel, setup.Credential, setup.Options).AsIChatClient();
    }
}
