using System.Text.RegularExpressions;

namespace Threadloom.Core.Tools.FileSearch;

/// <summary>
/// <c>rewrite_query</c>: turns a conversational question into a search query by dropping the request and chit-chat
/// around it ("I'd like to know…", "can you tell me…", "hey", "my boss says…", "any idea?", "please") and English stop
/// words, as OpenAI's example does ("I'd like to know the height of the main office building" → "height main office
/// building").
/// </summary>
/// <remarks>
/// Design notes: OpenAI rewrites with a model; this is a deterministic rewrite with no model call, so a search stays
/// cheap and repeatable. It never returns an empty query: when nothing would be left, the original is kept.
/// <see cref="Clean"/> keeps the sentence (word order, small words) with only the chit-chat removed: a search embeds
/// that, since a sentence embeds better than the bag of keywords left by <see cref="Rewrite"/> (issue #11, measured on
/// the conversational questions of the Python set).
/// </remarks>
public static partial class QueryRewriter
{
    /// <summary>The keywords of the question: <see cref="Clean"/>, then stop words and repeats dropped.</summary>
    public static string Rewrite(string query)
    {
        var words = WordRegex().Matches(Clean(query)).Select(m => m.Value)
            .Where(w => !StopWords.Contains(w.ToLowerInvariant()))
            .Distinct(StringComparer.OrdinalIgnoreCase)
            .ToList();
        return words.Count == 0 ? query.Trim() : string.Join(' ', words);
    }

    /// <summary>The question with its request and chit-chat removed, otherwise as asked; the original when nothing is left.</summary>
    public static string Clean(string query)
    {
        var text = query.Trim();
        // Leading requests are stepped over where they end (\G), not cut off one by one: cutting copied the rest each
        // time, quadratic in a query made of thousands of "hey"s.
        var start = SkipSeparators(text, 0);
        while (LeadingRequestRegex().Match(text, start) is { Success: true, Length: > 0 } match)
        {
            start = SkipSeparators(text, match.Index + match.Length);
        }
        text = FillerRegex().Replace(text[start..], " ");
        text = SpacesRegex().Replace(text, " ").Trim();
        return WordRegex().IsMatch(text) ? text : query.Trim();
    }

    private static int SkipSeparators(string text, int start)
    {
        while (start < text.Length && text[start] is ' ' or ',' or '!' or '.' or ':' or ';' or '-')
        {
            start++;
        }
        return start;
    }

    [GeneratedRegex(@"\G(?:(?:hi|hello|hey|ok|okay|so|well)\b[\s,!.]*|(?:please\s+)?(?:can|could|would|will)\s+you\s+(?:please\s+)?(?:tell|show|give|find|explain|help)(?:\s+me)?(?:\s+(?:with|about))?\b|i(?:'d|’d| would)\s+like\s+to\s+(?:know|find\s+out|learn|understand)(?:\s+about)?\b|i\s+(?:want|need)\s+to\s+(?:know|find\s+out|learn|understand)(?:\s+about)?\b|(?:tell|show|give)\s+me(?:\s+about)?\b|(?:do\s+you\s+know|i\s+wonder(?:ed)?)\b|my\s+(?:boss|manager|colleague|coworker|co-worker|teacher|friend|team\s*lead)\s+(?:says|said|thinks|told\s+me)(?:\s+that)?\b|(?:someone|somebody)\s+(?:says|said|told\s+me)(?:\s+that)?\b)", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex LeadingRequestRegex();

    // Chit-chat anywhere: closing questions that carry no content, and filler words.
    [GeneratedRegex(@"\b(?:any\s+ideas?|ideas|is\s+that\s+possible|what\s+(?:should|can|do)\s+i\s+(?:use|do)|what'?s\s+the\s+(?:right|best)\s+way|is\s+there\s+(?:a|an)\s+(?:neat|lazy|easy|simple|quick|good|clean|nice)\s+way(?:\s+to)?|is\s+there\s+something\s+built[\s-]?in|thanks(?:\s+in\s+advance)?|thank\s+you|please|exactly|just|really|actually|basically|anyone)\b", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex FillerRegex();

    [GeneratedRegex(@"\s+")]
    private static partial Regex SpacesRegex();

    // Words keep inner apostrophes, hyphens and dots between letters or digits ("401(k)" gives "401", "k"; "e-mail", "v1.2" stay whole).
    [GeneratedRegex(@"[\p{L}\p{N}]+(?:['’.\-][\p{L}\p{N}]+)*")]
    private static partial Regex WordRegex();
}
