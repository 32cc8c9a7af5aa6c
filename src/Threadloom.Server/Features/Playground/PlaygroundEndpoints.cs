using System.Collections.Frozen;
using System.Reflection;
using System.Security.Cryptography;
using System.Text.Json;
using Microsoft.AspNetCore.Http.HttpResults;
using Threadloom.Core.Storage;
using Threadloom.Server.Features.Runs;
using Threadloom.Server.Http;

namespace Threadloom.Server.Features.Playground;

/// <summary>
/// The playground (issue #13, DESIGN §9): static pages embedded in the server assembly at <c>/playground</c> (and
/// <c>/</c> redirects there), which call the public API with the user's key, plus two routes of its own under
/// <c>/playground/api</c> that take the same key and the same project scoping: Markdown rendering and run prompts.
/// </summary>
/// <remarks>
/// Design notes: no front-end toolchain. The pages are plain HTML, CSS and JavaScript, read once from the assembly's
/// resources. Every page response carries a Content-Security-Policy that allows only the page's own script and
/// style files, so model output rendered into the page could not run script even if the renderer let some through.
/// </remarks>
internal static class PlaygroundEndpoints
{
    public const string Root = "/playground";

    /// <summary>The largest render request body: 64 texts of up to <see cref="MarkdownRenderer.MaxTextLength"/> characters each would not fit, and need not.</summary>
    public const long MaxRenderBodyBytes = 4 * 1024 * 1024;

    public const int MaxRenderItems = 64;

    public const int MaxCitationsPerItem = 512;

    private const string ContentSecurityPolicy =
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; connect-src 'self'; font-src 'self'; " +
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

    private static readonly FrozenDictionary<string, StaticAsset> Assets = LoadAssets();

    public static IEndpointRouteBuilder MapPlayground(this IEndpointRouteBuilder app)
    {
        app.MapGet("/", () => Results.Redirect(Root + "/")).ExcludeFromDescription();
        // Routing matches /playground and /playground/ alike: the page's relative URLs need the slash.
        app.MapGet(Root, (HttpContext http) => http.Request.Path.Value!.EndsWith('/') ? Serve(http, "index.html") : Results.Redirect(Root + "/")).ExcludeFromDescription();
        app.MapGet(Root + "/{asset}", (HttpContext http, string asset) => Serve(http, asset)).ExcludeFromDescription();

        var api = app.MapGroup(Root + "/api").ExcludeFromDescription();
        api.MapPost("/render", RenderAsync).WithMetadata(new Microsoft.AspNetCore.Mvc.RequestSizeLimitAttribute(MaxRenderBodyBytes));
        api.MapGet("/threads/{threadId}/runs/{runId}/prompts", ListPromptsAsync);
        api.MapFallback((HttpContext context) =>
            throw new ApiException(StatusCodes.Status404NotFound, new ErrorBody($"Invalid URL ({context.Request.Method} {context.Request.Path})", "invalid_request_error", null, null)));
        return app;
    }

    private static IResult Serve(HttpContext http, string name)
    {
        if (!Assets.TryGetValue(name, out var asset))
        {
            return Results.NotFound();
        }
        var headers = http.Response.Headers;
        headers.ContentSecurityPolicy = ContentSecurityPolicy;
        headers.XContentTypeOptions = "nosniff";
        headers["Referrer-Policy"] = "no-referrer";
        headers.CacheControl = "no-cache";
        headers.ETag = asset.ETag;
        if (http.Request.Headers.IfNoneMatch == asset.ETag)
        {
            return Results.StatusCode(StatusCodes.Status304NotModified);
        }
        return Results.Bytes(asset.Content, asset.ContentType);
    }

    internal static async Task<Ok<RenderResponse>> RenderAsync(HttpContext http, ApiCaller caller)
    {
        _ = caller; // the same key as the API: the route is not open to anonymous callers
        var request = await RequestBody.ReadAsync(http, ApiJsonContext.Default.RenderRequest);
        var items = request.Items ?? throw ApiErrors.MissingParameter("items");
        if (items.Count > MaxRenderItems)
        {
            throw ApiErrors.ArrayTooLong("items", MaxRenderItems, items.Count);
        }
        var html = new List<string>(items.Count);
        for (var i = 0; i < items.Count; i++)
        {
            var item = items[i] ?? throw ApiErrors.InvalidRequest($"Invalid type for 'items[{i}]': expected an object.", $"items[{i}]", "invalid_type");
            var text = item.Text ?? throw ApiErrors.MissingParameter($"items[{i}].text");
            if (text.Length > MarkdownRenderer.MaxTextLength)
            {
                throw ApiErrors.StringTooLong($"items[{i}].text", MarkdownRenderer.MaxTextLength, text.Length);
            }
            var citations = item.Citations ?? [];
            if (citations.Count > MaxCitationsPerItem)
            {
                throw ApiErrors.ArrayTooLong($"items[{i}].citations", MaxCitationsPerItem, citations.Count);
            }
            html.Add(MarkdownRenderer.Render(text, [.. citations.Select(c => (c?.StartIndex ?? -1, c?.EndIndex ?? -1))]));
        }
        return TypedResults.Ok(new RenderResponse(html));
    }

    /// <summary>The prompts of a run of the caller's project; another project's run is not found, exactly as on <c>/v1</c>.</summary>
    internal static async Task<IResult> ListPromptsAsync(string threadId, string runId, ApiCaller caller, IRunStore runs, IRunPromptStore prompts, CancellationToken cancellationToken)
    {
        await RunEndpoints.FindAsync(runs, caller, threadId, runId, cancellationToken);
        var list = await prompts.ListAsync(caller.ProjectId, threadId, runId, cancellationToken);
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteString("object", "list");
            w.WriteStartArray("data");
            foreach (var prompt in list)
            {
                w.WriteStartObject();
                w.WriteString("object", "thread.run.prompt");
                w.WriteString("run_id", prompt.RunId);
                w.WriteNumber("turn", prompt.Turn);
                w.WriteNumber("created_at_ms", prompt.CreatedAt.ToUnixTimeMilliseconds());
                w.WritePropertyName("prompt");
                w.WriteRawValue(prompt.Document, skipInputValidation: false);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteEndObject();
        }
        return Results.Bytes(buffer.ToArray(), "application/json");
    }

    private static FrozenDictionary<string, StaticAsset> LoadAssets()
    {
        var assembly = Assembly.GetExecutingAssembly();
        var assets = new Dictionary<string, StaticAsset>(StringComparer.Ordinal);
        const string prefix = "playground/";
        foreach (var resource in assembly.GetManifestResourceNames().Where(n => n.StartsWith(prefix, StringComparison.Ordinal)))
        {
            using var stream = assembly.GetManifestResourceStream(resource)!;
            using var copy = new MemoryStream();
            stream.CopyTo(copy);
            var bytes = copy.ToArray();
            var name = resource[prefix.Length..];
            var type = Path.GetExtension(name) switch
            {
                ".html" => "text/html; charset=utf-8",
                ".css" => "text/css; charset=utf-8",
                ".js" => "text/javascript; charset=utf-8",
                ".svg" => "image/svg+xml",
                _ => "application/octet-stream",
            };
            assets[name] = new StaticAsset(bytes, type, "\"" + Convert.ToHexString(SHA256.HashData(bytes))[..16] + "\"");
        }
        return assets.ToFrozenDictionary(StringComparer.Ordinal);
    }

    private sealed record StaticAsset(byte[] Content, string ContentType, string ETag);
}
