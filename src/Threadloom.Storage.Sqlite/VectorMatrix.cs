using System.Buffers;
using System.Numerics;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
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
/// <para>
/// Large stores (at least <see cref="DefaultPrefilterMinRows"/> rows) keep a third copy, one sign bit per dimension
/// (48 bytes per 384-dimension row), and the int8 pass reads only the rows a 1-bit pass ranks best
/// (<see cref="PrefilterCandidatesFor"/>): at 100,000 rows the int8 scan alone reads 38 MB per query and, beside the
/// model pass and the bm25 passes on two hardware threads, was the slower half of the vector list. The 1-bit score is
/// asymmetric (the query keeps 4 bits per dimension, as bit planes, so a row costs a few AND+POPCNT per 64
/// dimensions) and divided by the row's L1 norm, the estimate of RaBitQ: ⟨q, sign(x)⟩ / ‖x‖₁ ≈ q·x. It can only
/// lose recall, never exactness: the survivors are scored by the int8 pass and the final ones in float32 as before.
/// </para>
/// </remarks>
internal sealed class VectorMatrix
{
    private readonly long[] _ids;
    private readonly int[] _fileOfRow;
    private readonly float[] _vectors;
    private readonly sbyte[] _codes;
    private readonly float[] _scales;
    private readonly int _prefilterMinRows;
    private readonly int _words; // 64-bit words of sign bits per row
    private readonly ulong[] _signs; // empty below the prefilter's size
    private readonly ushort[] _signCounts; // set bits per row
    private readonly float[] _inverseL1; // 1 / ‖row‖₁, 0 for a zero row

    /// <summary>Rows from which a search starts with the 1-bit prefilter (below it the int8 scan reads every row).</summary>
    public const int DefaultPrefilterMinRows = 20_000;

    /// <summary>Query bits per dimension in the 1-bit pass (bit planes of the query, 0–15 per dimension).</summary>
    private const int QueryBits = 4; // the row loop reads exactly four planes per word

