namespace Threadloom.Core.Ingestion;

/// <summary>Markdown is indexed as written; ATX headings (<c># Title</c>) are recorded, the first level-1 one is the title.</summary>
internal static class MarkdownHeadings
{
    public static ExtractedDocument Extract(string text)
    {
        var headings = new List<DocumentHeading>();
        string? title = null;
        var inFence = false;
        var offset = 0;
        while (offset < text.Length)
        {
            var end = text.IndexOf('\n', offset);
            var lineEnd = end < 0 ? text.Length : end;
            var line = text.AsSpan(offset, lineEnd - offset).TrimEnd('\r');
            if (line.StartsWith("```") || line.StartsWith("~~~"))
            {
                inFence = !inFence;
            }
            else if (!inFence && line.StartsWith("#"))
            {
                var level = line.Length - line.TrimStart('#').Length;
                var rest = line[level..];
                if (level <= 6 && (rest.IsEmpty || rest[0] == ' '))
                {
                    var heading = rest.Trim().TrimEnd('#').Trim().ToString();
                    if (heading.Length > 0)
                    {
                        headings.Add(new DocumentHeading(offset, level, heading));
                        title ??= level == 1 ? heading : null;
                    }
                }
            }
            offset = lineEnd + 1;
        }
        return new ExtractedDocument(text, title, [], headings);
    }
}
