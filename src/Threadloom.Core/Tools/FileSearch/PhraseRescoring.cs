using System.Globalization;
using System.Text.RegularExpressions;

namespace Threadloom.Core.Tools.FileSearch;

/// <summary>
/// Weights of the re-scoring pass over the top fused candidates (issue #11): each feature is in 0–1 and adds
/// <c>weight × feature</c> to the candidate's fused score (ranked by the sum, reported capped at 1). All zero is no pass.
/// </summary>
/// <param name="Coverage">Share of the query's content words found in the chunk.</param>
/// <param name="Phrase">Share of the query's adjacent content-word pairs found adjacent in the chunk.</param>
/// <param name="Proximity">How close together the query's words found in the chunk are (found words / narrowest window holding them all).</param>
/// <param name="Title">Share of the query's content words in the file name or the chunk's heading.</param>
/// <param name="Depth">How many of the top fused candidates are re-scored.</param>
public sealed record RescoreWeights(double Coverage = 0, double Phrase = 0, double Proximity = 0, double Title = 0, int Depth = RescoreWeights.DefaultDepth)
{
    public const int DefaultDepth = 30;

    public static RescoreWeights None { get; } = new();

    /// <summary>
    /// The default pass: coverage 0.1, adjacent pairs 1.0 over the top 30, the best setting on the man-page set with
    /// score fusion (tuned there together with the fusion's vector share; all-MiniLM-L6-v2 stores), checked on the
    /// Python set (docs/file-search.md, issue #11).
    /// </summary>
    public static RescoreWeights Default { get; } = new(Coverage: 0.1, Phrase: 1.0, Proximity: 0, Title: 0, Depth: 30);

    /// <summary>The pass tuned with rank fusion (coverage 0.05, pairs 0.5), the default before score fusion.</summary>
    public static RescoreWeights RankFusionDefault { get; } = new(Coverage: 0.05, Phrase: 0.5, Proximity: 0, Title: 0, Depth: 30);

    public bool IsNone => Coverage == 0 && Phrase == 0 && Proximity == 0 && Title == 0;
}

/// <summary>
/// A cheap re-scoring pass after fusion (issue #11): exact matches of the query's content words, of its adjacent word
/// pairs and their proximity in the chunk text, and a title match, computed over the top candidates only.
/// </summary>
/// <remarks>
/// Design notes: words are lower-cased letter and digit runs with stop words removed on both sides, and a crude
/// plural strip (a final <c>-s</c>) so "lists" meets "list"; no dictionary, no model. Each
/// candidate costs one linear pass over its text (bounded: candidates are chunks, at most <see cref="MaxTextChars"/> of
/// each is read). The bonus only adds, so the pass only reorders within the re-scored top: nothing below it can
/// overtake, and <c>score_threshold</c> keeps every hit that fusion alone kept.
/// </remarks>
public static partial class PhraseRescoring
{
    /// <summary>Characters of a candidate's text read by the pass (chunks are a few thousand; this bounds a hostile one).</summary>
    public const int MaxTextChars = 20_000;

    /// <summary>The query's side, computed once per query.</summary>
    public sealed class QueryTerms
    {
        internal QueryTerms(List<string> terms)
        {
            Terms = terms.Distinct(StringComparer.Ordinal).ToList();
            Pairs = terms.Zip(terms.Skip(1)).Where(p => p.First != p.Second).Select(p => (p.First, p.Second)).Distinct().ToList();
        }

        public IReadOnlyList<string> Terms { get; }

        public IReadOnlyList<(string First, string Second)> Pairs { get; }
    }

    /// <summary>The four features of <see cref="RescoreWeights"/>, each in 0–1.</summary>
    public readonly record struct Features(double Coverage, double Phrase, double Proximity, double Title);

    public static QueryTerms Prepare(string query) => new(Words(query, 256));

    public static Features Measure(QueryTerms query, string text, string fileName, string? heading)
    {
        var vocabulary = new Vocabulary([query]);
        return vocabulary.Measure(0, vocabulary.Read(text, fileName, heading));
    }

    public static double Bonus(Features f, RescoreWeights w) =>
        w.Coverage * f.Coverage + w.Phrase * f.Phrase + w.Proximity * f.Proximity + w.Title * f.Title;

