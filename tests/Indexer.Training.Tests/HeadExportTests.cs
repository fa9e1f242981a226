using Google.Protobuf;
using Indexer.Embedding;
using Onnx;
using static Indexer.Training.Tests.GradientCheck;

namespace Indexer.Training.Tests;

public sealed class HeadExportTests
{
    [Fact]
    public void FeatureStandardizer_Fold_GivesTheSameOutputOnNormalisedFeatures()
    {
        var random = new Random(1);
        const int n = 20, d = 6, q = 3;
        var raw = RandomArray(random, n * d, 5.0);
        var standardizer = FeatureStandardizer.Fit(raw, n, d);
        var layer = new DenseLayer(d, q, RandomArray(random, d * q), RandomArray(random, q), Relu: false);

        var expected = new float[n * q];
        layer.Apply(standardizer.Transform(raw, n), n, expected);
        var normalized = raw.ToArray();
        BatchMath.NormalizeRows(normalized, n, d);
        var actual = new float[n * q];
        standardizer.Fold(layer).Apply(normalized, n, actual);
        for (var i = 0; i < expected.Length; i++) Assert.Equal(expected[i], actual[i], 4);
    }

    [Fact]
    public void EmbeddingHead_SavedAndLoaded_GivesTheSameEmbeddings()
    {
        var head = RandomHead(new Random(2), 10, normalizeInput: true, withClassifier: true);
        var path = Path.Combine(Path.GetTempPath(), $"head-{Guid.NewGuid():N}.bin");
        try
        {
            head.Save(path);
            var loaded = EmbeddingHead.Load(path);
            var x = RandomArray(new Random(3), 4 * 10);
            Assert.Equal(head.Embed(x, 4), loaded.Embed(x, 4));
            Assert.True(loaded.NormalizeInput);
            Assert.Equal(head.Classifier!.ClassLabels, loaded.Classifier!.ClassLabels);
            Assert.Equal(head.Classifier.Rows, loaded.Classifier.Rows);
            Assert.Equal(head.Classify(head.Embed(x, 4), 4), loaded.Classify(loaded.Embed(x, 4), 4));
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void EmbeddingHead_Load_RejectsACorruptedFile()
    {
        var path = Path.Combine(Path.GetTempPath(), $"head-{Guid.NewGuid():N}.bin");
        try
        {
            RandomHead(new Random(4), 5, normalizeInput: false, withClassifier: false).Save(path);
            var bytes = File.ReadAllBytes(path);
            bytes[40] ^= 0x10;
            File.WriteAllBytes(path, bytes);
            Assert.Throws<InvalidDataException>(() => EmbeddingHead.Load(path));
            File.WriteAllBytes(path, bytes[..20]);
            Assert.Throws<InvalidDataException>(() => EmbeddingHead.Load(path));
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void EmbeddingHead_WithNormalisedInput_IgnoresTheScaleOfTheBackboneFeature()
    {
        var head = RandomHead(new Random(5), 8, normalizeInput: true, withClassifier: false);
        var x = RandomArray(new Random(6), 8);
        var scaled = x.Select(v => v * 37f).ToArray();
        var a = head.Embed(x, 1);
        var b = head.Embed(scaled, 1);
        for (var i = 0; i < a.Length; i++) Assert.Equal(a[i], b[i], 5);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void AppendHead_OnATinyModel_ComputesWhatTheCSharpHeadComputes(bool normalizeInput)
    {
        var random = new Random(7);
        var baseModel = new ImportedModel(TinyFlattenModel(), TinyManifest());
        var head = RandomHead(random, 12, normalizeInput, withClassifier: false);
        var derived = head.AppendTo(baseModel, "tiny-head", "derived:tiny", "test head", new Dictionary<string, string> { ["extra"] = "1" });

        Assert.Equal(head.OutputDimension, derived.Manifest.OutputDimension);
        Assert.Equal("1", derived.Manifest.Properties!["extra"]);
        Assert.Equal("tiny", derived.Manifest.Properties["derivedFrom"]);
        using var embedder = new OnnxEmbedder(derived.Onnx, derived.Manifest, new EmbedderOptions(PreferGpu: false));
        var input = RandomArray(random, 3 * 12, 10.0);
        var actual = new float[3 * head.OutputDimension];
        embedder.Embed(input, 3, actual);
        var expected = head.Embed(input, 3);
        for (var i = 0; i < expected.Length; i++) Assert.Equal(expected[i], actual[i], 5);
    }

    [Fact]
    public void AppendHead_RejectsLayersThatDoNotChain()
    {
        var baseModel = new ImportedModel(TinyFlattenModel(), TinyManifest());
        var random = new Random(8);
        var wrong = new DenseLayer(11, 4, RandomArray(random, 44), null, false);
        Assert.Throws<ArgumentException>(() => ModelDerivation.AppendHead(baseModel, [wrong], "x", null, "x"));
        Assert.Throws<ArgumentException>(() => ModelDerivation.AppendHead(baseModel, [], "x", null, "x"));
    }

    [Fact]
    public void AppendLinearMap_StillMapsTheEmbedding()
    {
        var baseModel = new ImportedModel(TinyFlattenModel(), TinyManifest() with { L2Normalize = false });
        var matrix = RandomArray(new Random(9), 12 * 5);
        var derived = ModelDerivation.AppendLinearMap(baseModel, matrix, 5, "tiny-map", null, "map");
        using var embedder = new OnnxEmbedder(derived.Onnx, derived.Manifest, new EmbedderOptions(PreferGpu: false));
        var input = RandomArray(new Random(10), 12);
        var actual = new float[5];
        embedder.Embed(input, 1, actual);
        var expected = new float[5];
        new DenseLayer(12, 5, matrix, null, false).Apply(input, 1, expected);
        for (var i = 0; i < 5; i++) Assert.Equal(expected[i], actual[i], 4);
    }

    internal static EmbeddingHead RandomHead(Random random, int input, bool normalizeInput, bool withClassifier)
    {
        var first = new DenseLayer(input, 7, RandomArray(random, input * 7), RandomArray(random, 7, 0.1), Relu: true);
        var second = new DenseLayer(7, 4, RandomArray(random, 7 * 4), RandomArray(random, 4, 0.1), Relu: false);
        var classifier = withClassifier ? new HeadClassifier([3, 8, 1], UnitRows(random, 3, 4), 16f) : null;
        return new EmbeddingHead([first, second], normalizeInput, classifier);
    }

    /// <summary>A base model whose 3x2x2 image input is flattened into a 12-d embedding.</summary>
    private static byte[] TinyFlattenModel()
    {
        var graph = new GraphProto { Name = "tiny" };
        graph.Input.Add(Tensor("image", 3, 2, 2));
        graph.Output.Add(Tensor("embedding", 12));
        var flatten = new NodeProto { OpType = "Flatten", Name = "flatten" };
        flatten.Input.Add("image");
        flatten.Output.Add("embedding");
        flatten.Attribute.Add(new AttributeProto { Name = "axis", Type = AttributeProto.Types.AttributeType.Int, I = 1 });
        graph.Node.Add(flatten);
        var model = new ModelProto { IrVersion = 7, ProducerName = "Indexer.Training.Tests", Graph = graph };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = string.Empty, Version = 13 });
        return model.ToByteArray();
    }

    private static ModelManifest TinyManifest() =>
        new("tiny", "image", "embedding", 2, 2, ChannelOrder.Rgb, [0f, 0f, 0f], [1f, 1f, 1f], 12, true);

    private static ValueInfoProto Tensor(string name, params long[] dims)
    {
        var shape = new TensorShapeProto();
        shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimParam = "N" });
        foreach (var d in dims) shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimValue = d });
        return new ValueInfoProto
        {
            Name = name,
            Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)TensorProto.Types.DataType.Float, Shape = shape } },
        };
    }
}
