using System.Numerics.Tensors;
using Microsoft.Extensions.AI;
using Threadloom.Core.Ingestion;

namespace Threadloom.Core.Tests.Ingestion;

public sealed class MiniLmEmbeddingGeneratorTests : IClassFixture<MiniLmFixture>
{
    private readonly MiniLmEmbeddingGenerator _generator;

    public MiniLmEmbeddingGeneratorTests(MiniLmFixture fixture) => _generator = fixture.Generator;

    private async Task<float[]> EmbedAsync(string text) =>
        (await _generator.GenerateAsync([text], cancellationToken: CancellationToken.None))[0].Vector.ToArray();

    [Fact]
    public async Task Generate_ReturnsUnitVectorsWithModelId()
    {
        var embeddings = await _generator.GenerateAsync(["hello world", ""], cancellationToken: CancellationToken.None);
        Assert.Equal(2, embeddings.Count);
        foreach (var e in embeddings)
        {
            Assert.Equal(MiniLmEmbeddingGenerator.Dimensions, e.Vector.Length);
            Assert.Equal(1f, TensorPrimitives.Norm(e.Vector.Span), 3);
            Assert.Equal(MiniLmEmbeddingGenerator.ModelId, e.ModelId);
        }
        Assert.Equal(MiniLmEmbeddingGenerator.ModelId, _generator.GetService<EmbeddingGeneratorMetadata>()?.DefaultModelId);
    }

    [Fact]
    public async Task Generate_WhitespaceIsCollapsed()
    {
        var a = await EmbedAsync("the quick brown fox\njumps\tover the lazy dog");
        var b = await EmbedAsync("the quick brown fox jumps over the lazy dog");
        Assert.True(TensorPrimitives.CosineSimilarity(a, b) > 0.9999f);
    }

    [Fact]
    public async Task Generate_SimilarMeaning_ScoresHigher()
    {
        var q = await EmbedAsync("How many vacation days do employees get?");
        var good = await EmbedAsync("Staff are entitled to 25 days of paid annual leave.");
        var bad = await EmbedAsync("The compiler emits a warning for unused variables.");
        Assert.True(TensorPrimitives.Dot(q, good) > TensorPrimitives.Dot(q, bad));
    }

    [Fact]
    public void SplitIntoWindows_LongText_RespectsWindowAndKeepsEveryWord()
    {
        var words = Enumerable.Range(0, 900).Select(i => "token" + i).ToList();
        var windows = _generator.SplitIntoWindows(string.Join("\n", words));
        Assert.True(windows.Count >= 3);
        Assert.All(windows, w => Assert.InRange(w.Pieces, 1, MiniLmEmbeddingGenerator.WindowPieces));
        Assert.Equal(string.Join(' ', words), string.Join(' ', windows.Select(w => w.Text)));
    }

    [Fact]
    public async Task Generate_TextBeyondFirstWindow_ChangesTheVector()
    {
        // Same first ~300 word pieces, different tails: a truncating encoder would return identical vectors.
        var head = string.Join(' ', Enumerable.Repeat("The quarterly report covers revenue, costs and staffing in the northern region.", 25));
        var tailA = string.Join(' ', Enumerable.Repeat("Volcanic eruptions release ash and sulfur dioxide into the stratosphere.", 10));
        var tailB = string.Join(' ', Enumerable.Repeat("The recipe needs flour, butter, sugar and two eggs, baked for forty minutes.", 10));
        Assert.True(_generator.SplitIntoWindows(head).Count >= 2, "the head alone must exceed one window");
        var a = await EmbedAsync(head + " " + tailA);
        var b = await EmbedAsync(head + " " + tailB);
        Assert.True(TensorPrimitives.CosineSimilarity(a, b) < 0.99f, "the tail is not represented");

        // And the tail pulls the vector towards its own topic.
        var volcano = await EmbedAsync("volcanic ash in the stratosphere");
        Assert.True(TensorPrimitives.Dot(a, volcano) > TensorPrimitives.Dot(b, volcano));
    }
}

public sealed class MiniLmFixture : IDisposable
{
    public MiniLmEmbeddingGenerator Generator { get; } = new();

    public void Dispose() => Generator.Dispose();
}
