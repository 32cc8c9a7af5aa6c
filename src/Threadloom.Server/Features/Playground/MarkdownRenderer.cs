using System.Text;
using System.Text.RegularExpressions;
using Markdig;
using Markdig.Extensions.Mathematics;
using Markdig.Renderers;
using Markdig.Renderers.Html;
using Markdig.Syntax;
using Markdig.Syntax.Inlines;

namespace Threadloom.Server.Features.Playground;

/// <summary>
/// Renders model and user text as HTML for the playground with Markdig, so that nothing the text holds can run in
/// the page: raw HTML is escaped (<c>DisableHtml</c>), link and image URLs keep only safe schemes, and no extension
/// that copies attributes from the text (generic attributes) is enabled.
/// </summary>
/// <remarks>
/// Design notes: the page also sends a Content-Security-Policy without inline scripts, so an escape that slipped
/// through would still not run; these rules are the first line, that header the second.
/// <list type="bullet">
/// <item>Citations: the annotation ranges are replaced, before parsing, by a marker of two private-use characters
/// around the annotation's index, which Markdown leaves alone; after rendering each marker becomes a button the page
/// wires to the quoted source. Private-use characters in the text itself are dropped, so text cannot forge one.</item>
/// <item><c>sandbox:/mnt/data/…</c> links (code interpreter outputs) become in-page links carrying the path, which the
/// page resolves to the file through the message's <c>file_path</c> annotations.</item>
/// <item>Math: <c>$…$</c> and <c>$$…$$</c> are shown as readable text (<see cref="ReadableTex"/>), the TeX kept in a
/// title. Code blocks keep their language as <c>class="language-…"</c>.</item>
/// </list>
/// </remarks>
internal static partial class MarkdownRenderer
{
    /// <summary>Longest text one item may carry (a message is at most 256,000 characters on OpenAI's wire).</summary>
    public const int MaxTextLength = 262_144;

    private const char MarkerOpen = '\uE000';
    private const char MarkerClose = '\uE001';

    private static readonly MarkdownPipeline Pipeline = new MarkdownPipelineBuilder()
        .UsePipeTables()
        .UseEmphasisExtras()
        .UseAutoLinks()
        .UseTaskLists()
        .UseListExtras()
        .UseMathematics()
        .DisableHtml()
        .Build();

    private static readonly string[] SafeLinkSchemes = ["http", "https", "mailto"];

    /// <summary>Renders <paramref name="text"/>; each range in <paramref name="citations"/> (start, end) becomes citation button <c>i</c>.</summary>
    public static string Render(string text, IReadOnlyList<(int Start, int End)> citations)
    {
        var marked = InsertMarkers(text, citations);
        var document = Markdown.Parse(marked, Pipeline);
        foreach (var link in document.Descendants<LinkInline>())
        {
            SanitizeLink(link);
        }
        foreach (var auto in document.Descendants<AutolinkInline>())
        {
            if (!IsSafeUrl(auto.Url, SafeLinkSchemes) && !auto.IsEmail)
            {
                auto.Url = "#";
            }
        }
        using var writer = new StringWriter();
        var renderer = new HtmlRenderer(writer);
        Pipeline.Setup(renderer);
        renderer.ObjectRenderers.Replace<HtmlMathInlineRenderer>(new ReadableMathInlineRenderer());
        renderer.ObjectRenderers.Replace<HtmlMathBlockRenderer>(new ReadableMathBlockRenderer());
        renderer.Render(document);
        writer.Flush();
        return MarkerPattern().Replace(writer.ToString(), m =>
        {
            var index = int.Parse(m.Groups[1].ValueSpan, System.Globalization.CultureInfo.InvariantCulture);
            return $"<button type=\"button\" class=\"cite\" data-annotation=\"{index}\" aria-label=\"Citation {index + 1}: show the quoted source\">[{index + 1}]</button>";
        });
    }

    private static string InsertMarkers(string text, IReadOnlyList<(int Start, int End)> citations)
    {
        var clean = text.AsSpan();
        var builder = new StringBuilder(text.Length + (citations.Count * 8));
        var ordered = citations.Select((c, i) => (c.Start, c.End, Index: i))
            .Where(c => c.Start >= 0 && c.End > c.Start && c.End <= text.Length)
            .OrderBy(c => c.Start).ToList();
        var position = 0;
        foreach (var (start, end, index) in ordered)
        {
            if (start < position)
            {
                continue; // overlapping ranges: the first one wins
            }
            AppendClean(builder, clean[position..start]);
            builder.Append(MarkerOpen).Append(index.ToString(System.Globalization.CultureInfo.InvariantCulture)).Append(MarkerClose);
            position = end;
        }
        AppendClean(builder, clean[position..]);
        return builder.ToString();
    }

    private static void AppendClean(StringBuilder builder, ReadOnlySpan<char> text)
    {
        foreach (var c in text)
        {
            builder.Append(c is MarkerOpen or MarkerClose ? ' ' : c);
        }
    }

    private static void SanitizeLink(LinkInline link)
    {
        var url = link.Url ?? "";
        if (!link.IsImage && url.StartsWith("sandbox:", StringComparison.OrdinalIgnoreCase))
        {
            link.Url = "#";
            link.GetAttributes().AddClass("sandbox-link");
            link.GetAttributes().AddProperty("data-sandbox-path", url["sandbox:".Length..]);
            return;
        }
        // Images: only http(s) and data URLs of images parse here, and the page's CSP loads none from elsewhere.
        if (link.IsImage ? !IsSafeUrl(url, ["http", "https"]) : !IsSafeUrl(url, SafeLinkSchemes) && !url.StartsWith('#'))
        {
            link.Url = link.IsImage ? "" : "#";
            link.GetAttributes().AddClass("unsafe-link");
        }
    }

    private static bool IsSafeUrl(string url, string[] schemes)
    {
        var colon = url.IndexOf(':', StringComparison.Ordinal);
        var slash = url.IndexOfAny(['/', '?', '#']);
        if (colon < 0 || (slash >= 0 && slash < colon))
        {
            // Relative URL (no scheme): resolves inside the playground, which is harmless.
            return url.Length > 0 && !url.Contains('\\', StringComparison.Ordinal);
        }
        var scheme = url[..colon].Trim();
        return schemes.Contains(scheme, StringComparer.OrdinalIgnoreCase);
    }

    [GeneratedRegex("\uE000(\\d{1,6})\uE001")]
    private static partial Regex MarkerPattern();

    private sealed class ReadableMathInlineRenderer : HtmlObjectRenderer<MathInline>
    {
        protected override void Write(HtmlRenderer renderer, MathInline obj)
        {
            var tex = obj.Content.ToString();
            renderer.Write("<span class=\"math\" title=\"").WriteEscape(tex).Write("\">").WriteEscape(ReadableTex.ToText(tex)).Write("</span>");
        }
    }

    private sealed class ReadableMathBlockRenderer : HtmlObjectRenderer<MathBlock>
    {
        protected override void Write(HtmlRenderer renderer, MathBlock obj)
        {
            var tex = obj.Lines.ToString();
            renderer.EnsureLine();
            renderer.Write("<div class=\"math math-block\" title=\"").WriteEscape(tex).Write("\">").WriteEscape(ReadableTex.ToText(tex)).Write("</div>");
            renderer.EnsureLine();
        }
    }
}
