using Indexer.Evaluation;
using Indexer.Search.Metrics;

namespace Indexer.Evaluation.Tests;

public sealed class FindabilityStudyTests
{
    [Fact]
    public void AnUpgradeThatChangesNothing_SelectsNothing_ByAnyMeasure()
    {
        var synthetic = SyntheticZoo.Create(new SyntheticOptions { Galleries = 3, ItemsPerGallery = 80, QueriesPerGallery = 10, Seed = 2 })[0];
        var unchanged = new EvaluationDataset(synthetic.OldModel, "same", "old vectors as new", synthetic.Galleries.Select(g => new EvaluationGallery(
            g.Name, g.ItemIds, g.Labels, g.OldVectors.Span, g.OldVectors.Span, g.QueryLabels, g.QueryOldVectors.Span, g.QueryOldVectors.Span, g.OldDimension, g.OldDimension)).ToArray());

        var rows = FindabilityStudy.Run(unchanged, new UpgradeEvaluationOptions { CalibrationSize = 60, Seed = 2 });

        Assert.Equal(2, rows.Count);
        var direct = rows.Single(r => r.Route.StartsWith("old vectors directly", StringComparison.Ordinal));
        Assert.Equal(1, direct.Agreement.Mean, 6);
        Assert.Equal(1, direct.Retention.Mean, 12);
        Assert.Equal(1, direct.ScoreCorrelation.Mean, 6);
        Assert.All(rows, r => Assert.Equal(0, r.Retention.Below));
        Assert.Equal(240, direct.Items);
        Assert.Throws<ArgumentOutOfRangeException>(() => FindabilityStudy.Run(unchanged, new UpgradeEvaluationOptions { CalibrationSize = 60 }, depth: 0));
    }

    [Fact]
    public void AnIndependentUpgrade_ServedDirectly_IsLost_AndTheMapFindsItAgain()
    {
        var independent = SyntheticZoo.Create(new SyntheticOptions { Galleries = 3, ItemsPerGallery = 80, QueriesPerGallery = 10, Seed = 2 })
            .Single(d => d.NewModel == SyntheticZoo.Independent);

        var rows = FindabilityStudy.Run(independent, new UpgradeEvaluationOptions { CalibrationSize = 120, Seed = 2 });

        var mapped = rows.Single(r => r.Route.StartsWith("through the map", StringComparison.Ordinal));
        var direct = rows.Single(r => r.Route.StartsWith("old vectors directly", StringComparison.Ordinal));
        Assert.True(double.IsNaN(direct.PredictedBelow));
        Assert.InRange(mapped.PredictedBelow, 0, 1);
        // Unrelated spaces: compared directly, nearly every item falls below τ by every measure and is seldom found.
        Assert.True(direct.Agreement.Below > 0.9, $"{direct.Agreement.Below}");
        Assert.True(direct.Retention.Mean < mapped.Retention.Mean, $"{direct.Retention.Mean} vs {mapped.Retention.Mean}");
        Assert.True(direct.ScoreCorrelation.Mean < mapped.ScoreCorrelation.Mean, $"{direct.ScoreCorrelation.Mean} vs {mapped.ScoreCorrelation.Mean}");
    }

    [Fact]
    public void TheCommand_WithADepthBelowOne_IsBadInput_BeforeTheZooIsRead()
    {
        var missing = Path.Combine(Path.GetTempPath(), "no-zoo-" + Guid.NewGuid().ToString("N"));

        Assert.Equal(EvaluationApp.BadInput, EvaluationApp.Build().Parse(["findability", "--zoo", missing, "--depth", "0"]).Invoke());
        Assert.False(Directory.Exists(missing));
    }
}
