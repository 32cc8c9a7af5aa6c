using System.Text;
using System.Text.RegularExpressions;
using Threadloom.Core.Domain;

namespace Threadloom.Core.Tools.FileSearch;

/// <summary>
/// Post-processes the final text of a run's assistant message (a built-in tool may implement it; the executor calls
/// every one before it stores the message).
/// </summary>
public interface IRunMessageAnnotator
{
    Task<MessageText> AnnotateAsync(Run run, string text, CancellationToken cancellationToken);
}

/// <summary>The annotations of a completed message, streamed as one <c>thread.message.delta</c> before <c>thread.message.completed</c>.</summary>
public sealed record MessageAnnotationsDelta(string MessageId, int Index, IReadOnlyList<TextAnnotation> Annotations);

/// <summary>
/// Source markers <c>【{call}:{result}†{file name}】</c> and their resolution into <c>file_citation</c> annotations.
/// </summary>
/// <remarks>
/// A marker is cited only if the model was shown it in this run (found in a file_search tool output recorded in the
/// run's steps); the result index then names the file. Any other marker (invented, or from another run) is removed
/// from the text, and the indexes of the annotations are those of the cleaned text (UTF-16 code units).
/// </remarks>
public static partial class FileCitations
{
    public const string Open = "【";

    public static string Marker(int callIndex, int resultIndex, string fileName) => $"【{callIndex}:{resultIndex}†{fileName}】";

    /// <summary>Marker text → file id, for every result the model was shown in these steps.</summary>
    public static IReadOnlyDictionary<string, string> ShownMarkers(IEnumerable<RunStep> steps)
    {
        var shown = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var step in steps)
        {
            if (step.StepDetails is not ToolCallsStepDetails details)
            {
                continue;
            }
            foreach (var call in details.ToolCalls.OfType<FileSearchStepToolCall>())
            {
                if (step.BuiltInCalls?.GetValueOrDefault(call.Id) is not { } record || call.FileSearch.Results is not { } results)
                {
                    continue;
                }
                foreach (Match match in MarkerPattern().Matches(record.Output))
                {
                    var resultIndex = int.Parse(match.Groups[2].ValueSpan, System.Globalization.CultureInfo.InvariantCulture);
                    if (resultIndex < results.Count)
                    {
                        shown.TryAdd(match.Value, results[resultIndex].FileId);
                    }
                }
            }
        }
        return shown;
    }

    /// <summary>Keeps known markers as annotated text and removes the others.</summary>
    public static MessageText Resolve(string text, IReadOnlyDictionary<string, string> shown)
    {
        var output = new StringBuilder(text.Length);
        var annotations = new List<TextAnnotation>();
        var position = 0;
        foreach (Match match in MarkerPattern().Matches(text))
        {
            output.Append(text, position, match.Index - position);
            position = match.Index + match.Length;
            if (shown.TryGetValue(match.Value, out var fileId))
            {
                var start = output.Length;
                output.Append(match.Value);
                annotations.Add(new FileCitationAnnotation(match.Value, new FileCitation(fileId), start, output.Length));
            }
            else if (output.Length > 0 && output[^1] == ' ' && (position >= text.Length || text[position] is ' ' or '.' or ',' or ';' or ':' or '\n'))
            {
                // The removed marker leaves no dangling space before punctuation or another space.
                output.Length--;
            }
        }
        output.Append(text, position, text.Length - position);
        return new MessageText(output.ToString(), annotations);
    }

    [GeneratedRegex(@"【(\d+):(\d+)†([^】\n]{0,256})】")]
    private static partial Regex MarkerPattern();
}
