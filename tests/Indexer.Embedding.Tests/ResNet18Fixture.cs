using System.Diagnostics;

namespace Indexer.Embedding.Tests;

/// <summary>Imports ResNet18 once per test run; import and session load take about two seconds together.</summary>
public sealed class ResNet18Fixture : IDisposable
{
    public ResNet18Fixture()
    {
        var stopwatch = Stopwatch.StartNew();
        Imported = ResNet18Model.Import(ResNet18Model.DefaultModelPath, ResNet18Model.DefaultPreprocessPath, "resnet18-v1");
        ImportTime = stopwatch.Elapsed;
        stopwatch.Restart();
        Embedder = new OnnxEmbedder(Imported.Onnx, Imported.Manifest, new EmbedderOptions(PreferGpu: false));
        SessionLoadTime = stopwatch.Elapsed;
    }

    public ImportedModel Imported { get; }

    public OnnxEmbedder Embedder { get; }

    public TimeSpan ImportTime { get; }

    public TimeSpan SessionLoadTime { get; }

    public void Dispose() => Embedder.Dispose();
}

[CollectionDefinition(Name)]
public sealed class ResNet18Collection : ICollectionFixture<ResNet18Fixture>
{
    public const string Name = "ResNet18";
}
