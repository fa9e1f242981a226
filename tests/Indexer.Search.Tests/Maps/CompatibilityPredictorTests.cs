using Indexer.Search.Maps;
using Indexer.Search.Metrics;

namespace Indexer.Search.Tests.Maps;

public sealed class CompatibilityPredictorTests
{
    /// <summary>
    /// Items form clusters, as embeddings of kinds of pictures do. The new model is the old one rotated, except for two
    /// clusters that it sees differently: there its vectors are unrelated to the old ones. Calibrating on a sample must
    /// let the predictor rank those clusters' items first from their old vectors alone.
    /// </summary>
    [Fact]
    public void Predict_IncompatibleRegion_IsRankedFirstFromOldVectorsAlone()
    {
        const int n = 3000, d = 32, calibration = 600;
        var random = new Random(21);
        const int clusters = 20;
        var centres = new float[clusters * d];
        for (var i = 0; i < centres.Length; i++) centres[i] = (float)Gaussian(random);
        var old = new float[n * d];
        var incompatible = new bool[n];
        for (var i = 0; i < n; i++)
        {
            var cluster = random.Next(clusters);
            incompatible[i] = cluster < 2;
            var row = old.AsSpan(i * d, d);
            for (var j = 0; j < d; j++) row[j] = centres[cluster * d + j] + (float)(0.6 * Gaussian(random));
            VectorMath.NormalizeInPlace(row);
        }
        var rotation = EmbeddingMap.FromWeights(MapKind.Orthogonal, d, d, RandomOrthogonal.Create(d, 22));
        var @new = new float[n * d];
        for (var i = 0; i < n; i++)
        {
            var target = @new.AsSpan(i * d, d);
            if (!incompatible[i])
            {
                rotation.Apply(old.AsSpan(i * d, d), target);
                continue;
            }

            for (var j = 0; j < d; j++) target[j] = (float)Gaussian(random);
            VectorMath.NormalizeInPlace(target);
        }

        var fit = MapFitter.Fit(old.AsSpan(0, calibration * d), @new.AsSpan(0, calibration * d), calibration, d, d);
        var predictor = CompatibilityPredictor.Fit(old.AsSpan(0, calibration * d), fit.OutOfFoldAgreements, d);

        var rest = Enumerable.Range(calibration, n - calibration).ToArray();
        var predicted = rest.Select(i => predictor.Predict(old.AsSpan(i * d, d))).ToArray();
        var actual = MapFitter.Agreements(fit.Best, old, @new, rest);

        var auc = RankStatistics.RocAuc(predicted.Select(p => -p).ToArray(), rest.Select(i => incompatible[i]).ToArray());
        Assert.True(auc >= 0.9, $"ROC AUC of 'incompatible' against the predicted score: {auc:F3} ({incompatible.Count(x => x)} of {n} incompatible; {predictor.Kind}, held-out Spearman {predictor.HeldOutSpearman:F3})");
        // Values, not ranks: the compatible items' true agreement differs only by noise near 1 (the ranks among them
        // mean nothing), so the check is that the predictor puts each item near its true agreement.
        var error = predicted.Select((p, k) => Math.Abs(p - actual[k])).Average();
        Assert.True(error < 0.1, $"mean |predicted - true agreement| {error:F3} ({fit.Best.Kind} map)");
        // Positive and clearly above chance; ranks among the compatible majority are noise here too (see above).
        Assert.True(predictor.HeldOutSpearman > 0.3, $"the predictor reports its own held-out quality ({predictor.Kind}: {predictor.HeldOutSpearman:F3})");
    }

    [Fact]
    public void Fit_WithMismatchedInputs_Throws()
    {
        Assert.Throws<ArgumentException>(() => CompatibilityPredictor.Fit(new float[10], [0.5], 4));
        Assert.Throws<ArgumentException>(() => CompatibilityPredictor.Fit(new float[8], [0.5, 0.5], 4));
    }

    private static double Gaussian(Random random) => Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());
}
