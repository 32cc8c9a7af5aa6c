using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.AI;
using Threadloom.Core.Ingestion;

namespace Threadloom.Bench.FileSearch;

/// <summary>
/// An on-disk cache in front of a local embedding model, so a retrieval bench run after the first spends no model
/// time on the corpora (the machine is shared and slow). Keyed by model id and the SHA-256 of the exact input; both
/// whole-input vectors and span sums are cached. With <see cref="ReadThrough"/> false every input goes to the model
/// (throughput runs) and the results are still stored.
/// </summary>
internal sealed class EmbeddingCache : IEmbeddingGenerator<string, Embedding<float>>, ISpanEmbeddingGenerator, IQueryEmbeddingGenerator
{
    private readonly IEmbeddingGenerator<string, Embedding<float>> _inner;
    private readonly ISpanEmbeddingGenerator? _spans;
    private readonly SqliteConnection _db;
    private readonly string _model;
    private readonly Lock _lock = new();

    public EmbeddingCache(IEmbeddingGenerator<string, Embedding<float>> inner, string path)
    {
        _inner = inner;
        _spans = inner.GetService<ISpanEmbeddingGenerator>();
        _model = inner.GetService<EmbeddingGeneratorMetadata>()?.DefaultModelId ?? "unknown";
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        _db = new SqliteConnection($"Data Source={path};Pooling=False");
        _db.Open();
        using var create = _db.CreateCommand();
        create.CommandText = "PRAGMA journal_mode=WAL; CREATE TABLE IF NOT EXISTS embeddings (model TEXT NOT NULL, key BLOB NOT NULL, weight REAL NOT NULL, vector BLOB NOT NULL, PRIMARY KEY (model, key)) WITHOUT ROWID";
        create.ExecuteNonQuery();
    }

    public bool ReadThrough { get; set; } = true;

    public long Hits { get; private set; }

    public long Misses { get; private set; }

    public async Task<GeneratedEmbeddings<Embedding<float>>> GenerateAsync(IEnumerable<string> values, EmbeddingGenerationOptions? options = null, CancellationToken cancellationToken = default)
    {
        var inputs = values.ToList();
        var found = await LookupAsync("whole", inputs, async missing =>
            (await _inner.GenerateAsync(missing, options, cancellationToken)).Select(e => new SpanEmbedding(e.Vector.ToArray(), 1)).ToList());
        return new GeneratedEmbeddings<Embedding<float>>(found.Select(f => new Embedding<float>(f.WeightedSum) { ModelId = _model }));
    }

    /// <summary>
    /// A local model's queries are its whole-input vectors of the prefixed question (what
    /// <see cref="MiniLmEmbeddingGenerator.EmbedQueriesAsync"/> computes), each computed in a pass of its own as a
    /// server's search computes it (the query lane), and cached apart from batch-computed inputs: int8 activations are
    /// scaled per pass, so a query embedded among others gets a slightly different vector than a server would use.
    /// </summary>
    public async Task<GeneratedEmbeddings<Embedding<float>>> EmbedQueriesAsync(IReadOnlyList<string> queries, CancellationToken cancellationToken)
    {
        var prefix = _inner.GetService<MiniLmEmbeddingGenerator>()?.Model.QueryPrefix ?? "";
        var found = await LookupAsync("query", queries.Select(q => prefix + q).ToList(), async missing =>
        {
            var computed = new List<SpanEmbedding>(missing.Count);
            foreach (var query in missing)
            {
                computed.Add(new SpanEmbedding((await _inner.GenerateAsync([query], null, cancellationToken))[0].Vector.ToArray(), 1));
            }
            return computed;
        });
        return new GeneratedEmbeddings<Embedding<float>>(found.Select(f => new Embedding<float>(f.WeightedSum) { ModelId = _model }));
    }

    public Task<IReadOnlyList<SpanEmbedding>> EmbedSpansAsync(IReadOnlyList<string> inputs, CancellationToken cancellationToken) =>
        LookupAsync("span", inputs, async missing => (await _spans!.EmbedSpansAsync(missing, cancellationToken)).ToList());

    private async Task<IReadOnlyList<SpanEmbedding>> LookupAsync(string kind, IReadOnlyList<string> inputs, Func<List<string>, Task<List<SpanEmbedding>>> compute)
    {
        var keys = inputs.Select(i => SHA256.HashData(Encoding.UTF8.GetBytes(kind + "\n" + i))).ToList();
        var result = new SpanEmbedding?[inputs.Count];
        if (ReadThrough)
        {
            lock (_lock)
            {
                using var read = _db.CreateCommand();
                read.CommandText = "SELECT weight, vector FROM embeddings WHERE model = $m AND key = $k";
                read.Parameters.AddWithValue("$m", _model);
                var key = read.Parameters.Add("$k", SqliteType.Blob);
                for (var i = 0; i < inputs.Count; i++)
                {
                    key.Value = keys[i];
                    using var reader = read.ExecuteReader();
                    if (reader.Read())
                    {
                        result[i] = new SpanEmbedding(MemoryMarshal.Cast<byte, float>((byte[])reader.GetValue(1)).ToArray(), (float)reader.GetDouble(0));
                    }
                }
            }
        }
        var missing = Enumerable.Range(0, inputs.Count).Where(i => result[i] is null).ToList();
        Hits += inputs.Count - missing.Count;
        Misses += missing.Count;
        if (missing.Count > 0)
        {
            var computed = await compute(missing.Select(i => inputs[i]).ToList());
            lock (_lock)
            {
                using var transaction = _db.BeginTransaction();
                using var write = _db.CreateCommand();
                write.Transaction = transaction;
                write.CommandText = "INSERT OR REPLACE INTO embeddings (model, key, weight, vector) VALUES ($m, $k, $w, $v)";
                write.Parameters.AddWithValue("$m", _model);
                var key = write.Parameters.Add("$k", SqliteType.Blob);
                var weight = write.Parameters.Add("$w", SqliteType.Real);
                var vector = write.Parameters.Add("$v", SqliteType.Blob);
                for (var j = 0; j < missing.Count; j++)
                {
                    // Copies: callers may normalise the returned arrays in place.
                    result[missing[j]] = computed[j] with { WeightedSum = (float[])computed[j].WeightedSum.Clone() };
                    key.Value = keys[missing[j]];
                    weight.Value = (double)computed[j].Weight;
                    vector.Value = MemoryMarshal.AsBytes(computed[j].WeightedSum.AsSpan()).ToArray();
                    write.ExecuteNonQuery();
                }
                transaction.Commit();
            }
        }
        return result.Select(r => r! with { WeightedSum = (float[])r.WeightedSum.Clone() }).ToList();
    }

    public object? GetService(Type serviceType, object? serviceKey = null) =>
        serviceType == typeof(ISpanEmbeddingGenerator) ? (_spans is null ? null : this)
        : serviceType.IsInstanceOfType(this) ? this
        : _inner.GetService(serviceType, serviceKey);

    public void Dispose() => _db.Dispose();
}
