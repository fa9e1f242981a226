using Indexer.Evaluation;
using Indexer.Search.Clustering;
using Indexer.Search.Metrics;

namespace Indexer.Evaluation.Tests;

public sealed class ClusterMarginSweepTests
{
    private const int D = 8;

    /// <summary>Four well-separated blobs per gallery; the new model is the old one plus <paramref name="noise"/>.</summary>
    private static EvaluationDataset Dataset(double noise, int galleries = 6, int perBlob = 25)
    {
        var random = new Random(3);
        var list = new List<EvaluationGallery>();
        for (var g = 0; g < galleries; g++)
        {
            var n = 4 * perBlob;
            var old = new float[n * D];
            var @new = new float[n * D];
            var labels = new int[n];
            for (var i = 0; i < n; i++)
            {
                labels[i] = i % 4;
                for (var j = 0; j < D; j++)
                {
                    var x = (j == labels[i] ? 1.0 : 0.0) + 0.1 * (random.NextDouble() - 0.5);
                    old[i * D + j] = (float)x;
                    @new[i * D + j] = (float)(x + noise * (random.NextDouble() - 0.5));
                }
            }

            var query = new float[D];
            list.Add(new EvaluationGallery($"g{g}", Enumerable.Range(0, n).Select(i => $"g{g}-{i}").ToArray(), labels, old, @new, [0], query, query, D, D));
        }

        return new EvaluationDataset("old", "new", "blobs", list);
    }

    [Fact]
    public void AnUpgradeThatChangesNothing_FlipsNothing_AtAnyMargin()
    {
        var outcomes = ClusterMarginSweep.Run(Dataset(noise: 0), galleries: 4, calibrationGalleries: 2, oldJoin: 0.8f, newJoin: 0.8f, [0.05f, 0.5f]);

        Assert.Equal(4, outcomes.Count); // two margins x two policies
        Assert.All(outcomes, o => Assert.Equal(400, o.Named));
        Assert.All(outcomes, o => Assert.Equal(0, o.Flipped));
        Assert.All(outcomes, o => Assert.Equal(0, o.Suggested));
        Assert.All(outcomes, o => Assert.Equal(1.0, o.PurityAfter, 6));
    }

    [Fact]
    public void WiderMargins_NeverMoveMoreNamedItems()
    {
        var outcomes = ClusterMarginSweep.Run(Dataset(noise: 1.6), galleries: 4, calibrationGalleries: 2, oldJoin: 0.8f, newJoin: 0.5f, [0.0f, 0.1f, 0.3f, 1.0f],
            [NamedMemberPolicy.Move]);

        Assert.True(outcomes[0].Flipped > 0, "the noisy upgrade must move some named items at margin 0 for the test to say anything");
        for (var i = 1; i < outcomes.Count; i++) Assert.True(outcomes[i].Flipped <= outcomes[i - 1].Flipped, $"margin {outcomes[i].Margin}: {outcomes[i].Flipped} > {outcomes[i - 1].Flipped}");
        Assert.Equal(0, outcomes[^1].Flipped);
    }

    [Fact]
    public void UnderSuggest_NoNamedItemFlips_AndTheEvidenceBecomesSuggestions()
    {
        var outcomes = ClusterMarginSweep.Run(Dataset(noise: 1.6), galleries: 4, calibrationGalleries: 2, oldJoin: 0.8f, newJoin: 0.5f, [0.0f, 0.1f]);

        foreach (var margin in new[] { 0.0f, 0.1f })
        {
            var move = outcomes.Single(o => o.Margin == margin && o.Policy == NamedMemberPolicy.Move);
            var suggest = outcomes.Single(o => o.Margin == margin && o.Policy == NamedMemberPolicy.Suggest);
            Assert.True(move.Flipped > 0, $"margin {margin}: the noisy upgrade must move named items when moves are allowed");
            Assert.Equal(0, suggest.Flipped);
            Assert.True(suggest.Suggested > 0, $"margin {margin}: the same evidence must become suggestions");
            Assert.InRange(suggest.Corrective + suggest.Harmful, 0, suggest.Suggested);
        }
    }

    [Fact]
    public void MoreGalleriesThanTheDatasetHas_IsRefused()
    {
        Assert.Throws<ArgumentException>(() => ClusterMarginSweep.Run(Dataset(noise: 0), galleries: 5, calibrationGalleries: 2, 0.8f, 0.8f, [0.1f]));
    }
}
