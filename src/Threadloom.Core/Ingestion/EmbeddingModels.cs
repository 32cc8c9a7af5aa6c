using System.Collections.Concurrent;
using Microsoft.Extensions.AI;

namespace Threadloom.Core.Ingestion;

/// <summary>
/// The embedding models this server can run, by model id: <see cref="Current"/> builds new vector stores; a store built
/// with another built-in model keeps being embedded and searched with that model, loaded on first use (issue #4: one
/// model per store for its whole life; issue #11: stores built before int8 weights became the default keep the float
/// model, whose vectors theirs are).
/// </summary>
/// <remarks>
/// Other built-in models are run only when <see cref="Current"/> is built-in too: a server configured for an upstream
/// model does not start loading local models (CPU and memory it was not sized for); its older local stores are searched
/// by keywords and refuse new files, as after any change to a model it cannot run.
/// </remarks>
public sealed class EmbeddingModels : IDisposable
{
    private readonly ConcurrentDictionary<string, Lazy<IEmbeddingGenerator<string, Embedding<float>>?>> _others = new(StringComparer.Ordinal);
    private readonly bool _runsBuiltIn;

    /// <param name="current">The generator of new stores.</param>
    /// <param name="runOtherBuiltInModels">False: only <paramref name="current"/> (tests and the benchmark, which pick their models).</param>
    public EmbeddingModels(IEmbeddingGenerator<string, Embedding<float>> current, bool runOtherBuiltInModels = true)
    {
        Current = current;
        CurrentId = current.GetService<EmbeddingGeneratorMetadata>()?.DefaultModelId;
        _runsBuiltIn = runOtherBuiltInModels && current is MiniLmEmbeddingGenerator;
    }

    public IEmbeddingGenerator<string, Embedding<float>> Current { get; }

    /// <summary>The model id of <see cref="Current"/>; null when it names none (then every store counts as its).</summary>
    public string? CurrentId { get; }

    /// <summary>The generator for a store built with <paramref name="modelId"/>, or null when this server cannot run that model.</summary>
    public IEmbeddingGenerator<string, Embedding<float>>? For(string modelId)
    {
        if (CurrentId is null || modelId == CurrentId)
        {
            return Current;
        }
        return _runsBuiltIn ? _others.GetOrAdd(modelId, id => new Lazy<IEmbeddingGenerator<string, Embedding<float>>?>(() => BuiltIn(id))).Value : null;
    }

    /// <summary>The built-in model with id <paramref name="modelId"/> (float, or int8 with its suffix), or null.</summary>
    private static MiniLmEmbeddingGenerator? BuiltIn(string modelId)
    {
        foreach (var model in LocalEmbeddingModel.All)
        {
            if (modelId == model.Id)
            {
                return new MiniLmEmbeddingGenerator(model, MiniLmRuntime.Default);
            }
            if (modelId == model.Id + MiniLmEmbeddingGenerator.Int8Suffix && model.LoadOnnx is not null)
            {
                return new MiniLmEmbeddingGenerator(model, MiniLmRuntime.DefaultInt8);
            }
        }
        return null;
    }

    /// <summary>Disposes the models loaded for older stores (<see cref="Current"/> belongs to whoever made it).</summary>
    public void Dispose()
    {
        foreach (var other in _others.Values)
        {
            if (other.IsValueCreated)
            {
                other.Value?.Dispose();
            }
        }
    }
}
