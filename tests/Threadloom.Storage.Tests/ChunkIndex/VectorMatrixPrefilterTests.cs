using System.Numerics.Tensors;
using Threadloom.Storage.Sqlite;

namespace Threadloom.Storage.Tests.ChunkIndex;

/// <summary>The 1-bit prefilter of <see cref="VectorMatrix"/>: what it may change (recall) and what it may not (scores, filters).</summary>
public sealed class VectorMatrixPrefilterTests
{
    private static float[] RandomUnits(Random random, int rows, int dimensions)
    {
        var all = new float[rows * dimensions];
        for (var row = 0; row < rows; row++)
        {
            var v = all.AsSpan(row * dimensions, dimensions);
            for (var d = 0; d < v.Length; d++)
            {
                v[d] = (float)(random.NextDouble() - 0.5);
            }
            TensorPrimitives.Divide(v, TensorPrimitives.Norm(v), v);
        }
        return all;
    }

    // Prefilter built on every size (minimum 0), so small matrices exercise it; files alternate by row.
    private static VectorMatrix Matrix(float[] vectors, int rows, int dimensions, int files = 2, int prefilterMinRows = 0) =>
        new(dimensions, Enumerable.Range(0, rows).Select(r => 1000L + r).ToArray(), Enumerable.Range(0, rows).Select(r => r % files).ToArray(), vectors, prefilterMinRows);

    private static float[] Row(float[] vectors, int row, int dimensions) => vectors.AsSpan(row * dimensions, dimensions).ToArray();

    [Theory]
    [InlineData(384)]
    [InlineData(100)] // not a multiple of 64: the last word of sign bits is partly padding
    [InlineData(7)]
    public void TopK_CandidatesCoverEveryRow_SameAsThePlainScan(int dimensions)
    {
        var random = new Random(dimensions);
        const int Rows = 3000;
        var vectors = RandomUnits(random, Rows, dimensions);
        var matrix = Matrix(vectors, Rows, dimensions);
        Assert.True(matrix.Prefiltered);
        foreach (var probe in new[] { 0, 1234, 2999 })
        {
            var query = Row(vectors, probe, dimensions);
            var plain = matrix.TopK(query, 30, null, prefilterCandidates: 0);
            Assert.Equal(plain, matrix.TopK(query, 30, null, prefilterCandidates: Rows));
            // Half the rows allowed: the filtered result is the filtered plain scan.
            var allowed = new[] { true, false };
            Assert.Equal(matrix.TopK(query, 30, allowed, 0), matrix.TopK(query, 30, allowed, Rows));
        }
    }

    [Fact]
    public void TopK_Prefiltered_ScoresAreExactAndOrdered()
    {
        var random = new Random(5);
        const int Rows = 5000, Dimensions = 100;
        var vectors = RandomUnits(random, Rows, Dimensions);
        var matrix = Matrix(vectors, Rows, Dimensions);
        var query = RandomUnits(random, 1, Dimensions);
        var top = matrix.TopK(query, 20, null, prefilterCandidates: 400);
        Assert.Equal(20, top.Count);
        foreach (var (id, score) in top)
        {
            Assert.Equal(TensorPrimitives.Dot(query, Row(vectors, (int)(id - 1000), Dimensions)), score);
        }
        Assert.Equal(top.OrderByDescending(t => t.Score).ThenBy(t => t.Id), top);
    }

    [Fact]
    public void TopK_Prefiltered_FindsTheRowsNearestTheQuery()
    {
        // Rows planted near the query must survive a 1-bit pass that keeps 2% of the store.
        var random = new Random(17);
        const int Rows = 10_000, Dimensions = 384;
        var vectors = RandomUnits(random, Rows, Dimensions);
        var query = RandomUnits(random, 1, Dimensions);
        var planted = new[] { 17, 4242, 9999 };
        var scaled = new float[Dimensions];
        foreach (var (row, i) in planted.Select((r, i) => (r, i)))
        {
            var v = vectors.AsSpan(row * Dimensions, Dimensions);
            TensorPrimitives.Multiply(query, 3f - i * 0.5f, scaled);
            TensorPrimitives.Add(scaled, v, v); // query·3 (then 2.5, 2) + noise
            TensorPrimitives.Divide(v, TensorPrimitives.Norm(v), v);
        }
        var matrix = Matrix(vectors, Rows, Dimensions, prefilterMinRows: VectorMatrix.DefaultPrefilterMinRows / 2);
        var top = matrix.TopK(query, 3, null, prefilterCandidates: 200);
        Assert.Equal(planted.Select(r => 1000L + r), top.Select(t => t.Id));
    }

    [Fact]
    public void TopK_Prefiltered_RespectsTheFilter()
    {
        var random = new Random(23);
        const int Rows = 4000, Dimensions = 64;
        var vectors = RandomUnits(random, Rows, Dimensions);
        var matrix = Matrix(vectors, Rows, Dimensions, files: 4);
        var allowed = new[] { false, false, true, false }; // a quarter of the rows, fewer than the candidates below
        var query = Row(vectors, 1, Dimensions); // in a file not allowed
        var top = matrix.TopK(query, 25, allowed, prefilterCandidates: 300);
        Assert.Equal(25, top.Count);
        Assert.All(top, t => Assert.Equal(2, (int)(t.Id - 1000) % 4));
        // With candidates past the allowed rows the filter alone decides: the same as the plain filtered scan.
        Assert.Equal(matrix.TopK(query, 25, allowed, 0), matrix.TopK(query, 25, allowed, 1500));
    }

    [Fact]
    public void TopK_ZeroVectors_NoNaNAndSameAsThePlainScan()
    {
        var random = new Random(29);
        const int Rows = 2000, Dimensions = 96;
        var vectors = RandomUnits(random, Rows, Dimensions);
        foreach (var row in new[] { 0, 500, 1999 })
        {
            vectors.AsSpan(row * Dimensions, Dimensions).Clear();
        }
        var matrix = Matrix(vectors, Rows, Dimensions);
        var zero = new float[Dimensions];
        // A zero query has no bit planes and falls back to the plain scan: every score 0, ties by id.
        var zeroTop = matrix.TopK(zero, 10, null, prefilterCandidates: 100);
        Assert.Equal(matrix.TopK(zero, 10, null, 0), zeroTop);
        Assert.All(zeroTop, t => Assert.Equal(0, t.Score));
        var query = Row(vectors, 7, Dimensions);
        var top = matrix.TopK(query, 2000, null, prefilterCandidates: 100);
        Assert.All(top, t => Assert.False(double.IsNaN(t.Score)));
        Assert.Equal(1007, top[0].Id);
    }

    [Fact]
    public void Matrix_BelowTheMinimum_HasNoSignBits_AndByteSizeCountsThem()
    {
        var random = new Random(31);
        const int Rows = 1000, Dimensions = 100;
        var vectors = RandomUnits(random, Rows, Dimensions);
        var plain = Matrix(vectors, Rows, Dimensions, prefilterMinRows: Rows + 1);
        var prefiltered = Matrix(vectors, Rows, Dimensions, prefilterMinRows: Rows);
        Assert.False(plain.Prefiltered);
        Assert.True(prefiltered.Prefiltered);
        // Two 64-bit words of signs, a 16-bit count and a float per row.
        Assert.Equal(Rows * (2 * sizeof(ulong) + sizeof(ushort) + sizeof(float)), prefiltered.ByteSize - plain.ByteSize);
        var query = Row(vectors, 3, Dimensions);
        Assert.Equal(plain.TopK(query, 10, null), plain.TopK(query, 10, null, 0));
    }
}
