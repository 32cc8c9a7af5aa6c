using System.Text;
using System.Text.RegularExpressions;
using Threadloom.Core.Domain;
using Threadloom.Core.Tools.FileSearch;

namespace Threadloom.Core.Tests.FileSearch;

public sealed partial class CitationResolverTests
{
    private static readonly Dictionary<string, FileCitation> Shown = new(StringComparer.Ordinal)
    {
        ["【0:0†plan.txt】"] = new("file-plan", "The plan matches up to 10%."),
        ["【0:1†benefits.txt】"] = new("file-benefits", "We match 50% up to 6%."),
        ["【1:0†plan.txt】"] = new("file-plan", "The plan matches up to 10%."),
    };

    public static TheoryData<string> Texts() =>
    [
        "Up to 10% 【0:0†plan.txt】, but 50% 【0:1†benefits.txt】.",
        "Made up 【9:9†fake.txt】. Real 【0:0†plan.txt】",
        "Two fakes 【5:5†a】【6:6†b】. End",
        "Double  space 【7:7†x】【8:8†y】, then text",
        "Space before end 【3:3†gone】",
        "Kept then fake【0:0†plan.txt】 【4:4†nope】; done",
        "Not markers: 【note】, 【1:x†y】, 【12:3 no dagger】 and 【",
        "Unclosed 【0:0†plan.txt and more",
        "Nested 【【0:0†plan.txt】 and 【0:0†a【1:0†plan.txt】",
        "Newline in name 【0:0†pl\nan.txt】 stays",
        "Ten digits 【1234567890:0†x】 stays; nine 【123456789:0†x】 goes",
        "Long name 【0:0†" + new string('n', 300) + "】 stays",
        "Trailing spaces   ",
        "Emoji 👩‍👩‍👧 then 【0:1†benefits.txt】 and é",
        "【0:0†plan.txt】 at the start, 【2:2†fake】 mid, 【1:0†plan.txt】",
        "",
    ];

    [Theory]
    [MemberData(nameof(Texts))]
    public void Append_AnySplit_GivesTheWholeTextResolution(string text)
    {
        var expected = Reference(text);
        AssertSame(expected, Collect(text, [text.Length]));
        for (var seed = 0; seed < 40; seed++)
        {
            var random = new Random(seed);
            var cuts = new List<int>();
            for (var at = 0; at < text.Length;)
            {
                at = Math.Min(text.Length, at + random.Next(1, 6));
                cuts.Add(at);
            }
            AssertSame(expected, Collect(text, cuts));
        }
        AssertSame(expected, Collect(text, [.. Enumerable.Range(1, text.Length)]));
        AssertSame(expected, FileCitations.Resolve(text, Shown));
    }

    [Fact]
    public void Append_KnownMarkerSplitAcrossDeltas_ArrivesWholeWithItsAnnotation()
    {
        var resolver = new CitationResolver { Shown = Shown };

        Assert.Equal("Up to 10%", resolver.Append("Up to 10% 【0:").Value);
        Assert.Equal("", resolver.Append("0†plan.").Value);
        var marker = resolver.Append("txt】.");

        Assert.Equal(" 【0:0†plan.txt】.", marker.Value);
        var annotation = Assert.IsType<FileCitationAnnotation>(Assert.Single(marker.Annotations));
        Assert.Equal(("【0:0†plan.txt】", 10, 24, "file-plan"), (annotation.Text, annotation.StartIndex, annotation.EndIndex, annotation.FileCitation.FileId));
        Assert.Equal("", resolver.Complete().Value);
    }

    [Fact]
    public void Append_InventedMarker_IsNeverSent()
    {
        var resolver = new CitationResolver { Shown = Shown };
        var sent = new StringBuilder();

        foreach (var piece in new[] { "Made up ", "【9:9", "†fake.txt】", ". Next" })
        {
            sent.Append(resolver.Append(piece).Value);
        }
        sent.Append(resolver.Complete().Value);

        Assert.Equal("Made up. Next", sent.ToString());
    }

