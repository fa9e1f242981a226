using Indexer.Search.Maps;
using Indexer.Search.Metrics;

namespace Indexer.Search.Tests.Metrics;

/// <summary>
/// A synthetic upgrade with the shape of the literature's protocol: class blobs, an old model that separates only some
/// classes (the ones it "saw"), a new model of another dimension that separates all of them, and items of the same
/// image related across the two models through a shared latent. One evaluation is shared by the tests (it takes about
/// a second).
/// </summary>
public sealed class UpgradeEvaluationTests : IClassFixture<UpgradeEvaluationTests.SyntheticUpgrade>
{
    private readonly SyntheticUpgrade _upgrade;

    public UpgradeEvaluationTests(SyntheticUpgrade upgrade) => _upgrade = upgrade;

    [Fact]
    public void NewModel_IsBetter_AndTheMapIsFittedAcrossDimensions()
    {
        var result = _upgrade.Result;
        var table = result.CrossModel;
        Assert.True(table.NewNew.MeanAveragePrecision > table.OldOld.MeanAveragePrecision + 0.05, $"new/new {table.NewNew.MeanAveragePrecision:F3} vs old/old {table.OldOld.MeanAveragePrecision:F3}");
        Assert.Equal(MapKind.Ridge, result.MapKind); // 24-d to 32-d: only a ridge map applies
        Assert.Equal(0, table.NewOld.MeanAveragePrecision); // incomparable spaces
        Assert.NotNull(table.NewMapped);
        Assert.Equal(SyntheticUpgrade.Galleries * SyntheticUpgrade.Items, result.Items);
        Assert.Equal(SyntheticUpgrade.Calibration, result.CalibrationItems);
        Assert.Equal(24 * 32, result.Costs.MapMultiplyAddsPerItem);
    }

    [Fact]
    public void EveryCurve_StartsAtTheMappedGallery_AndEndsAtTheNewOne_Exactly()
    {
        var table = _upgrade.Result.CrossModel;
        foreach (var curve in _upgrade.Result.Curves)
        {
            var first = curve.Points[0];
            var last = curve.Points[^1];
            Assert.Equal(table.NewMapped!.MeanAveragePrecision, first.MeanAveragePrecision);
            Assert.Equal(table.NewMapped.CmcAt(1), first.Cmc1);
            Assert.Equal(table.NewMapped.CmcAt(5), first.Cmc5);
            Assert.Equal(table.NewNew.MeanAveragePrecision, last.MeanAveragePrecision);
            Assert.Equal(table.NewNew.CmcAt(1), last.Cmc1);
            Assert.Equal(table.NewNew.CmcAt(5), last.Cmc5);
        }
    }

    /// <summary>M(0) recomputed independently: the fitted map applied by hand, scored by <see cref="RetrievalMetrics"/>, averaged over galleries.</summary>
    [Fact]
    public void MappedGallery_AgreesWithAnIndependentComputation()
    {
        var map = _upgrade.Map;
        var perGallery = _upgrade.Dataset.Galleries.Select(g =>
        {
            var mapped = Enumerable.Range(0, g.Count).SelectMany(i => map.Apply(g.OldVectors.Span.Slice(i * g.OldDimension, g.OldDimension))).ToArray();
            return RetrievalMetrics.Evaluate(g.QueryNewVectors.Span, g.QueryLabels, null, mapped, g.Labels, g.NewDimension, [1]);
        }).ToArray();

        Assert.Equal(perGallery.Average(r => r.MeanAveragePrecision), _upgrade.Result.Predicted.Points[0].MeanAveragePrecision, 9);
        Assert.Equal(perGallery.Average(r => r.CmcAt(1)), _upgrade.Result.Predicted.Points[0].Cmc1, 9);
    }

