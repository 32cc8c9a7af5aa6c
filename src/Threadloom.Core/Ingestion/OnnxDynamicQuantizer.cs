using System.Runtime.InteropServices;
using Google.Protobuf;
using Onnx;

namespace Threadloom.Core.Ingestion;

/// <summary>How <see cref="OnnxDynamicQuantizer"/> stores a quantized weight.</summary>
public enum QuantizedWeights
{
    /// <summary>
    /// int8 in [-63, 63], symmetric, one scale per output column. Seven bits, because ONNX Runtime's u8×s8 kernel on
    /// AVX2 without VNNI adds pairs of products in 16 bits: with full 8-bit weights a pair can saturate
    /// (255·127·2 &gt; 32,767), with 7-bit ones it cannot (255·63·2 = 32,130). The same trade as the Python
    /// quantizer's <c>reduce_range</c>.
    /// </summary>
    Int8ReducedRange,

    /// <summary>int8 in [-127, 127], symmetric, one scale per output column (exact on VNNI; may saturate on AVX2).</summary>
    Int8,

    /// <summary>uint8, asymmetric (a zero point per output column): ONNX Runtime's u8×u8 kernel, which does not saturate.</summary>
    UInt8,
}

/// <summary>
/// Dynamic int8 quantization of an ONNX model's weight matrices, done in memory at model load (issue #11): every
/// <c>MatMul</c> whose second input is a constant 2-D float matrix becomes a <c>com.microsoft</c>
/// <c>DynamicQuantizeMatMul</c> with the matrix quantized per output column; the activations are quantized to uint8
/// on the fly by ONNX Runtime at each pass. A bias <c>Add</c> of a constant vector right after the product is folded
/// into the operator. Everything else (attention products of activations, layer norms, GELU) stays float.
/// </summary>
/// <remarks>
/// Model-agnostic: it knows nothing of BERT beyond the operators above, so any encoder of the same shape
/// (all-MiniLM-L6-v2, arctic-embed-xs) is quantized the same way. The vectors of the quantized model are close to the
/// float model's but not equal, so a generator that uses it reports another model id (see
/// <see cref="MiniLmEmbeddingGenerator"/>).
/// </remarks>
public static class OnnxDynamicQuantizer
{
    public const string MicrosoftDomain = "com.microsoft";

    /// <summary>The rewritten model, serialized; <paramref name="quantized"/> counts the matrices quantized.</summary>
    public static byte[] Quantize(byte[] model, QuantizedWeights weights, out int quantized) => Quantize(model, _ => weights, out quantized);

    /// <summary>
    /// The rewritten model with a choice per matrix: <paramref name="plan"/> gets each constant product's ordinal
    /// (0-based, in graph order) and returns how to store its weights, or null to leave it float.
    /// </summary>
    public static byte[] Quantize(byte[] model, Func<int, QuantizedWeights?> plan, out int quantized)
    {
        var ordinal = -1;
        var proto = ModelProto.Parser.ParseFrom(model);
        var graph = proto.Graph;
        var initializers = graph.Initializer.ToDictionary(i => i.Name, StringComparer.Ordinal);
        var consumers = graph.Node.SelectMany(n => n.Input.Select(i => (Input: i, Node: n))).ToLookup(x => x.Input, x => x.Node, StringComparer.Ordinal);
        var graphOutputs = graph.Output.Select(o => o.Name).ToHashSet(StringComparer.Ordinal);
        var removed = new HashSet<NodeProto>();
        var replacements = new Dictionary<NodeProto, NodeProto>();
        var added = new List<TensorProto>();
        var quantizedWeights = new Dictionary<string, (string Weight, string Scale, string? ZeroPoint)>(StringComparer.Ordinal);
        quantized = 0;
        foreach (var node in graph.Node)
        {
            if (node.OpType != "MatMul" || node.Domain is not ("" or "ai.onnx") || node.Input.Count != 2
                || !initializers.TryGetValue(node.Input[1], out var weight) || weight.DataType != (int)TensorProto.Types.DataType.Float || weight.Dims.Count != 2)
            {
                continue;
            }
            ordinal++;
            if (plan(ordinal) is not { } weights)
            {
                continue;
            }
            var rows = checked((int)weight.Dims[0]);
            var columns = checked((int)weight.Dims[1]);
            if (!quantizedWeights.TryGetValue(weight.Name + "/" + weights, out var names))
            {
                var prefix = weight.Name + "_" + weights;
                names = (prefix + "_quantized", prefix + "_scale", weights == QuantizedWeights.UInt8 ? prefix + "_zero_point" : null);
                added.AddRange(QuantizeMatrix(FloatData(weight), rows, columns, weights, names));
                quantizedWeights[weight.Name + "/" + weights] = names;
            }

            // The bias: the product's only consumer is Add(product, constant vector of the column count), either order.
            var output = node.Output[0];
            string? bias = null;
            var next = consumers[output].ToList();
            if (next.Count == 1 && next[0] is { OpType: "Add", Input.Count: 2 } add && add.Domain is "" or "ai.onnx" && !graphOutputs.Contains(output))
            {
                var other = add.Input[0] == output ? add.Input[1] : add.Input[0];
                if (initializers.TryGetValue(other, out var b) && b.DataType == (int)TensorProto.Types.DataType.Float && b.Dims.Count == 1 && b.Dims[0] == columns)
                {
                    bias = other;
                    output = add.Output[0];
                    removed.Add(add);
                }
            }
            var replacement = new NodeProto
            {
                Name = node.Name + "_quant",
                OpType = "DynamicQuantizeMatMul",
                Domain = MicrosoftDomain,
            };
            replacement.Input.Add(node.Input[0]);
            replacement.Input.Add(names.Weight);
            replacement.Input.Add(names.Scale);
            replacement.Input.Add(names.ZeroPoint ?? "");
            if (bias is not null)
            {
                replacement.Input.Add(bias);
            }
            if (names.ZeroPoint is null && bias is null)
            {
                replacement.Input.RemoveAt(3);
            }
            replacement.Output.Add(output);
            replacements[node] = replacement;
            quantized++;
        }
        if (quantized == 0)
        {
            return model;
        }

        var nodes = graph.Node.Where(n => !removed.Contains(n)).Select(n => replacements.GetValueOrDefault(n, n)).ToList();
        graph.Node.Clear();
        graph.Node.AddRange(nodes);
        var used = nodes.SelectMany(n => n.Input).Concat(graphOutputs).ToHashSet(StringComparer.Ordinal);
        var kept = graph.Initializer.Where(i => used.Contains(i.Name)).Concat(added).ToList();
        graph.Initializer.Clear();
        graph.Initializer.AddRange(kept);
        if (!proto.OpsetImport.Any(o => o.Domain == MicrosoftDomain))
        {
            proto.OpsetImport.Add(new OperatorSetIdProto { Domain = MicrosoftDomain, Version = 1 });
        }
        return proto.ToByteArray();
    }

