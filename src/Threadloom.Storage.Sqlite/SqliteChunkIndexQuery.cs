using System.Text.RegularExpressions;

namespace Threadloom.Storage.Sqlite;

/// <summary>
/// Turns arbitrary user text into a safe FTS5 query: word tokens only, each double-quoted (so FTS5 operators and
/// punctuation in the input are inert), common English stop words dropped, OR-joined so BM25 ranks partial matches.
/// </summary>
internal static partial class SqliteChunkIndexQuery
{
    private const int MaxTerms = 64;

    private static readonly HashSet<string> StopWords = new(StringComparer.Ordinal)
    {
        "a", "an", "and", "are", "as", "at", "be", "by", "can", "do", "does", "for", "from", "how", "i", "if", "in", "into", "is", "it",
        "its", "my", "of", "on", "or", "that", "the", "their", "there", "this", "to", "was", "what", "when", "where", "which", "who",
        "why", "will", "with", "you", "your", "me", "we", "our", "should", "would", "could", "about", "any", "some", "than", "then",
    };

    /// <summary>The FTS5 MATCH expression, or null when the text has no searchable word.</summary>
    public static string? Build(string text)
    {
        // "401k" also searches "401" and "k", so it finds "401(k)"; same for "ipv6", "utf8".
        var words = WordRegex().Matches(text)
            .SelectMany(m => DigitLetterRegex().Matches(m.Value) is { Count: > 1 } parts ? [m.Value, .. parts.Select(p => p.Value)] : new[] { m.Value })
            .Select(w => w.ToLowerInvariant()).Distinct(StringComparer.Ordinal).Take(MaxTerms * 2).ToList();
        var kept = words.Where(w => !StopWords.Contains(w)).ToList();
        if (kept.Count == 0)
        {
            kept = words;
        }
        return kept.Count == 0 ? null : string.Join(" OR ", kept.Take(MaxTerms).Select(w => "\"" + w + "\""));
    }

    [GeneratedRegex(@"\p{N}+|[^\p{N}]+")]
    private static partial Regex DigitLetterRegex();

    [GeneratedRegex(@"[\p{L}\p{N}\p{Mn}\p{Pc}]+")]
    private static partial Regex WordRegex();
}
