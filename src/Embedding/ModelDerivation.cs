using Google.Protobuf;
using Onnx;

namespace Indexer.Embedding;

/// <summary>
/// Builds new model versions from an existing one by appending a linear map to its embedding: the way a learned head
/// (or, in tests, a known transform such as a rotation) becomes a registrable ONNX artifact of its own.
/// </summary>
public static class ModelDerivation
{
    /// <summary>
    /// A copy of <paramref name="baseModel"/> whose embedding is multiplied by <paramref name="matrix"/> (row-major,
    /// <c>inputDimension x outputDimension</c>, where inputDimension is the base model's output dimension): y = x W.
    /// The input, preprocessing and output name stay the same; the manifest gets the new version, dimension and lineage.
    /// </summary>
    public static ImportedModel AppendLinearMap(ImportedModel baseModel, float[] matrix, int outputDimension, string version, string? lineage, string description)
    {
        ArgumentNullException.ThrowIfNull(baseModel);
        ArgumentNullException.ThrowIfNull(matrix);
        var inputDimension = baseModel.Manifest.OutputDimension;
        if (outputDimension <= 0 || matrix.Length != (long)inputDimension * outputDimension)
        {
            throw new ArgumentException($"the matrix must be {inputDimension} x {outputDimension} = {(long)inputDimension * outputDimension} floats; it has {matrix.Length}", nameof(matrix));
        }

        var model = ModelProto.Parser.ParseFrom(baseModel.Onnx);
        var graph = model.Graph;
        var outputName = baseModel.Manifest.OutputName;
        var output = graph.Output.Single(o => o.Name == outputName);
        var before = ResNet18Model.UniqueName(graph, outputName + "_BeforeMap");
        foreach (var node in graph.Node)
        {
            for (var i = 0; i < node.Output.Count; i++)
            {
                if (node.Output[i] == outputName) node.Output[i] = before;
            }

            for (var i = 0; i < node.Input.Count; i++)
            {
                if (node.Input[i] == outputName) node.Input[i] = before;
            }
        }

        var weightsName = ResNet18Model.UniqueName(graph, "EmbeddingMap");
        var weights = new TensorProto { Name = weightsName, DataType = (int)TensorProto.Types.DataType.Float };
        weights.Dims.Add(inputDimension);
        weights.Dims.Add(outputDimension);
        var raw = new byte[matrix.Length * sizeof(float)];
        Buffer.BlockCopy(matrix, 0, raw, 0, raw.Length); // ONNX raw data is little-endian, as is every platform .NET runs on here
        weights.RawData = ByteString.CopyFrom(raw);
        graph.Initializer.Add(weights);

        var map = new NodeProto { OpType = "MatMul", Name = ResNet18Model.UniqueNodeName(graph, "EmbeddingMapMatMul") };
        map.Input.Add(before);
        map.Input.Add(weightsName);
        map.Output.Add(outputName);
        graph.Node.Add(map);

        var shape = output.Type.TensorType.Shape;
        shape.Dim[^1].DimValue = outputDimension;

        var manifest = baseModel.Manifest with
        {
            Version = version,
            OutputDimension = outputDimension,
            Lineage = lineage,
            Description = description,
            Properties = new Dictionary<string, string>(baseModel.Manifest.Properties ?? new Dictionary<string, string>())
            {
                ["derivedFrom"] = baseModel.Manifest.Version,
                ["derivation"] = $"embedding x {inputDimension}x{outputDimension} linear map",
            },
        };
        manifest.Validate();
        return new ImportedModel(model.ToByteArray(), manifest);
    }
}
