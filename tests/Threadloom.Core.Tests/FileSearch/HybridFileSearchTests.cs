using System.Text.Json;
using Microsoft.Extensions.AI;
using Threadloom.Core.Inference;
using Threadloom.Core.Tools.FileSearch;
using Threadloom.Core.Storage;

namespace Threadloom.Core.Tests.FileSearch;

public sealed class HybridFileSearchTests
{
    private static ChunkHit Hit(long id, string file = "file-a", double score = 1) => new(id, "vs_1", file, file + ".txt", (int)id, "text " + id, null, null, null, score, 0, ("text " + id).Length);

    [Fact]
    public async Task Search_FusesKeywordAndVectorLists()
    {
        var index = new ScriptedIndex { Keyword = [Hit(1, score: 3), Hit(2, score: 2), Hit(3, score: 1)], Vector = [Hit(3, score: 0.9), Hit(1, score: 0.8), Hit(4, score: 0.7)] };
        var search = new HybridFileSearch(index, new ConstantEmbeddings());
        var results = await search.SearchAsync(new FileSearchQuery("p", ["vs_1"], ["q"]), CancellationToken.None);
        Assert.Equal([1, 3, 2, 4], results.Select(r => r.ChunkIndex));
        Assert.All(results, r => Assert.InRange(r.Score, 0.0, 1.0));
    }

    [Fact]
    public async Task Search_FusesByScoresByDefault_AClearVectorWinnerFirst_RankFusionIsASetting()
    {
        // Chunk 5 is far ahead in the vector list and absent from the keyword list; chunk 2 is a close second in both.
        var index = new ScriptedIndex
        {
            Keyword = [Hit(1, score: 10), Hit(2, score: 9.9), Hit(3, score: 1)],
            Vector = [Hit(5, score: 0.95), Hit(2, score: 0.40), Hit(6, score: 0.38)],
        };
        var query = new FileSearchQuery("p", ["vs_1"], ["q"]);
        var byScores = await new HybridFileSearch(index, new ConstantEmbeddings(), fusion: new HybridFusion(Rescore: RescoreWeights.None)).SearchAsync(query, CancellationToken.None);
        var byRanks = await new HybridFileSearch(index, new ConstantEmbeddings(), fusion: HybridFusion.RankFusion with { Rescore = RescoreWeights.None }).SearchAsync(query, CancellationToken.None);

        Assert.Equal(5, byScores[0].ChunkIndex);
        Assert.Equal(2, byRanks[0].ChunkIndex);
    }

    [Fact]
    public async Task Search_ScoreThresholdAndMaxNumResults_AreHonoured()
    {
        var index = new ScriptedIndex { Keyword = [Hit(1, score: 3), Hit(2, score: 2.8), Hit(3, score: 1)], Vector = [Hit(1, score: 0.9), Hit(2, score: 0.85), Hit(5, score: 0.5)] };
        var search = new HybridFileSearch(index, new ConstantEmbeddings());
        // 1 and 2 are near the top of both lists (scores 1 and ≈ 0.89); 3 and 5 at the bottom of one list only (0).
        var thresholded = await search.SearchAsync(new FileSearchQuery("p", ["vs_1"], ["q"], ScoreThreshold: 0.6), CancellationToken.None);
        Assert.Equal([1, 2], thresholded.Select(r => r.ChunkIndex));
        Assert.All(thresholded, r => Assert.True(r.Score >= 0.6));
        var capped = await search.SearchAsync(new FileSearchQuery("p", ["vs_1"], ["q"], MaxNumResults: 1), CancellationToken.None);
        Assert.Single(capped);
    }

    [Fact]
    public async Task Search_MultipleQueries_AreAllSearchedAndFused()
    {
        var index = new ScriptedIndex { Keyword = [Hit(1)], Vector = [Hit(1)] };
        var search = new HybridFileSearch(index, new ConstantEmbeddings());
        var results = await search.SearchAsync(new FileSearchQuery("p", ["vs_1"], ["first", "second", "first"]), CancellationToken.None);
        Assert.Equal(["first", "second"], index.KeywordQueries);
        Assert.Equal(1.0, Assert.Single(results).Score, 9);
    }

