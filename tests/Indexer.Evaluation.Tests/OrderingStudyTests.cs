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
        Assert.Equal(kernel ? 7 : 6, rows.Count);
        AssertSameCurve(report.Predicted, rows.Single(r => r.Order.StartsWith("agreement, predicted (the system's order)", StringComparison.Ordinal)).Curve);
        AssertSameCurve(report.Oracle, rows.Single(r => r.Order.StartsWith("agreement, true", StringComparison.Ordinal)).Curve);
        Assert.Equal(kernel ? 4 : 3, rows.Count(r => r.Needs == OrderingStudy.Needs.OldVectors));
        if (rows.SingleOrDefault(r => r.Order.Contains("no refits", StringComparison.Ordinal)) is { } unrefined)
        {
            // Before the first refit the map is the calibration's; at the end every item holds its new vector either way.
            Assert.Equal(report.Predicted.Points[0].MeanAveragePrecision, unrefined.Curve.Points[0].MeanAveragePrecision, 12);
            Assert.Equal(report.Predicted.Points[^1].MeanAveragePrecision, unrefined.Curve.Points[^1].MeanAveragePrecision, 12);
        }

        // Ordering by each item's own gain on the very queries scored front-loads more than any order that cannot see them.
        var reference = rows.Single(r => r.Needs == OrderingStudy.Needs.QueriesAndLabels).Summary.Area;
        Assert.All(rows.Where(r => r.Needs != OrderingStudy.Needs.QueriesAndLabels), r => Assert.True(r.Summary.Area < reference, $"{r.Order}: {r.Summary.Area} vs {reference}"));
        var unguarded = rows.Single(r => r.Order.Contains("no regression guard", StringComparison.Ordinal));
        Assert.All(rows.Where(r => r != unguarded), r => Assert.Equal(report.Predicted.Points[^1].MeanAveragePrecision, r.Curve.Points[^1].MeanAveragePrecision, 12));

        // Without the guard the backfill ends at the full re-index itself; its first point is the map alone, unguarded.
        Assert.Equal(report.CrossModel.NewNew.MeanAveragePrecision, unguarded.Curve.Points[^1].MeanAveragePrecision, 12);
        Assert.Equal(report.FullReindexNegativeFlipRate1, unguarded.Curve.Points[^1].NegativeFlipRate1, 12);
        Assert.Equal(report.CrossModel.NewMapped!.MeanAveragePrecision, unguarded.Curve.Points[0].MeanAveragePrecision, 12);
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
