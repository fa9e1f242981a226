using System.Numerics.Tensors;
using Google.Protobuf;
using Onnx;

namespace Indexer.Embedding;

/// <summary>
/// Builds new model versions from an existing one by appending a linear map or a small trained head (dense layers) to
/// its embedding: the way a learned head (or, in tests, a known transform such as a rotation) becomes a registrable
/// ONNX artifact of its own.
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
        var before = RenameEmbedding(graph, outputName, "_BeforeMap");

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

    /// <summary>
    /// A copy of <paramref name="baseModel"/> whose embedding goes through <paramref name="layers"/> in order: per layer
    /// MatMul by the weights, Add of the bias (when there is one) and, when the layer says so, Relu. With
    /// <paramref name="normalizeInput"/> the base embedding is first scaled to unit length (ONNX LpNormalization, p = 2),
    /// so the head sees the same input whether a caller holds the raw or the L2-normalised base embedding.
    /// The input, preprocessing and output name stay the same; the manifest gets the new version, dimension, lineage,
    /// description and <paramref name="properties"/> on top of the base model's own.
    /// </summary>
    /// <exception cref="ArgumentException">The layers are empty, their dimensions do not chain from the base model's output, or a weight array has the wrong length.</exception>
    public static ImportedModel AppendHead(
        ImportedModel baseModel,
        IReadOnlyList<DenseLayer> layers,
        string version,
        string? lineage,
        string description,
        IReadOnlyDictionary<string, string>? properties = null,
        bool normalizeInput = false)
    {
        ArgumentNullException.ThrowIfNull(baseModel);
        ArgumentNullException.ThrowIfNull(layers);
        if (layers.Count == 0) throw new ArgumentException("a head needs at least one layer", nameof(layers));
        var dimension = baseModel.Manifest.OutputDimension;
        for (var i = 0; i < layers.Count; i++)
        {
            var layer = layers[i] ?? throw new ArgumentException($"layer {i} is null", nameof(layers));
            layer.Validate();
            if (layer.InputDimension != dimension)
            {
                throw new ArgumentException($"layer {i} takes {layer.InputDimension} inputs but receives {dimension}", nameof(layers));
            }

            dimension = layer.OutputDimension;
        }

        var model = ModelProto.Parser.ParseFrom(baseModel.Onnx);
        var graph = model.Graph;
        var outputName = baseModel.Manifest.OutputName;
        var output = graph.Output.Single(o => o.Name == outputName);
        var current = RenameEmbedding(graph, outputName, "_BeforeHead");

        if (normalizeInput)
        {
            var normalized = ResNet18Model.UniqueName(graph, "HeadInputNormalized");
            var norm = new NodeProto { OpType = "LpNormalization", Name = ResNet18Model.UniqueNodeName(graph, "HeadInputL2") };
            norm.Input.Add(current);
            norm.Output.Add(normalized);
            norm.Attribute.Add(new AttributeProto { Name = "axis", Type = AttributeProto.Types.AttributeType.Int, I = -1 });
            norm.Attribute.Add(new AttributeProto { Name = "p", Type = AttributeProto.Types.AttributeType.Int, I = 2 });
            graph.Node.Add(norm);
            current = normalized;
        }

        for (var i = 0; i < layers.Count; i++)
        {
            var layer = layers[i];
            var last = i == layers.Count - 1;
            var prefix = $"Head{i + 1}";
            var weightsName = ResNet18Model.UniqueName(graph, prefix + "Weights");
            graph.Initializer.Add(FloatTensor(weightsName, layer.Weights, layer.InputDimension, layer.OutputDimension));

            // Each step writes a fresh value; the very last one writes the graph output itself.
            string Next(string suffix, bool isFinal) => isFinal ? outputName : ResNet18Model.UniqueName(graph, prefix + suffix);

            var hasBias = layer.Bias is not null;
            var matMulOut = Next("MatMul", last && !hasBias && !layer.Relu);
            var matMul = new NodeProto { OpType = "MatMul", Name = ResNet18Model.UniqueNodeName(graph, prefix + "MatMul") };
            matMul.Input.Add(current);
            matMul.Input.Add(weightsName);
            matMul.Output.Add(matMulOut);
            graph.Node.Add(matMul);
            current = matMulOut;

            if (hasBias)
            {
                var biasName = ResNet18Model.UniqueName(graph, prefix + "Bias");
                graph.Initializer.Add(FloatTensor(biasName, layer.Bias!, layer.OutputDimension));
                var addOut = Next("Add", last && !layer.Relu);
                var add = new NodeProto { OpType = "Add", Name = ResNet18Model.UniqueNodeName(graph, prefix + "Add") };
                add.Input.Add(current);
                add.Input.Add(biasName);
                add.Output.Add(addOut);
                graph.Node.Add(add);
                current = addOut;
            }

            if (layer.Relu)
            {
                var reluOut = Next("Relu", last);
                var relu = new NodeProto { OpType = "Relu", Name = ResNet18Model.UniqueNodeName(graph, prefix + "Relu") };
                relu.Input.Add(current);
                relu.Output.Add(reluOut);
                graph.Node.Add(relu);
                current = reluOut;
            }
        }

        output.Type.TensorType.Shape.Dim[^1].DimValue = dimension;

        var merged = new Dictionary<string, string>(baseModel.Manifest.Properties ?? new Dictionary<string, string>())
        {
            ["derivedFrom"] = baseModel.Manifest.Version,
            ["derivation"] = DescribeHead(baseModel.Manifest.OutputDimension, layers, normalizeInput),
        };
        if (properties is not null)
        {
            foreach (var (key, value) in properties) merged[key] = value;
        }

        var manifest = baseModel.Manifest with
        {
            Version = version,
            OutputDimension = dimension,
            Lineage = lineage,
            Description = description,
            Properties = merged,
        };
        manifest.Validate();
        return new ImportedModel(model.ToByteArray(), manifest);
    }

    /// <summary>A one-line summary of a head, e.g. "l2(512) -> 512x512+b relu -> 512x128+b".</summary>
    public static string DescribeHead(int inputDimension, IReadOnlyList<DenseLayer> layers, bool normalizeInput)
    {
        ArgumentNullException.ThrowIfNull(layers);
        var parts = new List<string> { normalizeInput ? $"l2({inputDimension})" : $"embedding({inputDimension})" };
        parts.AddRange(layers.Select(l => $"{l.InputDimension}x{l.OutputDimension}{(l.Bias is null ? string.Empty : "+b")}{(l.Relu ? " relu" : string.Empty)}"));
        return string.Join(" -> ", parts);
    }

    /// <summary>Renames the embedding wherever it is produced or consumed, so that new nodes can produce the output name.</summary>
    private static string RenameEmbedding(GraphProto graph, string outputName, string suffix)
    {
        var before = ResNet18Model.UniqueName(graph, outputName + suffix);
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

        return before;
    }

    private static TensorProto FloatTensor(string name, float[] values, params int[] dims)
    {
        var tensor = new TensorProto { Name = name, DataType = (int)TensorProto.Types.DataType.Float };
        foreach (var d in dims) tensor.Dims.Add(d);
        var raw = new byte[values.Length * sizeof(float)];
        Buffer.BlockCopy(values, 0, raw, 0, raw.Length); // ONNX raw data is little-endian, as is every platform .NET runs on here
        tensor.RawData = ByteString.CopyFrom(raw);
        return tensor;
    }
}

