using System.Numerics.Tensors;

namespace Threadloom.Storage.Sqlite;

/// <summary>
/// When a store's vectors are partitioned (<see cref="MinRows"/>), into how many lists, and how much of the store a
/// search reads: lists in order of their centroid's score until <see cref="ProbedShare"/> of the rows, and at least
/// <see cref="MinProbedPerCandidate"/> rows per candidate wanted, are covered.
/// </summary>
internal sealed record VectorPartitioning(int MinRows = 20_000, double ProbedShare = 0.40, int MinProbedPerCandidate = 8, int Iterations = 5, int SamplePerList = 32)
{
    public static VectorPartitioning Default { get; } = new();

    public static VectorPartitioning Off { get; } = new(MinRows: int.MaxValue);

    public bool Applies(int rows) => rows > 0 && rows >= MinRows;

    /// <summary>
    /// About √n lists, at most 1,024: the build scores every row against every centroid, so past about a million rows
    /// the cap keeps its cost linear in the rows (measured: 2.1 s at 100,000 rows, 316 lists).
    /// </summary>
    public int ListsFor(int rows) => Math.Clamp((int)Math.Sqrt(rows), 1, 1_024);
}

/// <summary>
/// Inverted lists over one store's int8 codes (issue #11): the rows grouped by their nearest of about √n centroids
/// (spherical k-means on a sample), each list contiguous, so a search scans the lists nearest the query instead of every
/// row. The result is approximate in which rows are found (a true neighbour in an unprobed list is missed), exact in
/// their scores and order (the candidates are rescored in float32 as after a full scan).
/// </summary>
/// <remarks>
/// Design notes (docs/adr/0010): the full int8 scan of 100,000 × 384 reads 38 MB per search and is memory-bound; beside
/// the query's model pass and the keyword passes it ran at half speed. Contiguous lists keep the reads sequential (a
/// 1-bit prefilter with scattered reads of its survivors was slower, docs/file-search.md fifth round). Rows of a zero
/// or non-finite vector (scale 0) take no part in the centroids and sit in list 0; they score 0 as in the full scan.
/// </remarks>
internal sealed class VectorPartition
{
    private readonly int _dimensions;
    private readonly int _rows;
    private readonly VectorPartitioning _rule;
    private readonly float[] _centroids;
    private readonly int[] _listStart;
    private readonly int[] _rowAt;
    private readonly sbyte[] _codes;
    private readonly float[] _scales;

    private VectorPartition(int dimensions, int rows, VectorPartitioning rule, float[] centroids, int[] listStart, int[] rowAt, sbyte[] codes, float[] scales)
    {
        (_dimensions, _rows, _rule, _centroids, _listStart, _rowAt, _codes, _scales) = (dimensions, rows, rule, centroids, listStart, rowAt, codes, scales);
    }

    public int Lists => _listStart.Length - 1;

    /// <summary>Memory a partition of this many rows holds (counted by the cache from the matrix's load on).</summary>
    public static long ByteSizeFor(int rows, int dimensions, VectorPartitioning rule)
    {
        if (!rule.Applies(rows))
        {
            return 0;
        }
        var lists = rule.ListsFor(rows);
        return rows * (long)dimensions + rows * (long)(sizeof(float) + sizeof(int)) + lists * (long)dimensions * sizeof(float) + (lists + 1L) * sizeof(int);
    }

