namespace Threadloom.Core.Ingestion;

/// <summary>
/// One linear pass that measures how deep a JSON (brackets outside strings) or XML/HTML (elements) text nests, and
/// fails it past <see cref="ExtractionBudget.MaxNestingDepth"/>. Nothing here builds a tree, so a 2 MB run of
/// <c>[[[[</c> costs one scan.
/// </summary>
internal static class NestingDepth
{
    private static readonly HashSet<string> HtmlVoidElements = new(StringComparer.OrdinalIgnoreCase)
    {
        "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source", "track", "wbr", "p", "li",
    };

    public static void Check(string extension, string text, int maxDepth)
    {
        switch (extension)
        {
            case ".json" or ".jsonl":
                CheckJson(text, maxDepth);
                break;
            case ".xml":
                CheckMarkup(text, maxDepth, html: false);
                break;
            case ".html" or ".htm" or ".xhtml":
                CheckMarkup(text, maxDepth, html: true);
                break;
        }
    }

    /// <summary>The deepest bracket nesting of JSON text (strings and escapes skipped); stops as soon as it passes the cap.</summary>
    internal static void CheckJson(ReadOnlySpan<char> text, int maxDepth)
    {
        var depth = 0;
        var inString = false;
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (inString)
            {
                if (c == '\\')
                {
                    i++;
                }
                else if (c == '"')
                {
                    inString = false;
                }
                continue;
            }
            switch (c)
            {
                case '"':
                    inString = true;
                    break;
                case '[' or '{':
                    if (++depth > maxDepth)
                    {
                        throw ExtractionBudgetException.Depth(maxDepth);
                    }
                    break;
                case ']' or '}':
                    depth = Math.Max(0, depth - 1);
                    break;
                case '\n':
                    depth = 0; // JSON Lines: each line is its own document (a stray bracket cannot carry over)
                    break;
            }
        }
    }

    /// <summary>The deepest element nesting: <c>&lt;a&gt;</c> opens, <c>&lt;/a&gt;</c> and <c>/&gt;</c> close; comments, PIs and HTML void elements do not count.</summary>
    internal static void CheckMarkup(ReadOnlySpan<char> text, int maxDepth, bool html)
    {
        var depth = 0;
        var i = 0;
        while ((i = NextTag(text, i)) >= 0)
        {
            var next = i + 1 < text.Length ? text[i + 1] : '\0';
            var close = text[(i + 1)..].IndexOf('>');
            var end = close < 0 ? text.Length : i + 1 + close;
            if (next == '/')
            {
                depth = Math.Max(0, depth - 1);
            }
            else if (char.IsLetter(next) && !(end > i && text[end - 1] == '/'))
            {
                var nameEnd = i + 1;
                while (nameEnd < end && (char.IsLetterOrDigit(text[nameEnd]) || text[nameEnd] is ':' or '-' or '_'))
                {
                    nameEnd++;
                }
                if (!(html && HtmlVoidElements.Contains(text[(i + 1)..nameEnd].ToString())) && ++depth > maxDepth)
                {
                    throw ExtractionBudgetException.Depth(maxDepth);
                }
            }
            i = end;
        }
    }

    private static int NextTag(ReadOnlySpan<char> text, int from)
    {
        if (from >= text.Length)
        {
            return -1;
        }
        var at = text[from..].IndexOf('<');
        return at < 0 ? -1 : from + at;
    }
}
