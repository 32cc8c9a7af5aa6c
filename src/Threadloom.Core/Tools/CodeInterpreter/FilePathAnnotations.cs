using System.Text.RegularExpressions;
using Threadloom.Core.Domain;

namespace Threadloom.Core.Tools.CodeInterpreter;

/// <summary>
/// Finds the <c>sandbox:/mnt/data/…</c> links in an assistant message that name files the run's code wrote, and
/// makes a <c>file_path</c> annotation for each: <c>text</c> is the link as written, <c>start_index</c>/<c>end_index</c>
/// its UTF-16 offsets in the text value (end exclusive), <c>file_path.file_id</c> the produced file.
/// </summary>
public static partial class FilePathAnnotations
{
    public static IReadOnlyList<TextAnnotation> Find(string text, IReadOnlyDictionary<string, string> links)
    {
        if (links.Count == 0)
        {
            return [];
        }
        var annotations = new List<TextAnnotation>();
        foreach (Match match in SandboxLink().Matches(text))
        {
            // Markdown links may end with punctuation that is not part of the name; try the longest known link first.
            var candidate = match.Value;
            while (candidate.Length > CodeInterpreterTool.SandboxLinkPrefix.Length)
            {
                if (links.TryGetValue(candidate, out var fileId) || links.TryGetValue(Uri.UnescapeDataString(candidate), out fileId))
                {
                    annotations.Add(new FilePathAnnotation(candidate, new FilePath(fileId), match.Index, match.Index + candidate.Length));
                    break;
                }
                candidate = candidate[..^1];
            }
        }
        return annotations;
    }

    [GeneratedRegex(@"sandbox:/mnt/data/[^\s\)\]\(\[""'<>`]+")]
    private static partial Regex SandboxLink();
}