    /// <summary>NFR@1 at β = 1 is the negative flip rate of a full re-index, computed here by brute force per query.</summary>
    [Fact]
    public void NegativeFlipRateOfFullBackfill_EqualsThatOfTheNewModel()
    {
        var perGallery = _upgrade.Dataset.Galleries.Select(g =>
        {
            var before = new List<bool>();
            var after = new List<bool>();
            for (var q = 0; q < g.QueryCount; q++)
            {
                before.Add(TopLabel(g.QueryOldVectors.Span, g.OldVectors.Span, q, g.OldDimension, g.Labels) == g.QueryLabels[q]);
                after.Add(TopLabel(g.QueryNewVectors.Span, g.NewVectors.Span, q, g.NewDimension, g.Labels) == g.QueryLabels[q]);
            }

            return NegativeFlips.Retrieval(before, after);
        }).ToArray();

        var expected = perGallery.Average();
        Assert.True(expected > 0, "the synthetic upgrade has some negative flips to compare");
        foreach (var curve in _upgrade.Result.Curves) Assert.Equal(expected, curve.Points[^1].NegativeFlipRate1, 12);
        Assert.Equal(expected, _upgrade.Result.FullReindexNegativeFlipRate1, 12);
    }

    [Fact]
    public void OracleOrder_BeatsPredicted_WhichBeatsRandom()
    {
        var result = _upgrade.Result;
        const double tolerance = 0.002; // mAP points of slack for sampling noise between close curves
        double random = result.Random.MeanAveragePrecision.Area, predicted = result.Predicted.MeanAveragePrecision.Area, oracle = result.Oracle.MeanAveragePrecision.Area;
        Assert.True(oracle >= predicted - tolerance, $"oracle {oracle:F4} vs predicted {predicted:F4}");
        Assert.True(predicted >= random - tolerance, $"predicted {predicted:F4} vs random {random:F4}");
        Assert.True(oracle > random + 0.01, $"the ordering matters on this data: oracle {oracle:F4} vs random {random:F4}");
        Assert.True(result.PredictorGallerySpearman > 0.3, $"the predictor ranks unseen items ({result.PredictorKind}, Spearman {result.PredictorGallerySpearman:F3})");
    }

    [Fact]
    public void LazyPolicy_ReembedsTheCalibrationSampleAndEverythingBelowTheThreshold()
    {
        var result = _upgrade.Result;
        Assert.InRange(result.FractionBelowThreshold, 0.0, 1.0);
        Assert.True(result.Costs.LazyTotalPassesPerItem >= Math.Max(result.Costs.CalibrationPassesPerItem, result.Costs.LazyPassesPerItem));
        Assert.True(result.Costs.LazyTotalPassesPerItem <= result.Costs.CalibrationPassesPerItem + result.Costs.LazyPassesPerItem + 1e-12);
        Assert.Equal(result.Costs.LazyTotalPassesPerItem, result.Lazy.Beta);
    }

    /// <summary>
    /// A calibration sample as large as the gallery (two small galleries and the default sample of 800, as a short
    /// harness run has) leaves no item outside it: the gallery-wide rank correlation is undefined, not a crash.
    /// </summary>
    [Fact]
    public void Evaluate_WhenTheCalibrationSampleIsTheWholeGallery_ReportsNoGalleryCorrelation()
    {
        var whole = _upgrade.Options with { CalibrationSize = SyntheticUpgrade.Galleries * SyntheticUpgrade.Items };

        var result = UpgradeEvaluation.Evaluate(_upgrade.Dataset, whole);

        Assert.Equal(result.Items, result.CalibrationItems);
        Assert.True(double.IsNaN(result.PredictorGallerySpearman));
        Assert.Equal(1.0, result.Costs.LazyTotalPassesPerItem, 12);
    }

    [Fact]
    public void Evaluate_IsReproducible()
    {
        var again = UpgradeEvaluation.Evaluate(_upgrade.Dataset, _upgrade.Options);
        Assert.Equal(_upgrade.Result.Random.Points, again.Random.Points);
        Assert.Equal(_upgrade.Result.Predicted.Points, again.Predicted.Points);
    }