    private static float[] FloatData(TensorProto tensor) =>
        tensor.RawData.Length > 0 ? MemoryMarshal.Cast<byte, float>(tensor.RawData.Span).ToArray() : tensor.FloatData.ToArray();

    /// <summary>A row-major [rows, columns] matrix quantized per column: the weight tensor, the scales and, for uint8, the zero points.</summary>
    internal static IEnumerable<TensorProto> QuantizeMatrix(float[] w, int rows, int columns, QuantizedWeights kind, (string Weight, string Scale, string? ZeroPoint) names)
    {
        if (w.Length != rows * columns)
        {
            throw new InvalidDataException($"weight {names.Weight}: {w.Length} values for {rows}×{columns}");
        }
        var scales = new float[columns];
        var zeroPoints = new byte[columns];
        var q = new byte[w.Length];
        for (var c = 0; c < columns; c++)
        {
            float min = 0, max = 0;
            for (var r = 0; r < rows; r++)
            {
                var v = w[r * columns + c];
                min = Math.Min(min, v);
                max = Math.Max(max, v);
            }
            if (kind == QuantizedWeights.UInt8)
            {
                // Asymmetric over [min, max] (which includes 0, so 0 is exact).
                var scale = (max - min) / 255f;
                scale = scale > 0 ? scale : 1f;
                var zero = (byte)Math.Clamp(MathF.Round(-min / scale), 0, 255);
                scales[c] = scale;
                zeroPoints[c] = zero;
                for (var r = 0; r < rows; r++)
                {
                    q[r * columns + c] = (byte)Math.Clamp(MathF.Round(w[r * columns + c] / scale) + zero, 0, 255);
                }
            }
            else
            {
                var limit = kind == QuantizedWeights.Int8ReducedRange ? 63 : 127;
                var scale = Math.Max(-min, max) / limit;
                scale = scale > 0 ? scale : 1f;
                scales[c] = scale;
                for (var r = 0; r < rows; r++)
                {
                    q[r * columns + c] = (byte)(sbyte)Math.Clamp(MathF.Round(w[r * columns + c] / scale), -limit, limit);
                }
            }
        }
        var elementType = kind == QuantizedWeights.UInt8 ? TensorProto.Types.DataType.Uint8 : TensorProto.Types.DataType.Int8;
        var weight = new TensorProto { Name = names.Weight, DataType = (int)elementType, RawData = ByteString.CopyFrom(q) };
        weight.Dims.Add(rows);
        weight.Dims.Add(columns);
        yield return weight;
        var scaleTensor = new TensorProto { Name = names.Scale, DataType = (int)TensorProto.Types.DataType.Float, RawData = ByteString.CopyFrom(MemoryMarshal.AsBytes(scales.AsSpan())) };
        scaleTensor.Dims.Add(columns);
        yield return scaleTensor;
        if (names.ZeroPoint is not null)
        {
            var zeroTensor = new TensorProto { Name = names.ZeroPoint, DataType = (int)elementType, RawData = ByteString.CopyFrom(zeroPoints) };
            zeroTensor.Dims.Add(columns);
            yield return zeroTensor;
        }
    }
}