    /// <summary>
    /// The fused list with its top <see cref="RescoreWeights.Depth"/> re-scored against every query (the best bonus
    /// counts) and re-sorted; the rest unchanged.
    /// </summary>
    public static IReadOnlyList<(T Item, double Score)> Rescore<T>(IReadOnlyList<(T Item, double Score)> fused, IReadOnlyList<string> queries,
        Func<T, (string Text, string FileName, string? Heading)> fields, RescoreWeights weights)
    {
        if (weights.IsNone || fused.Count == 0)
        {
            return fused;
        }
        var vocabulary = new Vocabulary(queries.Select(Prepare).ToList());
        var depth = Math.Min(weights.Depth, fused.Count);
        var top = new List<(T Item, double Score, int Rank)>(depth);
        for (var i = 0; i < depth; i++)
        {
            var (text, fileName, heading) = fields(fused[i].Item);
            var candidate = vocabulary.Read(text, fileName, heading);
            var bonus = double.NegativeInfinity;
            for (var q = 0; q < vocabulary.Queries.Count; q++)
            {
                bonus = Math.Max(bonus, Bonus(vocabulary.Measure(q, candidate), weights));
            }
            top.Add((fused[i].Item, fused[i].Score + (vocabulary.Queries.Count == 0 ? 0 : bonus), i));
        }
        // Sorted by the sum, reported capped at 1: two hits both over 1 keep their order, and scores stay in 0–1.
        return top.OrderByDescending(t => t.Score).ThenBy(t => t.Rank).Select(t => (t.Item, Math.Min(1, t.Score))).Concat(fused.Skip(depth)).ToList();
    }

    /// <summary>A candidate as the pass sees it: its content words as ids of the queries' terms (-1: no query's term), and the terms in its title.</summary>
    private sealed record Candidate(int[] Words, HashSet<int> TitleTerms);

    /// <summary>
    /// Every query's terms under one id each, so a candidate's text is read once, without a string per word (issue #11:
    /// the pass cost milliseconds a search when each word became a lower-cased string). A word is looked up once, by
    /// its lower-cased form, among the forms that matter: stop words (skipped) and each term as written and as the
    /// plural the stemmer maps to it; a word of a length no form has is some other word without being lowered.
    /// </summary>
    private sealed class Vocabulary
    {
        private const int StopWord = -2;

        private readonly Dictionary<string, int> _ids = new(StringComparer.Ordinal);
        private readonly Dictionary<string, int> _forms = new(StringComparer.Ordinal);
        private readonly Dictionary<string, int>.AlternateLookup<ReadOnlySpan<char>> _lookup;

        // Bit n: some form has n characters (bit 63: 63 or more).
        private readonly ulong _formLengths;

        // Per query: its term index of each id (-1: not its term), and its adjacent pairs as (id, id).
        private readonly List<int[]> _termOf = [];
        private readonly List<HashSet<(int, int)>> _pairs = [];

        public Vocabulary(IReadOnlyList<QueryTerms> queries)
        {
            Queries = queries;
            foreach (var term in queries.SelectMany(q => q.Terms))
            {
                _ids.TryAdd(term, _ids.Count);
            }
            foreach (var stopWord in StopWords.All)
            {
                _forms[stopWord] = StopWord;
            }
            foreach (var (term, id) in _ids)
            {
                // Words whose stem is the term: the term itself, and the term with a final -s when the stemmer strips it.
                foreach (var form in (string[])[term, term + "s"])
                {
                    if (Stem(form) == term)
                    {
                        _forms.TryAdd(form, id);
                    }
                }
            }
            foreach (var form in _forms.Keys)
            {
                _formLengths |= 1UL << Math.Min(form.Length, 63);
            }
            _lookup = _forms.GetAlternateLookup<ReadOnlySpan<char>>();
            foreach (var query in queries)
            {
                var termOf = new int[_ids.Count];
                Array.Fill(termOf, -1);
                for (var t = 0; t < query.Terms.Count; t++)
                {
                    termOf[_ids[query.Terms[t]]] = t;
                }
                _termOf.Add(termOf);
                _pairs.Add(query.Pairs.Select(p => (_ids[p.First], _ids[p.Second])).ToHashSet());
            }
        }

        public IReadOnlyList<QueryTerms> Queries { get; }

        public Candidate Read(string text, string fileName, string? heading)
        {
            var words = new List<int>();
            Scan(text.AsSpan(0, Math.Min(text.Length, MaxTextChars)), int.MaxValue, words);
            var title = new List<int>();
            Scan(string.Concat(Path.GetFileNameWithoutExtension(fileName.AsSpan()), " ", heading), 256, title);
            return new Candidate([.. words], title.Where(id => id >= 0).ToHashSet());
        }