    /// <summary>
    /// When h(old) is exactly the new vector (the new model is a known linear function of the old one that separates
    /// classes better), every mixed gallery is the new one: flat curve at new/new, no regret, β* = 0.
    /// </summary>
    [Fact]
    public void ExactMap_GivesAFlatCurveAndNoRegret()
    {
        const int d = 16;
        var random = new Random(4);
        // Stretch the first four axes, where the class centres differ: the same images, better separated.
        var weights = new float[d * d];
        for (var i = 0; i < d; i++) weights[i * d + i] = i < 4 ? 3f : 0.5f;
        var map = EmbeddingMap.FromWeights(MapKind.Ridge, d, d, weights);
        var galleries = Enumerable.Range(0, 3).Select(g =>
        {
            var (labels, old) = Blobs(random, 60, d, 4);
            var (queryLabels, queryOld) = Blobs(random, 15, d, 4);
            float[] Mapped(float[] rows) => Enumerable.Range(0, rows.Length / d).SelectMany(i => map.Apply(rows.AsSpan(i * d, d))).ToArray();
            return new EvaluationGallery($"u{g}", labels.Select(l => $"{l}").ToArray(), labels, old, Mapped(old), queryLabels, queryOld, Mapped(queryOld), d, d);
        }).ToArray();

        var evaluation = new BackfillEvaluation(new EvaluationDataset("old", "new", "exact", galleries), map);
        var curve = evaluation.Curve(BackfillOrder.Random, galleries.Select((g, k) => (IReadOnlyList<int>)BackfillOrdering.Random(g.Count, k)).ToArray());

        var table = evaluation.CrossModel;
        Assert.True(table.NewNew.MeanAveragePrecision > table.OldOld.MeanAveragePrecision, "the stretched space separates the classes better");
        Assert.All(curve.Points, p => Assert.Equal(table.NewNew.MeanAveragePrecision, p.MeanAveragePrecision, 6));
        Assert.Equal(0, curve.MeanAveragePrecision.Regret);
        Assert.Equal(0, curve.Cmc1.Regret);
        Assert.Equal(0, curve.MeanAveragePrecision.BetaStar);
        Assert.Equal(1, curve.MeanAveragePrecision.AreaFraction, 6);
        Assert.All(evaluation.Agreements().SelectMany(a => a), a => Assert.Equal(1, a, 5));
    }

    private static int TopLabel(ReadOnlySpan<float> queries, ReadOnlySpan<float> items, int q, int d, IReadOnlyList<int> labels)
    {
        var query = queries.Slice(q * d, d);
        var best = 0;
        var bestScore = float.NegativeInfinity;
        for (var i = 0; i < labels.Count; i++)
        {
            var score = VectorMath.Dot(query, items.Slice(i * d, d));
            if (score > bestScore) (best, bestScore) = (i, score);
        }

        return labels[best];
    }

    private static (int[] Labels, float[] Rows) Blobs(Random random, int count, int d, int classes)
    {
        var labels = new int[count];
        var rows = new float[count * d];
        for (var i = 0; i < count; i++)
        {
            labels[i] = random.Next(classes);
            for (var j = 0; j < d; j++) rows[i * d + j] = (float)((j == labels[i] ? 1.0 : 0.0) + 0.6 * Gaussian(random));
        }

        return (labels, rows);
    }

