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
        var rotate = EmbeddingMap.FromWeights(MapKind.Orthogonal, d, d, rotation);
        for (var i = 0; i < Images; i++) rotate.Apply(old.AsSpan(i * d, d), @new.AsSpan(i * d, d));

        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        var fit = MapFitter.Fit(old, @new, Images, d, d, seed: 1);
        output.WriteLine($"fit in {System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalSeconds:F1} s; best {fit.Best.Kind}");
        foreach (var c in fit.Candidates) output.WriteLine($"{c.Map.Kind} λ={c.Map.Regularisation}: held-out mean {c.HeldOut.Mean:F4}, p05 {c.HeldOut.P05:F4}, min {c.HeldOut.Min:F4}");

        Assert.True(fit.HeldOut.Min >= 0.99, $"held-out agreement: min {fit.HeldOut.Min:F4}, p05 {fit.HeldOut.P05:F4}, mean {fit.HeldOut.Mean:F4} ({fit.Best.Kind})");
        var identity = fit.Candidates.Single(c => c.Map.Kind == MapKind.Identity);
        Assert.True(identity.HeldOut.Mean < 0.5, $"without a map the spaces do not agree (identity mean {identity.HeldOut.Mean:F3})");
    }

    /// <summary>
    /// A new version that agrees with v1 (up to a rotation) except on one kind of picture, bags, which it embeds
    /// unrelated to how v1 did. Calibrated on half of the items, the predictor must rank the other half's bags as the
    /// least compatible from their v1 vectors alone.
    /// </summary>
    [Fact]
    public void Predict_NewVersionIncompatibleOnOneClass_RanksThatClassFirst()
    {
        const int d = 512, calibration = Images / 2;
        var bag = LabeledImages.ClassNames.ToList().IndexOf("Bag");
        var old = Features.Value;
        var rotate = EmbeddingMap.FromWeights(MapKind.Orthogonal, d, d, RandomOrthogonal.Create(d, seed: 12));
        var random = new Random(13);
        var @new = new float[old.Length];
        var isBag = new bool[Images];
        for (var i = 0; i < Images; i++)
        {
            isBag[i] = SampleImages.Images.Labels[i] == bag;
            // A bag's new vector is where v1 (rotated) puts some unrelated picture.
            var source = isBag[i] ? random.Next(Images) : i;
            rotate.Apply(old.AsSpan(source * d, d), @new.AsSpan(i * d, d));
        }

        var fit = MapFitter.Fit(old.AsSpan(0, calibration * d), @new.AsSpan(0, calibration * d), calibration, d, d, seed: 2);
        var calibrationAgreement = MapFitter.Agreements(fit.Best, old, @new, Enumerable.Range(0, calibration).ToArray());
        var predictor = CompatibilityPredictor.Fit(old.AsSpan(0, calibration * d), calibrationAgreement, d);
        var rest = Enumerable.Range(calibration, Images - calibration).ToArray();
        var predicted = rest.Select(i => predictor.Predict(old.AsSpan(i * d, d))).ToArray();
        var actual = MapFitter.Agreements(fit.Best, old, @new, rest);

        var auc = Search.Metrics.RankStatistics.RocAuc(predicted.Select(p => -p).ToArray(), rest.Select(i => isBag[i]).ToArray());
        var spearman = Search.Metrics.RankStatistics.Spearman(predicted, actual);
        output.WriteLine($"{rest.Count(i => isBag[i])} bags among {rest.Length} items; map {fit.Best.Kind}; predictor {predictor.Kind}: " +
            $"AUC {auc:F3}, Spearman with true agreement {spearman:F3} (held-out within calibration {predictor.HeldOutSpearman:F3})");
        Assert.True(auc >= 0.9, $"ROC AUC {auc:F3}");
        Assert.True(spearman > 0.3, $"Spearman {spearman:F3}");
    }

    /// <summary>
    /// A version that claims compatibility with v1 but is v1 rotated: the cross-model table must show the claim false
    /// (new queries against the old gallery find nothing better than chance), and the fitted map must restore search.
    /// </summary>
    [Fact]
    public void CrossModelTable_RotatedVersion_FailsTheCriterionAndTheMapRestoresSearch()
    {
        const int d = 512;
        var old = Features.Value;
        var rotate = EmbeddingMap.FromWeights(MapKind.Orthogonal, d, d, RandomOrthogonal.Create(d, seed: 14));
        var @new = new float[old.Length];
        for (var i = 0; i < Images; i++) rotate.Apply(old.AsSpan(i * d, d), @new.AsSpan(i * d, d));
        var labels = Enumerable.Range(0, Images).Select(i => (int)SampleImages.Images.Labels[i]).ToArray();
        var map = MapFitter.Fit(old, @new, Images, d, d, seed: 3).Best;

        var table = Search.Metrics.CrossModelEvaluation.Evaluate(old, @new, labels, d, d, map);

        output.WriteLine($"mAP old/old {table.OldOld.MeanAveragePrecision:F4}, new/new {table.NewNew.MeanAveragePrecision:F4}, " +
            $"new/old {table.NewOld.MeanAveragePrecision:F4}, new/h(old) {table.NewMapped!.MeanAveragePrecision:F4}; " +
            $"top-1 old/old {table.OldOld.CmcAt(1):F3}, new/old {table.NewOld.CmcAt(1):F3}, new/h(old) {table.NewMapped.CmcAt(1):F3}");
        Assert.False(table.CriterionHolds);
        Assert.Equal(table.OldOld.MeanAveragePrecision, table.NewNew.MeanAveragePrecision, 3); // a rotation changes no ranking
        Assert.True(table.NewOld.CmcAt(1) < 0.25, "unmapped, the spaces are incomparable: top-1 near chance (10%)");
        Assert.Equal(table.NewNew.MeanAveragePrecision, table.NewMapped.MeanAveragePrecision, 3);
    }
}
