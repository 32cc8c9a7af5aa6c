using System.Net;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Threadloom.Core.Domain;
using Threadloom.Core.Storage;
using Threadloom.Testing;

namespace Threadloom.Server.Tests;

/// <summary>Issue #10 §3: request id headers on every response, <c>GET /v1/models</c> under a catch-all, and the OpenAPI document.</summary>
public sealed partial class HeadersModelsOpenApiTests
{
    [Fact]
    public async Task EveryResponse_ErrorsIncluded_CarriesRequestIdAndProcessingMs()
    {
        await using var server = await ThreadloomServer.StartAsync();
        using var anonymous = new HttpClient { BaseAddress = server.OpenAIEndpoint };
        using var keyed = server.CreateClient();

        using var unauthorized = await anonymous.GetAsync("assistants");
        using var fallback = await keyed.GetAsync("no/such/route");
        using var health = await anonymous.GetAsync("/healthz");

        Assert.Equal(HttpStatusCode.Unauthorized, unauthorized.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, fallback.StatusCode);
        foreach (var response in new[] { unauthorized, fallback, health })
        {
            Assert.Matches("^req_[0-9a-f]{32}$", Header(response, "x-request-id"));
            Assert.Matches("^[0-9]+$", Header(response, "openai-processing-ms"));
        }
        Assert.NotEqual(Header(unauthorized, "x-request-id"), Header(fallback, "x-request-id"));
    }