        /// <summary>The ids of the content words of <paramref name="text"/> in order, at most <paramref name="max"/>, as <see cref="Words"/> finds them.</summary>
        private void Scan(ReadOnlySpan<char> text, int max, List<int> ids)
        {
            Span<char> buffer = stackalloc char[128];
            var i = 0;
            while (ids.Count < max)
            {
                while (i < text.Length && !IsWordChar(text[i]))
                {
                    i++;
                }
                if (i == text.Length)
                {
                    return;
                }
                var start = i;
                while (i < text.Length && IsWordChar(text[i]))
                {
                    i++;
                }
                var word = text[start..i];
                var id = -1;
                if ((_formLengths & (1UL << Math.Min(word.Length, 63))) != 0)
                {
                    var lower = word.Length <= buffer.Length ? buffer[..word.Length] : new char[word.Length];
                    word.ToLowerInvariant(lower);
                    id = _lookup.TryGetValue(lower, out var found) ? found : -1;
                }
                if (id != StopWord)
                {
                    ids.Add(id);
                }
            }
        }

        /// <summary>A character of <c>[\p{L}\p{N}]</c>, the pattern of <see cref="WordRegex"/>.</summary>
        private static bool IsWordChar(char c) =>
            c < 128 ? char.IsAsciiLetterOrDigit(c)
            : char.GetUnicodeCategory(c) is >= UnicodeCategory.UppercaseLetter and <= UnicodeCategory.OtherLetter
                or >= UnicodeCategory.DecimalDigitNumber and <= UnicodeCategory.OtherNumber;

        public Features Measure(int queryIndex, Candidate candidate)
        {
            var query = Queries[queryIndex];
            if (query.Terms.Count == 0)
            {
                return default;
            }
            var termOf = _termOf[queryIndex];
            var pairs = _pairs[queryIndex];
            var found = new bool[query.Terms.Count];
            var pairsFound = new HashSet<(int, int)>();
            // Sliding window over the positions of query words: the narrowest window holding every distinct word found.
            var positions = new List<(int Position, int Term)>();
            var words = candidate.Words;
            for (var i = 0; i < words.Length; i++)
            {
                var t = words[i] >= 0 ? termOf[words[i]] : -1;
                if (t >= 0)
                {
                    found[t] = true;
                    positions.Add((i, t));
                }
                if (i > 0 && pairs.Count > 0 && t >= 0 && words[i - 1] >= 0 && pairs.Contains((words[i - 1], words[i])))
                {
                    pairsFound.Add((words[i - 1], words[i]));
                }
            }
            var distinct = found.Count(f => f);
            var coverage = (double)distinct / query.Terms.Count;
            var phrase = query.Pairs.Count == 0 ? 0 : (double)pairsFound.Count / query.Pairs.Count;
            var proximity = distinct < 2 ? 0 : (double)distinct / NarrowestWindow(positions, query.Terms.Count, distinct);
            var title = 0;
            foreach (var id in candidate.TitleTerms)
            {
                title += termOf[id] >= 0 ? 1 : 0;
            }
            return new Features(coverage, phrase, proximity, (double)title / query.Terms.Count);
        }
    }

    /// <summary>Length in words of the narrowest window of <paramref name="positions"/> (sorted) holding <paramref name="distinct"/> distinct terms.</summary>
    private static int NarrowestWindow(List<(int Position, int Term)> positions, int terms, int distinct)
    {
        var counts = new int[terms];
        var have = 0;
        var best = int.MaxValue;
        var left = 0;
        for (var right = 0; right < positions.Count; right++)
        {
            if (counts[positions[right].Term]++ == 0)
            {
                have++;
            }
            while (have == distinct)
            {
                best = Math.Min(best, positions[right].Position - positions[left].Position + 1);
                if (--counts[positions[left].Term] == 0)
                {
                    have--;
                }
                left++;
            }
        }
        return best;
    }

    /// <summary>Lower-cased content words with a crude suffix strip, in order, at most <paramref name="max"/>.</summary>
    internal static List<string> Words(string text, int max)
    {
        var words = new List<string>();
        foreach (Match m in WordRegex().Matches(text))
        {
            var w = m.Value.ToLowerInvariant();
            if (StopWords.Contains(w))
            {
                continue;
            }
            words.Add(Stem(w));
            if (words.Count >= max)
            {
                break;
            }
        }
        return words;
    }

    // A plural's -s only: "lists" meets "list"; "-ss", "-us", "-is" stay ("class", "status", "axis").
    private static string Stem(string w) => IsPlural(w) ? w[..^1] : w;

    private static bool IsPlural(ReadOnlySpan<char> w) => w.Length > 3 && w[^1] == 's' && w[^2] is not ('s' or 'u' or 'i');

    [GeneratedRegex(@"[\p{L}\p{N}]+")]
    private static partial Regex WordRegex();
}
