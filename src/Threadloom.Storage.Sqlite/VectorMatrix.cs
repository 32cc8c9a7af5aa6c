using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Threadloom.Storage.Sqlite;

/// <summary>
/// One vector store's unit vectors in memory, searched in two passes: an int8 scan of every row picks candidates,
/// then the candidates are scored exactly in float32 with <see cref="TensorPrimitives.Dot(ReadOnlySpan{float}, ReadOnlySpan{float})"/>.
/// </summary>
/// <remarks>
/// Design notes: a float32 scan of 100,000 × 384 reads 150 MB per query and is bound by memory bandwidth (about 20 ms
/// here); the int8 codes are a quarter of that and are scanned with 16-bit multiply-adds. Each row is quantised with
/// its own scale (largest magnitude → 127), so the approximate score is <c>rowScale · queryScale · Σ code·code</c>. Its
/// error is far below the gap between the top-k and the rows past <see cref="CandidatesFor"/>, and the final scores
/// and order are exact because every candidate is rescored in float32. Only the row's file is kept besides its id, so
/// an attribute filter is a lookup per row.
/// </remarks>
internal sealed class VectorMatrix
{
    private readonly long[] _ids;
    private readonly int[] _fileOfRow;
    private readonly float[] _vectors;
    private readonly sbyte[] _codes;
    private readonly float[] _scales;

    public VectorMatrix(int dimensions, long[] ids, int[] fileOfRow, float[] vectors)
    {
        Dimensions = dimensions;
        _ids = ids;
        _fileOfRow = fileOfRow;
        _vectors = vectors;
        _codes = new sbyte[vectors.Length];
        _scales = new float[ids.Length];
        for (var row = 0; row < ids.Length; row++)
        {
            _scales[row] = Quantize(vectors.AsSpan(row * dimensions, dimensions), _codes.AsSpan(row * dimensions, dimensions));
        }
    }

    public int Dimensions { get; }

    public int Count => _ids.Length;

    /// <summary>Memory held by the matrix and its int8 copy, for the cache's bound.</summary>
    public long ByteSize => _vectors.Length * (long)sizeof(float) + _codes.Length + _scales.Length * (long)sizeof(float)
        + _ids.Length * (long)sizeof(long) + _fileOfRow.Length * (long)sizeof(int) + VectorPartition.ByteSizeFor(Count, Dimensions, _partitioning);

    private readonly VectorPartitioning _partitioning = VectorPartitioning.Default;
    private VectorPartition? _partition;

    /// <summary>The matrix with its partitioning rule (<see cref="VectorPartitioning.Default"/> unless set).</summary>
    public VectorMatrix(int dimensions, long[] ids, int[] fileOfRow, float[] vectors, VectorPartitioning partitioning) : this(dimensions, ids, fileOfRow, vectors) =>
        _partitioning = partitioning;

    /// <summary>Whether the store is large enough to be partitioned (<see cref="Partition"/> does nothing otherwise).</summary>
    public bool Partitions => _partitioning.Applies(Count);

    /// <summary>Whether searches use the partition now.</summary>
    public bool IsPartitioned => Volatile.Read(ref _partition) is not null;

    /// <summary>
    /// Builds the inverted lists (call off the search path: about a second per 100,000 rows on one thread); until it
    /// returns, searches scan every row. Throws <see cref="OperationCanceledException"/>, leaving the full scan, when <paramref name="cancellationToken"/> fires.
    /// </summary>
    public void Partition(CancellationToken cancellationToken)
    {
        if (Partitions && Volatile.Read(ref _partition) is null)
        {
            Volatile.Write(ref _partition, VectorPartition.Build(_codes, _scales, _vectors, Count, Dimensions, _partitioning, cancellationToken));
        }
    }

    /// <summary>How many rows the int8 pass hands to the exact pass for a top <paramref name="k"/>.</summary>
    public static int CandidatesFor(int k) => Math.Max(k * 4, 200);