    /// <summary>The partition of <paramref name="rows"/> rows; throws <see cref="OperationCanceledException"/> when cancelled.</summary>
    public static VectorPartition Build(sbyte[] codes, float[] scales, float[] vectors, int rows, int dimensions, VectorPartitioning rule, CancellationToken cancellationToken)
    {
        var lists = rule.ListsFor(rows);
        // Usable rows (scale 0: a zero or non-finite vector) build the centroids; the sample is evenly spaced.
        var usable = Enumerable.Range(0, rows).Where(r => scales[r] != 0).ToArray();
        var centroids = new float[lists * dimensions];
        var sample = usable.Length <= lists * rule.SamplePerList
            ? usable
            : Enumerable.Range(0, lists * rule.SamplePerList).Select(i => usable[(int)((long)i * usable.Length / (lists * rule.SamplePerList))]).ToArray();
        for (var c = 0; c < lists && sample.Length > 0; c++)
        {
            Row(vectors, sample[(int)((long)c * sample.Length / lists)], dimensions).CopyTo(centroids.AsSpan(c * dimensions, dimensions));
        }
        var sums = new float[lists * dimensions];
        var assigned = new int[sample.Length];
        for (var iteration = 0; iteration < rule.Iterations && sample.Length > 0; iteration++)
        {
            for (var i = 0; i < sample.Length; i++)
            {
                assigned[i] = Nearest(Row(vectors, sample[i], dimensions), centroids, lists, dimensions);
            }
            cancellationToken.ThrowIfCancellationRequested();
            Array.Clear(sums);
            for (var i = 0; i < sample.Length; i++)
            {
                var sum = sums.AsSpan(assigned[i] * dimensions, dimensions);
                TensorPrimitives.Add(sum, Row(vectors, sample[i], dimensions), sum);
            }
            for (var c = 0; c < lists; c++)
            {
                var sum = sums.AsSpan(c * dimensions, dimensions);
                var norm = TensorPrimitives.Norm(sum);
                if (norm > 0 && float.IsFinite(norm))
                {
                    TensorPrimitives.Divide(sum, norm, centroids.AsSpan(c * dimensions, dimensions)); // an empty list keeps its centroid
                }
            }
        }

        var listOfRow = new int[rows];
        var sizes = new int[lists + 1];
        for (var row = 0; row < rows; row++)
        {
            if ((row & 1023) == 0)
            {
                cancellationToken.ThrowIfCancellationRequested();
            }
            listOfRow[row] = scales[row] == 0 ? 0 : Nearest(Row(vectors, row, dimensions), centroids, lists, dimensions);
            sizes[listOfRow[row] + 1]++;
        }
        for (var c = 0; c < lists; c++)
        {
            sizes[c + 1] += sizes[c];
        }
        var listStart = (int[])sizes.Clone();
        var next = (int[])sizes.Clone();
        var rowAt = new int[rows];
        var ordered = new sbyte[rows * dimensions];
        var orderedScales = new float[rows];
        for (var row = 0; row < rows; row++)
        {
            var position = next[listOfRow[row]]++;
            rowAt[position] = row;
            orderedScales[position] = scales[row];
            codes.AsSpan(row * dimensions, dimensions).CopyTo(ordered.AsSpan(position * dimensions, dimensions));
        }
        return new VectorPartition(dimensions, rows, rule, centroids, listStart, rowAt, ordered, orderedScales);
    }

    /// <summary>
    /// Adds to <paramref name="candidates"/> (a min-queue of at most <paramref name="wanted"/> rows by approximate score)
    /// the rows of the lists nearest <paramref name="query"/>, until the probed share is covered.
    /// </summary>
    public void Scan(ReadOnlySpan<float> query, short[] queryWide, int wanted, PriorityQueue<int, float> candidates)
    {
        var lists = Lists;
        var order = new int[lists];
        var keys = new float[lists];
        for (var c = 0; c < lists; c++)
        {
            order[c] = c;
            var score = TensorPrimitives.Dot(query, _centroids.AsSpan(c * _dimensions, _dimensions));
            keys[c] = float.IsNaN(score) ? float.PositiveInfinity : -score; // ascending sort: best list first
        }
        Array.Sort(keys, order);
        var target = Math.Max((long)Math.Ceiling(_rule.ProbedShare * _rows), (long)_rule.MinProbedPerCandidate * wanted);
        long covered = 0;
        foreach (var list in order)
        {
            for (var position = _listStart[list]; position < _listStart[list + 1]; position++)
            {
                VectorMatrix.Offer(candidates, wanted, _rowAt[position], VectorMatrix.DotInt8(queryWide, _codes.AsSpan(position * _dimensions, _dimensions)) * _scales[position]);
            }
            covered += _listStart[list + 1] - _listStart[list];
            if (covered >= target)
            {
                return;
            }
        }
    }

    private static ReadOnlySpan<float> Row(float[] vectors, int row, int dimensions) => vectors.AsSpan(row * dimensions, dimensions);

    private static int Nearest(ReadOnlySpan<float> vector, float[] centroids, int lists, int dimensions)
    {
        var (best, bestScore) = (0, float.NegativeInfinity);
        for (var c = 0; c < lists; c++)
        {
            var score = TensorPrimitives.Dot(vector, centroids.AsSpan(c * dimensions, dimensions));
            if (score > bestScore)
            {
                (best, bestScore) = (c, score);
            }
        }
        return best;
    }
}
