using Google.Protobuf;
using Onnx;

namespace Indexer.Embedding.Tests;

/// <summary>
/// Hand-built ONNX graphs that load in milliseconds, so embedder behaviour can be tested without
/// the 64 MB ResNet. The embedding is the per-channel average of the (optionally log-transformed) image.
/// </summary>
internal static class TinyModels
{
    public const string InputName = "image";
    public const string OutputName = "embedding";
    public const int Side = 8;

    public static ModelManifest Manifest(string version = "tiny-v1") =>
        new(version, InputName, OutputName, Side, Side, ChannelOrder.Rgb, [0f, 0f, 0f], [1f, 1f, 1f], 3, true);

    /// <summary>GlobalAveragePool over [batch,3,8,8], output [batch,3,1,1]; <paramref name="log"/> inserts Log first (negative input → NaN).</summary>
    public static byte[] AveragePool(bool dynamicBatch = true, bool log = false)
    {
        var graph = new GraphProto { Name = "tiny" };
        graph.Input.Add(Tensor(InputName, dynamicBatch, 3, Side, Side));
        graph.Output.Add(Tensor(OutputName, dynamicBatch, 3, 1, 1));
        var pooled = InputName;
        if (log)
        {
            graph.Node.Add(Node("Log", InputName, "logged"));
            pooled = "logged";
        }

        graph.Node.Add(Node("GlobalAveragePool", pooled, OutputName));
        var model = new ModelProto { IrVersion = 7, ProducerName = "Indexer.Embedding.Tests", Graph = graph };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = string.Empty, Version = 13 });
        return model.ToByteArray();
    }

    private static NodeProto Node(string op, string input, string output)
    {
        var node = new NodeProto { OpType = op, Name = op + "_" + output };
        node.Input.Add(input);
        node.Output.Add(output);
        return node;
    }

    private static ValueInfoProto Tensor(string name, bool dynamicBatch, params long[] dims)
    {
        var shape = new TensorShapeProto();
        shape.Dim.Add(dynamicBatch ? new TensorShapeProto.Types.Dimension { DimParam = "N" } : new TensorShapeProto.Types.Dimension { DimValue = 1 });
        foreach (var d in dims)
        {
            shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimValue = d });
        }

        return new ValueInfoProto
        {
            Name = name,
            Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)TensorProto.Types.DataType.Float, Shape = shape } },
        };
    }
}
