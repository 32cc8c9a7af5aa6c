using Threadloom.Core.Tools.FileSearch;

namespace Threadloom.Storage.Sqlite;

/// <summary>
/// Turns arbitrary user text into a safe FTS5 query: word tokens only, each double-quoted (so FTS5 operators and
/// punctuation in the input are inert), common English stop words dropped, OR-joined so BM25 ranks partial matches.
/// </summary>
internal static class SqliteChunkIndexQuery
{
    /// <summary>The FTS5 MATCH expression, or null when the text has no searchable word.</summary>
    public static string? Build(string text) => Or(Terms(text));

    /// <summary>OR-joins quoted terms (from <see cref="Terms"/>); null when there are none.</summary>
    public static string? Or(IEnumerable<string> terms)
    {
        var joined = string.Join(" OR ", terms);
        return joined.Length == 0 ? null : joined;
    }

    /// <summary>The query's distinct terms (<see cref="KeywordTerms"/>), each a double-quoted FTS5 string.</summary>
    public static List<string> Terms(string text) => KeywordTerms.Of(text).Select(Quote).ToList();

    /// <summary>An FTS5 string: double-quoted, inner quotes doubled, so its content is never query syntax.</summary>
    public static string Quote(string text) => "\"" + text.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";

    /// <summary>
    /// Picks the terms a fast keyword query matches on: rarest first, skipping terms that match nothing, adding terms
    /// while the sum of their document frequencies stays within <paramref name="budget"/> (the rarest term is always
    /// kept), at most <paramref name="maxTerms"/>. FTS5 scores every row a query matches and counts every row of each
    /// term to compute its IDF, so the cost of a query is about the sum of its terms' document frequencies; terms left
    /// out are the most frequent ones, whose IDF is the lowest.
    /// </summary>
    public static List<string> Shape(IReadOnlyList<(string Term, long Df)> terms, long budget, int maxTerms)
    {
        var selected = new List<string>(Math.Min(maxTerms, terms.Count));
        long sum = 0;
        foreach (var (term, df) in terms.Where(t => t.Df > 0).OrderBy(t => t.Df))
        {
            if (selected.Count == maxTerms || (selected.Count > 0 && sum + df > budget))
            {
                break;
            }
            selected.Add(term);
            sum += df;
        }
        return selected;
    }
}
