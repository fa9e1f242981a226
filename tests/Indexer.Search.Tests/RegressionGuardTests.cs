using Indexer.Search.Maps;
using Indexer.Search.Metrics;

namespace Indexer.Search.Tests;

public sealed class RegressionGuardTests
{
    [Fact]
    public void TheHead_IsReorderedByTheMeanOfBothScores_AndTheRestIsLeftAlone()
    {
        var guard = new RegressionGuard(ScoreCalibration.Identity, depth: 3);
        // (id, new score, old score): b and c swap once the old model is heard; d is below the head.
        var ranked = new List<(string Id, float New, float? Old)> { ("a", 0.9f, 0.9f), ("b", 0.8f, 0.1f), ("c", 0.7f, 0.6f), ("d", 0.6f, 1.0f) };

        var reranked = guard.Rerank(ranked, r => r.New, r => r.Old);

        Assert.Equal(3, reranked);
        Assert.Equal(["a", "c", "b", "d"], ranked.Select(r => r.Id));
    }

    [Fact]
    public void EqualGuardedScores_KeepTheirOrder_AndAnItemWithoutAnOldVector_KeepsItsNewScore()
    {
        var guard = new RegressionGuard(ScoreCalibration.Identity, depth: 5);
        var ranked = new List<(string Id, float New, float? Old)> { ("a", 0.8f, 0.4f), ("b", 0.6f, 0.6f), ("new-only", 0.59f, null) };

        guard.Rerank(ranked, r => r.New, r => r.Old);

        Assert.Equal(["a", "b", "new-only"], ranked.Select(r => r.Id)); // a and b both 0.6: as ranked; 0.59 stays below
        Assert.Equal(0.59f, guard.Score(0.59f, null));
    }

    [Fact]
    public void OldScores_AreCarriedIntoTheNewScale_BeforeTheMean()
    {
        var guard = new RegressionGuard(ScoreCalibration.FromKnotValues([0, 1], [0.5f, 1.5f]));

        Assert.Equal(0.5f * (0.4f + 0.7f), guard.Score(0.4f, 0.2f), 6);
        Assert.Equal(RegressionGuard.DefaultDepth, guard.Depth);
    }

    [Fact]
    public void ADepthBelowTwo_IsRefused()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new RegressionGuard(ScoreCalibration.Identity, depth: 1));
        Assert.Throws<ArgumentNullException>(() => new RegressionGuard(null!));
    }

    /// <summary>
    /// One query of label 1 over items x (label 0) and y (label 1). The old model finds y first; served as stored, the new
    /// query finds x first (a negative flip); the old model's score puts y back on top. A full re-index finds y too.
    /// </summary>
    [Fact]
    public void InAMixedGallery_TheGuardUndoesAFlip_AndTheFullReindexIsNeverGuarded()
    {
        var dataset = new EvaluationDataset("old", "new", "guard", [
            new EvaluationGallery("u", ["x", "y"], [0, 1],
                oldVectors: [0, 1, 1, 0], newVectors: [1, 0, 0, 1],
                queryLabels: [1], queryOldVectors: [1, 0], queryNewVectors: [0.6f, 0.8f],
                oldDimension: 2, newDimension: 2),
        ]);
        IReadOnlyList<IReadOnlyList<bool>> asStored = [new[] { false, false }];

        var plain = new BackfillEvaluation(dataset);
        var guarded = new BackfillEvaluation(dataset, guard: new RegressionGuard(ScoreCalibration.Identity, depth: 2));

        // Unguarded: x (0.8) before y (0.6). Guarded: x (0.8 + 0)/2 = 0.4, y (0.6 + 1)/2 = 0.8.
        Assert.Equal(1.0, plain.Measure(asStored).NegativeFlipRate1);
        Assert.Equal(0.5, plain.Measure(asStored).MeanAveragePrecision, 12);
        Assert.Equal(0.0, guarded.Measure(asStored).NegativeFlipRate1);
        Assert.Equal(1.0, guarded.Measure(asStored).MeanAveragePrecision, 12);
        Assert.Equal(1.0, guarded.Measure(asStored).Cmc1);
        Assert.Equal(0.0, guarded.FullReindex.NegativeFlipRate1);
        Assert.Equal(plain.CrossModel.NewOld.MeanAveragePrecision, guarded.CrossModel.NewOld.MeanAveragePrecision); // the table describes the models
    }
}
