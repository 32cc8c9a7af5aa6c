using Threadloom.Core.Ingestion;
using Threadloom.Core.Storage;

namespace Threadloom.Storage.Tests.ChunkIndex;

/// <summary>
/// Larger synthetic stores (written directly, random vectors) for the paths that only run at scale: the vector top k
/// and the keyword fast path with its fallback. A fixture of their own, so their rows do not change the
/// corpus statistics (bm25 IDF is computed over the whole FTS index) that the scenario tests rank with.
/// </summary>
public sealed class SqliteChunkIndexScaleTests(ChunkIndexFixture fixture) : IClassFixture<ChunkIndexFixture>
{
    private static string NewStore() => "vs_" + Guid.NewGuid().ToString("N");

    private static float[] RandomUnit(Random random, int dimensions)
    {
        var v = new float[dimensions];
        for (var d = 0; d < v.Length; d++)
        {
            v[d] = (float)(random.NextDouble() - 0.5);
        }
        System.Numerics.Tensors.TensorPrimitives.Divide(v, System.Numerics.Tensors.TensorPrimitives.Norm(v), v);
        return v;
    }

    private Task<ChunkWriteResult> WriteAsync(string store, string file, IEnumerable<(string Text, float[] Vector)> chunks, string project = "proj_test") =>
        fixture.Index.ReplaceFileAsync(new ChunkSource(project, store, file, file + ".txt"), MiniLmEmbeddingGenerator.ModelId,
            chunks.Select((c, i) => new IndexedChunk(i, c.Text, 0, c.Text.Length, 1, null, null, c.Vector)).ToList(), CancellationToken.None);

    [Fact]
    public async Task VectorSearch_LargeStore_ReturnsTheExactTopK()
    {
        // 1,500 rows over two files: the scan's top k must be the brute-force top k, in order, with exact scores.
        var store = NewStore();
        var random = new Random(11);
        var vectors = Enumerable.Range(0, 1500).Select(_ => RandomUnit(random, MiniLmEmbeddingGenerator.Dimensions)).ToList();
        await WriteAsync(store, "file-a", vectors.Take(750).Select((v, i) => ("a " + i, v)));
        await WriteAsync(store, "file-b", vectors.Skip(750).Select((v, i) => ("b " + i, v)));
        // Each probe also negated, so some queries have a negative largest component (the int8 pass quantises by it).
        foreach (var (probe, sign) in ((int, float)[])[(3, 1), (3, -1), (800, 1), (800, -1), (1499, 1), (1499, -1)])
        {
            var query = vectors[probe].Select((x, d) => sign * (x + (d % 7 == 0 ? 0.05f : 0f))).ToArray();
            System.Numerics.Tensors.TensorPrimitives.Divide(query, System.Numerics.Tensors.TensorPrimitives.Norm(query), query);
            var expected = vectors.Select((v, i) => (Text: (i < 750 ? "a " : "b ") + (i % 750), Score: System.Numerics.Tensors.TensorPrimitives.Dot(query, v)))
                .OrderByDescending(x => x.Score).Take(20).ToList();
            var hits = await fixture.Index.VectorSearchAsync("proj_test", store, query, 20, null, CancellationToken.None);
            Assert.Equal(expected.Select(e => e.Text), hits.Select(h => h.Text));
            Assert.Equal(expected[0].Score, hits[0].Score, 5);
        }
    }

    [Fact]
    public async Task KeywordSearch_SmallStoreBesideALargeOne_FindsItsOwnChunks()
    {
        // The large store outranks the small one on every term, so the store-agnostic fast path finds nothing of the
        // small store in its top rows and the full query must run.
        var large = NewStore();
        var small = NewStore();
        var random = new Random(5);
        var dims = MiniLmEmbeddingGenerator.Dimensions;
        await WriteAsync(large, "file-large", Enumerable.Range(0, 600).Select(i => ($"kernel module parameters kernel module {i}", RandomUnit(random, dims))));
        await WriteAsync(small, "file-small", [("the kernel was upgraded last week, see the release notes", RandomUnit(random, dims)), ("lunch menu", RandomUnit(random, dims))]);
        var hits = await fixture.Index.KeywordSearchAsync("proj_test", small, "kernel module upgrade", 5, null, CancellationToken.None);
        var hit = Assert.Single(hits);
        Assert.Equal("file-small", hit.FileId);
        Assert.True(hit.Score > 0);

        var inLarge = await fixture.Index.KeywordSearchAsync("proj_test", large, "kernel module upgrade", 50, null, CancellationToken.None);
        Assert.Equal(50, inLarge.Count);
        Assert.All(inLarge, h => Assert.Equal("file-large", h.FileId));
        Assert.Empty(await fixture.Index.KeywordSearchAsync("proj_other", large, "kernel module upgrade", 50, null, CancellationToken.None));
    }

    [Fact]
    public async Task KeywordSearch_RareTermWithFrequentOnes_RanksTheRareTermFirst()
    {
        var store = NewStore();
        var random = new Random(6);
        var dims = MiniLmEmbeddingGenerator.Dimensions;
        var chunks = Enumerable.Range(0, 400).Select(i => ($"configure the network interface and the routing table {i}", RandomUnit(random, dims))).ToList();
        chunks[123] = ("configure the zeroconf daemon", RandomUnit(random, dims));
        await WriteAsync(store, "file-net", chunks);
        var hits = await fixture.Index.KeywordSearchAsync("proj_test", store, "how do I configure zeroconf on the network interface?", 10, null, CancellationToken.None);
        Assert.Equal("configure the zeroconf daemon", hits[0].Text);
        Assert.Equal(10, hits.Count);
    }

