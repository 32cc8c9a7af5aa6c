namespace Threadloom.Core.Ingestion;

/// <summary>
/// The title of a plain-text document (issue #11): plain text has no markup, but most documents open with a line that
/// names them. A manual page's title is its <c>NAME</c> section's line ("ls - list directory contents"); otherwise it
/// is the first non-empty line when that line is short and more text follows. Only the first 4 KB are looked at.
/// </summary>
public static class PlainTextTitle
{
    private const int MaxTitleChars = 120;
    private const int ScanChars = 4096;

    public static string? Find(string text)
    {
        var head = text.AsSpan(0, Math.Min(text.Length, ScanChars));
        string? first = null;
        var previousWasName = false;
        var lines = 0;
        foreach (var range in head.Split('\n'))
        {
            var line = head[range].Trim();
            if (line.IsEmpty)
            {
                continue;
            }
            lines++;
            if (previousWasName)
            {
                return Clip(line);
            }
            previousWasName = line.SequenceEqual("NAME");
            first ??= line.Length <= MaxTitleChars ? line.ToString() : null;
            if (first is null && lines == 1)
            {
                return null; // a long first line: prose, not a title
            }
        }
        return lines > 1 ? first : null;
    }

    private static string Clip(ReadOnlySpan<char> line) => (line.Length <= MaxTitleChars ? line : line[..MaxTitleChars]).ToString();
}
