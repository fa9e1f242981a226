using Indexer.Search.Metrics;

namespace Indexer.Evaluation.Tests;

/// <summary>The cluster part of the system mode without a silo: naming, corrections, flips, quality, totals and the join-threshold sweep.</summary>
public sealed class ClusterEvaluationTests
{
    // Items "a1".."a6" have label A, "b1".."b4" label B, "c1".."c3" label C.
    private static string LabelOf(string item) => item[..1].ToUpperInvariant();

    /// <summary>A view from cluster → members; items in <paramref name="none"/> are in no cluster; <paramref name="hidden"/> clusters are not shown.</summary>
    private static ClusterView View(Dictionary<long, string[]> clusters, Dictionary<long, string>? names = null, string[]? none = null, long[]? hidden = null, string version = "v1")
    {
        var membership = new Dictionary<string, long?>(StringComparer.Ordinal);
        foreach (var (id, members) in clusters)
        {
            foreach (var m in members) membership[m] = id;
        }

        foreach (var m in none ?? []) membership[m] = null;
        return new ClusterView(
            version, membership,
            clusters.Keys.ToDictionary(id => id, id => names?.GetValueOrDefault(id)),
            clusters.Keys.Except(hidden ?? []).ToHashSet());
    }

    [Fact]
    public void NameClusters_NamesEachShownUnnamedClusterByMajorityLabel_NumberedPerLabelBySize_AfterExistingNumbers()
    {
        var view = View(
            new()
            {
                [1] = ["a1", "a2", "b1"],
                [2] = ["a3", "a4", "a5", "a6"],
                [3] = ["b2", "b3", "c1"],
                [4] = ["c2", "c3"],
                [5] = ["b4"],
            },
            names: new() { [4] = "C 3" },
            hidden: [5]);

        var names = ClusterEvaluation.NameClusters(view, LabelOf);

        Assert.Equal(new Dictionary<long, string> { [2] = "A 1", [1] = "A 2", [3] = "B 1" }, names);
        Assert.Equal("A", ClusterEvaluation.Majority(["a1", "b1"], LabelOf)); // a tie goes to the ordinally first label
        Assert.Equal("C 4", ClusterEvaluation.NameClusters(View(new() { [4] = ["c2"], [6] = ["c1"] }, names: new() { [4] = "C 3" }), LabelOf)[6]);
    }

    [Fact]
    public void PlanCorrections_TakesAForeignItemOutOfTheLargestNamedCluster_AndMovesAMisplacedItemHome()
    {
        var view = View(
            new()
            {
                [1] = ["a1", "a2", "a3", "b1"],
                [2] = ["b2", "b3", "a4", "c1"],
                [3] = ["c2", "c3"],
            },
            names: new() { [1] = "A 1", [2] = "B 1" },
            none: ["a5"]);

        var plan = ClusterEvaluation.PlanCorrections("u00", view, LabelOf, new HashSet<string>());

        // Both named clusters hold 4; the smaller id is taken first: "b1" is B in an A cluster.
        Assert.Equal(2, plan.Count);
        Assert.Equal(new ClusterCorrection("u00", "b1", "B", ClusterCorrectionKind.MoveOut, 1, "A 1", null, null), plan[0]);
        // "a4" sits in the B cluster and A has a named home; "c1" is misplaced too but C has no named cluster.
        Assert.Equal(new ClusterCorrection("u00", "a4", "A", ClusterCorrectionKind.MoveIn, 2, "B 1", 1, "A 1"), plan[1]);

        var again = ClusterEvaluation.PlanCorrections("u00", view, LabelOf, new HashSet<string> { "b1", "a4" });
        Assert.Equal(["c1", "a5"], again.Select(c => c.ItemId)); // next foreign item; then an item in no cluster goes home
        Assert.Equal(1, again[1].ToClusterId);
        Assert.Null(again[1].FromClusterId);

        Assert.Empty(ClusterEvaluation.PlanCorrections("u00", View(new() { [1] = ["a1", "a2"] }), LabelOf, new HashSet<string>())); // nothing named
    }

