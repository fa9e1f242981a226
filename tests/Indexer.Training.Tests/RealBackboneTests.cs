using System.Diagnostics;
using Indexer.Embedding;
using Xunit.Abstractions;
using static Indexer.Training.Tests.GradientCheck;

namespace Indexer.Training.Tests;

[Collection(ResNet18Collection.Name)]
[Trait("Category", "Model")]
public sealed class RealBackboneTests(ResNet18Fixture fixture, ITestOutputHelper output) : IDisposable
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), $"zoo-test-{Guid.NewGuid():N}");

    public void Dispose()
    {
        if (Directory.Exists(_directory)) Directory.Delete(_directory, recursive: true);
    }

    [Fact]
    public void AppendHead_OnResNet18_MatchesTheCSharpHeadOnCachedBackboneFeatures()
    {
        var images = FashionMnist.Load(FashionMnist.DefaultDirectory, FashionMnistSplit.Test, 4);
        int[] indices = [0, 1, 2, 3];
        var features = BackboneFeatureCache.Embed("test", images, indices, fixture.Backbone);
        Assert.Equal(512, features.Dimension);
        Assert.True(features.Features.Max() > 1f, "the cached features should be the backbone's raw output, not unit vectors");

        var random = new Random(1);
        var hidden = new DenseLayer(512, 64, RandomArray(random, 512 * 64, 0.05), RandomArray(random, 64, 0.1), Relu: true);
        var last = new DenseLayer(64, 16, RandomArray(random, 64 * 16, 0.2), RandomArray(random, 16, 0.1), Relu: false);
        var head = new EmbeddingHead([hidden, last], normalizeInput: true);
        var model = head.AppendTo(fixture.Backbone, "head-test", null, "test");

        var onnx = BackboneFeatureCache.Embed("test", images, indices, model);
        BatchMath.NormalizeRows(onnx.Features, 4, 16);
        var expected = head.Embed(features.Features, 4);
        var max = expected.Select((v, i) => Math.Abs(v - onnx.Features[i])).Max();
        output.WriteLine($"max |ONNX - C#| = {max:G3}");
        Assert.True(max < 1e-4, $"max |ONNX - C#| = {max}");

        // The sidecar path gives the same vectors on already-normalised backbone features.
        var normalized = features.Features.ToArray();
        BatchMath.NormalizeRows(normalized, 4, 512);
        var fromNormalized = head.Embed(normalized, 4);
        for (var i = 0; i < expected.Length; i++) Assert.Equal(expected[i], fromNormalized[i], 5);
    }

    [Fact]
    public void ModelZoo_OnAFewHundredImages_ExportsEveryVersionWithItsFacts()
    {
        var stopwatch = Stopwatch.StartNew();
        var log = new StringWriter();
        var options = new ZooOptions
        {
            OutputDirectory = _directory,
            TrainPerClass = 16,
            TestPerClass = 6,
            Epochs = 4,
            BatchSize = 32,
            OnnxCheckImages = 2,
            VersionPrefix = "t-",
        };
        var report = ModelZoo.Run(options, log);
        output.WriteLine(log.ToString());
        output.WriteLine(report.ToMarkdown());
        output.WriteLine($"zoo run: {stopwatch.Elapsed.TotalSeconds:0.0} s");

        Assert.Equal([ModelZoo.V1, ModelZoo.V2Independent, ModelZoo.V2Bct, ModelZoo.V2Pc], report.Versions.Select(v => v.Name));
        Assert.Equal([ModelZoo.V1, ModelZoo.V2Bct, ModelZoo.V2Independent, ModelZoo.V2Pc], ModelZoo.ListVersions(_directory));
        Assert.True(File.Exists(Path.Combine(_directory, ZooReport.FileName)));
        Assert.Single(Directory.GetFiles(options.EffectiveCacheDirectory, "fashion-mnist-train-*"));
        foreach (var version in report.Versions)
        {
            var model = ModelZoo.LoadModel(_directory, version.Name);
            Assert.Equal("t-" + version.Name, model.Manifest.Version);
            Assert.Equal(128, model.Manifest.OutputDimension);
            var properties = model.Manifest.Properties!;
            foreach (var key in new[] { "trainingClasses", "trainingSamples", "loss", "epochs", "seed", "trainAccuracy", "testAccuracy" }) Assert.True(properties.ContainsKey(key), key);
            Assert.Equal("4", properties["epochs"]);
            Assert.True(version.OnnxMaxDifference < 1e-4, $"{version.Name}: ONNX differs by {version.OnnxMaxDifference}");
            var head = ModelZoo.LoadHead(_directory, version.Name);
            Assert.Equal(512, head.InputDimension);
            Assert.Equal(128, head.OutputDimension);
        }

        var v1 = ModelZoo.LoadModel(_directory, ModelZoo.V1).Manifest;
        Assert.Equal("0,1,2,3,4", v1.Properties!["trainingClasses"]);
        Assert.Equal("80", v1.Properties["trainingSamples"]);
        Assert.Equal("backward-compatible:v1", ModelZoo.LoadModel(_directory, ModelZoo.V2Bct).Manifest.Lineage);
        Assert.All(report.Versions.Skip(1), v => Assert.NotNull(v.AgainstOld));
    }
}
