using System.Numerics.Tensors;
using Threadloom.Core.Ingestion;

namespace Threadloom.Core.Tests.Ingestion;

public sealed class SharedSpansTests(MiniLmFixture fixture) : IClassFixture<MiniLmFixture>
{
    private static string Document()
    {
        var lines = File.ReadAllLines(Path.Combine(SharedData.Root, "HR", "contoso-benefits.txt"));
        return string.Join("\n", Enumerable.Repeat(string.Join("\n", lines), 3));
    }

    [Fact]
    public void Plan_SpansTileTheChunks_EachChunkCoversExactlyItsText()
    {
        var text = Document();
        var chunks = new TextChunker().Chunk(new ExtractedDocument(text, null, [], []), new StaticChunkingStrategy(200, 100));
        Assert.True(chunks.Count > 4);
        var (spans, covers) = SharedSpans.Plan(chunks, c => "h" + c.Index);
        for (var i = 0; i < chunks.Count; i++)
        {
            var (offset, length) = covers[i].GetOffsetAndLength(spans.Count);
            Assert.Equal(chunks[i].Text, string.Concat(spans.Skip(offset).Take(length).Select(s => text[s.Start..s.End])));
            Assert.Equal("h" + i, spans[offset].Header); // the span opening a chunk carries its header
        }
        // Every character between the first start and the last end is in exactly one span.
        Assert.All(spans.Zip(spans.Skip(1)), p => Assert.Equal(p.First.End, p.Second.Start));
        // With half overlap most spans are shared by two chunks: far fewer characters to embed than the chunks hold.
        Assert.True(spans.Sum(s => s.End - s.Start) * 1.8 < chunks.Sum(c => c.Text.Length));
    }

    [Fact]
    public async Task EmbedSpans_OneInput_NormalisedIsTheGeneratedVector()
    {
        var text = Document()[..3000];
        var whole = (await fixture.Generator.GenerateAsync([text], cancellationToken: CancellationToken.None))[0].Vector.ToArray();
        var span = (await fixture.Generator.EmbedSpansAsync([text], CancellationToken.None))[0];
        Assert.True(span.Weight > MiniLmEmbeddingGenerator.WindowPieces); // several windows, weighted by pieces
        Assert.True(TensorPrimitives.CosineSimilarity(whole, SpanEmbedding.Normalize(span.WeightedSum)) > 0.9999f);
    }

    [Fact]
    public async Task Compose_ChunkFromItsSpans_IsCloseToEmbeddingTheChunkAlone()
    {
        var text = Document();
        var chunks = new TextChunker().Chunk(new ExtractedDocument(text, null, [], []), StaticChunkingStrategy.Default);
        var (spans, covers) = SharedSpans.Plan(chunks, c => FileIngestor.Header("contoso-benefits.txt", null, c));
        var sums = await fixture.Generator.EmbedSpansAsync(spans.Select(s => SharedSpans.Input(text, s)).ToList(), CancellationToken.None);
        var alone = await fixture.Generator.GenerateAsync(chunks.Select(c => FileIngestor.EmbeddingInput("contoso-benefits.txt", null, c)), cancellationToken: CancellationToken.None);
        for (var i = 0; i < chunks.Count; i++)
        {
            var composed = SharedSpans.Compose(sums, covers[i]);
            Assert.Equal(1f, TensorPrimitives.Norm(composed), 3);
            // Windows fall at other word boundaries, so the vectors differ a little, never much.
            Assert.True(TensorPrimitives.CosineSimilarity(composed, alone[i].Vector.Span) > 0.97f, $"chunk {i}");
        }
    }
}

public sealed class PlainTextTitleTests
{
    [Fact]
    public void Find_ManPage_IsTheNameLine() =>
        Assert.Equal("ls - list directory contents", PlainTextTitle.Find("LS(1)          User Commands          LS(1)\n\nNAME\n       ls - list directory contents\n\nSYNOPSIS\n       ls [OPTION]... [FILE]...\n"));

    [Fact]
    public void Find_ShortFirstLine_IsTheTitle() =>
        Assert.Equal("Contoso 401(k) Plan", PlainTextTitle.Find("\n  Contoso 401(k) Plan  \n\nThe plan matches contributions up to 10%.\n"));

    [Theory]
    [InlineData("a single line only")]
    [InlineData("")]
    public void Find_NoTitle_IsNull(string text) => Assert.Null(PlainTextTitle.Find(text));

    [Fact]
    public void Find_LongFirstLine_IsNull() => Assert.Null(PlainTextTitle.Find(new string('x', 500) + "\nmore\n"));
}
