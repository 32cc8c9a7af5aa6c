using System.Globalization;
using Microsoft.ML.Tokenizers;

namespace Threadloom.Core.Ingestion;

/// <summary>
/// Feeds text to a tiktoken tokenizer in pieces whose runs are bounded, so tokenizing is linear in the text (issue #9 §2).
/// </summary>
/// <remarks>
/// Design notes: byte-pair merging inside one pre-token is quadratic in its length in Microsoft.ML.Tokenizers, and
/// a run with no whitespace (a 300 KB "word", 2 MB of <c>[[[[</c>) can be a single pre-token. Text is cut (a) before a
/// single space between two words, once a piece passes <see cref="SegmentChars"/>, which is a pre-token boundary
/// (the space goes with the next word in o200k/cl100k), or before any whitespace at four times that, and (b) inside any run of
/// whitespace or non-whitespace every <see cref="MaxRunChars"/> characters (never inside a surrogate pair or before a
/// combining mark). Cut (a) leaves counts exact for ordinary text; cut (b) only touches runs longer than 512
/// characters, where it changes a count by about one token per cut. Each character is tokenized exactly once and no
/// piece handed to the tokenizer holds a run longer than <see cref="MaxRunChars"/>, so the cost is O(n × 512) at worst.
/// </remarks>
public static class BoundedTokenization
{
    /// <summary>Longest run (of whitespace or of non-whitespace) handed to the tokenizer in one piece.</summary>
    public const int MaxRunChars = 512;

    /// <summary>A piece is closed at the next word boundary once it is this long.</summary>
    public const int SegmentChars = 8192;

    /// <summary>The pieces of <paramref name="text"/> as (start, length), in order, covering it exactly.</summary>
    public static List<(int Start, int Length)> Pieces(ReadOnlySpan<char> text)
    {
        var pieces = new List<(int Start, int Length)>(text.Length / SegmentChars + 1);
        if (text.Length == 0)
        {
            return pieces;
        }
        var pieceStart = 0;
        var runStart = 0;
        var previousWhite = char.IsWhiteSpace(text[0]);
        for (var i = 1; i < text.Length; i++)
        {
            var white = char.IsWhiteSpace(text[i]);
            if (white != previousWhite)
            {
                previousWhite = white;
                runStart = i;
                // Before a single space that starts a word: the space goes with the word, so this is a pre-token
                // boundary and counts stay exact. Without such spaces (newline-only or CJK text), any whitespace
                // boundary does once the piece is four times as long (approximate by a token at most).
                if (white && ((i - pieceStart >= SegmentChars && text[i] == ' ' && i + 1 < text.Length && !char.IsWhiteSpace(text[i + 1]))
                              || i - pieceStart >= 4 * SegmentChars))
                {
                    pieces.Add((pieceStart, i - pieceStart));
                    pieceStart = i;
                }
                continue;
            }
            if (i - runStart >= MaxRunChars && CanCutBefore(text, i))
            {
                pieces.Add((pieceStart, i - pieceStart));
                pieceStart = i;
                runStart = i;
            }
        }
        pieces.Add((pieceStart, text.Length - pieceStart));
        return pieces;
    }

    /// <summary>Tokens of <paramref name="text"/>, counted piece by piece (linear).</summary>
    public static int CountTokens(Tokenizer tokenizer, ReadOnlySpan<char> text)
    {
        if (text.Length <= MaxRunChars)
        {
            return tokenizer.CountTokens(text, considerPreTokenization: true, considerNormalization: false);
        }
        var total = 0;
        foreach (var (start, length) in Pieces(text))
        {
            total += tokenizer.CountTokens(text.Slice(start, length), considerPreTokenization: true, considerNormalization: false);
        }
        return total;
    }

    /// <summary>The length of the longest prefix of <paramref name="text"/> holding at most <paramref name="maxTokens"/> tokens (linear).</summary>
    public static int PrefixLength(Tokenizer tokenizer, ReadOnlySpan<char> text, int maxTokens)
    {
        if (maxTokens <= 0 || text.Length == 0)
        {
            return 0;
        }
        var remaining = maxTokens;
        foreach (var (start, length) in Pieces(text))
        {
            var piece = text.Slice(start, length);
            var count = tokenizer.CountTokens(piece, considerPreTokenization: true, considerNormalization: false);
            if (count > remaining)
            {
                var index = tokenizer.GetIndexByTokenCount(piece, remaining, out _, out _, considerPreTokenization: true, considerNormalization: false);
                return start + Math.Clamp(index, 0, length);
            }
            remaining -= count;
        }
        return text.Length;
    }

    private static bool CanCutBefore(ReadOnlySpan<char> text, int i) =>
        !char.IsLowSurrogate(text[i]) && text[i] != '\u200D' && text[i - 1] != '\u200D'
        && CharUnicodeInfo.GetUnicodeCategory(text[i]) is not (UnicodeCategory.NonSpacingMark or UnicodeCategory.EnclosingMark or UnicodeCategory.SpacingCombiningMark);
}