    private static double Gaussian(Random random) => Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());

    /// <summary>
    /// Eight classes in a 12-d latent. Image x of class c has latent μ_c + 0.6 e_x. The old model (24-d) sees
    /// A_old (μ_c + 0.6 e_x) for the six classes it was trained on, and only A_old (0.25 μ_c + 0.6 e_x + 0.8 f_x) for the
    /// other two (f_x noise of its own); the new model (32-d) sees A_new (μ_c + 0.5 e_x + 0.4 g_x) for every class, g_x noise of its own.
    /// </summary>
    public sealed class SyntheticUpgrade
    {
        public const int Galleries = 6, Items = 120, Queries = 25, Calibration = 240;
        private const int Latent = 12, OldDimension = 24, NewDimension = 32, Classes = 8, Unseen = 2;

        public SyntheticUpgrade()
        {
            var random = new Random(2024);
            var centres = Matrix(random, Classes, Latent, 1.0);
            var oldProjection = Matrix(random, Latent, OldDimension, 1.0);
            var newProjection = Matrix(random, Latent, NewDimension, 1.0);
            var galleries = new List<EvaluationGallery>();
            for (var g = 0; g < Galleries; g++)
            {
                var (labels, old, @new) = Images(random, Items, centres, oldProjection, newProjection);
                var (queryLabels, queryOld, queryNew) = Images(random, Queries, centres, oldProjection, newProjection);
                galleries.Add(new EvaluationGallery($"user{g}", labels.Select((_, i) => $"u{g}-{i}").ToArray(), labels, old, @new, queryLabels, queryOld, queryNew, OldDimension, NewDimension));
            }

            Dataset = new EvaluationDataset("old", "new", "synthetic blobs", galleries);
            // Unguarded: these tests check the curves' maths against the cross-model table; RegressionGuardTests cover the guard.
            Options = new UpgradeEvaluationOptions { CalibrationSize = Calibration, Seed = 1, GuardDepth = 0 };
            Result = UpgradeEvaluation.Evaluate(Dataset, Options);

            // The same calibration and fit as the evaluation's, for the independent check of M(0).
            var calibration = UpgradeEvaluation.DrawCalibration(Dataset.Galleries, Calibration, Options.Seed);
            var calibrationOld = calibration.SelectMany((items, k) => items.SelectMany(i => Dataset.Galleries[k].OldVectors.Slice(i * OldDimension, OldDimension).ToArray())).ToArray();
            var calibrationNew = calibration.SelectMany((items, k) => items.SelectMany(i => Dataset.Galleries[k].NewVectors.Slice(i * NewDimension, NewDimension).ToArray())).ToArray();
            Map = MapFitter.Fit(calibrationOld, calibrationNew, Calibration, OldDimension, NewDimension, Options.MapHeldOutFraction, null, Options.Seed).Best;
        }

        public EvaluationDataset Dataset { get; }

        public UpgradeEvaluationOptions Options { get; }

        public UpgradeResult Result { get; }

        public EmbeddingMap Map { get; }

        private static (int[] Labels, float[] Old, float[] New) Images(Random random, int count, double[,] centres, double[,] oldProjection, double[,] newProjection)
        {
            var labels = new int[count];
            var old = new float[count * OldDimension];
            var @new = new float[count * NewDimension];
            var oldLatent = new double[Latent];
            var newLatent = new double[Latent];
            for (var i = 0; i < count; i++)
            {
                var c = labels[i] = random.Next(Classes);
                var seen = c >= Unseen;
                for (var k = 0; k < Latent; k++)
                {
                    var e = Gaussian(random);
                    oldLatent[k] = (seen ? centres[c, k] : 0.25 * centres[c, k]) + 0.6 * e + (seen ? 0 : 0.8 * Gaussian(random));
                    newLatent[k] = centres[c, k] + 0.5 * e + 0.4 * Gaussian(random);
                }

                Project(oldLatent, oldProjection, old.AsSpan(i * OldDimension, OldDimension));
                Project(newLatent, newProjection, @new.AsSpan(i * NewDimension, NewDimension));
            }

            return (labels, old, @new);
        }

        private static void Project(double[] latent, double[,] projection, Span<float> output)
        {
            for (var j = 0; j < output.Length; j++)
            {
                var sum = 0.0;
                for (var k = 0; k < latent.Length; k++) sum += latent[k] * projection[k, j];
                output[j] = (float)sum;
            }
        }

        private static double[,] Matrix(Random random, int rows, int columns, double scale)
        {
            var m = new double[rows, columns];
            for (var i = 0; i < rows; i++)
            {
                for (var j = 0; j < columns; j++) m[i, j] = scale * Gaussian(random);
            }

            return m;
        }
    }
}
