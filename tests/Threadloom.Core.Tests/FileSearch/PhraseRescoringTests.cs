using System.Text.RegularExpressions;
using Threadloom.Core.Tools.FileSearch;

namespace Threadloom.Core.Tests.FileSearch;

/// <summary>
/// The re-scoring pass reads candidates as spans (issue #11, search latency); these tests hold it to the features a
/// plain reading (a lower-cased string per word) gives, on texts made to hit the edge cases: stop words between
/// query words, plurals, case, digits, letters outside ASCII, words longer than the pass's buffer, repeated terms.
/// </summary>
public sealed partial class PhraseRescoringTests
{
    private static readonly string[] Vocabulary =
    [
        "list", "lists", "List", "LISTS", "directory", "Directories", "content", "contents", "the", "of", "and", "a", "is", "class", "status",
        "axis", "bus", "Straße", "STRASSE", "İstanbul", "ıı", "x11", "401k", "sort", "sorted", "Sorts", "name", "names", "ls", "dir",
        new string('w', 130) + "s", new string('W', 200), "émigré", "ÉMIGRÉS", "ǅemal", "ﬁle", "files", "Ⅻ", "x²", "½cup", "e\u0301migre",
        "ours", "our", "does", "doe", "Its", "it's", "bass", "basses",
    ];

    [Fact]
    public void Measure_MatchesAPlainReadingOfTheWords_OnRandomTexts()
    {
        var random = new Random(11);
        string Text(int words) => string.Join(random.Next(4) switch { 0 => " ", 1 => ", ", 2 => "\n", _ => " - " },
            Enumerable.Range(0, words).Select(_ => Vocabulary[random.Next(Vocabulary.Length)]));
        for (var i = 0; i < 2_000; i++)
        {
            var query = PhraseRescoring.Prepare(Text(random.Next(0, 8)));
            var (text, file, heading) = (Text(random.Next(0, 120)), Text(random.Next(0, 3)) + ".txt", random.Next(3) == 0 ? null : Text(random.Next(0, 5)));

            Assert.Equal(Reference(query, text, file, heading), PhraseRescoring.Measure(query, text, file, heading));
        }
    }

    [Fact]
    public void Rescore_TakesEachCandidatesBestQuery_AndReordersOnlyTheTop()
    {
        var fused = new List<(string Item, double Score)> { ("nothing here", 0.9), ("list directory contents", 0.8), ("sort names", 0.7), ("list directory contents", 0.6) };
        var weights = new RescoreWeights(Coverage: 0.1, Phrase: 1.0, Depth: 3);

        var rescored = PhraseRescoring.Rescore(fused, ["list directory contents", "sort names"], f => (f, "f.txt", (string?)null), weights);

        Assert.Equal(["list directory contents", "sort names", "nothing here", "list directory contents"], rescored.Select(r => r.Item));
        Assert.Equal([1.0, 1.0, 0.9, 0.6], rescored.Select(r => Math.Round(r.Score, 9)));
    }

    /// <summary>The features as specified: content words as lower-cased, plural-stripped strings, compared one by one.</summary>
    private static PhraseRescoring.Features Reference(PhraseRescoring.QueryTerms query, string text, string fileName, string? heading)
    {
        if (query.Terms.Count == 0)
        {
            return default;
        }
        var words = Words(text.Length > PhraseRescoring.MaxTextChars ? text[..PhraseRescoring.MaxTextChars] : text, int.MaxValue);
        var title = Words(Path.GetFileNameWithoutExtension(fileName) + " " + heading, 256).ToHashSet(StringComparer.Ordinal);
        var found = query.Terms.Where(words.Contains).ToList();
        var pairs = query.Pairs.Count(p => words.Zip(words.Skip(1)).Contains((p.First, p.Second)));
        var window = int.MaxValue;
        if (found.Count >= 2)
        {
            for (var left = 0; left < words.Count; left++)
            {
                var seen = new HashSet<string>(StringComparer.Ordinal);
                for (var right = left; right < words.Count && right - left + 1 < window; right++)
                {
                    if (query.Terms.Contains(words[right]))
                    {
                        seen.Add(words[right]);
                    }
                    if (seen.Count == found.Count && query.Terms.Contains(words[left]))
                    {
                        window = right - left + 1;
                    }
                }
            }
        }
        return new((double)found.Count / query.Terms.Count, query.Pairs.Count == 0 ? 0 : (double)pairs / query.Pairs.Count,
            found.Count < 2 ? 0 : (double)found.Count / window, (double)query.Terms.Count(title.Contains) / query.Terms.Count);
    }

    private static List<string> Words(string text, int max) =>
        WordRegex().Matches(text).Select(m => m.Value.ToLowerInvariant()).Where(w => !StopWords.Contains(w))
            .Select(w => w.Length > 3 && w[^1] == 's' && w[^2] is not ('s' or 'u' or 'i') ? w[..^1] : w).Take(max).ToList();

    [GeneratedRegex(@"[\p{L}\p{N}]+")]
    private static partial Regex WordRegex();
}
