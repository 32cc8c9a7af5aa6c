using System.Globalization;
using System.IO.Compression;
using System.Text;
using Microsoft.ML.Tokenizers;
using Threadloom.Core.Ingestion;
using Threadloom.Core.Runs.Truncation;

namespace Threadloom.Core.Tests.Ingestion;

/// <summary>
/// Issue #9 §2, linear time: no piece the tokenizer sees holds a run longer than 512 characters, every character is
/// tokenized once, and the work bound (the sum of squared piece lengths, what byte-pair merging costs at worst) grows
/// linearly: doubling the input about doubles it, where a quadratic path would quadruple it. No clocks.
/// </summary>
public sealed class LinearTimeTests
{
    private static string Word(int length)
    {
        var random = new Random(3);
        return string.Create(length, random, (span, r) =>
        {
            for (var i = 0; i < span.Length; i++)
            {
                span[i] = (char)('a' + r.Next(26));
            }
        });
    }

    private static double Work(string text) => BoundedTokenization.Pieces(text).Sum(p => (double)p.Length * p.Length);

    [Theory]
    [InlineData(300_000)]
    [InlineData(200_000)]
    public void Pieces_OfOneHugeWord_AreBoundedAndCoverTheText(int length)
    {
        var text = Word(length);
        var pieces = BoundedTokenization.Pieces(text);
        Assert.All(pieces, p => Assert.InRange(p.Length, 1, BoundedTokenization.MaxRunChars));
        Assert.Equal(length, pieces.Sum(p => p.Length));
        for (var i = 1; i < pieces.Count; i++)
        {
            Assert.Equal(pieces[i - 1].Start + pieces[i - 1].Length, pieces[i].Start);
        }
    }

    [Theory]
    [InlineData("word")]
    [InlineData("[")]
    [InlineData(" ")]
    [InlineData("{\"a\":")]
    public void Work_DoublingTheInput_AboutDoublesTheWork(string unit)
    {
        var one = string.Concat(Enumerable.Repeat(unit, 150_000 / unit.Length));
        var two = one + one;
        var ratio = Work(two) / Work(one);
        Assert.InRange(ratio, 1.8, 2.3);
    }

    [Fact]
    public void Chunker_OneHugeWord_TokenizesEachCharacterOnce_InBoundedPieces()
    {
        var chunker = new TextChunker();
        var text = Word(300_000);
        var chunks = chunker.Chunk(new ExtractedDocument(text, null, [], []), StaticChunkingStrategy.Default);
        Assert.Equal(text.Length, chunker.TokenizedChars);
        Assert.InRange(chunker.LongestPiece, 1, BoundedTokenization.MaxRunChars);
        Assert.True(chunks.Count > 10);
        Assert.Equal(0, chunks[0].StartChar);
        Assert.Equal(text.Length, chunks[^1].EndChar);
        Assert.All(chunks, c => Assert.InRange(c.TokenCount, 1, 800));
    }

    [Fact]
    public void Chunker_OrdinaryText_TokenizesEachCharacterOnce()
    {
        var chunker = new TextChunker();
        var text = string.Join(' ', Enumerable.Range(0, 40_000).Select(i => "word" + i.ToString(CultureInfo.InvariantCulture)));
        chunker.Chunk(new ExtractedDocument(text, null, [], []), StaticChunkingStrategy.Default);
        // 800/400 re-tokenized every character about twice (and three times around boundaries) before.
        Assert.Equal(text.Length, chunker.TokenizedChars);
    }

    [Fact]
    public void Chunker_TooManyChunks_FailsWithTheKey()
    {
        var text = string.Join(' ', Enumerable.Range(0, 20_000).Select(i => "word" + i.ToString(CultureInfo.InvariantCulture)));
        var e = Assert.Throws<TooManyChunksException>(() => new TextChunker().Chunk(new ExtractedDocument(text, null, [], []), new StaticChunkingStrategy(100, 0), maxChunks: 10));
        Assert.Contains("Ingestion:MaxChunksPerFile", e.Message);
    }