    [Fact]
    public async Task Search_StoreWithOtherModel_UsesKeywordsOnly()
    {
        var index = new ScriptedIndex { Keyword = [Hit(1)], Vector = [Hit(2)], Model = "other-model" };
        var results = await new HybridFileSearch(index, new ConstantEmbeddings()).SearchAsync(new FileSearchQuery("p", ["vs_1"], ["q"]), CancellationToken.None);
        Assert.Equal([1], results.Select(r => r.ChunkIndex));
    }

    [Fact]
    public async Task Search_StoreWithOtherModel_DoesNotEmbedTheQuery()
    {
        var index = new ScriptedIndex { Keyword = [Hit(1)], Vector = [Hit(2)], Model = "other-model" };
        var embeddings = new ConstantEmbeddings();
        await new HybridFileSearch(index, embeddings).SearchAsync(new FileSearchQuery("p", ["vs_1"], ["q"]), CancellationToken.None);
        Assert.Equal(0, embeddings.Calls);
    }

    [Fact]
    public async Task Search_StoreWithSameModelAtOtherWidth_UsesKeywordsOnly()
    {
        // Same model name, other Embeddings:Dimensions: the vectors cannot be compared.
        var index = new ScriptedIndex { Keyword = [Hit(1)], Vector = [Hit(2)], Dimensions = 3 };
        var results = await new HybridFileSearch(index, new ConstantEmbeddings()).SearchAsync(new FileSearchQuery("p", ["vs_1"], ["q"]), CancellationToken.None);
        Assert.Equal([1], results.Select(r => r.ChunkIndex));
    }

    [Fact]
    public async Task Search_EmbeddingProviderFails_HybridFallsBackToKeywords()
    {
        var index = new ScriptedIndex { Keyword = [Hit(1)], Vector = [Hit(2)] };
        var embeddings = new ConstantEmbeddings { Failure = new ModelCallException(ModelErrorCodes.ServerError, "down") };
        var search = new HybridFileSearch(index, embeddings);

        var results = await search.SearchAsync(new FileSearchQuery("p", ["vs_1"], ["q"]), CancellationToken.None);

        Assert.Equal([1], results.Select(r => r.ChunkIndex));
        await Assert.ThrowsAsync<ModelCallException>(() => search.SearchAsync(new FileSearchQuery("p", ["vs_1"], ["q"], Mode: FileSearchMode.VectorOnly), CancellationToken.None));
    }

    [Fact]
    public async Task Search_RewriteQuery_KeywordsSearchTheRewriteAndVectorsEmbedTheCleanedQuestion()
    {
        var index = new ScriptedIndex { Keyword = [Hit(1)], Vector = [Hit(1)] };
        var embeddings = new ConstantEmbeddings();
        var search = new HybridFileSearch(index, embeddings);

        await search.SearchAsync(new FileSearchQuery("p", ["vs_1"], ["hey, my boss says passing shell=True is dangerous, why exactly?"], RewriteQuery: true), CancellationToken.None);

        Assert.Equal(["passing shell True dangerous"], index.KeywordQueries);
        Assert.Equal(["passing shell=True is dangerous, why ?"], embeddings.Inputs);
    }