    public VectorMatrix(int dimensions, long[] ids, int[] fileOfRow, float[] vectors, int prefilterMinRows = DefaultPrefilterMinRows)
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
        _prefilterMinRows = Math.Max(prefilterMinRows, 0);
        _words = (dimensions + 63) / 64;
        var withSigns = ids.Length >= _prefilterMinRows && dimensions > 0;
        _signs = withSigns ? new ulong[ids.Length * _words] : [];
        _signCounts = withSigns ? new ushort[ids.Length] : [];
        _inverseL1 = withSigns ? new float[ids.Length] : [];
        if (withSigns)
        {
            for (var row = 0; row < ids.Length; row++)
            {
                var vector = vectors.AsSpan(row * dimensions, dimensions);
                var signs = _signs.AsSpan(row * _words, _words);
                for (var i = 0; i < vector.Length; i++)
                {
                    if (vector[i] > 0)
                    {
                        signs[i >> 6] |= 1UL << (i & 63);
                    }
                }
                var count = 0;
                foreach (var word in signs)
                {
                    count += BitOperations.PopCount(word);
                }
                _signCounts[row] = (ushort)count;
                var l1 = TensorPrimitives.SumOfMagnitudes(vector);
                _inverseL1[row] = l1 > 0 && float.IsFinite(l1) ? 1 / l1 : 0;
            }
        }
    }

    public int Dimensions { get; }

    public int Count => _ids.Length;

    /// <summary>Memory held by the matrix, its int8 copy and its sign bits, for the cache's bound.</summary>
    public long ByteSize => _vectors.Length * (long)sizeof(float) + _codes.Length + _scales.Length * (long)sizeof(float)
        + _ids.Length * (long)sizeof(long) + _fileOfRow.Length * (long)sizeof(int)
        + _signs.Length * (long)sizeof(ulong) + _signCounts.Length * (long)sizeof(ushort) + _inverseL1.Length * (long)sizeof(float);

    /// <summary>Whether searches of this matrix start with the 1-bit pass.</summary>
    public bool Prefiltered => _signs.Length > 0;

    /// <summary>How many rows the int8 pass hands to the exact pass for a top <paramref name="k"/>.</summary>
    public static int CandidatesFor(int k) => Math.Max(k * 4, 200);

    /// <summary>
    /// How many rows of <paramref name="rows"/> the 1-bit pass hands to the int8 pass for a top <paramref name="k"/>:
    /// generous, because the sign bits rank far more coarsely than int8 (a sixteenth of the store, at least eight times
    /// the int8 pass's own candidates).
    /// </summary>
    public static int PrefilterCandidatesFor(int rows, int k) => Math.Max(CandidatesFor(k) * 8, rows / 16);

    /// <summary>The best <paramref name="k"/> rows by cosine (vectors are unit length), best first, skipping rows whose file is not allowed.</summary>
    public List<(long Id, double Score)> TopK(ReadOnlySpan<float> query, int k, bool[]? allowedFiles) =>
        TopK(query, k, allowedFiles, Prefiltered ? PrefilterCandidatesFor(Count, k) : 0);

    /// <summary>
    /// <see cref="TopK(ReadOnlySpan{float}, int, bool[])"/> with the 1-bit pass keeping about
    /// <paramref name="prefilterCandidates"/> rows (0: no 1-bit pass, every allowed row goes to the int8 pass).
    /// </summary>
    internal List<(long Id, double Score)> TopK(ReadOnlySpan<float> query, int k, bool[]? allowedFiles, int prefilterCandidates)
    {
        // The query's own scale is the same for every row, so it does not change the order and is not needed.
        var queryCodes = new sbyte[Dimensions];
        Quantize(query, queryCodes);
        var queryWide = Array.ConvertAll(queryCodes, c => (short)c); // widened once here rather than once per row
        var wanted = CandidatesFor(k);
        var candidates = new PriorityQueue<int, float>(wanted + 1);
        float[]? estimates = null;
        var cut = float.NegativeInfinity;
        if (prefilterCandidates > 0 && Prefiltered && prefilterCandidates < _ids.Length)
        {
            estimates = ArrayPool<float>.Shared.Rent(_ids.Length);
            cut = SignEstimates(query, allowedFiles, estimates, prefilterCandidates);
            if (float.IsNaN(cut))
            {
                // A constant query (the zero vector among them) has no bit planes: every allowed row goes on.
                ArrayPool<float>.Shared.Return(estimates);
                estimates = null;
            }
        }
        for (var row = 0; row < _ids.Length; row++)
        {
            if (allowedFiles is not null && !allowedFiles[_fileOfRow[row]])
            {
                continue;
            }
            if (estimates is not null && estimates[row] < cut)
            {
                continue;
            }
            var approximate = DotInt8(queryWide, _codes.AsSpan(row * Dimensions, Dimensions)) * _scales[row];
            if (candidates.Count < wanted)
            {
                candidates.Enqueue(row, approximate);
            }
            else if (candidates.TryPeek(out _, out var worst) && approximate > worst)
            {
                candidates.EnqueueDequeue(row, approximate);
            }
        }
        if (estimates is not null)
        {
            ArrayPool<float>.Shared.Return(estimates);
        }

        var exact = new List<(long Id, double Score)>(candidates.Count);
        while (candidates.TryDequeue(out var row, out _))
        {
            exact.Add((_ids[row], TensorPrimitives.Dot(query, _vectors.AsSpan(row * Dimensions, Dimensions))));
        }
        exact.Sort((a, b) => b.Score.CompareTo(a.Score) is var c && c != 0 ? c : a.Id.CompareTo(b.Id));
        return exact.Count > k ? exact[..k] : exact;
    }

    /// <summary>
    /// Writes the 1-bit estimate of every allowed row into <paramref name="estimates"/> and returns the estimate from
    /// which about <paramref name="wanted"/> rows (at least that many, ties and bucket width included) are at or above
    /// it; NaN when the query is constant and has no bit planes.
    /// </summary>
    private float SignEstimates(ReadOnlySpan<float> query, bool[]? allowedFiles, float[] estimates, int wanted)
    {
        var min = TensorPrimitives.Min(query);
        var max = TensorPrimitives.Max(query);
        var step = (max - min) / ((1 << QueryBits) - 1);
        if (!(step > 0) || !float.IsFinite(step))
        {
            return float.NaN;
        }
        // level_i = round((q_i − min) / step), so q_i ≈ min + step·level_i and, with b_i the row's sign bits,
        // ⟨q, sign(x)⟩ = 2·Σ q_i·b_i − Σ q_i ≈ 2·(step·Σ level_i·b_i + min·popcount(b)) − Σ q_i.
        // Laid out word by word (the four planes of a word side by side), in the order the row loop reads them.
        Span<ulong> planes = stackalloc ulong[QueryBits * _words];
        planes.Clear();
        for (var i = 0; i < query.Length; i++)
        {
            var level = (int)MathF.Round((query[i] - min) / step);
            for (var bit = 0; bit < QueryBits; bit++)
            {
                if ((level & (1 << bit)) != 0)
                {
                    planes[(i >> 6) * QueryBits + bit] |= 1UL << (i & 63);
                }
            }
        }
        ref var plane = ref MemoryMarshal.GetReference(planes);
        ref var sign = ref MemoryMarshal.GetArrayDataReference(_signs);
        var sum = TensorPrimitives.Sum(query);
        var low = float.PositiveInfinity;
        var high = float.NegativeInfinity;
        var allowedRows = 0;
        for (var row = 0; row < _ids.Length; row++)
        {
            if (allowedFiles is not null && !allowedFiles[_fileOfRow[row]])
            {
                estimates[row] = float.NegativeInfinity;
                continue;
            }
            // Unchecked reads: this loop is the whole cost of the pass (24 AND+POPCNT per 384-dimension row).
            var first = (nint)row * _words;
            var levels = 0;
            for (var w = 0; w < _words; w++)
            {
                var word = Unsafe.Add(ref sign, first + w);
                ref var p = ref Unsafe.Add(ref plane, w * QueryBits);
                levels += BitOperations.PopCount(word & p) + (BitOperations.PopCount(word & Unsafe.Add(ref p, 1)) << 1)
                    + (BitOperations.PopCount(word & Unsafe.Add(ref p, 2)) << 2) + (BitOperations.PopCount(word & Unsafe.Add(ref p, 3)) << 3);
            }
            var estimate = (2 * (step * levels + min * _signCounts[row]) - sum) * _inverseL1[row];
            estimates[row] = estimate;
            low = Math.Min(low, estimate);
            high = Math.Max(high, estimate);
            allowedRows++;
        }
        if (allowedRows <= wanted || !(high > low))
        {
            return float.NegativeInfinity;
        }
        // A histogram finds the cut in two linear passes, cheaper than a heap of thousands of rows.
        const int Buckets = 4096;
        Span<int> histogram = stackalloc int[Buckets];
        histogram.Clear();
        var perUnit = (Buckets - 1) / (high - low);
        for (var row = 0; row < _ids.Length; row++)
        {
            if (estimates[row] >= low)
            {
                histogram[(int)((estimates[row] - low) * perUnit)]++;
            }
        }
        var kept = 0;
        var bucket = Buckets - 1;
        for (; bucket > 0; bucket--)
        {
            kept += histogram[bucket];
            if (kept >= wanted)
            {
                break;
            }
        }
        // Half a bucket lower, so that rounding never drops a row of the cut's own bucket.
        return bucket == 0 ? float.NegativeInfinity : low + (bucket - 0.5f) / perUnit;
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

    private static int DotInt8(ReadOnlySpan<short> query, ReadOnlySpan<sbyte> row)
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
