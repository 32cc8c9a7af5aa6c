using Threadloom.Testing;
using System.Text.Json;
using Threadloom.Core.Ingestion;
using Threadloom.Core.Tools.FileSearch;
using Threadloom.Core.Storage;

namespace Threadloom.Storage.Tests.ChunkIndex;

public sealed class SqliteChunkIndexTests(ChunkIndexFixture fixture) : IClassFixture<ChunkIndexFixture>
{
    private static string NewStore() => "vs_" + Guid.NewGuid().ToString("N");

    private Task<IReadOnlyList<FileSearchResult>> SearchAsync(string store, string query, int max = 5, AttributeFilter? filter = null) =>
        fixture.Search.SearchAsync(new FileSearchQuery("proj_test", [store], [query], max, Filter: filter), CancellationToken.None);

    private async Task IngestHrAsync(string store, StaticChunkingStrategy? strategy = null)
    {
        foreach (var name in (string[])["contoso-401k.txt", "contoso-benefits.txt", "contoso-medical_leave.txt"])
        {
            var result = await fixture.IngestAsync(store, "file-" + name, name, SharedData.Read("HR/" + name), strategy);
            Assert.True(result.Succeeded, result.Error?.Message);
            Assert.True(result.ChunkCount > 0);
        }
    }

    [Theory]
    [InlineData(800, 400)]
    [InlineData(100, 50)]
    public async Task Search_401kMatch_ReturnsBothConflictingPassages(int size, int overlap)
    {
        var store = NewStore();
        await IngestHrAsync(store, new StaticChunkingStrategy(size, overlap));
        var results = await SearchAsync(store, "What is the 401k matching percentage?", max: 5);
        Assert.Contains(results, r => r.FileName == "contoso-benefits.txt" && r.Text.Contains("50%") && r.Text.Contains("6%"));
        Assert.Contains(results, r => r.FileName == "contoso-401k.txt" && r.Text.Contains("up to 10%"));
    }

    [Fact]
    public async Task Search_FaqPdf_IsSearchableWithPageNumbers()
    {
        var store = NewStore();
        var lines = File.ReadAllLines(Path.Combine(SharedData.Root, "faq/fta-contoso-faq.txt")).Select(l => l.Trim()).Where(l => l.Length > 0).ToList();
        var pdf = PdfFixtures.TwoPages(lines[..(lines.Count / 2)], lines[(lines.Count / 2)..]);
        var result = await fixture.IngestAsync(store, "file-faq", "fta-contoso-faq.pdf", pdf, new StaticChunkingStrategy(100, 20));
        Assert.True(result.Succeeded, result.Error?.Message);
        var hits = await SearchAsync(store, "When is the shop open on Sunday?", max: 3);
        Assert.Contains("Sundays", hits[0].Text);
        Assert.Equal(1, hits[0].PageNumber);
    }

    [Fact]
    public async Task Ingest_BadFiles_FailTyped_AndOthersAreUnaffected()
    {
        var store = NewStore();
        var binary = await fixture.IngestAsync(store, "file-bin", "report.txt", [0x50, 0x4B, 0x03, 0x04, 0x00, 0x00, 0xFF, 0x10]);
        var corruptPdf = await fixture.IngestAsync(store, "file-pdf", "faq.pdf", SharedData.Read("faq/fta-contoso-faq.pdf")[..4000]);
        var empty = await fixture.IngestAsync(store, "file-empty", "empty.md", []);
        var good = await fixture.IngestAsync(store, "file-travel", "flight_itinerary.txt", SharedData.Read("travel/flight_itinerary.txt"));

        Assert.Equal("unsupported_file", binary.Error?.Code);
        Assert.Equal("invalid_file", corruptPdf.Error?.Code);
        Assert.Equal("invalid_file", empty.Error?.Code);
        Assert.True(good.Succeeded, good.Error?.Message);

        var usage = await fixture.Index.GetUsageAsync("proj_test", store, CancellationToken.None);
        Assert.Equal(1, usage.FileCount);
        Assert.Equal(good.ChunkCount, usage.ChunkCount);
        Assert.Equal(good.UsageBytes, usage.UsageBytes);
        Assert.Equal(MiniLmEmbeddingGenerator.ModelId, usage.EmbeddingModel);
        var hits = await SearchAsync(store, "flight departure");
        Assert.All(hits, h => Assert.Equal("file-travel", h.FileId));
        Assert.NotEmpty(hits);
    }

    [Theory]
    [InlineData("\"unbalanced quote")]
    [InlineData("AND OR NOT ( ) * ^ : NEAR(a b)")]
    [InlineData("text: col:value {a b} -minus +plus")]
    [InlineData("?!.,;")]
    [InlineData("😀 漢字 é")]
    [InlineData("")]
    public async Task KeywordSearch_AnyUserText_NeverThrows(string query)
    {
        var store = NewStore();
        await IngestHrAsync(store);
        var hits = await fixture.Index.KeywordSearchAsync("proj_test", store, query, 10, null, CancellationToken.None);
        Assert.NotNull(hits);
    }