    [Fact]
    public async Task Search_Rescoring_RaisesTheChunkWithTheQueryPhrase_AndNeverLowersAScore()
    {
        static ChunkHit Text(long id, string text) => new(id, "vs_1", "file-" + id, "doc" + id + ".txt", 0, text, null, null, null, 1, 0, text.Length);
        var loose = Text(1, "The directory holds a list. Contents vary.");
        var exact = Text(2, "ls: list directory contents, sorted by name.");
        var other = Text(3, "Nothing relevant here.");
        // Fusion alone ranks 1 above 2 (both lists agree), 3 last.
        var index = new ScriptedIndex { Keyword = [loose, exact, other], Vector = [loose, exact, other] };
        var query = new FileSearchQuery("p", ["vs_1"], ["list directory contents"]);
        var plain = await new HybridFileSearch(index, new ConstantEmbeddings(), fusion: new HybridFusion(Rescore: RescoreWeights.None)).SearchAsync(query, CancellationToken.None);
        var rescored = await new HybridFileSearch(index, new ConstantEmbeddings(), fusion: new HybridFusion(Rescore: new RescoreWeights(Phrase: 0.2, Proximity: 0.1)))
            .SearchAsync(query, CancellationToken.None);

        Assert.Equal(["file-1", "file-2", "file-3"], plain.Select(r => r.FileId));
        Assert.Equal(["file-2", "file-1", "file-3"], rescored.Select(r => r.FileId));
        foreach (var r in rescored)
        {
            Assert.InRange(r.Score, plain.Single(p => p.FileId == r.FileId).Score, 1.0);
        }
    }

    [Fact]
    public void Rescoring_Features_PhraseProximityCoverageAndTitle()
    {
        var query = PhraseRescoring.Prepare("How do I list the directory contents?");
        Assert.Equal(["list", "directory", "content"], query.Terms);

        var adjacent = PhraseRescoring.Measure(query, "ls - list directory contents", "ls.1.txt", null);
        Assert.Equal((1.0, 1.0, 1.0), (adjacent.Coverage, adjacent.Phrase, adjacent.Proximity));
        var apart = PhraseRescoring.Measure(query, "a list of things, then much later one directory and no more", "dir.txt", "Directory listing");
        Assert.Equal(2.0 / 3, apart.Coverage, 6);
        Assert.Equal(0, apart.Phrase);
        Assert.True(apart.Proximity is > 0 and < 0.5);
        Assert.Equal(1.0 / 3, apart.Title, 6); // "directory" from the heading; "dir" and "listing" are other words
        Assert.Equal(default, PhraseRescoring.Measure(PhraseRescoring.Prepare("the of"), "the of", "x.txt", null));
    }

    [Theory]
    [InlineData(0, 0.0)]
    [InlineData(51, 0.0)]
    [InlineData(20, 1.5)]
    [InlineData(20, -0.1)]
    public void Validate_RejectsOutOfRangeOptions(int max, double threshold) =>
        Assert.NotNull(new FileSearchQuery("p", ["vs_1"], ["q"], max, threshold).Validate());

    [Fact]
    public void Filters_ParseAndMatch()
    {
        using var json = JsonDocument.Parse("""
            {"type":"and","filters":[
              {"type":"eq","key":"team","value":"hr"},
              {"type":"or","filters":[{"type":"gte","key":"year","value":2024},{"type":"in","key":"tag","value":["x","y"]}]},
              {"type":"ne","key":"draft","value":true}]}
            """);
        var filter = AttributeFilter.Parse(json.RootElement, out var error);
        Assert.Null(error);
        Assert.True(filter!.Matches(Attrs("""{"team":"hr","year":2025}""")));
        Assert.True(filter.Matches(Attrs("""{"team":"hr","year":2020,"tag":"y","draft":false}""")));
        Assert.False(filter.Matches(Attrs("""{"team":"hr","year":2020,"tag":"z"}""")));
        Assert.False(filter.Matches(Attrs("""{"team":"hr","year":2025,"draft":true}""")));
        Assert.False(filter.Matches(Attrs("""{"team":"it","year":2025}""")));
        Assert.False(filter.Matches(null));
    }