    [Fact]
    public void TokenCounter_200000CharacterMessage_IsCountedInBoundedPieces_AndOrdinaryTextStaysExact()
    {
        var counter = TokenCounter.ForEncoding("o200k_base");
        var message = Word(200_000);
        var count = counter.CountText(message);
        Assert.InRange(count, 200_000 / 16, 200_000);
        Assert.Equal(Work(message), BoundedTokenization.Pieces(message).Count * (double)BoundedTokenization.MaxRunChars * BoundedTokenization.MaxRunChars, 1e6 * 512);
        var prefix = counter.Prefix(message, 1000);
        Assert.InRange(counter.CountText(prefix), 990, 1000);

        var tokenizer = TiktokenTokenizer.CreateForEncoding("o200k_base");
        var ordinary = string.Join(' ', Enumerable.Range(0, 30_000).Select(i => "token" + i.ToString(CultureInfo.InvariantCulture) + (i % 7 == 0 ? ".\n" : "")));
        Assert.Equal(tokenizer.CountTokens(ordinary), counter.CountText(ordinary));
    }

    [Fact]
    public void NestingDepth_Json_CountsBracketsOutsideStrings()
    {
        NestingDepth.CheckJson("{\"a\":\"[[[[[[[[[[\"}", 2);
        NestingDepth.CheckJson("[[1]]\n[[2]]\n", 2);
        Assert.Throws<ExtractionBudgetException>(() => NestingDepth.CheckJson("[[[1]]]", 2));
        Assert.Throws<ExtractionBudgetException>(() => NestingDepth.CheckMarkup("<a><b><c/></b></a>".Replace("<c/>", "<c></c>", StringComparison.Ordinal), 2, html: false));
        NestingDepth.CheckMarkup("<a><b><c/></b></a>", 2, html: false);
        NestingDepth.CheckMarkup("<div><br><br><br><img src=x></div>", 1, html: true);
    }

    [Fact]
    public void ZipGuard_RatioFromTheCentralDirectory_AndHeadersThatLie()
    {
        var honest = Zip(8L * 1024 * 1024);
        var ratio = Assert.Throws<ExtractionBudgetException>(() => ZipGuard.Check(honest, ExtractionBudget.Default));
        Assert.Contains("Ingestion:MaxCompressionRatio", ratio.Message);
        var size = Assert.Throws<ExtractionBudgetException>(() => ZipGuard.Check(honest, ExtractionBudget.Default with { MaxCompressionRatio = 100_000, MaxUncompressedBytes = 1024 * 1024 }));
        Assert.Contains("Ingestion:MaxUncompressedBytes", size.Message);

        // The same archive with both headers claiming 1,000 bytes: only inflating shows the truth.
        var lying = (byte[])honest.Clone();
        Patch(lying, 0x04034b50, 22, 1000);
        Patch(lying, 0x02014b50, 24, 1000);
        var caught = Record.Exception(() => ZipGuard.Check(lying, ExtractionBudget.Default));
        if (caught is null)
        {
            // The runtime itself stops an entry at its declared size: what the SDK would read is bounded all the same.
            using var zip = new ZipArchive(new MemoryStream(lying), ZipArchiveMode.Read);
            using var entry = zip.Entries[0].Open();
            var read = 0L;
            var buffer = new byte[81920];
            int n;
            while ((n = entry.Read(buffer)) > 0)
            {
                read += n;
            }
            Assert.InRange(read, 0, 1000);
        }
        else
        {
            Assert.True(caught is ExtractionBudgetException or InvalidDataException, caught.ToString());
        }
    }

    private static byte[] Zip(long bytes)
    {
        using var buffer = new MemoryStream();
        using (var zip = new ZipArchive(buffer, ZipArchiveMode.Create, leaveOpen: true))
        {
            using var entry = zip.CreateEntry("word/document.xml", CompressionLevel.SmallestSize).Open();
            var block = Encoding.ASCII.GetBytes(new string(' ', 1024 * 1024));
            for (long written = 0; written < bytes; written += block.Length)
            {
                entry.Write(block);
            }
        }
        return buffer.ToArray();
    }

    private static void Patch(byte[] zip, uint signature, int offset, uint value)
    {
        for (var i = 0; i + 4 <= zip.Length; i++)
        {
            if (BitConverter.ToUInt32(zip, i) == signature)
            {
                BitConverter.GetBytes(value).CopyTo(zip, i + offset);
                return;
            }
        }
        throw new InvalidOperationException("signature not found");
    }
}
