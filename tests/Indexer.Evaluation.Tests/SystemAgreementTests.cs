using System.Diagnostics;
using Indexer.Embedding;
using Indexer.Search.Metrics;
using Indexer.Training;
using Xunit.Abstractions;

namespace Indexer.Evaluation.Tests;

/// <summary>
/// The offline mode and the system mode measure the same thing: a tiny zoo trained here, two users of 100 images and 20
/// queries each driven through a real silo (Azurite, the real backbone), paused at β = 0, about 0.5 and 1, against the
/// offline computation on the zoo heads' vectors with the system's map and re-embedded set; and the users' named clusters
/// and corrections measured through the same upgrade.
/// </summary>
[Trait("Category", "EndToEnd")]
public sealed class SystemAgreementTests(ITestOutputHelper output) : IDisposable
{
    private const int BasePort = 5580;

    private readonly string _directory = Path.Combine(Path.GetTempPath(), $"eval-test-{Guid.NewGuid():N}");

    public void Dispose()
    {
        if (Directory.Exists(_directory)) Directory.Delete(_directory, recursive: true);
    }

    [Fact]
    public async Task SystemMode_AtBetaZeroHalfAndOne_AgreesWithTheOfflineComputationOnTheSameVectors()
    {
        var clock = Stopwatch.StartNew();
        var zoo = Path.Combine(_directory, "zoo");
        ModelZoo.Run(new ZooOptions
        {
            OutputDirectory = zoo,
            TrainPerClass = 20,
            TestPerClass = 4,
            Epochs = 6,
            BatchSize = 32,
            OnnxCheckImages = 0,
            PositiveCongruent = false,
        }, TextWriter.Null);
        output.WriteLine($"tiny zoo: {clock.Elapsed.TotalSeconds:F1} s");

        var protocol = new UserProtocol { Galleries = 2, GallerySize = 100, Queries = 20, Seed = 3 };
        var images = FashionMnist.Load(FashionMnist.DefaultDirectory, FashionMnistSplit.Test);
        var users = protocol.Deal(images.Count);
        var used = users.SelectMany(u => u.Items.Concat(u.Queries)).ToArray();
        var backbone = ResNet18Model.Import(ResNet18Model.DefaultModelPath, ResNet18Model.DefaultPreprocessPath, ImagePool.BackboneVersion);
        var pool = new ImagePool(images, BackboneFeatureCache.Embed("eval-test", images, used, backbone));
        output.WriteLine($"backbone features of {used.Length} images: {clock.Elapsed.TotalSeconds:F1} s");

        var log = new StringWriter();
        SystemReport report;
        try
        {
            report = await SystemEvaluation.RunAsync(
                zoo, ModelZoo.V1, [ModelZoo.V2Independent], pool, protocol,
                // No labeled verification: v2-independent claims nothing, and it would embed a gallery twice more.
                new SystemOptions
                {
                    BasePort = BasePort,
                    Points = [0, 0.5, 1],
                    MaxItemsPerSecond = 8,
                    SampleSize = 80,
                    VersionPrefix = "t-",
                    VerifyOnLabeledGallery = false,

                    // The tiny zoo's cosines are lower than ResNet18's, whose join threshold is the system's default.
                    ClusterJoinThresholds = new Dictionary<string, double> { [ModelZoo.V1] = 0.5, [ModelZoo.V2Independent] = 0.5 },
                },
                new UpgradeEvaluationOptions(), "test", log);
        }
        finally
        {
            output.WriteLine(log.ToString());
        }

        output.WriteLine($"whole test: {clock.Elapsed.TotalSeconds:F1} s");
        var upgrade = Assert.Single(report.Upgrades);
        Assert.Equal("Mapped", upgrade.Route); // an independent version: old items reach it through the fitted map

        // The tiny zoo's map is a kernel map, which the backfill fits again with the items it re-embeds: the pause lands
        // after a fit, so the system's answers there agree with the offline computation through the map fitted again.
        Assert.Equal("Kernel", upgrade.Calibration.MapKind);
        Assert.True(upgrade.Calibration.MapRefits >= 1, "the backfill never fitted the map again");
        Assert.Equal(80, upgrade.Points[0].MapAnchors);
        Assert.True(upgrade.Points[1].MapAnchors > 80, $"the pause was measured through a map of {upgrade.Points[1].MapAnchors} anchors");
        Assert.True(upgrade.RollbackRestoredAnswers, "after the rollback every ranking should be what it was");
        Assert.True(upgrade.MaxVectorDifference < 1e-4, $"system and head vectors differ by {upgrade.MaxVectorDifference}");
        Assert.Equal(3, upgrade.Points.Count);
        Assert.Equal(0, upgrade.Points[0].Beta);
        Assert.InRange(upgrade.Points[1].Beta, 0.1, 0.9); // where the pause lands depends on the credit already granted
        Assert.Equal(1, upgrade.Points[2].Beta);
        foreach (var point in upgrade.Points)
        {
            output.WriteLine($"β {point.Beta:F3}: system mAP {point.System.MeanAveragePrecision:F5} top-1 {point.System.Cmc1:F4} NFR@1 {point.System.NegativeFlipRate1:F4}; " +
                $"offline (heads) mAP {point.OfflineHeads.MeanAveragePrecision:F5}; largest difference {point.MaxDifferenceHeads:G3} (stored vectors: {point.MaxDifferenceStored:G3})");
            Assert.True(point.MaxDifferenceHeads <= 1e-3, $"β = {point.Beta}: system and offline (head vectors) differ by {point.MaxDifferenceHeads}");
            Assert.True(point.MaxDifferenceStored <= 1e-6, $"β = {point.Beta}: system and offline (stored vectors) differ by {point.MaxDifferenceStored}");
            Assert.True(point.PredictedPrefix, $"β = {point.Beta}: the re-embedded items are not the start of the predicted order");
        }

        // Every search of the rollout was ordered by the regression guard, as were the recomputations above. It only
        // re-orders the first results, so at β = 1 the first five are new/new's: CMC@5 is the cross-model table's, on the
        // offline mode's own dataset too.
        Assert.Equal(Search.RegressionGuard.DefaultDepth, upgrade.GuardDepth);
        Assert.Equal(upgrade.Offline.CrossModel.NewNew.CmcAt(5), upgrade.Points[2].System.Cmc5, 3);
        Assert.Equal(upgrade.Offline.CrossModel.OldOld.MeanAveragePrecision, report.OldOld.MeanAveragePrecision, 3);
        Assert.Equal(upgrade.LazySelected, upgrade.Scored * upgrade.LazyFraction, 6);

        // The clusters: named and corrected before the rollout, measured at activation, the pause, the end and after the rollback.
        var clusters = upgrade.Clusters;
        Assert.NotNull(clusters);
        Assert.Equal(
            [ClusterStage.Clustered, ClusterStage.BeforeRollout, ClusterStage.Activated, ClusterStage.Paused, ClusterStage.Backfilled, ClusterStage.RolledBack],
            clusters.Points.Select(p => p.Stage));
        foreach (var point in clusters.Points)
        {
            output.WriteLine($"clusters {point.Stage} ({point.ModelVersions}): {point.Flips.Flips}/{point.Flips.NamedItems} flipped, corrections {point.CorrectionsKept}/{point.Corrections}, " +
                $"purity {point.Quality.Purity:F3} (chance {point.Quality.ChancePurity:F3}), ARI {point.Quality.AdjustedRandIndex:F3}, {point.Quality.ShownClusters} shown clusters");
        }

        Assert.True(clusters.NamedClusters > 0, "the user named no cluster");
        Assert.True(clusters.Points[1].Flips.NamedItems > 0);
        Assert.NotEmpty(clusters.Corrections);
        Assert.True(clusters.CorrectionsAlwaysKept, "a user correction was undone by the upgrade");
        Assert.Equal(0, clusters.Points[2].Flips.Flips); // activation moves the clusters into the new space without changing membership
        Assert.Equal("t-v2-independent", clusters.Points[4].ModelVersions);
        Assert.Equal("t-v1", clusters.Points[5].ModelVersions);
        Assert.Equal(0, clusters.Points[5].Flips.Flips); // the rollback restores the clusters as they were
    }
}
