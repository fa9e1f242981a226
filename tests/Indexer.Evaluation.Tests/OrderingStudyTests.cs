using Indexer.Evaluation;
using Indexer.Search.Maps;
using Indexer.Search.Metrics;

namespace Indexer.Evaluation.Tests;

public sealed class OrderingStudyTests
{
    [Fact]
    public void Run_ReproducesTheReportsOrders_AndRanksTheLabelReferenceAboveEveryOther()
    {
        var dataset = SyntheticZoo.Create(new SyntheticOptions { Galleries = 4, ItemsPerGallery = 100, QueriesPerGallery = 20, Seed = 3 })[0];
        var options = new UpgradeEvaluationOptions { CalibrationSize = 120, Seed = 3 };
        var report = UpgradeEvaluation.Evaluate(dataset, options);

        var rows = OrderingStudy.Run(dataset, options, neighbours: 10);

        var kernel = UpgradeEvaluation.Calibrate(dataset, options).Map.Kind == MapKind.Kernel;
        Assert.Equal(kernel ? 6 : 5, rows.Count);
        AssertSameCurve(report.Predicted, rows.Single(r => r.Order.StartsWith("agreement, predicted (the system's order)", StringComparison.Ordinal)).Curve);
        AssertSameCurve(report.Oracle, rows.Single(r => r.Order.StartsWith("agreement, true", StringComparison.Ordinal)).Curve);
        Assert.Equal(kernel ? 3 : 2, rows.Count(r => r.Needs == OrderingStudy.Needs.OldVectors));
        if (rows.SingleOrDefault(r => r.Order.Contains("fitted again", StringComparison.Ordinal)) is { } refined)
        {
            // Before the first refit the map is the calibration's; at the end every item holds its new vector either way.
            Assert.Equal(report.Predicted.Points[0].MeanAveragePrecision, refined.Curve.Points[0].MeanAveragePrecision, 12);
            Assert.Equal(report.Predicted.Points[^1].MeanAveragePrecision, refined.Curve.Points[^1].MeanAveragePrecision, 12);
        }

        // Ordering by each item's own gain on the very queries scored front-loads more than any order that cannot see them.
        var reference = rows.Single(r => r.Needs == OrderingStudy.Needs.QueriesAndLabels).Summary.Area;
        Assert.All(rows.Where(r => r.Needs != OrderingStudy.Needs.QueriesAndLabels), r => Assert.True(r.Summary.Area < reference, $"{r.Order}: {r.Summary.Area} vs {reference}"));
        Assert.All(rows, r => Assert.Equal(report.Predicted.Points[^1].MeanAveragePrecision, r.Curve.Points[^1].MeanAveragePrecision, 12));
    }

    [Fact]
    public void RefinedCurve_FitsTheKernelMapAgainAsReEmbeddedItemsOutnumberItsAnchors_UpToItsCap()
    {
        var dataset = SyntheticZoo.Create(new SyntheticOptions { Galleries = 4, ItemsPerGallery = 100, QueriesPerGallery = 20, Seed = 3 })[0];
        var options = new UpgradeEvaluationOptions { CalibrationSize = 40, Seed = 3 };
        var calibration = UpgradeEvaluation.Calibrate(dataset, options);
        var kernel = EmbeddingMap.Kernel(LocalCorrection.FitKernelRidge(
            calibration.OldVectors.ToArray(), calibration.NewVectors.Span, calibration.Count, dataset.OldDimension, dataset.NewDimension, sharpness: 2, penalty: 0.1));
        calibration = calibration with { Map = kernel };
        var evaluation = new BackfillEvaluation(dataset, kernel);
        var order = calibration.Predicted.Select(c => (IReadOnlyList<int>)BackfillOrdering.LeastCompatibleFirst(c)).ToArray();
        var unrefined = evaluation.Curve(BackfillOrder.Predicted, order);

        var (curve, fits) = OrderingStudy.RefinedCurve(dataset, calibration, evaluation, order, options.Epsilon);

        // The first fit comes once as many items are re-embedded as the map has anchors (40 of 400: β = 0.1); each fit
        // adds the re-embedded items that were not anchors already, until 4 x 40 anchors.
        Assert.Equal(0.1, fits[0].Beta, 12);
        Assert.True(fits.Count >= 2, $"{fits.Count} fits");
        Assert.All(fits.Zip(fits.Skip(1)), p => Assert.True(p.Second.Beta > p.First.Beta && p.Second.Anchors > p.First.Anchors));
        Assert.True(fits[^1].Anchors >= OrderingStudy.RefinedAnchorsPerCalibrationItem * 40 && fits[^2].Anchors < OrderingStudy.RefinedAnchorsPerCalibrationItem * 40);
        for (var i = 0; i < curve.Points.Count; i++)
        {
            // Before the first fit the calibration's map serves; at β = 1 no item is mapped.
            if (curve.Points[i].Beta < fits[0].Beta || i == curve.Points.Count - 1)
            {
                Assert.Equal(unrefined.Points[i].MeanAveragePrecision, curve.Points[i].MeanAveragePrecision, 12);
            }
        }

        Assert.Contains(curve.Points, p => p.Beta >= fits[0].Beta && p.Beta < 1
            && p.MeanAveragePrecision != unrefined.Points.Single(u => u.Beta == p.Beta).MeanAveragePrecision);
    }

    [Fact]
    public void Run_WithoutAMap_IsRefused()
    {
        var dataset = SyntheticZoo.Create(new SyntheticOptions { Galleries = 2, ItemsPerGallery = 40, QueriesPerGallery = 5, Seed = 1 })[0];

        Assert.Throws<ArgumentException>(() => OrderingStudy.Run(dataset, new UpgradeEvaluationOptions { CalibrationSize = 40, UseMap = false }));
    }

    private static void AssertSameCurve(BackfillCurve expected, BackfillCurve actual)
    {
        Assert.Equal(expected.Points.Count, actual.Points.Count);
        for (var i = 0; i < expected.Points.Count; i++) Assert.Equal(expected.Points[i].MeanAveragePrecision, actual.Points[i].MeanAveragePrecision, 12);
    }
}