    [Fact]
    public void InForce_HoldsWhileAMovedOutItemIsInNoClusterAndAMovedInItemInItsCluster()
    {
        var moveOut = new ClusterCorrection("u00", "b1", "B", ClusterCorrectionKind.MoveOut, 1, "A 1", null, null);
        var moveIn = new ClusterCorrection("u00", "a4", "A", ClusterCorrectionKind.MoveIn, 2, "B 1", 1, "A 1");

        var kept = View(new() { [1] = ["a1", "a4"], [2] = ["b2"] }, none: ["b1"]);
        var lost = View(new() { [1] = ["a1", "b1"], [2] = ["b2", "a4"] });

        Assert.True(moveOut.InForce(kept));
        Assert.True(moveIn.InForce(kept));
        Assert.False(moveOut.InForce(lost));
        Assert.False(moveIn.InForce(lost));
        Assert.False(moveIn.InForce(View(new() { [1] = ["a1"] }))); // deleted from the gallery: not in force
    }

    [Fact]
    public void Measure_CountsNamedItemsThatLeftOrMovedToAnotherNamedCluster_AgainstTheMembershipBefore()
    {
        var before = View(new() { [1] = ["a1", "a2", "a3"], [2] = ["b1", "b2"], [3] = ["c1", "c2"] }, names: new() { [1] = "A 1", [2] = "B 1" });
        var namedBefore = before.NamedMembership();
        Assert.Equal(5, namedBefore.Count);

        // a2 → the named B cluster (moved to another named); a3 → the unnamed C cluster (left); b2 → no cluster (left); c1 was never named.
        var after = View(new() { [1] = ["a1"], [2] = ["b1", "a2"], [3] = ["c1", "c2", "a3"] }, names: new() { [1] = "A 1", [2] = "B 1" }, none: ["b2"], version: "v2");
        var correction = new ClusterCorrection("u00", "b2", "B", ClusterCorrectionKind.MoveOut, 2, "B 1", null, null);

        var measure = ClusterEvaluation.Measure("u00", after, LabelOf, namedBefore, [correction]);

        Assert.Equal(new ClusterFlipReport(5, 2, 1, 0), measure.Flips);
        Assert.Equal(0.6, measure.Flips.Fraction, 12);
        Assert.Equal((1, 1), (measure.CorrectionsKept, measure.Corrections));
        Assert.Equal("v2", measure.ModelVersion);
        Assert.Equal(ClusterMetrics.NegativeFlips(namedBefore, after.Membership, after.NamedClusters()), measure.Flips);

        var same = ClusterEvaluation.Measure("u00", before, LabelOf, namedBefore, []);
        Assert.Equal(0, same.Flips.Flips);
    }

    [Fact]
    public void Measure_JudgesEachSuggestionByTheMajorityLabelsOfBothClusters()
    {
        // Cluster 1 is mostly A, 2 mostly B, 3 mostly C. b9 sits in 1 and is suggested to 2: corrective. a1 sits in 1
        // (its own label's majority) and is suggested to 3: harmful. c9 sits in 2 and is suggested to 1: neither.
        var view = View(new() { [1] = ["a1", "a2", "a3", "b9"], [2] = ["b1", "b2", "c9"], [3] = ["c1", "c2"] }, names: new() { [1] = "A", [2] = "B" });
        var namedBefore = view.NamedMembership();

        var measure = ClusterEvaluation.Measure("u00", view, LabelOf, namedBefore, [], [("b9", 1, 2), ("a1", 1, 3), ("c9", 2, 1)]);

        Assert.Equal((3, 1, 1), (measure.Suggestions, measure.CorrectiveSuggestions, measure.HarmfulSuggestions));
        Assert.Equal(0, measure.Flips.Flips); // a suggestion moves nothing
        var point = new ClusterPoint(ClusterStage.Backfilled, 1, 1, [measure, measure]);
        Assert.Equal((6, 2, 2), (point.Suggestions, point.CorrectiveSuggestions, point.HarmfulSuggestions));
    }

