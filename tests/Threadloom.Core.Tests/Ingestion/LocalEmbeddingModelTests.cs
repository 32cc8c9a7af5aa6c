using System.Numerics.Tensors;
using Microsoft.Extensions.AI;
using Threadloom.Core.Ingestion;

namespace Threadloom.Core.Tests.Ingestion;

/// <summary>The built-in models other than the default (issue #11): snowflake-arctic-embed-xs, run by the same runtime.</summary>
public sealed class LocalEmbeddingModelTests : IClassFixture<ArcticFixture>, IClassFixture<MiniLmFixture>
{
    private readonly MiniLmEmbeddingGenerator _arctic;
    private readonly MiniLmEmbeddingGenerator _miniLm;

    public LocalEmbeddingModelTests(ArcticFixture arctic, MiniLmFixture miniLm) => (_arctic, _miniLm) = (arctic.Generator, miniLm.Generator);

    private static async Task<float[]> EmbedAsync(MiniLmEmbeddingGenerator generator, string text) =>
        (await generator.GenerateAsync([text], cancellationToken: CancellationToken.None))[0].Vector.ToArray();

    [Fact]
    public async Task Arctic_ReturnsUnitVectorsWithItsModelId()
    {
        var embeddings = await _arctic.GenerateAsync(["hello world", ""], cancellationToken: CancellationToken.None);
        foreach (var e in embeddings)
        {
            Assert.Equal(LocalEmbeddingModel.ArcticXs.Dimensions, e.Vector.Length);
            Assert.Equal(1f, TensorPrimitives.Norm(e.Vector.Span), 3);
            Assert.Equal("Snowflake/snowflake-arctic-embed-xs", e.ModelId);
        }
        Assert.Equal("Snowflake/snowflake-arctic-embed-xs", _arctic.GetService<EmbeddingGeneratorMetadata>()?.DefaultModelId);
        // Not MiniLM's vectors: another model, another space.
        var (arctic, miniLm) = (await EmbedAsync(_arctic, "hello world"), await EmbedAsync(_miniLm, "hello world"));
        Assert.True(TensorPrimitives.CosineSimilarity(arctic, miniLm) < 0.9f);
    }

    [Fact]
    public async Task Arctic_QueriesGetThePrefix_DocumentsDoNot()
    {
        const string question = "How many vacation days do employees get?";
        var query = (await _arctic.EmbedQueriesAsync([question], CancellationToken.None))[0].Vector.ToArray();

        var prefixed = await EmbedAsync(_arctic, LocalEmbeddingModel.ArcticXs.QueryPrefix + question);
        var plain = await EmbedAsync(_arctic, question);
        Assert.True(TensorPrimitives.CosineSimilarity(query, prefixed) > 0.9999f);
        Assert.True(TensorPrimitives.CosineSimilarity(query, plain) < 0.99f);
        // MiniLM has no query instruction: a query is embedded as any text.
        var miniLmQuery = (await _miniLm.EmbedQueriesAsync([question], CancellationToken.None))[0].Vector.ToArray();
        var miniLmText = await EmbedAsync(_miniLm, question);
        Assert.True(TensorPrimitives.CosineSimilarity(miniLmQuery, miniLmText) > 0.9999f);
    }

    [Fact]
    public async Task EmbedAsQueries_UsesTheQueryInterface_WhenTheGeneratorOffersOne()
    {
        const string question = "How many vacation days do employees get?";
        var prefixed = await EmbedAsync(_arctic, LocalEmbeddingModel.ArcticXs.QueryPrefix + question);
        var plain = await EmbedAsync(_arctic, question);

        var viaQueries = (await ((IEmbeddingGenerator<string, Embedding<float>>)_arctic).EmbedAsQueriesAsync([question], CancellationToken.None))[0].Vector.ToArray();
        var withoutQueries = (await new DocumentsOnly(_arctic).EmbedAsQueriesAsync([question], CancellationToken.None))[0].Vector.ToArray();

        Assert.True(TensorPrimitives.CosineSimilarity(viaQueries, prefixed) > 0.9999f);
        Assert.True(TensorPrimitives.CosineSimilarity(withoutQueries, plain) > 0.9999f);
    }

    /// <summary>A generator that offers no query interface: its queries are embedded as documents.</summary>
    private sealed class DocumentsOnly(IEmbeddingGenerator<string, Embedding<float>> inner) : IEmbeddingGenerator<string, Embedding<float>>
    {
        public Task<GeneratedEmbeddings<Embedding<float>>> GenerateAsync(IEnumerable<string> values, EmbeddingGenerationOptions? options = null, CancellationToken cancellationToken = default) =>
            inner.GenerateAsync(values, options, cancellationToken);

        public object? GetService(Type serviceType, object? serviceKey = null) => serviceType == typeof(IQueryEmbeddingGenerator) ? null : inner.GetService(serviceType, serviceKey);

        public void Dispose()
        {
        }
    }

    [Fact]
    public async Task Arctic_RanksTheAnsweringPassageFirst()
    {
        var q = (await _arctic.EmbedQueriesAsync(["How many vacation days do employees get?"], CancellationToken.None))[0].Vector.ToArray();
        var good = await EmbedAsync(_arctic, "Staff are entitled to 25 days of paid annual leave.");
        var bad = await EmbedAsync(_arctic, "The compiler emits a warning for unused variables.");
        Assert.True(TensorPrimitives.Dot(q, good) > TensorPrimitives.Dot(q, bad));
    }

    [Fact]
    public async Task Arctic_SpansSumToTheWholeInputsVector()
    {
        // The shared-span path composes a chunk from its spans' window sums; one input's sum, normalised, is its vector.
        var text = string.Join(' ', Enumerable.Range(0, 400).Select(i => "word" + i));
        var span = Assert.Single(await _arctic.EmbedSpansAsync([text], CancellationToken.None));
        var whole = await EmbedAsync(_arctic, text);
        Assert.True(span.Weight > MiniLmEmbeddingGenerator.WindowPieces);
        Assert.True(TensorPrimitives.CosineSimilarity(SpanEmbedding.Normalize(span.WeightedSum), whole) > 0.9999f);
    }

    [Theory]
    [InlineData(null, "sentence-transformers/all-MiniLM-L6-v2")]
    [InlineData("all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2")]
    [InlineData("snowflake-arctic-embed-xs", "Snowflake/snowflake-arctic-embed-xs")]
    [InlineData("Snowflake/Snowflake-Arctic-Embed-XS", "Snowflake/snowflake-arctic-embed-xs")]
    public void Find_ByAliasOrId(string? name, string id) => Assert.Equal(id, LocalEmbeddingModel.Find(name)?.Id);

    [Fact]
    public void Find_Unknown_IsNull() => Assert.Null(LocalEmbeddingModel.Find("bge-small"));
}

public sealed class ArcticFixture : IDisposable
{
    public MiniLmEmbeddingGenerator Generator { get; } = new(LocalEmbeddingModel.ArcticXs);

    public void Dispose() => Generator.Dispose();
}
