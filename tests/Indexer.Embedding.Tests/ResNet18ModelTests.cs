using System.Diagnostics;
using Microsoft.ML.OnnxRuntime;
using SkiaSharp;
using Xunit.Abstractions;

namespace Indexer.Embedding.Tests;

[Collection(ResNet18Collection.Name)]
[Trait("Category", "Model")]
public sealed class ResNet18ModelTests(ResNet18Fixture fixture, ITestOutputHelper output)
{
    private const int Side = 224;
    private const int Batch = 8;

    [Fact]
    public void Import_DescribesBgrInputWithMeanFoldedIntoGraph()
    {
        var m = fixture.Imported.Manifest;
        output.WriteLine($"import {fixture.ImportTime.TotalMilliseconds:0} ms, session load {fixture.SessionLoadTime.TotalMilliseconds:0} ms, {fixture.Imported.Onnx.Length:N0} bytes");
        output.WriteLine(m.ToJson());

        Assert.Equal("resnet18-v1", m.Version);
        Assert.Equal("Input247", m.InputName);
        Assert.Equal("Pooling395_Output_0", m.OutputName);
        Assert.Equal((Side, Side), (m.InputWidth, m.InputHeight));
        Assert.Equal(ChannelOrder.Bgr, m.ChannelOrder);
        Assert.Equal([0f, 0f, 0f], m.Mean);
        Assert.Equal([1f, 1f, 1f], m.Scale);
        Assert.Equal(512, m.OutputDimension);
        Assert.True(m.L2Normalize);
        Assert.Equal("ResNet18 (ImageNet), pooled 512-d features", m.Description);
        Assert.Equal("103.06,115.90,123.15", m.Properties!["meanImageChannelAverages"]);
        Assert.Equal(m, ModelManifest.FromJson(m.ToJson()));
    }

    [Fact]
    public void Import_MakesBatchDynamicAndOutputFlat()
    {
        using var session = new InferenceSession(fixture.Imported.Onnx);

        Assert.Equal([-1, 3, Side, Side], session.InputMetadata["Input247"].Dimensions);
        Assert.Equal([-1, 512], session.OutputMetadata["Pooling395_Output_0"].Dimensions);
        Assert.Equal(int.MaxValue, fixture.Embedder.MaxBatch);
        Assert.Equal("CPU", fixture.Embedder.ExecutionProvider);
    }

    [Fact]
    public void ImportedModelAtBatch8_MatchesOriginalGraphsAtBatch1()
    {
        var manifest = fixture.Imported.Manifest;
        var rgbRaw = manifest with { ChannelOrder = ChannelOrder.Rgb };
        int length = ImageDecoder.TensorLength(manifest);
        var batch = new float[Batch * length];
        var rgbPlanes = new float[Batch][];
        var sizes = new (int W, int H)[] { (300, 200), (224, 224), (640, 480), (150, 260), (1024, 768), (97, 131), (500, 500), (256, 180) };
        for (int i = 0; i < Batch; i++)
        {
            var format = i % 2 == 0 ? SKEncodedImageFormat.Jpeg : SKEncodedImageFormat.Png;
            var bytes = TestImages.Pattern(100 + i, sizes[i].W, sizes[i].H, format);
            ImageDecoder.Preprocess(bytes, manifest, ImageLimits.Default, batch.AsSpan(i * length, length));
            rgbPlanes[i] = new float[length];
            ImageDecoder.Preprocess(bytes, rgbRaw, ImageLimits.Default, rgbPlanes[i]);
        }

        // Reference: the untouched preprocessing graph feeding the untouched model, one image at a time.
        var reference = new float[Batch][];
        using (var preprocess = new InferenceSession(ResNet18Model.DefaultPreprocessPath))
        using (var original = new InferenceSession(ResNet18Model.DefaultModelPath))
        {
            for (int i = 0; i < Batch; i++)
            {
                var prepared = RunSingle(preprocess, "OriginalInput", rgbPlanes[i], [1, 3, Side, Side], "PreprocessedInput");
                reference[i] = RunSingle(original, "Input247", prepared, [1, 3, Side, Side], "Pooling395_Output_0");
            }
        }

        // Raw imported graph at batch 8.
        float[] raw;
        using (var imported = new InferenceSession(fixture.Imported.Onnx))
        {
            raw = RunSingle(imported, "Input247", batch, [Batch, 3, Side, Side], "Pooling395_Output_0");
        }

        var embedded = new float[Batch * 512];
        fixture.Embedder.Embed(batch, Batch, embedded);

        double maxRawDiff = 0, maxUnitDiff = 0, maxAbs = 0;
        for (int i = 0; i < Batch; i++)
        {
            var expected = reference[i];
            var unitExpected = Normalise(expected);
            for (int k = 0; k < 512; k++)
            {
                maxRawDiff = Math.Max(maxRawDiff, Math.Abs(raw[(i * 512) + k] - expected[k]));
                maxUnitDiff = Math.Max(maxUnitDiff, Math.Abs(embedded[(i * 512) + k] - unitExpected[k]));
                maxAbs = Math.Max(maxAbs, Math.Abs(expected[k]));
            }
        }

        output.WriteLine($"max |raw diff| {maxRawDiff:E2} (max |value| {maxAbs:0.00}), max |unit diff| {maxUnitDiff:E2}");
        Assert.True(maxRawDiff < 1e-4, $"raw outputs differ by {maxRawDiff}");
        Assert.True(maxUnitDiff < 1e-4, $"normalised outputs differ by {maxUnitDiff}");

        // The comparison is sharp enough to catch a channel-order mistake.
        var swapped = new float[512];
        fixture.Embedder.Embed(rgbPlanes[0], 1, swapped);
        var unit0 = Normalise(reference[0]);
        Assert.True(swapped.Select((v, k) => Math.Abs(v - unit0[k])).Max() > 1e-3, "RGB input should not match the BGR reference");
    }