/// <summary>
/// One fully connected layer of an embedding head, in the layout ONNX MatMul uses: y = x W + b, then optionally ReLU.
/// </summary>
/// <param name="InputDimension">Length of x.</param>
/// <param name="OutputDimension">Length of y.</param>
/// <param name="Weights">W, row-major <c>InputDimension x OutputDimension</c>.</param>
/// <param name="Bias">b (<c>OutputDimension</c> floats), or null for no bias.</param>
/// <param name="Relu">Whether max(0, ·) follows.</param>
public sealed record DenseLayer(int InputDimension, int OutputDimension, float[] Weights, float[]? Bias, bool Relu)
{
    /// <summary>Checks the dimensions against the arrays and that every value is finite.</summary>
    /// <exception cref="ArgumentException">A dimension or array length is wrong, or a value is not finite.</exception>
    public void Validate()
    {
        if (InputDimension <= 0 || OutputDimension <= 0)
        {
            throw new ArgumentException($"a dense layer needs positive dimensions; got {InputDimension} x {OutputDimension}");
        }

        if (Weights is null || Weights.Length != (long)InputDimension * OutputDimension)
        {
            throw new ArgumentException($"a {InputDimension} x {OutputDimension} layer needs {(long)InputDimension * OutputDimension} weights; it has {Weights?.Length ?? 0}");
        }

        if (Bias is not null && Bias.Length != OutputDimension)
        {
            throw new ArgumentException($"a layer with {OutputDimension} outputs needs {OutputDimension} biases; it has {Bias.Length}");
        }

        if (!AllFinite(Weights) || (Bias is not null && !AllFinite(Bias)))
        {
            throw new ArgumentException("a dense layer holds a non-finite value");
        }
    }

    /// <summary>y = x W + b (then ReLU) for <paramref name="count"/> row-major rows of x; a reference for tests and tools.</summary>
    public void Apply(ReadOnlySpan<float> x, int count, Span<float> y)
    {
        if (x.Length != (long)count * InputDimension || y.Length != (long)count * OutputDimension)
        {
            throw new ArgumentException("x and y must hold count rows of the layer's input and output dimension");
        }

        for (var r = 0; r < count; r++)
        {
            var row = y.Slice(r * OutputDimension, OutputDimension);
            if (Bias is null) row.Clear();
            else Bias.CopyTo(row);
            var input = x.Slice(r * InputDimension, InputDimension);
            for (var i = 0; i < InputDimension; i++)
            {
                var xi = input[i];
                if (xi != 0f) TensorPrimitives.MultiplyAdd(Weights.AsSpan(i * OutputDimension, OutputDimension), xi, row, row);
            }

            if (Relu) TensorPrimitives.Max(row, 0f, row);
        }
    }

    private static bool AllFinite(float[] values)
    {
        foreach (var v in values)
        {
            if (!float.IsFinite(v)) return false;
        }

        return true;
    }
}
