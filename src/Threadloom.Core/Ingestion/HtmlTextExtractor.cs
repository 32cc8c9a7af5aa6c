using System.Net;
using System.Text.RegularExpressions;

namespace Threadloom.Core.Ingestion;

/// <summary>
/// Tag stripping for HTML: scripts, styles, comments and the head are dropped, block elements become line breaks,
/// entities are decoded, and h1–h6 are recorded as headings. Not a full HTML parser; good enough for indexing.
/// </summary>
internal static partial class HtmlTextExtractor
{
    public static ExtractedDocument Extract(string html) => Extract(html, ExtractionBudget.Default);

    public static ExtractedDocument Extract(string html, ExtractionBudget budget)
    {
        var builder = new DocumentBuilder(budget);
        var title = TitleRegex().Match(html);
        if (title.Success)
        {
            builder.Title = Clean(title.Groups[1].Value);
        }
        var body = DroppedRegex().Replace(html, " ");
        var position = 0;
        foreach (Match heading in HeadingRegex().Matches(body))
        {
            AppendBlock(builder, body[position..heading.Index]);
            builder.AppendHeading(heading.Groups[1].Value[0] - '0', Clean(heading.Groups[2].Value));
            position = heading.Index + heading.Length;
        }
        AppendBlock(builder, body[position..]);
        return builder.Build();
    }

    private static void AppendBlock(DocumentBuilder builder, string fragment)
    {
        var text = BlockTagRegex().Replace(fragment, "\n");
        text = WebUtility.HtmlDecode(TagRegex().Replace(text, " "));
        foreach (var raw in text.Split('\n'))
        {
            var line = SpacesRegex().Replace(raw, " ").Trim();
            if (line.Length > 0)
            {
                builder.AppendLine(line);
            }
        }
    }

    private static string Clean(string fragment) => SpacesRegex().Replace(WebUtility.HtmlDecode(TagRegex().Replace(fragment, " ")), " ").Trim();

    [GeneratedRegex(@"<title[^>]*>(.*?)</title>", RegexOptions.IgnoreCase | RegexOptions.Singleline)]
    private static partial Regex TitleRegex();

    [GeneratedRegex(@"<!--.*?-->|<(script|style|head|noscript|template|svg)\b[^>]*>.*?</\1\s*>", RegexOptions.IgnoreCase | RegexOptions.Singleline)]
    private static partial Regex DroppedRegex();

    [GeneratedRegex(@"<h([1-6])\b[^>]*>(.*?)</h\1\s*>", RegexOptions.IgnoreCase | RegexOptions.Singleline)]
    private static partial Regex HeadingRegex();

    [GeneratedRegex(@"<(br|/?p|/?div|/?li|/?tr|/?table|/?section|/?article|/?ul|/?ol|/?pre|/?blockquote|/?h[1-6])\b[^>]*>", RegexOptions.IgnoreCase)]
    private static partial Regex BlockTagRegex();

    [GeneratedRegex(@"<[^>]*>")]
    private static partial Regex TagRegex();

    [GeneratedRegex(@"[ \t\r\f\v\u00A0]+")]
    private static partial Regex SpacesRegex();
}
