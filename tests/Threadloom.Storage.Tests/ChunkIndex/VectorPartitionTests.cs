using System.Numerics.Tensors;
using Threadloom.Core.Ingestion;
using Threadloom.Core.Storage;
using Threadloom.Storage.Sqlite;

namespace Threadloom.Storage.Tests.ChunkIndex;

/// <summary>The vector partition (inverted lists) of large stores: the rows it finds, exact scores, filters, odd vectors, the background build.</summary>
public sealed class VectorPartitionTests(ChunkIndexFixture fixture) : IClassFixture<ChunkIndexFixture>
{
    private static float[] Unit(float[] v)
    {
        var norm = TensorPrimitives.Norm(v);
        if (norm > 0)
        {
            TensorPrimitives.Divide(v, norm, v);
        }
        return v;
    }

    /// <summary>Rows around <paramref name="clusters"/> random centres (noise 0.3 per dimension before normalising), as real embeddings cluster by topic.</summary>
    private static float[][] Clustered(int rows, int dimensions, int clusters, int seed)
    {
        var random = new Random(seed);
        var centres = Enumerable.Range(0, clusters).Select(_ => Unit(Enumerable.Range(0, dimensions).Select(_ => (float)(random.NextDouble() - 0.5)).ToArray())).ToArray();
        return Enumerable.Range(0, rows).Select(i =>
            Unit(centres[i % clusters].Select(x => x + (float)((random.NextDouble() - 0.5) * 0.3 / Math.Sqrt(dimensions) * 4)).ToArray())).ToArray();
    }

    private static VectorMatrix Matrix(float[][] rows, VectorPartitioning rule, int files = 1) =>
        new(rows[0].Length, Enumerable.Range(0, rows.Length).Select(i => (long)i + 1).ToArray(), Enumerable.Range(0, rows.Length).Select(i => i % files).ToArray(),
            rows.SelectMany(r => r).ToArray(), rule);

    [Fact]
    public void AllListsProbed_FindsExactlyWhatTheFullScanFinds()
    {
        var rows = Clustered(3_000, 32, 20, 1);
        var full = Matrix(rows, VectorPartitioning.Off);
        var partitioned = Matrix(rows, new VectorPartitioning(MinRows: 1, ProbedShare: 1.0));
        partitioned.Partition(CancellationToken.None);
        Assert.True(partitioned.IsPartitioned);
        Assert.False(full.Partitions);
        foreach (var probe in new[] { 0, 17, 1_234, 2_999 })
        {
            Assert.Equal(full.TopK(rows[probe], 25, null), partitioned.TopK(rows[probe], 25, null));
        }
    }

    [Fact]
    public void DefaultShare_FindsEachRowAsItsOwnNearest_AndMostOfTheTopK_WithExactScores()
    {
        var rows = Clustered(4_000, 48, 40, 2);
        var rule = VectorPartitioning.Default with { MinRows = 1, MinProbedPerCandidate = 0 };
        var full = Matrix(rows, VectorPartitioning.Off);
        var partitioned = Matrix(rows, rule);
        partitioned.Partition(CancellationToken.None);
        double found = 0;
        var probes = Enumerable.Range(0, 40).Select(i => i * 97).ToList();
        foreach (var probe in probes)
        {
            var truth = full.TopK(rows[probe], 10, null);
            var hits = partitioned.TopK(rows[probe], 10, null);
            Assert.Equal(probe + 1, hits[0].Id);
            Assert.Equal(1.0, hits[0].Score, 4);
            // Whatever is found carries its exact score, in the full scan's order.
            var exact = truth.Concat(full.TopK(rows[probe], 4_000, null)).GroupBy(t => t.Id).ToDictionary(g => g.Key, g => g.First().Score);
            Assert.All(hits, h => Assert.Equal(exact[h.Id], h.Score, 6));
            Assert.Equal(hits.OrderByDescending(h => h.Score).ThenBy(h => h.Id), hits);
            found += hits.Select(h => h.Id).Intersect(truth.Select(t => t.Id)).Count() / 10.0;
        }
        Assert.True(found / probes.Count >= 0.9, $"recall@10 {found / probes.Count:F3}");
    }

