using System.Text.Json;
using Threadloom.Core.Ingestion;
using Threadloom.Core.Storage;
using Threadloom.Core.Tools.FileSearch;

namespace Threadloom.Storage.Tests.Contract;

/// <summary>The real MiniLM model, loaded once for the hybrid tests of every provider.</summary>
public sealed class MiniLmFixture : IDisposable
{
    public MiniLmEmbeddingGenerator Embeddings { get; } = new();

    public void Dispose() => Embeddings.Dispose();
}

/// <summary>
/// The chunk index: keyword, vector and hybrid results, attribute filters, deletes, one embedding model per store, and
/// project scoping. Vectors are small hand-made unit vectors, except in the hybrid test, which uses the real model.
/// </summary>
public abstract class ChunkIndexContract<TProvider>(MiniLmFixture model) : ContractTests<TProvider>, IClassFixture<MiniLmFixture>
    where TProvider : ITestStorageProvider, new()
{
    private const string Project = "proj_c";

    private static float[] Unit(params float[] v)
    {
        var norm = MathF.Sqrt(v.Sum(x => x * x));
        return [.. v.Select(x => x / norm)];
    }

    private static IndexedChunk Chunk(int i, string text, float[] vector, int? page = null, string? heading = null) =>
        new(i, text, i * 100, i * 100 + text.Length, text.Length / 4, page, heading, vector);

    private static Dictionary<string, JsonElement> Attributes(string json) => JsonSerializer.Deserialize<Dictionary<string, JsonElement>>(json)!;

    private Task<ChunkWriteResult> WriteAsync(string store, string file, string model, params IndexedChunk[] chunks) =>
        WriteAsync(store, file, model, null, chunks);

    private Task<ChunkWriteResult> WriteAsync(string store, string file, string model, Dictionary<string, JsonElement>? attributes, params IndexedChunk[] chunks) =>
        Stores.ChunkIndex.ReplaceFileAsync(new ChunkSource(Project, store, file, file + ".txt", attributes), model, chunks, CancellationToken.None);

    private async Task SeedAsync(string store)
    {
        await WriteAsync(store, "file-animals", "m", Attributes("""{"lang":"en","year":2020}"""),
            Chunk(0, "The zebra grazes on the savanna grass.", Unit(1, 0, 0, 0)),
            Chunk(1, "Penguins huddle together against the Antarctic winter.", Unit(0, 1, 0, 0), page: 2, heading: "Birds"));
        await WriteAsync(store, "file-ships", "m", Attributes("""{"lang":"fr","year":2024}"""),
            Chunk(0, "Le navire quitte le port de Marseille.", Unit(0, 0, 1, 0)),
            Chunk(1, "A cargo ship carried grain and one zebra statue.", Unit(0.2f, 0, 1, 0)));
    }

    [SkippableFact]
    public async Task Keyword_FindsTheChunkWithTheWord_RarestMatchFirst_AndAnyInputIsSafe()
    {
        await SeedAsync("vs_k");
        var hits = await Stores.ChunkIndex.KeywordSearchAsync(Project, "vs_k", "zebra savanna", 10, null, CancellationToken.None);
        Assert.Equal(("file-animals", 0), (hits[0].FileId, hits[0].ChunkIndex));
        Assert.Contains(hits, h => h.FileId == "file-ships" && h.ChunkIndex == 1);
        Assert.DoesNotContain(hits, h => h.Text.Contains("Penguins", StringComparison.Ordinal));
        Assert.All(hits, h => Assert.True(h.Score > 0));
        Assert.Equal("file-animals.txt", hits[0].FileName);
        Assert.Equal("en", hits[0].Attributes!["lang"].GetString());

        // Stemming: "penguin" finds "Penguins"; the heading is searchable context.
        var birds = await Stores.ChunkIndex.KeywordSearchAsync(Project, "vs_k", "penguin", 10, null, CancellationToken.None);
        Assert.Equal(2, Assert.Single(birds).PageNumber);
        Assert.Equal("Birds", birds[0].Heading);

        foreach (var hostile in (string[])["\"unbalanced", "a AND OR NOT (", "*:^-'; DROP TABLE chunks; --", "", "   ", "NEAR(zebra)", "\\x00"])
        {
            await Stores.ChunkIndex.KeywordSearchAsync(Project, "vs_k", hostile, 10, null, CancellationToken.None);
        }
        Assert.Empty(await Stores.ChunkIndex.KeywordSearchAsync(Project, "vs_k", "unicorn", 10, null, CancellationToken.None));
    }

    [SkippableFact]
    public async Task Search_IsScopedByProjectAndStore()
    {
        await SeedAsync("vs_s1");
        await Stores.ChunkIndex.ReplaceFileAsync(new ChunkSource("proj_other", "vs_s2", "file-x", "x.txt"), "m",
            [Chunk(0, "zebra zebra zebra", Unit(1, 0, 0, 0))], CancellationToken.None);
        Assert.Empty(await Stores.ChunkIndex.KeywordSearchAsync("proj_other", "vs_s1", "zebra", 10, null, CancellationToken.None));
        Assert.Empty(await Stores.ChunkIndex.VectorSearchAsync("proj_other", "vs_s1", Unit(1, 0, 0, 0), 10, null, CancellationToken.None));
        Assert.All(await Stores.ChunkIndex.KeywordSearchAsync(Project, "vs_s1", "zebra", 10, null, CancellationToken.None), h => Assert.Equal("vs_s1", h.VectorStoreId));
        Assert.Equal(["file-x"], (await Stores.ChunkIndex.VectorSearchAsync("proj_other", "vs_s2", Unit(1, 0, 0, 0), 10, null, CancellationToken.None)).Select(h => h.FileId));
        Assert.Null(await Stores.ChunkIndex.GetEmbeddingModelAsync("proj_other", "vs_s1", CancellationToken.None));
    }

    [SkippableFact]
    public async Task Vector_NearestByCosine_InOrder()
    {
        await SeedAsync("vs_v");
        var hits = await Stores.ChunkIndex.VectorSearchAsync(Project, "vs_v", Unit(0.05f, 0, 1, 0), 3, null, CancellationToken.None);
        Assert.Equal([("file-ships", 0), ("file-ships", 1), ("file-animals", 0)], hits.Select(h => (h.FileId, h.ChunkIndex)));
        Assert.True(hits[0].Score > hits[1].Score && hits[1].Score > hits[2].Score);
        Assert.InRange(hits[0].Score, 0.99, 1.0001);
        Assert.Equal(2, (await Stores.ChunkIndex.VectorSearchAsync(Project, "vs_v", Unit(0, 0, 0, 1), 2, null, CancellationToken.None)).Count);
    }

    [SkippableFact]
    public async Task Filters_KeepOnlyMatchingFiles_InBothLists_AndFollowAttributeUpdates()
    {
        await SeedAsync("vs_f");
        var french = new ComparisonFilter("lang", ComparisonOperator.Eq, JsonDocument.Parse("\"fr\"").RootElement);
        Assert.All(await Stores.ChunkIndex.KeywordSearchAsync(Project, "vs_f", "zebra", 10, french, CancellationToken.None), h => Assert.Equal("file-ships", h.FileId));
        Assert.All(await Stores.ChunkIndex.VectorSearchAsync(Project, "vs_f", Unit(1, 0, 0, 0), 10, french, CancellationToken.None), h => Assert.Equal("file-ships", h.FileId));
        var recent = new ComparisonFilter("year", ComparisonOperator.Gte, JsonDocument.Parse("2021").RootElement);
        Assert.Equal(2, (await Stores.ChunkIndex.VectorSearchAsync(Project, "vs_f", Unit(1, 0, 0, 0), 10, recent, CancellationToken.None)).Count);

        Assert.True(await Stores.ChunkIndex.UpdateAttributesAsync(Project, "vs_f", "file-animals", Attributes("""{"lang":"fr"}"""), CancellationToken.None));
        Assert.False(await Stores.ChunkIndex.UpdateAttributesAsync(Project, "vs_f", "file-none", null, CancellationToken.None));
        var both = await Stores.ChunkIndex.VectorSearchAsync(Project, "vs_f", Unit(1, 0, 0, 0), 10, french, CancellationToken.None);
        Assert.Equal(4, both.Count);
        Assert.Equal("file-animals", both[0].FileId);
    }

    [SkippableFact]
    public async Task Deletes_RemoveAFileOrAStore_AndReplaceIsIdempotent()
    {
        await SeedAsync("vs_d");
        var again = await WriteAsync("vs_d", "file-animals", "m", Attributes("""{"lang":"en"}"""), Chunk(0, "Only the zebra is left.", Unit(1, 0, 0, 0)));
        Assert.Equal(1, again.ChunkCount);
        Assert.Equal(["Only the zebra is left."], await Stores.ChunkIndex.ReadFileChunksAsync(Project, "vs_d", "file-animals", CancellationToken.None));
        Assert.Equal(["Le navire quitte le port de Marseille.", "A cargo ship carried grain and one zebra statue."],
            await Stores.ChunkIndex.ReadFileChunksAsync(Project, "vs_d", "file-ships", CancellationToken.None));
        var usage = await Stores.ChunkIndex.GetUsageAsync(Project, "vs_d", CancellationToken.None);
        Assert.Equal((2, 3, "m"), (usage.FileCount, usage.ChunkCount, usage.EmbeddingModel));
        Assert.True(usage.UsageBytes > 0);

        Assert.True(await Stores.ChunkIndex.DeleteFileAsync(Project, "vs_d", "file-ships", CancellationToken.None));
        Assert.False(await Stores.ChunkIndex.DeleteFileAsync(Project, "vs_d", "file-ships", CancellationToken.None));
        Assert.Empty(await Stores.ChunkIndex.ReadFileChunksAsync(Project, "vs_d", "file-ships", CancellationToken.None));
        Assert.All(await Stores.ChunkIndex.KeywordSearchAsync(Project, "vs_d", "zebra ship", 10, null, CancellationToken.None), h => Assert.Equal("file-animals", h.FileId));
        Assert.Single(await Stores.ChunkIndex.VectorSearchAsync(Project, "vs_d", Unit(0, 0, 1, 0), 10, null, CancellationToken.None));

        Assert.Equal(1, await Stores.ChunkIndex.DeleteVectorStoreAsync(Project, "vs_d", CancellationToken.None));
        Assert.Null(await Stores.ChunkIndex.GetEmbeddingModelAsync(Project, "vs_d", CancellationToken.None));
        Assert.Empty(await Stores.ChunkIndex.KeywordSearchAsync(Project, "vs_d", "zebra", 10, null, CancellationToken.None));
        Assert.Empty(await Stores.ChunkIndex.VectorSearchAsync(Project, "vs_d", Unit(1, 0, 0, 0), 10, null, CancellationToken.None));
        // A deleted store forgets its model: another model may start it again.
        await WriteAsync("vs_d", "file-new", "other-model", Chunk(0, "new", Unit(1, 1, 0)));
        Assert.Equal(new ChunkStoreModel("other-model", 3), await Stores.ChunkIndex.GetEmbeddingModelAsync(Project, "vs_d", CancellationToken.None));
    }

    [SkippableFact]
    public async Task ReplaceFile_AnotherModelOrWidth_Throws_AndWritesNothing()
    {
        await SeedAsync("vs_m");
        await Assert.ThrowsAsync<EmbeddingModelMismatchException>(() => WriteAsync("vs_m", "file-z", "other", Chunk(0, "zebra", Unit(1, 0, 0, 0))));
        await Assert.ThrowsAsync<EmbeddingModelMismatchException>(() => WriteAsync("vs_m", "file-z", "m", Chunk(0, "zebra", Unit(1, 0, 0))));
        Assert.Empty(await Stores.ChunkIndex.ReadFileChunksAsync(Project, "vs_m", "file-z", CancellationToken.None));
    }

    [SkippableFact]
    public async Task Hybrid_RealModel_FusesBothLists()
    {
        var store = "vs_h";
        string[] texts =
        [
            "Employees may take up to twelve weeks of medical leave each year.",
            "The cafeteria serves lunch from noon until two in the afternoon.",
            "Our 401k plan matches half of the first six percent you contribute.",
            "Parking permits are renewed every January at the front desk.",
        ];
        var vectors = await model.Embeddings.GenerateAsync(texts);
        for (var i = 0; i < texts.Length; i++)
        {
            await Stores.ChunkIndex.ReplaceFileAsync(new ChunkSource(Project, store, $"file-{i}", $"doc{i}.txt"), MiniLmEmbeddingGenerator.ModelId,
                [new IndexedChunk(0, texts[i], 0, texts[i].Length, 12, null, null, vectors[i].Vector)], CancellationToken.None);
        }
        var search = new HybridFileSearch(Stores.ChunkIndex, model.Embeddings);
        // Only the vector list can find this one (no shared word); only the keyword list is certain of the second.
        var semantic = await search.SearchAsync(new FileSearchQuery(Project, [store], ["How much time off do I get when I am sick?"], 2), CancellationToken.None);
        Assert.Equal("file-0", semantic[0].FileId);
        var retirement = await search.SearchAsync(new FileSearchQuery(Project, [store], ["401k matching"], 4), CancellationToken.None);
        Assert.Equal("file-2", retirement[0].FileId);
        Assert.InRange(retirement[0].Score, 0.0001, 1.0);
        var keywordOnly = await search.SearchAsync(new FileSearchQuery(Project, [store], ["parking permits"], 4, Mode: FileSearchMode.KeywordOnly), CancellationToken.None);
        Assert.Equal(["file-3"], keywordOnly.Select(r => r.FileId));
    }
}

public sealed class SqliteChunkIndexContractTests(MiniLmFixture model) : ChunkIndexContract<SqliteProvider>(model);

public sealed class PostgresChunkIndexContractTests(MiniLmFixture model) : ChunkIndexContract<PostgresProvider>(model);
