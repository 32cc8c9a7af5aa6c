using System.Collections.Concurrent;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Threadloom.Core.Domain;
using Threadloom.Core.Inference;
using Threadloom.Core.Runs;
using Threadloom.Core.Storage;

namespace Threadloom.Core.Tools.FileSearch;

/// <summary>
/// The built-in <c>file_search(queries: string[])</c> tool: searches the assistant's and the thread's vector stores
/// with <see cref="HybridFileSearch"/> and gives the model the chunks under source markers
/// <c>【{call}:{result}†{file name}】</c>, which the final message's citations are resolved from.
/// </summary>
/// <remarks>
/// Design notes: <c>{call}</c> numbers the run's file_search calls (0, 1, …) so a marker names one result of one call;
/// the numbering is seeded from the run's stored steps, so a run resumed after <c>submit_tool_outputs</c> keeps
/// counting. The step records every result with its text; the HTTP layer drops <c>content</c> unless
/// <c>include[]</c> asks for it. <c>max_num_results</c> and <c>ranking_options.score_threshold</c> come from the
/// run's <c>file_search</c> tool definition (default 20 and 0). The search engine is resolved on first use, so a node
/// that never searches never loads the embedding model.
/// </remarks>
public sealed class FileSearchTool(
    IAssistantStore assistants,
    IThreadStore threads,
    IRunStepStore steps,
    IVectorStoreStore vectorStores,
    IServiceProvider services,
    TimeProvider time) : IBuiltInTool, IRunMessageAnnotator
{
    public const string ToolName = "file_search";

    private static readonly JsonElement Parameters = JsonDocument.Parse("""
        {"type":"object","properties":{"queries":{"type":"array","items":{"type":"string"},"description":"One or more search queries, each a short self-contained question or keyword phrase."}},"required":["queries"]}
        """).RootElement.Clone();

    private readonly ConcurrentDictionary<string, int> _callCounters = new(StringComparer.Ordinal);

    public string Name => ToolName;

    public ModelTool Definition { get; } = new(ToolName,
        "Search the files the user and the assistant provided (the knowledge base). Returns passages, each under a source marker such as 【0:1†file.txt】.",
        Parameters, null);

    public async Task<BuiltInToolResult> ExecuteAsync(BuiltInToolCall call, CancellationToken cancellationToken)
    {
        var run = call.Run;
        var options = run.Tools.OfType<FileSearchToolDefinition>().FirstOrDefault()?.FileSearch;
        var ranking = new FileSearchRankingOptions(options?.RankingOptions?.Ranker ?? "default_2024_08_21", options?.RankingOptions?.ScoreThreshold ?? 0);
        var queries = ParseQueries(call.Arguments);
        var stores = await UsableStoresAsync(run, cancellationToken);
        var storeIds = stores.Select(s => s.Store.Id).ToList();
        var callIndex = await NextCallIndexAsync(run.Id, cancellationToken);

        IReadOnlyList<FileSearchResult> results = [];
        if (queries.Count > 0 && storeIds.Count > 0)
        {
            await WaitForIngestionAsync(run.ProjectId, stores, cancellationToken);
            var search = services.GetRequiredService<HybridFileSearch>();
            results = await search.SearchAsync(new FileSearchQuery(run.ProjectId, storeIds, queries,
                options?.MaxNumResults ?? FileSearchQuery.DefaultMaxNumResults, ranking.ScoreThreshold ?? 0), cancellationToken);
            await vectorStores.TouchAsync(run.ProjectId, storeIds, time.GetUtcNow(), CancellationToken.None);
        }
        var stepResults = results
            .Select(r => new Domain.FileSearchResult(r.FileId, r.FileName, Math.Round(r.Score, 6), [new FileSearchResultContent(r.Text)]))
            .ToList();
        var step = new FileSearchStepToolCall(call.CallId, new FileSearchCall(ranking, stepResults));
        return new BuiltInToolResult(step, FormatForModel(callIndex, queries, storeIds.Count, results));
    }

    /// <summary>How long a search waits for files of its stores that are still being ingested.</summary>
    public static readonly TimeSpan IngestionWait = TimeSpan.FromSeconds(60);

    /// <summary>
    /// OpenAI polls a thread's stores for ingestion before a run searches them, up to a limit, so a file attached
    /// with the message is found by the run it starts. This waits at the first search instead (a run that never
    /// searches never waits), up to <see cref="IngestionWait"/>, then searches what is indexed. Real time, not the
    /// injected clock: it waits for the ingestion workers, which do real work.
    /// </summary>
    private async Task WaitForIngestionAsync(string projectId, IReadOnlyList<VectorStoreState> stores, CancellationToken cancellationToken)
    {
        var waited = System.Diagnostics.Stopwatch.StartNew();
        while (stores.Any(s => s.Counts.InProgress > 0) && waited.Elapsed < IngestionWait)
        {
            await Task.Delay(TimeSpan.FromMilliseconds(100), cancellationToken);
            var fresh = new List<VectorStoreState>(stores.Count);
            foreach (var store in stores)
            {
                fresh.Add(await vectorStores.FindAsync(projectId, store.Store.Id, cancellationToken) ?? store with { Counts = VectorStoreFileCounts.Empty });
            }
            stores = fresh;
        }
    }

    /// <summary>
    /// Resolves the markers of the run's message text into <c>file_citation</c> annotations as it streams; unknown
    /// markers are removed. The markers the model was shown are read from the run's steps at the first <c>【</c>.
    /// </summary>
    public IMessageTextFilter OpenMessage(Run run) => new CitationFilter(this, run.Id);

    private async Task<IReadOnlyDictionary<string, FileCitation>> ShownMarkersAsync(string runId, CancellationToken cancellationToken) =>
        FileCitations.ShownMarkers(await steps.ListAllAsync(runId, cancellationToken));

    private sealed class CitationFilter(FileSearchTool tool, string runId) : IMessageTextFilter
    {
        private readonly CitationResolver _resolver = new();

        public async ValueTask<MessageText> AppendAsync(string text, CancellationToken cancellationToken)
        {
            if (_resolver.Shown is null && text.Contains(FileCitations.Open, StringComparison.Ordinal))
            {
                _resolver.Shown = await tool.ShownMarkersAsync(runId, cancellationToken);
            }
            return _resolver.Append(text);
        }

        public ValueTask<MessageText> CompleteAsync(CancellationToken cancellationToken) => ValueTask.FromResult(_resolver.Complete());
    }

    /// <summary>The model output: an instruction to cite, then each result under its marker.</summary>
    public static string FormatForModel(int callIndex, IReadOnlyList<string> queries, int storeCount, IReadOnlyList<FileSearchResult> results)
    {
        if (storeCount == 0)
        {
            return "No files are available to search: the assistant and the thread have no vector store.";
        }
        if (results.Count == 0)
        {
            return "The file search found nothing relevant for: " + string.Join("; ", queries) + ".";
        }
        var text = new StringBuilder();
        text.Append("File search results. When you use a passage, cite it by copying its source marker exactly (for example ")
            .Append(FileCitations.Marker(callIndex, 0, results[0].FileName))
            .Append(") right after the statement it supports. Never invent a marker. If passages disagree, say so.\n");
        for (var i = 0; i < results.Count; i++)
        {
            text.Append('\n').Append(FileCitations.Marker(callIndex, i, results[i].FileName))
                .Append(" (score ").Append(results[i].Score.ToString("0.00", CultureInfo.InvariantCulture)).Append(")\n")
                .Append(results[i].Text.Trim()).Append('\n');
        }
        return text.ToString();
    }

    /// <summary><c>{"queries":[…]}</c>; a single <c>"query"</c> string is accepted too (small models send one).</summary>
    public static IReadOnlyList<string> ParseQueries(string arguments)
    {
        try
        {
            using var json = JsonDocument.Parse(string.IsNullOrWhiteSpace(arguments) ? "{}" : arguments);
            var root = json.RootElement;
            var list = new List<string>();
            if (root.ValueKind == JsonValueKind.Object && root.TryGetProperty("queries", out var queries))
            {
                if (queries.ValueKind == JsonValueKind.Array)
                {
                    list.AddRange(queries.EnumerateArray().Where(q => q.ValueKind == JsonValueKind.String).Select(q => q.GetString()!));
                }
                else if (queries.ValueKind == JsonValueKind.String)
                {
                    list.Add(queries.GetString()!);
                }
            }
            if (root.ValueKind == JsonValueKind.Object && root.TryGetProperty("query", out var query) && query.ValueKind == JsonValueKind.String)
            {
                list.Add(query.GetString()!);
            }
            return list.Where(q => !string.IsNullOrWhiteSpace(q)).Take(FileSearchQuery.MaxMaxNumResults).ToList();
        }
        catch (JsonException)
        {
            return [];
        }
    }

    private async Task<IReadOnlyList<VectorStoreState>> UsableStoresAsync(Run run, CancellationToken cancellationToken)
    {
        var ids = new List<string>();
        if (await assistants.FindAsync(run.ProjectId, run.AssistantId, cancellationToken) is { ToolResources.FileSearch.VectorStoreIds: { } fromAssistant })
        {
            ids.AddRange(fromAssistant);
        }
        if (await threads.FindAsync(run.ProjectId, run.ThreadId, cancellationToken) is { ToolResources.FileSearch.VectorStoreIds: { } fromThread })
        {
            ids.AddRange(fromThread);
        }
        // Run creation refused deleted and expired stores; one that went away while the run was queued is skipped.
        var now = time.GetUtcNow();
        var usable = new List<VectorStoreState>();
        foreach (var id in ids.Distinct(StringComparer.Ordinal))
        {
            if (await vectorStores.FindAsync(run.ProjectId, id, cancellationToken) is { } state && !state.Store.IsExpiredAt(now))
            {
                usable.Add(state);
            }
        }
        return usable;
    }

    /// <summary>The index of this call among the run's file_search calls (stored ones, then the ones run here since).</summary>
    private async Task<int> NextCallIndexAsync(string runId, CancellationToken cancellationToken)
    {
        if (!_callCounters.ContainsKey(runId))
        {
            var stored = (await steps.ListAllAsync(runId, cancellationToken))
                .Sum(s => s.StepDetails is ToolCallsStepDetails details ? details.ToolCalls.Count(c => c is FileSearchStepToolCall) : 0);
            _callCounters.TryAdd(runId, stored);
        }
        return _callCounters.AddOrUpdate(runId, 1, (_, next) => next + 1) - 1;
    }
}
