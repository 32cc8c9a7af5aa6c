using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using Threadloom.Core.Domain;

namespace Threadloom.Core.Tools.FileSearch;

/// <summary>
/// Post-processes the text of a run's assistant messages (a built-in tool may implement it). The executor passes
/// every text delta of the model through the filters it opens, in order, and both streams and stores only what they
/// return, so the streamed deltas add up to the stored message.
/// </summary>
public interface IRunMessageAnnotator
{
    /// <summary>Opens the filter for one assistant message of <paramref name="run"/>.</summary>
    IMessageTextFilter OpenMessage(Run run);
}

/// <summary>The text filter of one message; see <see cref="IRunMessageAnnotator"/>.</summary>
public interface IMessageTextFilter
{
    /// <summary>
    /// Takes the next piece of model text and returns the text that can be sent now (it may hold some back) with the
    /// annotations it completes; annotation indexes are UTF-16 offsets into the message text as returned so far.
    /// </summary>
    ValueTask<MessageText> AppendAsync(string text, CancellationToken cancellationToken);

    /// <summary>The model's text ended: returns what was held back.</summary>
    ValueTask<MessageText> CompleteAsync(CancellationToken cancellationToken);
}

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
    public const char Open = '【';

    private const char Close = '】';
    private const char Dagger = '†';
    private const int MaxDigits = 9;
    private const int MaxName = 256;

    public static string Marker(int callIndex, int resultIndex, string fileName) => $"【{callIndex}:{resultIndex}†{fileName}】";

    /// <summary>
    /// Marker text → the citation it resolves to, for every result the model was shown in these steps: the result's
    /// file and, as <c>quote</c>, the passage's text (Assistants v1 requires it; the step stores every result's text).
    /// </summary>
    public static IReadOnlyDictionary<string, FileCitation> ShownMarkers(IEnumerable<RunStep> steps)
    {
        var shown = new Dictionary<string, FileCitation>(StringComparer.Ordinal);
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
                    var resultIndex = int.Parse(match.Groups[2].ValueSpan, CultureInfo.InvariantCulture);
                    if (resultIndex < results.Count)
                    {
                        var result = results[resultIndex];
                        var quote = result.Content is { Count: > 0 } content ? string.Concat(content.Select(c => c.Text)).Trim() : null;
                        shown.TryAdd(match.Value, new FileCitation(result.FileId, quote));
                    }
                }
            }
        }
        return shown;
    }

    /// <summary>Keeps known markers as annotated text and removes the others (the whole text at once).</summary>
    public static MessageText Resolve(string text, IReadOnlyDictionary<string, FileCitation> shown)
    {
        var resolver = new CitationResolver { Shown = shown };
        var head = resolver.Append(text);
        var tail = resolver.Complete();
        return new MessageText(head.Value + tail.Value, [.. head.Annotations, .. tail.Annotations]);
    }

    /// <summary>
    /// Whether <paramref name="text"/> (starting at <see cref="Open"/>) starts with a marker: its length, 0 when it
    /// cannot be one, -1 when it could still become one with more text. Same grammar as <see cref="MarkerPattern"/>.
    /// </summary>
    internal static int MatchMarker(ReadOnlySpan<char> text)
    {
        var i = 1;
        for (var part = 0; part < 2; part++)
        {
            var digits = 0;
            while (i < text.Length && char.IsAsciiDigit(text[i]) && digits < MaxDigits)
            {
                i++;
                digits++;
            }
            if (i == text.Length)
            {
                return -1;
            }
            if (digits == 0 || text[i] != (part == 0 ? ':' : Dagger))
            {
                return 0;
            }
            i++;
        }
        for (var name = 0; ; name++, i++)
        {
            if (i == text.Length)
            {
                return -1;
            }
            if (text[i] == Close)
            {
                return i + 1;
            }
            if (text[i] == '\n' || name == MaxName)
            {
                return 0;
            }
        }
    }

    [GeneratedRegex(@"【([0-9]{1,9}):([0-9]{1,9})†([^】\n]{0,256})】")]
    private static partial Regex MarkerPattern();
}

/// <summary>
/// Resolves markers in text that arrives in pieces, giving exactly what <see cref="FileCitations.Resolve"/> gives for
/// the whole text, so streamed deltas and the stored message agree.
/// </summary>
/// <remarks>
/// Design notes: text from a <c>【</c> is held back until it is a complete marker (sent with its annotation, or
/// dropped) or cannot become one (sent as it is); a marker is at most ~280 characters, so little is ever held. A
/// removed marker also takes the space before it when what follows is a space, punctuation or the end, so trailing
/// spaces are held too until the next character shows that they stay. <see cref="Shown"/> must be set before text
/// containing <c>【</c> is appended (it is only read then, so a filter can load it lazily).
/// </remarks>
public sealed class CitationResolver
{
    private readonly StringBuilder _pending = new();
    private int _heldSpaces;
    private int _sent;

    public IReadOnlyDictionary<string, FileCitation>? Shown { get; set; }

    public MessageText Append(string text)
    {
        _pending.Append(text);
        return Drain(final: false);
    }

    public MessageText Complete() => Drain(final: true);

    private MessageText Drain(bool final)
    {
        var pending = _pending.ToString();
        var output = new StringBuilder(pending.Length);
        var annotations = new List<TextAnnotation>();
        var i = 0;
        while (i < pending.Length)
        {
            var c = pending[i];
            if (c == FileCitations.Open)
            {
                var length = FileCitations.MatchMarker(pending.AsSpan(i));
                if (length < 0 && !final)
                {
                    break;
                }
                if (length > 0)
                {
                    var marker = pending.Substring(i, length);
                    var shown = Shown ?? throw new InvalidOperationException("Shown must be set before text with a marker is appended.");
                    if (shown.TryGetValue(marker, out var citation))
                    {
                        FlushSpace(output);
                        var start = _sent + output.Length;
                        output.Append(marker);
                        annotations.Add(new FileCitationAnnotation(marker, citation, start, start + marker.Length));
                        i += length;
                        continue;
                    }
                    var after = i + length;
                    if (after == pending.Length && !final)
                    {
                        break;
                    }
                    if (_heldSpaces > 0 && (after == pending.Length || pending[after] is ' ' or '.' or ',' or ';' or ':' or '\n'))
                    {
                        _heldSpaces--;
                    }
                    i = after;
                    continue;
                }
            }
            if (c == ' ')
            {
                _heldSpaces++;
            }
            else
            {
                FlushSpace(output);
                output.Append(c);
            }
            i++;
        }
        _pending.Remove(0, i);
        if (final)
        {
            FlushSpace(output);
        }
        _sent += output.Length;
        return new MessageText(output.ToString(), annotations);
    }

    private void FlushSpace(StringBuilder output)
    {
        output.Append(' ', _heldSpaces);
        _heldSpaces = 0;
    }
}