    [Fact]
    public void Quality_IsMeasuredOverTheItemsInShownClusters_WithChanceAsTheLargestLabelShare()
    {
        // Shown: {a1, a2, b1} and {b2, b3}; hidden {c1}; a3 in no cluster. Purity (2 + 2) / 5, chance: B holds 3 of 5.
        var view = View(new() { [1] = ["a1", "a2", "b1"], [2] = ["b2", "b3"], [3] = ["c1"] }, hidden: [3], none: ["a3"]);

        var q = ClusterEvaluation.Quality(view, LabelOf);

        Assert.Equal((5, 7, 2), (q.Items, q.GalleryItems, q.ShownClusters));
        Assert.Equal(0.8, q.Purity, 12);
        Assert.Equal(0.6, q.ChancePurity, 12);
        Assert.Equal(5 / 7.0, q.Coverage, 12);
        string[] labels = ["A", "A", "B", "B", "B"];
        long[] clusters = [1, 1, 1, 2, 2];
        Assert.Equal(ClusterMetrics.AdjustedRandIndex(labels, clusters), q.AdjustedRandIndex, 12);
        Assert.Equal(ClusterMetrics.NormalizedMutualInformation(labels, clusters), q.NormalizedMutualInformation, 12);

        var perfect = ClusterEvaluation.Quality(View(new() { [1] = ["a1", "a2"], [2] = ["b1", "b2"] }), LabelOf);
        Assert.Equal(1.0, perfect.AdjustedRandIndex, 12);
        Assert.Equal(1.0, perfect.NormalizedMutualInformation, 12);
        Assert.Equal(1.0, perfect.Purity, 12);
        Assert.True(double.IsNaN(ClusterEvaluation.Quality(View(new() { [1] = ["a1"] }, hidden: [1]), LabelOf).Purity));
    }

    [Fact]
    public void Points_PoolFlipsAndCorrectionsOverGalleries_AverageQuality_AndTheResultTakesTheWorstPointFromActivation()
    {
        static GalleryClusterMeasure G(string name, int named, int left, int moved, int kept, int total, double purity) =>
            new(name, "v2", new ClusterQuality(10, 20, 2, purity, purity, purity, 0.2), new ClusterFlipReport(named, left, moved, 0), kept, total);

        var point = new ClusterPoint(ClusterStage.Paused, 0.5, 0.48, [G("u00", 100, 1, 1, 2, 2, 0.8), G("u01", 300, 0, 2, 1, 2, 0.6)]);

        Assert.Equal(new ClusterFlipReport(400, 1, 3, 0), point.Flips);
        Assert.Equal(0.01, point.Flips.Fraction, 12);
        Assert.Equal((3, 4), (point.CorrectionsKept, point.Corrections));
        Assert.Equal(0.7, point.Quality.Purity, 12);
        Assert.Equal((20, 40, 4), (point.Quality.Items, point.Quality.GalleryItems, point.Quality.ShownClusters));
        Assert.Equal("v2", point.ModelVersions);

        var clustered = new ClusterPoint(ClusterStage.Clustered, double.NaN, 0, [G("u00", 100, 50, 0, 0, 0, 0.8)]); // not part of the upgrade
        var start = new ClusterPoint(ClusterStage.BeforeRollout, double.NaN, 0, [G("u00", 100, 0, 0, 2, 2, 0.8)]);
        var end = new ClusterPoint(ClusterStage.Backfilled, 1, 1, [G("u00", 100, 0, 0, 2, 2, 0.8), G("u01", 300, 0, 0, 2, 2, 0.6)]);
        var result = new SystemClusterResult { NamedClusters = 3, NewlyNamed = 3, Corrections = [], Points = [clustered, start, point, end] };

        Assert.Equal(0.01, result.MaxFlipFraction, 12);
        Assert.False(result.CorrectionsAlwaysKept); // one correction was lost at the pause
        Assert.True((result with { Points = [clustered, start, end] }).CorrectionsAlwaysKept);
        Assert.Equal(0, (result with { Points = [clustered, start, end] }).MaxFlipFraction);
    }

