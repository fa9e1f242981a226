using Indexer.Evaluation;
using Indexer.Search.Maps;
using Indexer.Search.Metrics;

namespace Indexer.Evaluation.Tests;

public sealed class MapRefinementTests
{
    [Theory]
    [InlineData(799, 800, 800, false)] // fewer re-embedded than anchors
    [InlineData(800, 800, 800, true)]
    [InlineData(5000, 3199, 800, true)]
    [InlineData(5000, 3200, 800, false)] // at the cap of 4 per calibration item
    [InlineData(10, 0, 800, false)]
    public void IsDue_WhenTheReEmbeddedItemsReachTheAnchors_BelowTheCap(long reEmbedded, int anchors, int calibration, bool due) =>
        Assert.Equal(due, MapRefitPolicy.IsDue(reEmbedded, anchors, calibration));

    [Fact]
    public void Curve_FitsTheKernelMapAgainAsReEmbeddedItemsReachItsAnchors_UpToItsCap()
    {
        var dataset = SyntheticZoo.Create(new SyntheticOptions { Galleries = 4, ItemsPerGallery = 100, QueriesPerGallery = 20, Seed = 3 })[0];
        var options = new UpgradeEvaluationOptions { CalibrationSize = 40, Seed = 3 };
        var calibration = UpgradeEvaluation.Calibrate(dataset, options);
        var kernel = EmbeddingMap.Kernel(LocalCorrection.FitKernelRidge(
            calibration.OldVectors.ToArray(), calibration.NewVectors.Span, calibration.Count, dataset.OldDimension, dataset.NewDimension, sharpness: 2, penalty: 0.1));
        var evaluation = new BackfillEvaluation(dataset, kernel);
        var order = calibration.Predicted.Select(c => (IReadOnlyList<int>)BackfillOrdering.LeastCompatibleFirst(c)).ToArray();
        var unrefined = evaluation.Curve(BackfillOrder.Predicted, order);

        var (curve, fits) = MapRefinement.Curve(dataset, kernel, calibration.Count, evaluation, BackfillOrder.Predicted, order, options.Epsilon);

        // The first fit comes once as many items are re-embedded as the map has anchors (40 of 400: β = 0.1); each fit
        // adds the re-embedded items that were not anchors already (the calibration items among them are), until 4 x 40.
        Assert.Equal(0.1, fits[0].Beta, 12);
        Assert.True(fits.Count >= 2, $"{fits.Count} fits");
        Assert.All(fits.Zip(fits.Skip(1)), p => Assert.True(p.Second.Beta > p.First.Beta && p.Second.Anchors > p.First.Anchors));
        Assert.Equal(MapRefitPolicy.MaxAnchorsPerCalibrationItem * 40, fits[^1].Anchors); // the last fit fills up to the cap
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
    public void Curve_RefusesAMapThatDoesNotCarryItsPairs()
    {
        var dataset = SyntheticZoo.Create(new SyntheticOptions { Galleries = 2, ItemsPerGallery = 40, QueriesPerGallery = 5, Seed = 1 })[0];
        var identity = EmbeddingMap.Identity(dataset.OldDimension);
        var evaluation = new BackfillEvaluation(dataset, identity);
        var order = dataset.Galleries.Select(g => (IReadOnlyList<int>)Enumerable.Range(0, g.Count).ToArray()).ToArray();

        Assert.Throws<ArgumentException>(() => MapRefinement.Curve(dataset, identity, 40, evaluation, BackfillOrder.Random, order));
    }
}
