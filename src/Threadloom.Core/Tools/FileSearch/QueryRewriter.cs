using System.Text.RegularExpressions;

namespace Threadloom.Core.Tools.FileSearch;

/// <summary>
/// <c>rewrite_query</c>: turns a conversational question into a search query by dropping the request around it
/// ("I'd like to know…", "can you tell me…", "please") and English stop words, as OpenAI's example does
/// ("I'd like to know the height of the main office building" → "height main office building").
/// </summary>
/// <remarks>
/// Design notes: OpenAI rewrites with a model; this is a deterministic rewrite with no model call, so a search stays
/// cheap and repeatable. It never returns an empty query: when nothing would be left, the original is kept.
/// </remarks>
public static partial class QueryRewriter
{
    public static string Rewrite(string query)
    {
        var text = query.Trim();
        string previous;
        do
        {
            previous = text;
            text = LeadingRequestRegex().Replace(text, "").TrimStart();
        }
        while (text != previous);
        text = PleaseRegex().Replace(text, " ");
        var words = WordRegex().Matches(text).Select(m => m.Value)
            .Where(w => !StopWords.Contains(w.ToLowerInvariant()))
            .Distinct(StringComparer.OrdinalIgnoreCase)
            .ToList();
        return words.Count == 0 ? query.Trim() : string.Join(' ', words);
    }

    [GeneratedRegex(@"^(?:(?:hi|hello|hey)\b[\s,!.]*|(?:please\s+)?(?:can|could|would|will)\s+you\s+(?:please\s+)?(?:tell|show|give|find|explain|help)(?:\s+me)?(?:\s+(?:with|about))?\b|i(?:'d|’d| would)\s+like\s+to\s+(?:know|find\s+out|learn|understand)(?:\s+about)?\b|i\s+(?:want|need)\s+to\s+(?:know|find\s+out|learn|understand)(?:\s+about)?\b|(?:tell|show|give)\s+me(?:\s+about)?\b|(?:do\s+you\s+know|i\s+wonder(?:ed)?)\b)", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex LeadingRequestRegex();

    [GeneratedRegex(@"\bplease\b", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex PleaseRegex();

    // Words keep inner apostrophes, hyphens and dots between letters or digits ("401(k)" gives "401", "k"; "e-mail", "v1.2" stay whole).
    [GeneratedRegex(@"[\p{L}\p{N}]+(?:['’.\-][\p{L}\p{N}]+)*")]
    private static partial Regex WordRegex();
}