    [Fact]
    public void WithAFilter_ScansEveryAllowedRow()
    {
        var rows = Clustered(3_000, 16, 30, 3);
        var allowed = new[] { false, false, true }; // a third of the rows, spread over every cluster
        var full = Matrix(rows, VectorPartitioning.Off, files: 3);
        var partitioned = Matrix(rows, new VectorPartitioning(MinRows: 1, ProbedShare: 0.01, MinProbedPerCandidate: 0), files: 3);
        partitioned.Partition(CancellationToken.None);
        Assert.Equal(full.TopK(rows[5], 30, allowed), partitioned.TopK(rows[5], 30, allowed));
    }

    [Fact]
    public void ZeroAndNonFiniteRows_SevenDimensions_BuildAndSearch()
    {
        var rows = Clustered(500, 7, 5, 4);
        rows[3] = new float[7];
        rows[10] = [float.NaN, 0, 0, 0, 0, 0, 0];
        rows[11] = [float.PositiveInfinity, 1, 0, 0, 0, 0, 0];
        var partitioned = Matrix(rows, new VectorPartitioning(MinRows: 1, ProbedShare: 1.0));
        partitioned.Partition(CancellationToken.None);
        var full = Matrix(rows, VectorPartitioning.Off);
        Assert.Equal(full.TopK(rows[0], 20, null).Select(h => h.Id), partitioned.TopK(rows[0], 20, null).Select(h => h.Id));
        Assert.Equal(20, partitioned.TopK(rows[0], 20, null).Count);
    }

    [Fact]
    public void UnderTheThreshold_OrCancelled_StaysOnTheFullScan()
    {
        var rows = Clustered(1_000, 16, 10, 5);
        var small = Matrix(rows, VectorPartitioning.Default);
        Assert.False(small.Partitions);
        small.Partition(CancellationToken.None);
        Assert.False(small.IsPartitioned);
        Assert.Equal(0, VectorPartition.ByteSizeFor(1_000, 16, VectorPartitioning.Default));

        var cancelled = Matrix(rows, new VectorPartitioning(MinRows: 1));
        Assert.Throws<OperationCanceledException>(() => cancelled.Partition(new CancellationToken(canceled: true)));
        Assert.False(cancelled.IsPartitioned);
        Assert.Equal(Matrix(rows, VectorPartitioning.Off).TopK(rows[1], 10, null), cancelled.TopK(rows[1], 10, null));
    }

    [Fact]
    public async Task Index_PartitionsALargeStoreInTheBackground_AndDropsItOnAWrite()
    {
        var index = new SqliteChunkIndex(fixture.Database) { Partitioning = VectorPartitioning.Default with { MinRows = 300 } };
        var store = "vs_" + Guid.NewGuid().ToString("N");
        var rows = Clustered(400, MiniLmEmbeddingGenerator.Dimensions, 8, 6);
        await index.ReplaceFileAsync(new ChunkSource("proj_test", store, "file-a", "a.txt"), MiniLmEmbeddingGenerator.ModelId,
            rows.Select((v, i) => new IndexedChunk(i, "row " + i, 0, 5, 1, null, null, v)).ToList(), CancellationToken.None);
        Assert.False(index.IsPartitioned(store));

        var first = await index.VectorSearchAsync("proj_test", store, rows[7], 5, null, CancellationToken.None); // loads; the build starts beside it
        await index.WhenPartitionedAsync(store);
        Assert.True(index.IsPartitioned(store));
        var second = await index.VectorSearchAsync("proj_test", store, rows[7], 5, null, CancellationToken.None);
        Assert.Equal("row 7", first[0].Text);
        Assert.Equal("row 7", second[0].Text);

        await index.ReplaceFileAsync(new ChunkSource("proj_test", store, "file-b", "b.txt"), MiniLmEmbeddingGenerator.ModelId,
            [new IndexedChunk(0, "another", 0, 7, 1, null, null, rows[0])], CancellationToken.None);
        Assert.False(index.IsPartitioned(store)); // the write dropped the cached vectors with their partition
    }
}
