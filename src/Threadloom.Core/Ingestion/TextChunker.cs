using System.Globalization;
using Microsoft.ML.Tokenizers;

namespace Threadloom.Core.Ingestion;

/// <summary>One chunk of a document: its text, where it sits (<c>[StartChar, EndChar)</c>), its page and heading.</summary>
public sealed record TextChunk(int Index, string Text, int StartChar, int EndChar, int TokenCount, int? PageNumber, string? Heading);

/// <summary>Thrown when a document has more tokens than <see cref="IngestionOptions.MaxTokensPerFile"/>.</summary>
public sealed class DocumentTooLargeException(int maxTokens)
    : Exception($"The file has more than {maxTokens} tokens of text, the most that can be indexed.")
{
    public int MaxTokens { get; } = maxTokens;
}

/// <summary>Thrown when a document would be split into more than <see cref="IngestionOptions.MaxChunksPerFile"/> chunks.</summary>
public sealed class TooManyChunksException(int maxChunks)
    : Exception($"The file would be split into more than {maxChunks} chunks, the most that can be indexed (Ingestion:MaxChunksPerFile).")
{
    public int MaxChunks { get; } = maxChunks;
}

/// <summary>
/// Splits text into token windows with o200k_base (the tokenizer of current OpenAI models), so chunk sizes mean what
/// <c>chunking_strategy</c> says.
/// </summary>
/// <remarks>
/// Design notes (issue #9 §2, linear time): the text is tokenized once, piece by piece (<see cref="BoundedTokenization"/>:
/// no run longer than 512 characters reaches the tokenizer, so a 300 KB "word" is linear), keeping only each token's
/// end offset (4 bytes a token). Chunk <c>k</c> is then the window of tokens [k·stride, k·stride + size), so
/// consecutive chunks share exactly their overlap tokens and no text is tokenized twice. Boundaries are moved to a
/// grapheme-safe spot: never inside a surrogate pair and never before a combining mark. Token and chunk counts are
/// checked while tokenizing, so an oversized file stops early.
/// </remarks>
public sealed class TextChunker
{
    private readonly Tokenizer _tokenizer;

    public TextChunker() : this(TiktokenTokenizer.CreateForEncoding("o200k_base"))
    {
    }

    public TextChunker(Tokenizer tokenizer) => _tokenizer = tokenizer;

    public Tokenizer Tokenizer => _tokenizer;

    /// <summary>Characters handed to the tokenizer by this instance, and the longest piece: the work counters the linearity tests assert on.</summary>
    public long TokenizedChars => Interlocked.Read(ref _tokenizedChars);

    public int LongestPiece => _longestPiece;

    private long _tokenizedChars;
    private int _longestPiece;

    public int CountTokens(string text) => BoundedTokenization.CountTokens(_tokenizer, text);

    public IReadOnlyList<TextChunk> Chunk(ExtractedDocument document, StaticChunkingStrategy strategy, int maxTokens = int.MaxValue, int maxChunks = int.MaxValue)
    {
        if (strategy.Validate() is { } error)
        {
            throw new ArgumentException(error, nameof(strategy));
        }
        var text = document.Text;
        var first = SkipWhitespace(text, 0);
        var size = strategy.MaxChunkSizeTokens;
        var stride = size - strategy.ChunkOverlapTokens;
        var ends = TokenEnds(text, first, maxTokens, size, stride, maxChunks);
        var chunks = new List<TextChunk>();
        for (var t = 0; t < ends.Count; t += stride)
        {
            var start = t == 0 ? first : SafeBoundary(text, ends[t - 1]);
            var last = Math.Min(t + size, ends.Count) - 1;
            var end = SafeBoundary(text, ends[last]);
            if (end > start && text.AsSpan(start, end - start).Trim().Length > 0)
            {
                chunks.Add(new TextChunk(chunks.Count, text[start..end], start, end, last - t + 1, document.PageAt(start), document.HeadingAt(start)));
            }
            if (last == ends.Count - 1)
            {
                break;
            }
        }
        return chunks;
    }

    /// <summary>The end offset of every token of <c>text[from..]</c>, in one linear pass.</summary>
    private List<int> TokenEnds(string text, int from, int maxTokens, int size, int stride, int maxChunks)
    {
        var ends = new List<int>();
        if (from >= text.Length)
        {
            return ends;
        }
        var body = text.AsSpan(from);
        foreach (var (start, length) in BoundedTokenization.Pieces(body))
        {
            Interlocked.Add(ref _tokenizedChars, length);
            if (length > _longestPiece)
            {
                _longestPiece = length;
            }
            var tokens = _tokenizer.EncodeToTokens(body.Slice(start, length), out _, considerPreTokenization: true, considerNormalization: false);
            var pieceEnd = from + start + length;
            var previous = ends.Count > 0 ? ends[^1] : from;
            foreach (var token in tokens)
            {
                var end = Math.Clamp(from + start + token.Offset.End.Value, previous, pieceEnd);
                ends.Add(end);
                previous = end;
            }
            if (ends.Count > 0)
            {
                ends[^1] = Math.Max(ends[^1], pieceEnd); // a piece's last token ends where the piece does
            }
            if (ends.Count > maxTokens)
            {
                throw new DocumentTooLargeException(maxTokens);
            }
            if (ends.Count > size && (ends.Count - size + stride - 1) / stride + 1 > maxChunks)
            {
                throw new TooManyChunksException(maxChunks);
            }
        }
        return ends;
    }

    /// <summary>Moves <paramref name="index"/> forward so it does not split a surrogate pair or detach combining marks.</summary>
    internal static int SafeBoundary(string text, int index)
    {
        while (index < text.Length && index > 0 &&
               (char.IsLowSurrogate(text[index]) ||
                CharUnicodeInfo.GetUnicodeCategory(text, index) is UnicodeCategory.NonSpacingMark or UnicodeCategory.EnclosingMark or UnicodeCategory.SpacingCombiningMark ||
                text[index] == '\u200D' || (index > 0 && text[index - 1] == '\u200D')))
        {
            index++;
        }
        return index;
    }

    private static int SkipWhitespace(string text, int index)
    {
        while (index < text.Length && char.IsWhiteSpace(text[index]))
        {
            index++;
        }
        return index;
    }
}