    [Fact]
    public void Embed_Batch8OnCpu_ReportsThroughput()
    {
        var manifest = fixture.Imported.Manifest;
        int length = ImageDecoder.TensorLength(manifest);
        var batch = new float[Batch * length];
        for (int i = 0; i < Batch; i++)
        {
            ImageDecoder.Preprocess(TestImages.Pattern(i, 400, 300, SKEncodedImageFormat.Jpeg), manifest, ImageLimits.Default, batch.AsSpan(i * length, length));
        }

        var result = new float[Batch * 512];
        fixture.Embedder.Embed(batch, Batch, result); // warm-up
        const int rounds = 3;
        var stopwatch = Stopwatch.StartNew();
        for (int r = 0; r < rounds; r++)
        {
            fixture.Embedder.Embed(batch, Batch, result);
        }

        double seconds = stopwatch.Elapsed.TotalSeconds;
        output.WriteLine($"batch {Batch} on {fixture.Embedder.ExecutionProvider}: {rounds * Batch / seconds:0.0} img/s ({seconds * 1000 / rounds:0} ms per batch)");
        for (int i = 0; i < Batch; i++)
        {
            Assert.Equal(1f, MathF.Sqrt(result.AsSpan(i * 512, 512).ToArray().Sum(v => v * v)), 1e-4f);
        }
    }

    [Fact]
    public void EmbedProbe_ReturnsFiniteUnitVector()
    {
        var vector = fixture.Embedder.EmbedProbe();

        Assert.Equal(512, vector.Length);
        Assert.All(vector, v => Assert.True(float.IsFinite(v) && v >= 0f));
        Assert.Equal(1f, MathF.Sqrt(vector.Sum(v => v * v)), 1e-4f);
    }

    [Theory]
    [InlineData("dimension")]
    [InlineData("size")]
    public void Embedder_WhenManifestDoesNotMatchResNet_ThrowsInvalidModel(string change)
    {
        var manifest = change == "dimension"
            ? fixture.Imported.Manifest with { OutputDimension = 256 }
            : fixture.Imported.Manifest with { InputWidth = 128, InputHeight = 128 };

        Assert.Throws<InvalidModelException>(
            () => new OnnxEmbedder(fixture.Imported.Onnx, manifest, new EmbedderOptions(PreferGpu: false)));
    }

    [Fact]
    public void Import_WhenVersionIsInvalid_ThrowsInvalidModel()
    {
        var ex = Assert.Throws<InvalidModelException>(
            () => ResNet18Model.Import(ResNet18Model.DefaultModelPath, ResNet18Model.DefaultPreprocessPath, "bad version"));

        Assert.Contains("'version'", ex.Message);
    }

    [Fact]
    public void Import_WhenFilesAreSwapped_ThrowsInvalidModel()
    {
        // The preprocessing graph is not a ResNet and the ResNet is not a preprocessing graph.
        Assert.Throws<InvalidModelException>(
            () => ResNet18Model.Import(ResNet18Model.DefaultPreprocessPath, ResNet18Model.DefaultModelPath, "v1"));
    }

    [Fact]
    public void Import_WhenFileIsNotOnnx_ThrowsInvalidModel()
    {
        var path = Path.Combine(Path.GetTempPath(), $"not-onnx-{Guid.NewGuid():N}.onnx");
        var garbage = new byte[10_000];
        new Random(5).NextBytes(garbage);
        File.WriteAllBytes(path, garbage);
        try
        {
            Assert.Throws<InvalidModelException>(() => ResNet18Model.Import(path, ResNet18Model.DefaultPreprocessPath, "v1"));
        }
        finally
        {
            File.Delete(path);
        }
    }

    private static float[] RunSingle(InferenceSession session, string inputName, float[] data, long[] shape, string outputName)
    {
        using var input = OrtValue.CreateTensorValueFromMemory(data, shape);
        using var runOptions = new RunOptions();
        using var results = session.Run(runOptions, [inputName], [input], [outputName]);
        return results[0].GetTensorDataAsSpan<float>().ToArray();
    }

    private static float[] Normalise(float[] v)
    {
        double norm = Math.Sqrt(v.Sum(x => (double)x * x));
        return v.Select(x => (float)(x / norm)).ToArray();
    }
}
