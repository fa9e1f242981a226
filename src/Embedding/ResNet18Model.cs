using System.Buffers.Binary;
using System.Globalization;
using System.Security.Cryptography;
using Google.Protobuf;
using Onnx;

namespace Indexer.Embedding;

/// <summary>
/// Imports the pretrained ResNet18 feature extractor (CNTK export shipped with ML.NET's
/// DnnImageFeaturizer) into a form this service can batch: dynamic batch dimension, a flat
/// [N,512] output, and the original per-pixel mean subtraction folded into the graph.
/// </summary>
public static class ResNet18Model
{
    /// <summary>Description written into the manifest of every imported ResNet18.</summary>
    public const string ModelDescription = "ResNet18 (ImageNet), pooled 512-d features";

    private const string BatchDimension = "N";

    /// <summary>Where the build copies ResNet18.onnx (next to the application binaries).</summary>
    public static string DefaultModelPath => Path.Combine(AppContext.BaseDirectory, "models", "ResNet18.onnx");

    /// <summary>Where the build copies ResNetPreprocess.onnx, the graph that defines the expected preprocessing.</summary>
    public static string DefaultPreprocessPath => Path.Combine(AppContext.BaseDirectory, "models", "ResNetPreprocess.onnx");

    /// <summary>
    /// Rewrites the original model so that its input takes raw 0..255 planes in the channel order of
    /// the preprocessing graph (BGR), subtracts the exact per-pixel mean image inside the graph,
    /// accepts any batch size and returns a flat embedding.
    /// </summary>
    /// <exception cref="InvalidModelException">Either file is unreadable or does not have the expected structure.</exception>
    public static ImportedModel Import(string resnetOnnxPath, string preprocessOnnxPath, string version)
    {
        ArgumentException.ThrowIfNullOrEmpty(resnetOnnxPath);
        ArgumentException.ThrowIfNullOrEmpty(preprocessOnnxPath);
        ArgumentNullException.ThrowIfNull(version);

        var resnetBytes = File.ReadAllBytes(resnetOnnxPath);
        var preprocessBytes = File.ReadAllBytes(preprocessOnnxPath);
        var preprocess = Parse(preprocessBytes, "preprocessing model");
        var model = Parse(resnetBytes, "ResNet18 model");

        var prep = AnalysePreprocess(preprocess.Graph);
        var graph = model.Graph;
        var input = SingleRealInput(graph, "ResNet18 model");
        var inputDims = FixedDims(input, "ResNet18 model input");
        if (inputDims.Length != 4 || inputDims[0] != 1 || inputDims[1] != 3
            || inputDims[2] != prep.Height || inputDims[3] != prep.Width)
        {
            throw new InvalidModelException(
                $"ResNet18 model input '{input.Name}' has shape [{string.Join(",", inputDims)}]; expected [1,3,{prep.Height},{prep.Width}] to match the preprocessing graph");
        }

        if (graph.Output.Count != 1)
        {
            throw new InvalidModelException($"ResNet18 model has {graph.Output.Count} outputs; expected 1");
        }

        var output = graph.Output[0];
        var outputDims = FixedDims(output, "ResNet18 model output");
        if (outputDims.Length < 2 || outputDims[0] != 1)
        {
            throw new InvalidModelException(
                $"ResNet18 model output '{output.Name}' has shape [{string.Join(",", outputDims)}]; expected [1,C,...]");
        }

        long dimension = 1;
        foreach (var d in outputDims.AsSpan(1))
        {
            dimension *= d;
        }

        if (dimension > int.MaxValue)
        {
            throw new InvalidModelException($"ResNet18 model output '{output.Name}' has {dimension} elements per image; too many");
        }

        var manifest = new ModelManifest(
            Version: version,
            InputName: input.Name,
            OutputName: output.Name,
            InputWidth: prep.Width,
            InputHeight: prep.Height,
            ChannelOrder: prep.Order,
            Mean: [0f, 0f, 0f],
            Scale: [1f, 1f, 1f],
            OutputDimension: (int)dimension,
            L2Normalize: true,
            Lineage: null,
            Description: ModelDescription,
            Properties: new Dictionary<string, string>
            {
                ["source"] = "Microsoft.ML.DnnImageFeaturizer.ResNet18 (ResNet18.onnx + ResNetPreprocess.onnx)",
                ["sourceProducer"] = $"{model.ProducerName} {model.ProducerVersion}".Trim(),
                ["sourceSha256"] = Convert.ToHexStringLower(SHA256.HashData(resnetBytes)),
                ["preprocessSha256"] = Convert.ToHexStringLower(SHA256.HashData(preprocessBytes)),
                ["preprocessing"] = $"raw 0..255 {prep.Order.ToString().ToUpperInvariant()} planes; the per-pixel mean image '{prep.MeanName}' is subtracted inside the graph",
                ["meanImageChannelAverages"] = string.Join(
                    ",",
                    prep.ChannelAverages.Select(v => v.ToString("0.00", CultureInfo.InvariantCulture))),
                ["trainingData"] = "ImageNet",
            });
        manifest.Validate(); // before the expensive rewrite, so a bad version fails fast

        graph.SetDim(); // dim 0 → "N" on inputs, outputs and value infos.
        FoldMeanSubtraction(graph, input.Name, prep);
        FlattenOutput(graph, output, (int)dimension);

        return new ImportedModel(model.ToByteArray(), manifest);
    }