    /// <summary>The best <paramref name="k"/> rows by cosine (vectors are unit length), best first, skipping rows whose file is not allowed.</summary>
    public List<(long Id, double Score)> TopK(ReadOnlySpan<float> query, int k, bool[]? allowedFiles)
    {
        // The query's own scale is the same for every row, so it does not change the order and is not needed.
        var queryCodes = new sbyte[Dimensions];
        Quantize(query, queryCodes);
        var queryWide = Array.ConvertAll(queryCodes, c => (short)c); // widened once here rather than once per row
        var wanted = CandidatesFor(k);
        var candidates = new PriorityQueue<int, float>(wanted + 1);
        // A filter keeps the full scan: the probed lists could hold too few allowed rows.
        if (allowedFiles is null && Volatile.Read(ref _partition) is { } partition)
        {
            partition.Scan(query, queryWide, wanted, candidates);
            return Rescore(query, k, candidates);
        }
        for (var row = 0; row < _ids.Length; row++)
        {
            if (allowedFiles is not null && !allowedFiles[_fileOfRow[row]])
            {
                continue;
            }
            Offer(candidates, wanted, row, DotInt8(queryWide, _codes.AsSpan(row * Dimensions, Dimensions)) * _scales[row]);
        }

        return Rescore(query, k, candidates);
    }

    /// <summary>Keeps <paramref name="row"/> among the best <paramref name="wanted"/> by approximate score (a min-queue).</summary>
    internal static void Offer(PriorityQueue<int, float> candidates, int wanted, int row, float approximate)
    {
        if (candidates.Count < wanted)
        {
            candidates.Enqueue(row, approximate);
        }
        else if (candidates.TryPeek(out _, out var worst) && approximate > worst)
        {
            candidates.EnqueueDequeue(row, approximate);
        }
    }

    /// <summary>The candidates scored exactly in float32, best first (ties by id), cut to <paramref name="k"/>.</summary>
    private List<(long Id, double Score)> Rescore(ReadOnlySpan<float> query, int k, PriorityQueue<int, float> candidates)
    {
        var exact = new List<(long Id, double Score)>(candidates.Count);
        while (candidates.TryDequeue(out var row, out _))
        {
            exact.Add((_ids[row], TensorPrimitives.Dot(query, _vectors.AsSpan(row * Dimensions, Dimensions))));
        }
        exact.Sort((a, b) => b.Score.CompareTo(a.Score) is var c && c != 0 ? c : a.Id.CompareTo(b.Id));
        return exact.Count > k ? exact[..k] : exact;
    }

    /// <summary>Symmetric int8 quantisation of one vector; returns the scale that maps a code back to a value.</summary>
    private static float Quantize(ReadOnlySpan<float> vector, Span<sbyte> codes)
    {
        // MaxMagnitude returns the element itself, sign included.
        var max = vector.Length == 0 ? 0 : MathF.Abs(TensorPrimitives.MaxMagnitude(vector));
        if (max == 0 || !float.IsFinite(max))
        {
            codes.Clear();
            return 0;
        }
        var scale = max / sbyte.MaxValue;
        for (var i = 0; i < vector.Length; i++)
        {
            codes[i] = (sbyte)Math.Clamp(MathF.Round(vector[i] / scale), -sbyte.MaxValue, sbyte.MaxValue);
        }
        return scale;
    }

    internal static int DotInt8(ReadOnlySpan<short> query, ReadOnlySpan<sbyte> row)
    {
        var i = 0;
        var sum = 0;
        if (Avx2.IsSupported && row.Length >= Vector256<sbyte>.Count)
        {
            // Widen the row to 16 bits (127·127 fits) and multiply-add pairs into 32-bit lanes.
            ref var q = ref MemoryMarshal.GetReference(query);
            ref var r = ref MemoryMarshal.GetReference(row);
            var acc = Vector256<int>.Zero;
            for (; i <= row.Length - Vector256<sbyte>.Count; i += Vector256<sbyte>.Count)
            {
                var (low, high) = Vector256.Widen(Vector256.LoadUnsafe(ref r, (nuint)i));
                acc = Avx2.Add(acc, Avx2.MultiplyAddAdjacent(low, Vector256.LoadUnsafe(ref q, (nuint)i)));
                acc = Avx2.Add(acc, Avx2.MultiplyAddAdjacent(high, Vector256.LoadUnsafe(ref q, (nuint)(i + Vector256<short>.Count))));
            }
            sum = Vector256.Sum(acc);
        }
        for (; i < row.Length; i++)
        {
            sum += query[i] * row[i];
        }
        return sum;
    }
}