    [Fact]
    public async Task KeywordSearch_RareTermMatchesTooFewRows_CommonTermsFillTheRestBelowIt()
    {
        // "network" is in 2,500 rows, over the term budget, so the first pass ranks "zeroconf" alone (one row) and a
        // second pass must fill the other nine places from the common term, below the rare one.
        var store = NewStore();
        var random = new Random(9);
        var dims = MiniLmEmbeddingGenerator.Dimensions;
        var chunks = Enumerable.Range(0, 2500).Select(i => ($"network settings page {i}", RandomUnit(random, dims))).ToList();
        chunks[77] = ("zeroconf announces services", RandomUnit(random, dims));
        await WriteAsync(store, "file-net", chunks);
        var hits = await fixture.Index.KeywordSearchAsync("proj_test", store, "zeroconf network", 10, null, CancellationToken.None);
        Assert.Equal(10, hits.Count);
        Assert.Equal("zeroconf announces services", hits[0].Text);
        Assert.All(hits.Skip(1), h => Assert.StartsWith("network settings page", h.Text, StringComparison.Ordinal));
        Assert.Equal(10, hits.Select(h => h.ChunkId).Distinct().Count());
    }

    [Fact]
    public async Task KeywordSearch_EveryTermOverTheBudget_RanksOnTheRarestOfThem()
    {
        // Both terms are over the budget (2,000 rows here), so their counts stop at it; the first pass must still take
        // the rarer one ("beta", 2,500 rows), not the first in the query ("alpha", 5,000 rows), as with exact counts.
        var project = "proj_capped_" + Guid.NewGuid().ToString("N");
        var store = NewStore();
        var vector = RandomUnit(new Random(13), MiniLmEmbeddingGenerator.Dimensions);
        var chunks = Enumerable.Range(0, 5000).Select(i => ($"alpha filler {i}", vector)).Concat(Enumerable.Range(0, 2500).Select(i => ($"beta filler {i}", vector)));
        await WriteAsync(store, "file-ab", chunks, project);
        var hits = await fixture.Index.KeywordSearchAsync(project, store, "alpha beta", 10, null, CancellationToken.None);
        Assert.Equal(10, hits.Count);
        Assert.All(hits, h => Assert.StartsWith("beta filler", h.Text, StringComparison.Ordinal));
    }

    [Fact]
    public async Task StoreToken_WrittenRows_MatchTheMigrationsFormula()
    {
        // Migration 0005 filled store_token in SQL for existing rows; new rows get it from code. Both must agree, or
        // the store-limited keyword query would miss the older rows.
        var store = "vs_" + Guid.NewGuid().ToString("D"); // with '-' as well as '_'
        var random = new Random(10);
        await WriteAsync(store, "file-t", [("token test alpha", RandomUnit(random, MiniLmEmbeddingGenerator.Dimensions))]);
        await using var connection = await fixture.Database.OpenAsync(CancellationToken.None);
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT store_token = replace(replace(vector_store_id, '_', ''), '-', '') FROM chunks WHERE vector_store_id = $vs";
        command.Parameters.AddWithValue("$vs", store);
        Assert.Equal(1L, await command.ExecuteScalarAsync());
    }

    [Fact]
    public async Task VectorCache_OverItsBound_DropsTheLeastRecentlySearchedStore_AndSearchesStayExact()
    {
        // 1 MB holds one store of 500 × 384 (about 1 MB with its int8 copy) but not two: searching b after a drops a,
        // and a is reloaded from SQLite on its next search with the same results.
        var index = new Threadloom.Storage.Sqlite.SqliteChunkIndex(fixture.Database,
            Microsoft.Extensions.Options.Options.Create(new Threadloom.Storage.Sqlite.SqliteChunkIndexOptions { VectorCacheMegabytes = 1 }));
        var random = new Random(12);
        var dims = MiniLmEmbeddingGenerator.Dimensions;
        var (a, b) = (NewStore(), NewStore());
        var vectorsA = Enumerable.Range(0, 500).Select(_ => RandomUnit(random, dims)).ToList();
        await index.ReplaceFileAsync(new ChunkSource("proj_test", a, "file-a", "a.txt"), MiniLmEmbeddingGenerator.ModelId,
            vectorsA.Select((v, i) => new IndexedChunk(i, "a " + i, 0, 1, 1, null, null, v)).ToList(), CancellationToken.None);
        await index.ReplaceFileAsync(new ChunkSource("proj_test", b, "file-b", "b.txt"), MiniLmEmbeddingGenerator.ModelId,
            Enumerable.Range(0, 500).Select(i => new IndexedChunk(i, "b " + i, 0, 1, 1, null, null, RandomUnit(random, dims))).ToList(), CancellationToken.None);

        var first = await index.VectorSearchAsync("proj_test", a, vectorsA[42], 5, null, CancellationToken.None);
        Assert.Equal([a], index.CachedVectorStores);
        await index.VectorSearchAsync("proj_test", b, vectorsA[42], 5, null, CancellationToken.None);
        Assert.Equal([b], index.CachedVectorStores);
        var again = await index.VectorSearchAsync("proj_test", a, vectorsA[42], 5, null, CancellationToken.None);
        Assert.Equal([a], index.CachedVectorStores);
        Assert.Equal("a 42", again[0].Text);
        Assert.Equal(first.Select(h => (h.ChunkId, h.Score)), again.Select(h => (h.ChunkId, h.Score)));
    }
}