    private static ModelProto Parse(byte[] bytes, string what)
    {
        try
        {
            var model = ModelProto.Parser.ParseFrom(bytes);
            return model.Graph is null
                ? throw new InvalidModelException($"{what} has no graph")
                : model;
        }
        catch (InvalidProtocolBufferException ex)
        {
            throw new InvalidModelException($"{what} is not a valid ONNX file: {ex.Message}", ex);
        }
    }

    private static ValueInfoProto SingleRealInput(GraphProto graph, string what)
    {
        var initializers = graph.Initializer.Select(t => t.Name).ToHashSet(StringComparer.Ordinal);
        var inputs = graph.Input.Where(i => !initializers.Contains(i.Name)).ToList();
        return inputs.Count == 1
            ? inputs[0]
            : throw new InvalidModelException($"{what} has {inputs.Count} non-constant inputs; expected exactly 1");
    }

    private static long[] FixedDims(ValueInfoProto value, string what)
    {
        var shape = value.Type?.TensorType?.Shape
            ?? throw new InvalidModelException($"{what} '{value.Name}' has no tensor shape");
        if (value.Type.TensorType.ElemType != (int)TensorProto.Types.DataType.Float)
        {
            throw new InvalidModelException($"{what} '{value.Name}' is not float32");
        }

        return shape.Dim.Select(d => d.ValueCase == TensorShapeProto.Types.Dimension.ValueOneofCase.DimValue ? d.DimValue : -1).ToArray();
    }

    /// <summary>
    /// Recognises the preprocessing graph: Split(input, axis 1) → Concat(permuted planes, axis 1) → Sub(mean image).
    /// The channel permutation and the mean image are what the imported model must reproduce.
    /// </summary>
    private static PreprocessFacts AnalysePreprocess(GraphProto graph)
    {
        const string what = "preprocessing model";
        var input = SingleRealInput(graph, what);
        var dims = FixedDims(input, $"{what} input");
        if (dims.Length != 4 || dims[1] != 3 || dims[2] <= 0 || dims[3] <= 0)
        {
            throw new InvalidModelException($"{what} input has shape [{string.Join(",", dims)}]; expected [1,3,H,W]");
        }

        int height = (int)dims[2];
        int width = (int)dims[3];
        if (graph.Output.Count != 1)
        {
            throw new InvalidModelException($"{what} has {graph.Output.Count} outputs; expected 1");
        }

        var producers = new Dictionary<string, NodeProto>(StringComparer.Ordinal);
        foreach (var node in graph.Node)
        {
            foreach (var o in node.Output)
            {
                producers[o] = node;
            }
        }

        var initializers = graph.Initializer.ToDictionary(t => t.Name, StringComparer.Ordinal);
        if (!producers.TryGetValue(graph.Output[0].Name, out var sub) || sub.OpType != "Sub" || sub.Input.Count != 2
            || !initializers.TryGetValue(sub.Input[1], out var meanTensor))
        {
            throw new InvalidModelException($"{what} does not end in Sub(planes, mean image) as expected");
        }

        var order = ChannelOrder.Rgb;
        var planes = sub.Input[0];
        if (planes != input.Name)
        {
            if (!producers.TryGetValue(planes, out var concat) || concat.OpType != "Concat" || AxisOf(concat) != 1 || concat.Input.Count != 3
                || !producers.TryGetValue(concat.Input[0], out var split) || split.OpType != "Split" || AxisOf(split) != 1
                || split.Input.Count < 1 || split.Input[0] != input.Name || split.Output.Count != 3
                || concat.Input.Any(i => !split.Output.Contains(i)))
            {
                throw new InvalidModelException($"{what} does not reorder channels with Split/Concat as expected");
            }

            var permutation = concat.Input.Select(i => split.Output.IndexOf(i)).ToArray();
            order = permutation switch
            {
                [0, 1, 2] => ChannelOrder.Rgb,
                [2, 1, 0] => ChannelOrder.Bgr,
                _ => throw new InvalidModelException($"{what} permutes channels as [{string.Join(",", permutation)}]; only RGB and BGR are supported"),
            };
        }

        var meanDims = meanTensor.Dims.ToArray();
        bool shapeOk = meanDims is [1, 3, var h, var w] && h == height && w == width
            || meanDims is [3, var h3, var w3] && h3 == height && w3 == width;
        if (!shapeOk || meanTensor.DataType != (int)TensorProto.Types.DataType.Float)
        {
            throw new InvalidModelException(
                $"{what} mean image '{meanTensor.Name}' has shape [{string.Join(",", meanDims)}]; expected float [1,3,{height},{width}]");
        }

        var mean = ReadFloats(meanTensor, 3 * height * width, what);
        var averages = new float[3];
        int plane = height * width;
        for (int c = 0; c < 3; c++)
        {
            double sum = 0;
            foreach (var v in mean.AsSpan(c * plane, plane))
            {
                sum += v;
            }

            averages[c] = (float)(sum / plane);
        }

        return new PreprocessFacts(width, height, order, meanTensor.Name, mean, averages);
    }

