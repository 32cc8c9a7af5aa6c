using System.Text.RegularExpressions;

namespace Threadloom.Core.Tools.FileSearch;

/// <summary>
/// The words a keyword search looks for in arbitrary user text, for every dialect: letter and digit runs, lower-cased,
/// distinct, at most 64; "401k" also yields "401" and "k" (so it finds "401(k)"); English stop words are dropped
/// unless nothing else is left. A dialect quotes them for its own query syntax, so operators in the input are inert.
/// </summary>
public static partial class KeywordTerms
{
    public const int MaxTerms = 64;

    public static List<string> Of(string text)
    {
        var words = WordRegex().Matches(text)
            .SelectMany(m => DigitLetterRegex().Matches(m.Value) is { Count: > 1 } parts ? [m.Value, .. parts.Select(p => p.Value)] : new[] { m.Value })
            .Select(w => w.ToLowerInvariant()).Distinct(StringComparer.Ordinal).Take(MaxTerms * 2).ToList();
        var kept = words.Where(w => !StopWords.Contains(w)).ToList();
        return (kept.Count == 0 ? words : kept).Take(MaxTerms).ToList();
    }

    [GeneratedRegex(@"\p{N}+|[^\p{N}]+")]
    private static partial Regex DigitLetterRegex();

    [GeneratedRegex(@"[\p{L}\p{N}\p{Mn}\p{Pc}]+")]
    private static partial Regex WordRegex();
}
