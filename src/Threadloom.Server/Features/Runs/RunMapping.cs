using Threadloom.Core.Domain;

namespace Threadloom.Server.Features.Runs;

internal static class RunMapping
{
    /// <summary>The only <c>include[]</c> value (DIGEST §3).</summary>
    public const string FileSearchContentInclude = "step_details.tool_calls[*].file_search.results[*].content";

    public static RunObject ToObject(this Run r) => new(
        r.Id, r.CreatedAt.ToUnixTimeSeconds(), r.ThreadId, r.AssistantId, r.Status, r.RequiredAction, r.LastError,
        r.ExpiresAt?.ToUnixTimeSeconds(), r.StartedAt?.ToUnixTimeSeconds(), r.CancelledAt?.ToUnixTimeSeconds(),
        r.FailedAt?.ToUnixTimeSeconds(), r.CompletedAt?.ToUnixTimeSeconds(), r.IncompleteDetails, r.Model, r.Instructions,
        r.Tools, r.Metadata, r.Usage, r.Temperature, r.TopP, r.MaxPromptTokens, r.MaxCompletionTokens, r.TruncationStrategy,
        r.ToolChoice, r.ParallelToolCalls, r.ResponseFormat)
    {
        V1FileIds = r.V1FileIds,
    };

    public static RunStepObject ToObject(this RunStep s, bool includeFileSearchContent = false) => new(
        s.Id, s.CreatedAt.ToUnixTimeSeconds(), s.AssistantId, s.ThreadId, s.RunId, s.Type, s.Status,
        includeFileSearchContent ? s.StepDetails : WithoutFileSearchContent(s.StepDetails), s.LastError,
        s.ExpiredAt?.ToUnixTimeSeconds(), s.CancelledAt?.ToUnixTimeSeconds(), s.FailedAt?.ToUnixTimeSeconds(),
        s.CompletedAt?.ToUnixTimeSeconds(), s.Metadata, s.Status == RunStepStatus.InProgress ? null : s.Usage);

    private static StepDetails WithoutFileSearchContent(StepDetails details) => details is ToolCallsStepDetails toolCalls
        ? new ToolCallsStepDetails([.. toolCalls.ToolCalls.Select(call => call is FileSearchStepToolCall { FileSearch.Results: { } results } search
            ? search with { FileSearch = search.FileSearch with { Results = [.. results.Select(r => r with { Content = null })] } }
            : call)])
        : details;
}