    private static long AxisOf(NodeProto node) =>
        node.Attribute.FirstOrDefault(a => a.Name == "axis")?.I ?? 0;

    private static float[] ReadFloats(TensorProto tensor, int count, string what)
    {
        if (tensor.FloatData.Count == count)
        {
            return tensor.FloatData.ToArray();
        }

        var raw = tensor.RawData.Span;
        if (raw.Length != count * sizeof(float))
        {
            throw new InvalidModelException($"{what} tensor '{tensor.Name}' holds {tensor.FloatData.Count} floats and {raw.Length} raw bytes; expected {count} floats");
        }

        var values = new float[count];
        for (int i = 0; i < count; i++)
        {
            values[i] = BinaryPrimitives.ReadSingleLittleEndian(raw.Slice(i * sizeof(float)));
        }

        return values;
    }

    /// <summary>Puts Sub(input, mean image) in front of every consumer of the input; opset ≥ 7 Sub broadcasts over N.</summary>
    private static void FoldMeanSubtraction(GraphProto graph, string inputName, PreprocessFacts prep)
    {
        var meanName = UniqueName(graph, "PreprocessMeanImage");
        var centred = UniqueName(graph, inputName + "_MeanSubtracted");
        foreach (var node in graph.Node)
        {
            for (int i = 0; i < node.Input.Count; i++)
            {
                if (node.Input[i] == inputName)
                {
                    node.Input[i] = centred;
                }
            }
        }

        var meanTensor = new TensorProto
        {
            Name = meanName,
            DataType = (int)TensorProto.Types.DataType.Float,
            DocString = "Per-pixel mean image copied from the preprocessing graph",
        };
        meanTensor.Dims.AddRange([1, 3, prep.Height, prep.Width]);
        meanTensor.FloatData.AddRange(prep.MeanImage);
        graph.Initializer.Add(meanTensor);

        var sub = new NodeProto { OpType = "Sub", Name = UniqueNodeName(graph, "PreprocessMeanSubtract") };
        sub.Input.Add(inputName);
        sub.Input.Add(meanName);
        sub.Output.Add(centred);
        graph.Node.Insert(0, sub);
    }

    /// <summary>Renames the producer's output and appends Flatten(axis 1) that re-creates it as [N, dimension].</summary>
    private static void FlattenOutput(GraphProto graph, ValueInfoProto output, int dimension)
    {
        var outputName = output.Name;
        var unflattened = UniqueName(graph, outputName + "_Unflattened");
        foreach (var node in graph.Node)
        {
            for (int i = 0; i < node.Output.Count; i++)
            {
                if (node.Output[i] == outputName)
                {
                    node.Output[i] = unflattened;
                }
            }

            for (int i = 0; i < node.Input.Count; i++)
            {
                if (node.Input[i] == outputName)
                {
                    node.Input[i] = unflattened;
                }
            }
        }

        foreach (var info in graph.ValueInfo)
        {
            if (info.Name == outputName)
            {
                info.Name = unflattened;
            }
        }

        var flatten = new NodeProto { OpType = "Flatten", Name = UniqueNodeName(graph, "EmbeddingFlatten") };
        flatten.Input.Add(unflattened);
        flatten.Output.Add(outputName);
        flatten.Attribute.Add(new AttributeProto { Name = "axis", Type = AttributeProto.Types.AttributeType.Int, I = 1 });
        graph.Node.Add(flatten);

        var shape = output.Type.TensorType.Shape;
        shape.Dim.Clear();
        shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimParam = BatchDimension });
        shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimValue = dimension });
    }

    internal static string UniqueName(GraphProto graph, string baseName)
    {
        var used = new HashSet<string>(StringComparer.Ordinal);
        used.UnionWith(graph.Input.Select(i => i.Name));
        used.UnionWith(graph.Output.Select(o => o.Name));
        used.UnionWith(graph.ValueInfo.Select(v => v.Name));
        used.UnionWith(graph.Initializer.Select(t => t.Name));
        used.UnionWith(graph.Node.SelectMany(n => n.Input.Concat(n.Output)));
        var name = baseName;
        for (int i = 1; used.Contains(name); i++)
        {
            name = $"{baseName}_{i}";
        }

        return name;
    }

    internal static string UniqueNodeName(GraphProto graph, string baseName)
    {
        var used = graph.Node.Select(n => n.Name).ToHashSet(StringComparer.Ordinal);
        var name = baseName;
        for (int i = 1; used.Contains(name); i++)
        {
            name = $"{baseName}_{i}";
        }

        return name;
    }

    private sealed record PreprocessFacts(int Width, int Height, ChannelOrder Order, string MeanName, float[] MeanImage, float[] ChannelAverages);
}