    [Fact]
    public void ClusterChecks_StateFlipsAndCorrectionsMetOrNot_FromTheMeasuredPoints()
    {
        static ClusterPoint P(ClusterStage stage, int flips, int kept = 2) =>
            new(stage, double.NaN, stage >= ClusterStage.Paused ? 1 : 0, [new GalleryClusterMeasure("u00", "v", new ClusterQuality(300, 400, 20, 0.5, 0.6, 0.8, 0.15), new ClusterFlipReport(200, flips, 0, 0), kept, 2)]);
        var clean = new SystemClusterResult { NamedClusters = 20, NewlyNamed = 20, Corrections = [], Points = [P(ClusterStage.Clustered, 0), P(ClusterStage.BeforeRollout, 0), P(ClusterStage.Backfilled, 0), P(ClusterStage.RolledBack, 0)] };
        var flipped = clean with { Points = [P(ClusterStage.Clustered, 0), P(ClusterStage.BeforeRollout, 0), P(ClusterStage.Backfilled, 3, kept: 1), P(ClusterStage.RolledBack, 0)] };

        var checks = Targets.ClusterChecks(Report(("v2-independent", flipped), ("v2-bct", clean)));

        Assert.Equal(4, checks.Count);
        Assert.True(checks[0].Met, checks[0].Detail); // purity 0.8 against chance 0.15
        Assert.False(checks[1].Met, checks[1].Detail); // 3 / 200 = 1.5% > 1%
        Assert.Contains("3 of 200 named items = 1.50%", checks[1].Detail, StringComparison.Ordinal);
        Assert.True(checks[2].Met, checks[2].Detail);
        Assert.False(checks[3].Met, checks[3].Detail);
        Assert.Contains("1 of 2", checks[3].Detail, StringComparison.Ordinal);

        var none = Targets.ClusterChecks(Report(("v2-pc", clean)));
        Assert.Null(none[1].Met);
        Assert.Null(none[2].Met);
        Assert.True(none[3].Met);
    }

    [Fact]
    public void Calibration_OnWellSeparatedClasses_PicksAThresholdThatRecoversThem()
    {
        // Three classes in 8 dimensions: unit vectors near three orthogonal axes (cosine within a class about 0.9).
        var random = new Random(3);
        const int d = 8, perClass = 20;
        var galleries = Enumerable.Range(0, 2).Select(_ =>
        {
            var labels = Enumerable.Range(0, 3 * perClass).Select(i => i % 3).ToArray();
            var vectors = new float[labels.Length * d];
            for (var i = 0; i < labels.Length; i++)
            {
                var row = vectors.AsSpan(i * d, d);
                for (var k = 0; k < d; k++) row[k] = (float)(random.NextDouble() * 0.2);
                row[labels[i]] += 1;
                Search.VectorMath.NormalizeInPlace(row);
            }

            return (vectors, labels);
        }).ToList();

        var result = ClusterCalibration.Choose("v", galleries, d);

        Assert.Equal(ClusterCalibration.Candidates, result.Sweep.Select(p => p.JoinThreshold));
        var best = result.Sweep.Single(p => p.JoinThreshold == result.JoinThreshold);
        Assert.Equal(result.Sweep.Max(p => p.AdjustedRandIndex), best.AdjustedRandIndex);
        Assert.Equal(1.0, best.AdjustedRandIndex, 6);
        Assert.Equal(1.0, best.Coverage, 6);
        Assert.Equal((2, 60), (result.Galleries, result.Items));
    }

    /// <summary>A system report holding only what the cluster checks read.</summary>
    private static SystemReport Report(params (string Model, SystemClusterResult Clusters)[] upgrades)
    {
        var dataset = SyntheticZoo.Create(new SyntheticOptions { Galleries = 2, ItemsPerGallery = 40, QueriesPerGallery = 5, Seed = 1 })[0];
        var offline = UpgradeEvaluation.Evaluate(dataset, new UpgradeEvaluationOptions { CalibrationSize = 30 });
        return new SystemReport
        {
            Command = "test",
            Protocol = new UserProtocol { Galleries = 1 },
            Options = new SystemOptions(),
            Budget = double.NaN,
            IngestSeconds = 1,
            IngestRate = 1,
            OldOld = offline.Predicted.Points[0],
            TotalSeconds = 1,
            Upgrades = upgrades.Select(u => new SystemUpgradeResult
            {
                OldModel = "v1",
                NewModel = u.Model,
                FromVersion = "fm-v1",
                ToVersion = "fm-" + u.Model,
                Route = "Mapped",
                Calibration = new Compatibility.CalibrationReport("fm-v1", "fm-" + u.Model, 30, 1, 0, "Ridge", 0.01, new Compatibility.AgreementStats(6, 0.8, 0.5, 0.6, 0.8, 0.9), [], "Neighbours", 0.5, DateTimeOffset.UnixEpoch, TimeSpan.FromSeconds(1)),
                Scored = 80,
                LazySelected = 8,
                Threshold = 0.8,
                Timings = new SystemTimings(1, 1, 1, 1, 1, 1, 0, 80, 10),
                Points = [],
                RollbackRestoredAnswers = true,
                MaxVectorDifference = 0,
                OfflineSystemOrder = offline.Predicted,
                Offline = offline,
                Clusters = u.Clusters,
            }).ToList(),
        };
    }
}