    [Fact]
    public void Append_OpeningBracketThatIsNoMarker_IsSentAsSoonAsThatIsClear()
    {
        var resolver = new CitationResolver { Shown = Shown };

        Assert.Equal("See", resolver.Append("See 【").Value);
        Assert.Equal(" 【no", resolver.Append("no").Value);
    }

    private static void AssertSame(MessageText expected, MessageText actual)
    {
        Assert.Equal(expected.Value, actual.Value);
        Assert.Equal(expected.Annotations, actual.Annotations);
    }

    private static MessageText Collect(string text, IEnumerable<int> cuts)
    {
        var resolver = new CitationResolver { Shown = Shown };
        var value = new StringBuilder();
        var annotations = new List<TextAnnotation>();
        var from = 0;
        foreach (var cut in cuts)
        {
            var piece = resolver.Append(text[from..cut]);
            from = cut;
            value.Append(piece.Value);
            annotations.AddRange(piece.Annotations);
        }
        var rest = resolver.Complete();
        value.Append(rest.Value);
        annotations.AddRange(rest.Annotations);
        var result = new MessageText(value.ToString(), annotations);
        Assert.All(annotations, a => Assert.Equal(a.Text, result.Value[a.StartIndex..a.EndIndex]));
        return result;
    }

    [Fact]
    public void Issue10_ShownMarkers_CitationQuotesThePassageShown()
    {
        var results = new List<Domain.FileSearchResult>
        {
            new("file-benefits", "contoso-benefits.txt", 0.9, [new FileSearchResultContent("  Contoso matches 50% of contributions up to 6%.\n")]),
            new("file-401k", "contoso-401k.txt", 0.8, [new FileSearchResultContent("The match is up to 10%.")]),
        };
        var output = FileSearchTool.FormatForModel(0, ["401k match"], 1, results.Select(r => new Tools.FileSearch.FileSearchResult("vs_1", r.FileId, r.FileName, r.Score, r.Content![0].Text, 0, null, null, null, 0, r.Content![0].Text.Length)).ToList());
        var step = new RunStep("step_1", "p", DateTimeOffset.UnixEpoch, "thread_1", "run_1", "asst_1", RunStepStatus.Completed,
            new ToolCallsStepDetails([new FileSearchStepToolCall("call_1", new FileSearchCall(null, results))]), new Dictionary<string, string>(),
            BuiltInCalls: new Dictionary<string, BuiltInCallRecord> { ["call_1"] = new("file_search", "{}", output) });

        var shown = FileCitations.ShownMarkers([step]);

        Assert.Equal(new FileCitation("file-benefits", "Contoso matches 50% of contributions up to 6%."), shown["【0:0†contoso-benefits.txt】"]);
        Assert.Equal(new FileCitation("file-401k", "The match is up to 10%."), shown["【0:1†contoso-401k.txt】"]);
        var resolved = FileCitations.Resolve("50% 【0:0†contoso-benefits.txt】 or 10% 【0:1†contoso-401k.txt】", shown);
        Assert.Equal(["Contoso matches 50% of contributions up to 6%.", "The match is up to 10%."],
            resolved.Annotations.Cast<FileCitationAnnotation>().Select(a => a.FileCitation.Quote));
    }

    /// <summary>The whole-text resolution as it was written before streaming (regex, one pass), as the oracle.</summary>
    private static MessageText Reference(string text)
    {
        var output = new StringBuilder(text.Length);
        var annotations = new List<TextAnnotation>();
        var position = 0;
        foreach (Match match in Marker().Matches(text))
        {
            output.Append(text, position, match.Index - position);
            position = match.Index + match.Length;
            if (Shown.TryGetValue(match.Value, out var citation))
            {
                var start = output.Length;
                output.Append(match.Value);
                annotations.Add(new FileCitationAnnotation(match.Value, citation, start, output.Length));
            }
            else if (output.Length > 0 && output[^1] == ' ' && (position >= text.Length || text[position] is ' ' or '.' or ',' or ';' or ':' or '\n'))
            {
                output.Length--;
            }
        }
        output.Append(text, position, text.Length - position);
        return new MessageText(output.ToString(), annotations);
    }

    [GeneratedRegex(@"【([0-9]{1,9}):([0-9]{1,9})†([^】\n]{0,256})】")]
    private static partial Regex Marker();
}
