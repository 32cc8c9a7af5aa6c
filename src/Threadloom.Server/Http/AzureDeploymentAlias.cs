namespace Threadloom.Server.Http;

/// <summary>The Azure route set's quirks, kept off the hot path of the OpenAI routes.</summary>
internal static class AzureDeploymentAlias
{
    private static readonly string[] ResourceScoped = ["assistants", "threads", "files", "vector_stores", "uploads", "models"];

    /// <summary>
    /// Older AzureOpenAI clients put <c>/deployments/{name}</c> into every path, but assistants are resource-scoped:
    /// <c>/openai/deployments/d/assistants</c> is served as <c>/openai/assistants</c>.
    /// </summary>
    public static void Rewrite(HttpRequest request)
    {
        var path = request.Path.Value;
        if (path is null || !path.StartsWith("/openai/deployments/", StringComparison.Ordinal))
        {
            return;
        }
        var rest = path.AsSpan("/openai/deployments/".Length);
        var slash = rest.IndexOf('/');
        if (slash <= 0)
        {
            return;
        }
        var tail = rest[(slash + 1)..];
        var segmentEnd = tail.IndexOf('/');
        var segment = segmentEnd < 0 ? tail : tail[..segmentEnd];
        foreach (var scoped in ResourceScoped)
        {
            if (segment.SequenceEqual(scoped))
            {
                request.Path = new PathString("/openai/" + tail.ToString());
                return;
            }
        }
    }

    /// <summary>Endpoint names are unique; the Azure copy of <c>createRun</c> is <c>azure.createRun</c>.</summary>
    public static void RenameEndpoint(EndpointBuilder builder)
    {
        for (var i = 0; i < builder.Metadata.Count; i++)
        {
            builder.Metadata[i] = builder.Metadata[i] switch
            {
                EndpointNameMetadata name => new EndpointNameMetadata("azure." + name.EndpointName),
                RouteNameMetadata route when route.RouteName is not null => new RouteNameMetadata("azure." + route.RouteName),
                var other => other,
            };
        }
    }
}
