using System.Numerics.Tensors;

namespace Threadloom.Core.Ingestion;

/// <summary>One input's window vectors summed with their weights (word pieces), not yet normalised.</summary>
public sealed record SpanEmbedding(float[] WeightedSum, float Weight)
{
    /// <summary>Scales <paramref name="vector"/> to unit length in place (a zero vector stays zero) and returns it.</summary>
    public static float[] Normalize(float[] vector)
    {
        var norm = TensorPrimitives.Norm(vector);
        if (norm > 0)
        {
            TensorPrimitives.Divide(vector, norm, vector);
        }
        return vector;
    }
}

/// <summary>
/// A local embedding model whose vector for a text is the normalised, weighted sum of its windows' vectors, so the
/// vector of a longer text can be composed from the sums of its parts without embedding them again.
/// </summary>
public interface ISpanEmbeddingGenerator
{
    /// <summary>Each input's weighted window sum (see <see cref="SpanEmbedding"/>), in input order.</summary>
    Task<IReadOnlyList<SpanEmbedding>> EmbedSpansAsync(IReadOnlyList<string> inputs, CancellationToken cancellationToken);
}

/// <summary>
/// Overlapping chunks embedded from shared spans (issue #11): with the default 800/400 strategy every token is in two
/// chunks, and embedding each chunk on its own embeds every token twice. Instead the document is cut at every chunk
/// start and end into spans; each span is embedded once, and a chunk's vector is the normalised sum of the spans it
/// covers. A span that starts a chunk carries that chunk's context header (file name, title, heading), as the chunk's
/// first window did before.
/// </summary>
public static class SharedSpans
{
    /// <summary>A span of the document, <c>[Start, End)</c>, with the chunks covering it given by index range.</summary>
    public sealed record Span(int Start, int End, string? Header);

    /// <summary>
    /// The spans of <paramref name="chunks"/> (sorted, non-empty, each chunk's text the document's text between its
    /// offsets) and, for each chunk, the range of spans it covers.
    /// </summary>
    public static (List<Span> Spans, List<Range> Covers) Plan(IReadOnlyList<TextChunk> chunks, Func<TextChunk, string> header)
    {
        var bounds = new SortedSet<int>();
        var headerAt = new Dictionary<int, string>();
        foreach (var chunk in chunks)
        {
            bounds.Add(chunk.StartChar);
            bounds.Add(chunk.EndChar);
            headerAt.TryAdd(chunk.StartChar, header(chunk));
        }
        var list = bounds.ToList();
        var spans = new List<Span>(list.Count);
        var spanAt = new Dictionary<int, int>(list.Count);
        for (var i = 0; i + 1 < list.Count; i++)
        {
            spanAt[list[i]] = spans.Count;
            spans.Add(new Span(list[i], list[i + 1], headerAt.GetValueOrDefault(list[i])));
        }
        spanAt[list[^1]] = spans.Count;
        var covers = chunks.Select(c => new Range(spanAt[c.StartChar], spanAt[c.EndChar])).ToList();
        return (spans, covers);
    }

    /// <summary>The model input for a span: its header line (when it starts a chunk) and its text.</summary>
    public static string Input(string text, Span span) =>
        span.Header is null ? text[span.Start..span.End] : span.Header + "\n" + text[span.Start..span.End];

    /// <summary>A chunk's unit vector: the normalised sum of the weighted sums of the spans it covers.</summary>
    public static float[] Compose(IReadOnlyList<SpanEmbedding> spans, Range cover)
    {
        var (offset, length) = cover.GetOffsetAndLength(spans.Count);
        var vector = new float[spans[offset].WeightedSum.Length];
        for (var i = offset; i < offset + length; i++)
        {
            TensorPrimitives.Add(vector, spans[i].WeightedSum, vector);
        }
        return SpanEmbedding.Normalize(vector);
    }
}
