using Threadloom.Core.Runs.Truncation;

namespace Threadloom.Core.Inference;

/// <summary>
/// Counts a call's streamed output against <c>max_completion_tokens</c> and cuts the fragment that crosses it.
/// </summary>
/// <remarks>
/// Design notes: fragments are counted one by one. A fragment boundary can split what the whole text would encode as
/// one token, so this errs high: the output kept is at most the cap, never more. Text and tool-call arguments share
/// the budget, as they share the upstream's completion tokens.
/// </remarks>
internal sealed class OutputTokenBudget(TokenCounter counter, int limit)
{
    public int Limit { get; } = limit;

    public int Used { get; private set; }

    /// <summary>True once the cap is reached: the caller stops reading the stream.</summary>
    public bool Exhausted => Used >= Limit;

    /// <summary>Spends <paramref name="fragment"/>'s tokens and returns the part of it that fits.</summary>
    public string Take(string fragment)
    {
        if (fragment.Length == 0 || Exhausted)
        {
            return Exhausted ? "" : fragment;
        }
        var tokens = counter.CountText(fragment);
        if (Used + tokens <= Limit)
        {
            Used += tokens;
            return fragment;
        }
        var prefix = counter.Prefix(fragment, Limit - Used);
        Used = Limit;
        return prefix;
    }
}
