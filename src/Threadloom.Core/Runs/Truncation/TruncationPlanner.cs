using Microsoft.Extensions.AI;

namespace Threadloom.Core.Runs.Truncation;

/// <summary><c>truncation_strategy.type</c>.</summary>
public enum TruncationType
{
    /// <summary>Drop the oldest messages until the prompt fits.</summary>
    Auto,

    /// <summary>Keep only the newest <see cref="TruncationRequest.LastMessages"/> messages, then still fit the budget.</summary>
    LastMessages,
}

/// <summary>What the planner needs to fit a prompt.</summary>
/// <param name="Messages">Thread messages (and in-run tool call/result messages), oldest first, without the system prefix.</param>
/// <param name="PrefixTokens">Tokens that are always sent: instructions (as a counted system message) plus tool definitions.</param>
/// <param name="ContextWindow">The route's context window.</param>
/// <param name="MaxCompletionTokens">The run's <c>max_completion_tokens</c>; reserved out of the window. When null,
/// <see cref="TruncationPlanner.DefaultCompletionReserve"/> (at most a quarter of the window) is reserved.</param>
/// <param name="MaxPromptTokens">The run's <c>max_prompt_tokens</c>, if any.</param>
/// <param name="LastMessages">N for <see cref="TruncationType.LastMessages"/>.</param>
public sealed record TruncationRequest(
    IReadOnlyList<ChatMessage> Messages,
    int PrefixTokens,
    int ContextWindow,
    int? MaxCompletionTokens = null,
    int? MaxPromptTokens = null,
    TruncationType Type = TruncationType.Auto,
    int? LastMessages = null);

/// <summary>The planner's answer.</summary>
/// <param name="Messages">The kept messages, oldest first (empty when nothing fits).</param>
/// <param name="PromptTokens">Estimated prompt tokens: prefix + kept messages + reply priming.</param>
/// <param name="DroppedMessages">Messages left out.</param>
/// <param name="PromptBudget">The budget the prompt had to fit.</param>
/// <param name="Fits">False when even the newest message (or the prefix alone) does not fit.</param>
public sealed record TruncationResult(
    IReadOnlyList<ChatMessage> Messages,
    int PromptTokens,
    int DroppedMessages,
    int PromptBudget,
    bool Fits)
{
    /// <summary><c>incomplete_details.reason</c> for a run whose prompt does not fit; null when it fits.</summary>
    public string? IncompleteReason => Fits ? null : "max_prompt_tokens";
}

/// <summary>Chooses which thread messages to send so the prompt fits the model.</summary>
/// <remarks>
/// Design notes: messages are kept or dropped in groups. A tool message belongs to the assistant message before it
/// (the one with the tool calls): sending a tool result without its call is rejected upstream. Kept messages are a
/// contiguous newest suffix; an older small message is never kept after a newer one was dropped.
/// COMPAT: DIGEST §4.4 says OpenAI's <c>auto</c> drops messages "from the middle"; DESIGN §4 chose oldest-first.
/// </remarks>
public static class TruncationPlanner
{
    public const int DefaultCompletionReserve = 4096;

    public static TruncationResult Plan(TruncationRequest request, TokenCounter counter)
    {
        var reserve = request.MaxCompletionTokens ?? Math.Min(DefaultCompletionReserve, request.ContextWindow / 4);
        var budget = request.ContextWindow - reserve;
        if (request.MaxPromptTokens is { } maxPrompt)
        {
            budget = Math.Min(budget, maxPrompt);
        }
        var used = request.PrefixTokens + TokenCounter.ReplyPrimingTokens;
        if (used > budget)
        {
            return new([], used, request.Messages.Count, budget, false);
        }

        var groups = Group(request.Messages);
        var firstCandidate = request.Type == TruncationType.LastMessages && request.LastMessages is { } n
            ? Math.Max(0, groups.Count - Math.Max(1, n))
            : 0;
        var keptFrom = groups.Count;
        for (var g = groups.Count - 1; g >= firstCandidate; g--)
        {
            var (start, count) = groups[g];
            var tokens = 0;
            for (var i = start; i < start + count; i++)
            {
                tokens += counter.CountMessage(request.Messages[i]);
            }
            if (used + tokens > budget)
            {
                break;
            }
            used += tokens;
            keptFrom = g;
        }

        if (groups.Count > 0 && keptFrom == groups.Count)
        {
            return new([], used, request.Messages.Count, budget, false);
        }
        var firstKept = keptFrom < groups.Count ? groups[keptFrom].Start : request.Messages.Count;
        var kept = request.Messages.Skip(firstKept).ToList();
        return new(kept, used, firstKept, budget, true);
    }

    /// <summary>Start and length of each group: a message plus the tool messages that follow it.</summary>
    private static List<(int Start, int Count)> Group(IReadOnlyList<ChatMessage> messages)
    {
        var groups = new List<(int Start, int Count)>();
        for (var i = 0; i < messages.Count; i++)
        {
            if (messages[i].Role == ChatRole.Tool && groups.Count > 0)
            {
                var last = groups[^1];
                groups[^1] = (last.Start, last.Count + 1);
            }
            else
            {
                groups.Add((i, 1));
            }
        }
        return groups;
    }
}
