using Indexer.Embedding;
using Indexer.Search;
using Indexer.Search.Maps;
using Indexer.Testing;

namespace Indexer.Tests.Compatibility;

/// <summary>Maps between model spaces fitted on real ResNet18 features of Fashion-MNIST images.</summary>
[Trait("Category", "Model")]
public sealed class BackboneMapTests(Xunit.Abstractions.ITestOutputHelper output)
{
    private const int Images = 800;

    private static readonly Lazy<float[]> Features = new(() =>
    {
        var model = ResNet18Model.Import(ResNet18Model.DefaultModelPath, ResNet18Model.DefaultPreprocessPath, "v1");
        using var embedder = new OnnxEmbedder(model.Onnx, model.Manifest, new EmbedderOptions(PreferGpu: false));
        var length = ImageDecoder.TensorLength(model.Manifest);
        const int batch = 16;
        var input = new float[batch * length];
        var features = new float[Images * embedder.Dimension];
        for (var start = 0; start < Images; start += batch)
        {
            var n = Math.Min(batch, Images - start);
            for (var i = 0; i < n; i++)
            {
                ImageDecoder.Preprocess(SampleImages.Images.EncodePng(start + i), model.Manifest, ImageLimits.Default, input.AsSpan(i * length, length));
            }

            embedder.Embed(input.AsSpan(0, n * length), n, features.AsSpan(start * embedder.Dimension, n * embedder.Dimension));
        }

        return features;
    });

    [Fact]
    public void Fit_BackboneFollowedByARandomRotation_RecoversItWithAgreementAbove099()
    {
        const int d = 512;
        var old = Features.Value;
        var rotation = RandomOrthogonal.Create(d, seed: 11);
        var @new = new float[old.Length];
        var rotate = LinearMap.FromWeights(MapKind.Orthogonal, d, d, rotation);
        for (var i = 0; i < Images; i++) rotate.Apply(old.AsSpan(i * d, d), @new.AsSpan(i * d, d));

        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        var fit = MapFitter.Fit(old, @new, Images, d, d, seed: 1);
        output.WriteLine($"fit in {System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalSeconds:F1} s; best {fit.Best.Kind}");
        foreach (var c in fit.Candidates) output.WriteLine($"{c.Map.Kind} λ={c.Map.Regularisation}: held-out mean {c.HeldOut.Mean:F4}, p05 {c.HeldOut.P05:F4}, min {c.HeldOut.Min:F4}");

        Assert.True(fit.HeldOut.Min >= 0.99, $"held-out agreement: min {fit.HeldOut.Min:F4}, p05 {fit.HeldOut.P05:F4}, mean {fit.HeldOut.Mean:F4} ({fit.Best.Kind})");
        var identity = fit.Candidates.Single(c => c.Map.Kind == MapKind.Identity);
        Assert.True(identity.HeldOut.Mean < 0.5, $"without a map the spaces do not agree (identity mean {identity.HeldOut.Mean:F3})");
    }
}
