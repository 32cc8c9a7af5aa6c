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

/// <summary>
/// Splits text into token windows with o200k_base (the tokenizer of current OpenAI models), so chunk sizes mean what
/// <c>chunking_strategy</c> says.
/// </summary>
/// <remarks>
/// Design notes: each chunk boundary is found with <see cref="Tokenizer.GetIndexByTokenCount(ReadOnlySpan{char}, int, out string?, out int, bool, bool)"/>
/// over a bounded span, so memory stays linear in the chunk, not the file. Boundaries are then moved to a
/// grapheme-safe spot: never inside a surrogate pair and never before a combining mark. The next chunk starts
/// (size − overlap) tokens after the current one, so consecutive chunks share exactly their overlap text.
/// </remarks>
public sealed class TextChunker
{
    private readonly Tokenizer _tokenizer;

    public TextChunker() : this(TiktokenTokenizer.CreateForEncoding("o200k_base"))
    {
    }

    public TextChunker(Tokenizer tokenizer) => _tokenizer = tokenizer;

    public Tokenizer Tokenizer => _tokenizer;

    public int CountTokens(string text) => _tokenizer.CountTokens(text);

    public IReadOnlyList<TextChunk> Chunk(ExtractedDocument document, StaticChunkingStrategy strategy, int maxTokens = int.MaxValue)
    {
        if (strategy.Validate() is { } error)
        {
            throw new ArgumentException(error, nameof(strategy));
        }
        var text = document.Text;
        var chunks = new List<TextChunk>();
        var start = SkipWhitespace(text, 0);
        var stride = strategy.MaxChunkSizeTokens - strategy.ChunkOverlapTokens;
        long totalTokens = 0;
        while (start < text.Length)
        {
            var end = Advance(text, start, strategy.MaxChunkSizeTokens, out var tokenCount);
            var chunkText = text[start..end];
            if (chunkText.AsSpan().Trim().Length > 0)
            {
                chunks.Add(new TextChunk(chunks.Count, chunkText, start, end, tokenCount, document.PageAt(start), document.HeadingAt(start)));
            }
            if (end >= text.Length)
            {
                break;
            }
            var next = strategy.ChunkOverlapTokens == 0 ? end : Advance(text, start, stride, out _);
            totalTokens += stride;
            if (totalTokens > maxTokens)
            {
                throw new DocumentTooLargeException(maxTokens);
            }
            start = next > start ? next : end;
        }
        return chunks;
    }

    /// <summary>The character index <paramref name="tokens"/> tokens after <paramref name="start"/>, at a safe boundary.</summary>
    private int Advance(string text, int start, int tokens, out int tokenCount)
    {
        // A token is rarely longer than a few dozen chars; a bounded span keeps pathological single-line files linear.
        var span = text.AsSpan(start, Math.Min(text.Length - start, Math.Max(tokens * 64, 4096)));
        var length = _tokenizer.GetIndexByTokenCount(span, tokens, out _, out tokenCount, considerPreTokenization: true, considerNormalization: false);
        if (length <= 0)
        {
            // The first token alone spans beyond what we may take (e.g. one huge code point cluster); take one text element.
            length = StringInfo.GetNextTextElementLength(span);
            tokenCount = _tokenizer.CountTokens(span[..length]);
        }
        return SafeBoundary(text, start + length);
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
