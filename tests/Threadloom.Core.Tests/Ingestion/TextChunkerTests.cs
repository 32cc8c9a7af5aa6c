using System.Globalization;
using System.Text;
using Threadloom.Core.Ingestion;

namespace Threadloom.Core.Tests.Ingestion;

public sealed class TextChunkerTests
{
    private static readonly TextChunker Chunker = new();

    private static ExtractedDocument Doc(string text) => new(text, null, [], []);

    private static string Words(int count) =>
        string.Join(' ', Enumerable.Range(0, count).Select(i => "word" + i.ToString(CultureInfo.InvariantCulture)));

    [Fact]
    public void Chunk_EmptyOrWhitespace_ReturnsNoChunks()
    {
        Assert.Empty(Chunker.Chunk(Doc(""), StaticChunkingStrategy.Default));
        Assert.Empty(Chunker.Chunk(Doc(" \n\t\n "), StaticChunkingStrategy.Default));
    }

    [Fact]
    public void Chunk_ShortText_IsOneChunkWithOffsets()
    {
        var chunk = Assert.Single(Chunker.Chunk(Doc("  hello world"), StaticChunkingStrategy.Default));
        Assert.Equal("hello world", chunk.Text);
        Assert.Equal(2, chunk.StartChar);
        Assert.Equal(13, chunk.EndChar);
    }

    [Fact]
    public void Chunk_LongText_RespectsSizeAndOverlap()
    {
        var text = Words(3000);
        var strategy = new StaticChunkingStrategy(200, 50);
        var chunks = Chunker.Chunk(Doc(text), strategy);
        Assert.True(chunks.Count > 5);
        for (var i = 0; i < chunks.Count; i++)
        {
            var c = chunks[i];
            Assert.Equal(text[c.StartChar..c.EndChar], c.Text);
            Assert.InRange(Chunker.CountTokens(c.Text), 1, 200);
            if (i < chunks.Count - 1)
            {
                var next = chunks[i + 1];
                // The next chunk starts inside this one, and the shared text is about the overlap.
                Assert.InRange(next.StartChar, c.StartChar + 1, c.EndChar - 1);
                var shared = text[next.StartChar..c.EndChar];
                Assert.InRange(Chunker.CountTokens(shared), 45, 55);
                Assert.StartsWith(shared, next.Text, StringComparison.Ordinal);
            }
        }
        Assert.Equal(text.Length, chunks[^1].EndChar);
    }

    [Fact]
    public void Chunk_ZeroOverlap_ChunksTile()
    {
        var text = Words(1500);
        var chunks = Chunker.Chunk(Doc(text), new StaticChunkingStrategy(100, 0));
        for (var i = 1; i < chunks.Count; i++)
        {
            Assert.Equal(chunks[i - 1].EndChar, chunks[i].StartChar);
        }
        Assert.Equal(text, string.Concat(chunks.Select(c => c.Text)));
    }

    [Theory]
    [InlineData("😀🎉👩‍👩‍👧‍👦🇫🇷 ")]
    [InlineData("漢字かな交じり文、中文句子。")]
    [InlineData("e\u0301a\u0300o\u0308\u0323 ")]
    public void Chunk_Unicode_NeverSplitsCodePointsOrCombiningMarks(string unit)
    {
        var text = string.Concat(Enumerable.Repeat(unit, 400));
        var chunks = Chunker.Chunk(Doc(text), new StaticChunkingStrategy(100, 50));
        Assert.True(chunks.Count > 2);
        foreach (var c in chunks)
        {
            Assert.False(char.IsLowSurrogate(c.Text[0]), "chunk starts with a low surrogate");
            Assert.False(char.IsHighSurrogate(c.Text[^1]), "chunk ends with a high surrogate");
            var category = CharUnicodeInfo.GetUnicodeCategory(c.Text, 0);
            Assert.NotEqual(UnicodeCategory.NonSpacingMark, category);
            // Round-trips through strict UTF-8, which rejects lone surrogates.
            var strict = new UTF8Encoding(false, true);
            Assert.Equal(c.Text, strict.GetString(strict.GetBytes(c.Text)));
        }
        Assert.Equal(text.Length, chunks[^1].EndChar);
    }

    [Fact]
    public void Chunk_KeepsPageAndHeading()
    {
        var page2 = new string('x', 10) + "\n\n";
        var text = "Intro words here.\n\n" + page2 + Words(500);
        var doc = new ExtractedDocument(text, "T", [new DocumentPage(1, 0), new DocumentPage(2, 19)], [new DocumentHeading(19, 1, "Second")]);
        var chunks = Chunker.Chunk(doc, new StaticChunkingStrategy(100, 0));
        Assert.Equal(1, chunks[0].PageNumber);
        Assert.Null(chunks[0].Heading);
        Assert.Equal(2, chunks[^1].PageNumber);
        Assert.Equal("Second", chunks[^1].Heading);
    }

    [Fact]
    public void Chunk_OverTokenCap_Throws()
    {
        Assert.Throws<DocumentTooLargeException>(() => Chunker.Chunk(Doc(Words(5000)), new StaticChunkingStrategy(100, 0), maxTokens: 1000));
    }

    [Theory]
    [InlineData(800, 400, null)]
    [InlineData(100, 0, null)]
    [InlineData(4096, 2048, null)]
    [InlineData(99, 0, "max_chunk_size_tokens")]
    [InlineData(4097, 0, "max_chunk_size_tokens")]
    [InlineData(800, 401, "chunk_overlap_tokens")]
    [InlineData(800, -1, "chunk_overlap_tokens")]
    public void Validate_AppliesOpenAiLimits(int size, int overlap, string? param)
    {
        var strategy = new StaticChunkingStrategy(size, overlap);
        var error = strategy.Validate();
        if (param is null)
        {
            Assert.Null(error);
        }
        else
        {
            Assert.Contains(param, error);
            Assert.EndsWith(param, strategy.InvalidParameter());
        }
    }
}