    [Fact]
    public async Task Delete_File_And_Store_RemoveChunksFromBothIndexes()
    {
        var store = NewStore();
        await IngestHrAsync(store);
        Assert.NotEmpty(await SearchAsync(store, "401k")); // warms the vector cache

        Assert.True(await fixture.Index.DeleteFileAsync("proj_test", store, "file-contoso-401k.txt", CancellationToken.None));
        var afterFile = await SearchAsync(store, "401k matching contributions", max: 20);
        Assert.DoesNotContain(afterFile, r => r.FileId == "file-contoso-401k.txt");
        Assert.NotEmpty(afterFile);

        Assert.True(await fixture.Index.DeleteVectorStoreAsync("proj_test", store, CancellationToken.None) > 0);
        Assert.Empty(await SearchAsync(store, "401k"));
        Assert.Null(await fixture.Index.GetEmbeddingModelAsync("proj_test", store, CancellationToken.None));
    }

    [Fact]
    public async Task Index_IsScopedByProject()
    {
        var store = NewStore();
        await IngestHrAsync(store);
        var other = await fixture.Search.SearchAsync(new FileSearchQuery("proj_other", [store], ["401k"]), CancellationToken.None);
        Assert.Empty(other);
        Assert.False(await fixture.Index.DeleteFileAsync("proj_other", store, "file-contoso-401k.txt", CancellationToken.None));
    }

    [Fact]
    public async Task ReplaceFile_WithAnotherModel_Throws()
    {
        var store = NewStore();
        await IngestHrAsync(store);
        var chunk = new IndexedChunk(0, "x", 0, 1, 1, null, null, new float[MiniLmEmbeddingGenerator.Dimensions]);
        await Assert.ThrowsAsync<EmbeddingModelMismatchException>(() =>
            fixture.Index.ReplaceFileAsync(new ChunkSource("proj_test", store, "file-x", "x.txt"), "text-embedding-3-small", [chunk], CancellationToken.None));
    }

    [Fact]
    public async Task ReplaceFile_WithTheSameModelAtAnotherWidth_ThrowsNamingTheWidths()
    {
        var store = NewStore();
        await IngestHrAsync(store);
        var chunk = new IndexedChunk(0, "x", 0, 1, 1, null, null, new float[128]);

        var error = await Assert.ThrowsAsync<EmbeddingModelMismatchException>(() =>
            fixture.Index.ReplaceFileAsync(new ChunkSource("proj_test", store, "file-x", "x.txt"), MiniLmEmbeddingGenerator.ModelId, [chunk], CancellationToken.None));

        Assert.Contains($"at {MiniLmEmbeddingGenerator.Dimensions} dimensions, not 128", error.Message, StringComparison.Ordinal);
        Assert.Equal(new ChunkStoreModel(MiniLmEmbeddingGenerator.ModelId, MiniLmEmbeddingGenerator.Dimensions),
            await fixture.Index.GetEmbeddingModelAsync("proj_test", store, CancellationToken.None));
    }

    [Fact]
    public async Task ReplaceFile_IsIdempotent()
    {
        var store = NewStore();
        var bytes = SharedData.Read("HR/contoso-medical_leave.txt");
        var first = await fixture.IngestAsync(store, "file-ml", "ml.txt", bytes, new StaticChunkingStrategy(100, 50));
        var second = await fixture.IngestAsync(store, "file-ml", "ml.txt", bytes, new StaticChunkingStrategy(100, 50));
        var usage = await fixture.Index.GetUsageAsync("proj_test", store, CancellationToken.None);
        Assert.Equal(first.ChunkCount, second.ChunkCount);
        Assert.Equal(first.ChunkCount, usage.ChunkCount);
    }

    [Fact]
    public async Task Search_AttributeFilter_RestrictsBothLists()
    {
        var store = NewStore();
        Dictionary<string, JsonElement> Attrs(string team) => new() { ["team"] = JsonSerializer.SerializeToElement(team, FileSearchJson.Default.String) };
        await fixture.IngestAsync(store, "file-401k", "contoso-401k.txt", SharedData.Read("HR/contoso-401k.txt"), attributes: Attrs("finance"));
        await fixture.IngestAsync(store, "file-ben", "contoso-benefits.txt", SharedData.Read("HR/contoso-benefits.txt"), attributes: Attrs("hr"));
        using var json = JsonDocument.Parse("""{"type":"eq","key":"team","value":"hr"}""");
        var filter = AttributeFilter.Parse(json.RootElement, out _);
        var hits = await SearchAsync(store, "401k matching percentage", max: 10, filter: filter);
        Assert.NotEmpty(hits);
        Assert.All(hits, h => Assert.Equal("file-ben", h.FileId));

        Assert.True(await fixture.Index.UpdateAttributesAsync("proj_test", store, "file-401k", Attrs("hr"), CancellationToken.None));
        var updated = await SearchAsync(store, "401k matching percentage", max: 10, filter: filter);
        Assert.Contains(updated, h => h.FileId == "file-401k");
    }

    [Fact]
    public async Task KeywordSearch_Stemming_MatchesInflections()
    {
        var store = NewStore();
        await IngestHrAsync(store);
        var hits = await fixture.Index.KeywordSearchAsync("proj_test", store, "withdrawing", 5, null, CancellationToken.None);
        Assert.Contains(hits, h => h.Text.Contains("withdraw", StringComparison.Ordinal));
        Assert.All(hits, h => Assert.True(h.Score > 0));
    }
}