    [Theory]
    [InlineData("""{"type":"eq","key":"a"}""")]
    [InlineData("""{"type":"in","key":"a","value":"x"}""")]
    [InlineData("""{"type":"xor","filters":[]}""")]
    [InlineData("""[1]""")]
    public void Filters_Malformed_ReturnAnError(string text)
    {
        using var json = JsonDocument.Parse(text);
        Assert.Null(AttributeFilter.Parse(json.RootElement, out var error));
        Assert.NotNull(error);
    }

    private static Dictionary<string, JsonElement> Attrs(string json) =>
        JsonSerializer.Deserialize(json, FileSearchJson.Default.DictionaryStringJsonElement)!;

    private sealed class ConstantEmbeddings : IEmbeddingGenerator<string, Embedding<float>>
    {
        public int Calls { get; private set; }

        public List<string> Inputs { get; } = [];

        public Exception? Failure { get; init; }

        public Task<GeneratedEmbeddings<Embedding<float>>> GenerateAsync(IEnumerable<string> values, EmbeddingGenerationOptions? options = null, CancellationToken cancellationToken = default)
        {
            Calls++;
            Inputs.AddRange(values);
            return Failure is not null
                ? Task.FromException<GeneratedEmbeddings<Embedding<float>>>(Failure)
                : Task.FromResult(new GeneratedEmbeddings<Embedding<float>>(values.Select(_ => new Embedding<float>(new float[] { 1, 0 }))));
        }

        public object? GetService(Type serviceType, object? serviceKey = null) =>
            serviceType == typeof(EmbeddingGeneratorMetadata) ? new EmbeddingGeneratorMetadata("test", null, "test-model", 2) : null;

        public void Dispose() { }
    }

    /// <summary>A strict scripted index: search methods return the scripted lists; writes are not expected.</summary>
    private sealed class ScriptedIndex : IChunkIndex
    {
        public IReadOnlyList<ChunkHit> Keyword { get; init; } = [];
        public IReadOnlyList<ChunkHit> Vector { get; init; } = [];
        public string Model { get; init; } = "test-model";
        public int Dimensions { get; init; } = 2;
        public List<string> KeywordQueries { get; } = [];

        public Task<IReadOnlyList<ChunkHit>> KeywordSearchAsync(string projectId, string vectorStoreId, string query, int limit, AttributeFilter? filter, CancellationToken cancellationToken)
        {
            KeywordQueries.Add(query);
            return Task.FromResult(Keyword);
        }

        public Task<IReadOnlyList<ChunkHit>> VectorSearchAsync(string projectId, string vectorStoreId, ReadOnlyMemory<float> queryVector, int limit, AttributeFilter? filter, CancellationToken cancellationToken) =>
            Task.FromResult(Vector);

        public Task<ChunkStoreModel?> GetEmbeddingModelAsync(string projectId, string vectorStoreId, CancellationToken cancellationToken) =>
            Task.FromResult<ChunkStoreModel?>(new ChunkStoreModel(Model, Dimensions));

        public Task<ChunkWriteResult> ReplaceFileAsync(ChunkSource source, string embeddingModel, IReadOnlyList<IndexedChunk> chunks, CancellationToken cancellationToken) => throw new NotSupportedException();
        public Task<bool> UpdateAttributesAsync(string projectId, string vectorStoreId, string fileId, IReadOnlyDictionary<string, JsonElement>? attributes, CancellationToken cancellationToken) => throw new NotSupportedException();
        public Task<bool> DeleteFileAsync(string projectId, string vectorStoreId, string fileId, CancellationToken cancellationToken) => throw new NotSupportedException();
        public Task<int> DeleteVectorStoreAsync(string projectId, string vectorStoreId, CancellationToken cancellationToken) => throw new NotSupportedException();
        public Task<ChunkIndexUsage> GetUsageAsync(string projectId, string vectorStoreId, CancellationToken cancellationToken) => throw new NotSupportedException();
        public Task<IReadOnlyList<string>> ReadFileChunksAsync(string projectId, string vectorStoreId, string fileId, CancellationToken cancellationToken) => throw new NotSupportedException();
    }
}