    [Fact]
    public async Task ServerError_500_CarriesRequestId_AndTheErrorLogLineHasItInScope()
    {
        var logs = new ScopeCapturingLoggerProvider();
        await using var server = await ThreadloomServer.StartAsync(configureServices: services =>
        {
            services.AddSingleton<ILoggerProvider>(logs);
            services.AddSingleton<IThreadStore, FailingThreadStore>();
        });
        using var client = server.CreateClient();

        using var failed = await client.GetAsync("threads/thread_abc");

        Assert.Equal(HttpStatusCode.InternalServerError, failed.StatusCode);
        var id = Header(failed, "x-request-id");
        Assert.Matches("^req_[0-9a-f]{32}$", id);
        Assert.Matches("^[0-9]+$", Header(failed, "openai-processing-ms"));
        Assert.Contains(logs.Entries, e => e.Level == LogLevel.Error && e.Scopes.Contains(id));
        Assert.DoesNotContain("boom", await failed.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task ListModels_CatchAllRoute_ListsUpstreamModelsAndRoutes_Cached_FailureTolerated()
    {
        await using var model = await ScriptedModelServer.StartAsync();
        model.UpstreamModels = ["llama3.1:8b", "qwen2.5:7b"];
        await using var server = await ThreadloomServer.StartAsync(new Dictionary<string, string?>
        {
            ["Inference:Providers:local:BaseUrl"] = model.OpenAIBaseAddress.ToString(),
            ["Inference:Models:0:Name"] = "gpt-4o",
            ["Inference:Models:0:Model"] = "llama3.1:8b",
            ["Inference:Models:1:Name"] = "*",
            ["Inference:ModelListCacheTtl"] = "00:00:00.300",
        });
        var api = new ApiClient(server.CreateClient());

        var first = await Ids(api);
        var second = await Ids(api);

        Assert.Equal(["gpt-4o", "llama3.1:8b", "qwen2.5:7b"], first);
        Assert.Equal(first, second);
        Assert.Single(model.ModelListRequests);

        model.ModelsFailureStatus = 503;
        await Task.Delay(400);
        Assert.Equal(["gpt-4o"], await Ids(api));
    }

    [Fact]
    public async Task ListModels_NoCatchAll_ListsTheRoutesOnly_AndAsksNoUpstream()
    {
        await using var model = await ScriptedModelServer.StartAsync();
        await using var server = await ThreadloomServer.StartAsync(new Dictionary<string, string?>
        {
            ["Inference:Providers:local:BaseUrl"] = model.OpenAIBaseAddress.ToString(),
            ["Inference:Models:0:Name"] = "gpt-4o",
            ["Inference:Models:1:Name"] = "gpt-4o-mini*",
        });

        Assert.Equal(["gpt-4o"], await Ids(new ApiClient(server.CreateClient())));
        Assert.Empty(model.ModelListRequests);
    }

    /// <summary>
    /// The generated document is diffed against both spec subsets, by path and operation id; the differences must be
    /// exactly the list in docs/compatibility.md (between the <c>openapi-diff</c> markers), so the doc stays true.
    /// </summary>
    [Fact]
    public async Task OpenApiDocument_PathsAndOperationIds_DifferFromTheSpecsExactlyAsDocumented()
    {
        await using var server = await ThreadloomServer.StartAsync();
        using var http = new HttpClient { BaseAddress = server.BaseAddress };

        using var response = await http.GetAsync("openapi/v1.json");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var document = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        var served = new List<(string Method, string Path, string? OperationId)>();
        foreach (var path in document.RootElement.GetProperty("paths").EnumerateObject())
        {
            foreach (var operation in path.Value.EnumerateObject())
            {
                served.Add((operation.Name, path.Name, operation.Value.TryGetProperty("operationId", out var id) ? id.GetString() : null));
            }
        }
        Assert.Contains(served, o => o is { Method: "post", Path: "/v1/threads/{threadId}/runs", OperationId: "createRun" });

        // Both route sets serve the same operations.
        var v1 = served.Where(o => o.Path.StartsWith("/v1/", StringComparison.Ordinal)).Select(o => (o.Method, Path: Normalize(o.Path[3..]), o.OperationId)).ToList();
        var azure = served.Where(o => o.Path.StartsWith("/openai/", StringComparison.Ordinal)).Select(o => (o.Method, Path: Normalize(o.Path[7..]))).ToHashSet();
        Assert.Equal(v1.Select(o => (o.Method, o.Path)).Where(o => o.Path != "/{}").ToHashSet(), azure.Where(o => o.Path != "/{}").ToHashSet());

        var lines = new List<string>();
        foreach (var (label, file) in new[] { ("v2", "openapi.assistants-subset.yaml"), ("v1", "openapi.assistants-v1-subset.yaml") })
        {
            var spec = SpecOperations(File.ReadAllText(Path.Combine(RepoPaths.Shared, "spec", file)));
            foreach (var op in spec.OrderBy(o => o.Path, StringComparer.Ordinal).ThenBy(o => o.Method, StringComparer.Ordinal))
            {
                var mine = v1.FirstOrDefault(o => o.Method == op.Method && o.Path == Normalize(op.Path));
                if (mine.Path is null)
                {
                    lines.Add($"- {label} spec, not served: `{op.Method.ToUpperInvariant()} {op.Path}` ({op.OperationId})");
                }
                else if (mine.OperationId != op.OperationId)
                {
                    lines.Add($"- {label} spec, other operation id: `{op.Method.ToUpperInvariant()} {op.Path}` is `{mine.OperationId}`, the spec says `{op.OperationId}`");
                }
            }
            foreach (var op in v1.Where(o => o.Path != "/{}" && !spec.Any(s => s.Method == o.Method && Normalize(s.Path) == o.Path))
                .OrderBy(o => o.Path, StringComparer.Ordinal).ThenBy(o => o.Method, StringComparer.Ordinal))
            {
                lines.Add($"- {label} spec, served but not in it: `{op.Method.ToUpperInvariant()} /v1{op.Path}` ({op.OperationId})");
            }
        }

        var documented = DocumentedDiff(File.ReadAllText(Path.Combine(RepoPaths.Root, "docs", "compatibility.md")));
        Assert.True(documented.SequenceEqual(lines), "docs/compatibility.md's OpenAPI differences are out of date. The list should be:\n" + string.Join('\n', lines));
    }

    private static async Task<List<string>> Ids(ApiClient api)
    {
        var (status, body) = await api.GetAsync("models");
        Assert.Equal(HttpStatusCode.OK, status);
        return [.. body!["data"]!.AsArray().Select(m => m!["id"]!.GetValue<string>())];
    }

    private static string Header(HttpResponseMessage response, string name) =>
        response.Headers.TryGetValues(name, out var values) ? string.Join(",", values) : "";

    /// <summary><c>/threads/{thread_id}/runs</c> and <c>/threads/{threadId}/runs</c> name the same path.</summary>
    private static string Normalize(string path) => Placeholder().Replace(path, "{}");

    /// <summary>The operations of a spec subset, read from its <c>paths:</c> section (two-space YAML, as generated).</summary>
    private static List<(string Method, string Path, string OperationId)> SpecOperations(string yaml)
    {
        var operations = new List<(string, string, string)>();
        string? path = null, method = null;
        foreach (var line in yaml[(yaml.IndexOf("\npaths:\n", StringComparison.Ordinal) + 8)..yaml.IndexOf("\ncomponents:", StringComparison.Ordinal)].Split('\n'))
        {
            if (SpecPath().Match(line) is { Success: true } p)
            {
                path = p.Groups[1].Value;
            }
            else if (SpecMethod().Match(line) is { Success: true } m)
            {
                method = m.Groups[1].Value;
            }
            else if (SpecOperationId().Match(line) is { Success: true } o && path is not null && method is not null)
            {
                operations.Add((method, path, o.Groups[1].Value));
            }
        }
        return operations;
    }

    private static List<string> DocumentedDiff(string markdown)
    {
        const string start = "<!-- openapi-diff:start -->", end = "<!-- openapi-diff:end -->";
        var from = markdown.IndexOf(start, StringComparison.Ordinal);
        var to = markdown.IndexOf(end, StringComparison.Ordinal);
        Assert.True(from >= 0 && to > from, "docs/compatibility.md has no openapi-diff markers.");
        return [.. markdown[(from + start.Length)..to].Split('\n').Select(l => l.Trim()).Where(l => l.StartsWith("- ", StringComparison.Ordinal))];
    }

    [GeneratedRegex(@"\{[^}]*\}")]
    private static partial Regex Placeholder();

    [GeneratedRegex(@"^  (/\S*):\s*$")]
    private static partial Regex SpecPath();

    [GeneratedRegex(@"^    (get|post|delete|put|patch):\s*$")]
    private static partial Regex SpecMethod();

    [GeneratedRegex(@"^      operationId:\s*(\S+)\s*$")]
    private static partial Regex SpecOperationId();

    /// <summary>A thread store whose reads fail as a broken database would: the server must answer 500 without details.</summary>
    private sealed class FailingThreadStore : IThreadStore
    {
        public Task CreateAsync(AssistantThread thread, IReadOnlyList<ThreadMessage> initialMessages, CancellationToken cancellationToken) => throw new InvalidOperationException("boom");
        public Task<AssistantThread?> FindAsync(string projectId, string id, CancellationToken cancellationToken) => throw new InvalidOperationException("boom");
        public Task<bool> UpdateAsync(AssistantThread thread, CancellationToken cancellationToken) => throw new InvalidOperationException("boom");
        public Task<bool> DeleteAsync(string projectId, string id, CancellationToken cancellationToken) => throw new InvalidOperationException("boom");
        public Task<Page<AssistantThread>> ListAsync(string projectId, PageRequest page, CancellationToken cancellationToken) => throw new InvalidOperationException("boom");
    }
}

/// <summary>Records every log entry with the values of the scopes it was written in.</summary>
internal sealed class ScopeCapturingLoggerProvider : ILoggerProvider, ISupportExternalScope
{
    private IExternalScopeProvider _scopes = new LoggerExternalScopeProvider();

    public System.Collections.Concurrent.ConcurrentQueue<(LogLevel Level, string Message, string Scopes)> Entries { get; } = new();

    public ILogger CreateLogger(string categoryName) => new Logger(this);

    public void SetScopeProvider(IExternalScopeProvider scopeProvider) => _scopes = scopeProvider;

    public void Dispose()
    {
    }

    private sealed class Logger(ScopeCapturingLoggerProvider owner) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => owner._scopes.Push(state);

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            var scopes = new System.Text.StringBuilder();
            owner._scopes.ForEachScope((scope, sb) =>
            {
                if (scope is IEnumerable<KeyValuePair<string, object>> pairs)
                {
                    foreach (var pair in pairs)
                    {
                        sb.Append(pair.Key).Append('=').Append(pair.Value).Append(';');
                    }
                }
                else
                {
                    sb.Append(scope).Append(';');
                }
            }, scopes);
            owner.Entries.Enqueue((logLevel, formatter(state, exception), scopes.ToString()));
        }
    }
}
