using System.Net;
using Indexer.Client;
using Indexer.Galleries;
using Indexer.Search.Metrics;

namespace Indexer.Evaluation.Tests;

/// <summary>The harness's own pieces, without a silo: dealing users, scoring the system's rankings, the lazy accounting, the report.</summary>
public sealed class HarnessTests : IDisposable
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), $"eval-report-{Guid.NewGuid():N}");

    public void Dispose()
    {
        if (Directory.Exists(_directory)) Directory.Delete(_directory, recursive: true);
    }

    [Fact]
    public void Deal_IsSeeded_Disjoint_AndAProtocolWithFewerUsersDealsTheFirstUsersOfALargerOne()
    {
        var large = new UserProtocol { Galleries = 20, GallerySize = 400, Queries = 50, Seed = 0 }.Deal(10_000);
        var small = new UserProtocol { Galleries = 4, GallerySize = 400, Queries = 50, Seed = 0 }.Deal(10_000);
        var again = new UserProtocol { Galleries = 20, GallerySize = 400, Queries = 50, Seed = 0 }.Deal(10_000);
        var other = new UserProtocol { Galleries = 20, GallerySize = 400, Queries = 50, Seed = 1 }.Deal(10_000);

        var all = large.SelectMany(u => u.Items.Concat(u.Queries)).ToList();
        Assert.Equal(9000, all.Count);
        Assert.Equal(9000, all.Distinct().Count());
        Assert.All(large, u => Assert.Empty(u.Items.Intersect(u.Queries)));
        Assert.Equal(["u00", "u01", "u02", "u03"], small.Select(u => u.Name));
        for (var g = 0; g < small.Count; g++)
        {
            Assert.Equal(large[g].Items, small[g].Items);
            Assert.Equal(large[g].Queries, small[g].Queries);
        }

        Assert.Equal(large.Select(u => u.Items), again.Select(u => u.Items));
        Assert.NotEqual(large[0].Items, other[0].Items);
        Assert.Throws<ArgumentException>(() => new UserProtocol { Galleries = 23 }.Deal(10_000));
    }

    [Theory]
    [InlineData("backward-compatible:v1", "fm-", "backward-compatible:fm-v1")]
    [InlineData("independent:v1", "t-", "independent:t-v1")]
    [InlineData("free text", "fm-", "free text")]
    [InlineData(null, "fm-", null)]
    public void PrefixLineage_RenamesTheVersionAfterTheColon(string? lineage, string prefix, string? expected) =>
        Assert.Equal(expected, SystemEvaluation.PrefixLineage(lineage, prefix));

    [Fact]
    public void Score_OfAGuardedResult_TakesItsHeadInTheOrderReturned()
    {
        // Label a; returned in the order y (a, 0.6), x (b, 0.8), z (b, 0.1), w (a, 0.05): the guard put y above x.
        var matches = new[] { ("y", "a", 0.6f), ("x", "b", 0.8f), ("z", "b", 0.1f), ("w", "a", 0.05f) }
            .Select(m => new SearchMatch(m.Item1, m.Item3, "v2", new Dictionary<string, string> { ["label"] = m.Item2 })).ToList();
        var guarded = new SearchResult(matches, "v2", 4, 0, GuardedBy: "v1");

        var asReturned = SearchScoring.Score([guarded], ["a"], null, 4, guardDepth: 2);
        var unguarded = SearchScoring.Score([guarded with { GuardedBy = null }], ["a"], null, 4, guardDepth: 2);

        Assert.Equal((1.0 + (2.0 / 4)) / 2, asReturned.AveragePrecision, 12); // y first, w fourth
        Assert.Equal(1.0, asReturned.Cmc1);
        Assert.Equal(((1.0 / 2) + (2.0 / 4)) / 2, unguarded.AveragePrecision, 12); // by score: x, y, z, w
    }

    [Fact]
    public void Score_OnAHandComputedRanking_GivesCmcApAndFlips()
    {
        // Gallery of 4: labels a, b, a, b. Query 0 (label a) ranks a, b, b, a: first hit at 1, AP = (1/1 + 2/4) / 2 = 0.75.
        // Query 1 (label b) ranks a, a, b, b: first hit at 3, AP = (1/3 + 2/4) / 2 = 5/12. Query 2 (label c): no positive, skipped.
        static SearchResult Result(params string[] labels) => new(
            labels.Select((label, i) => new SearchMatch($"i{i}", 1f - (0.1f * i), "v", new Dictionary<string, string> { ["label"] = label })).ToList(), "v", 4, 0);
        var results = new[] { Result("a", "b", "b", "a"), Result("a", "a", "b", "b"), Result("a", "b", "a", "b") };

        var score = SearchScoring.Score(results, ["a", "b", "c"], [true, true, true], 4);

        Assert.Equal(2, score.Queries);
        Assert.Equal(0.5, score.Cmc1, 12);
        Assert.Equal(1.0, score.Cmc5, 12);
        Assert.Equal((0.75 + (5.0 / 12)) / 2, score.AveragePrecision, 12);
        Assert.Equal(0.5, score.NegativeFlips1, 12); // query 1 was right at rank 1 before and is not now; query 2 is not scored
        Assert.Equal([true, false, false], score.Top1);
        Assert.Throws<InvalidOperationException>(() => SearchScoring.Score([results[0] with { Excluded = 1 }], ["a"], null, 4));
    }

    [Fact]
    public void Score_OfRankingsFromTheIndex_EqualsBackfillEvaluationAtBetaOne()
    {
        var datasets = SyntheticZoo.Create(new SyntheticOptions { Galleries = 3, ItemsPerGallery = 60, QueriesPerGallery = 12, Seed = 4 });
        var dataset = datasets[0];
        var evaluation = new BackfillEvaluation(dataset, map: null);
        var expected = evaluation.Measure(dataset.Galleries.Select(g => (IReadOnlyList<bool>)Enumerable.Repeat(true, g.Count).ToArray()).ToArray(), 1);

        var scores = dataset.Galleries.Select(gallery =>
        {
            var d = gallery.NewDimension;
            var index = new Search.FlatVectorIndex(d);
            for (var i = 0; i < gallery.Count; i++) index.Upsert(gallery.ItemIds[i], gallery.NewVectors.Span.Slice(i * d, d));
            var hits = index.SearchMany(gallery.QueryNewVectors.ToArray(), gallery.QueryCount, gallery.Count);
            var labelOf = gallery.ItemIds.Select((id, i) => (id, i)).ToDictionary(p => p.id, p => gallery.Labels[p.i].ToString(System.Globalization.CultureInfo.InvariantCulture));
            var results = hits.Select(h => new SearchResult(
                h.Select(x => new SearchMatch(x.Id, x.Score, "v", new Dictionary<string, string> { ["label"] = labelOf[x.Id] })).ToList(), "v", gallery.Count, 0)).ToList();
            var queryLabels = gallery.QueryLabels.Select(l => l.ToString(System.Globalization.CultureInfo.InvariantCulture)).ToArray();
            return SearchScoring.Score(results, queryLabels, null, gallery.Count);
        }).ToList();
        var measured = SearchScoring.Average(scores, 1);

        Assert.Equal(expected.MeanAveragePrecision, measured.MeanAveragePrecision, 9);
        Assert.Equal(expected.Cmc1, measured.Cmc1, 9);
        Assert.Equal(expected.Cmc5, measured.Cmc5, 9);
    }

    [Fact]
    public void LazyPolicy_CountsOnlyTheItemsPredictedBelowTheThreshold_AndReproducesTheEvaluation()
    {
        var dataset = SyntheticZoo.Create(new SyntheticOptions { Galleries = 4, ItemsPerGallery = 100, QueriesPerGallery = 10, Seed = 2 })[0];
        var options = new UpgradeEvaluationOptions { CalibrationSize = 80, Seed = 5 };
        var result = UpgradeEvaluation.Evaluate(dataset, options);

        var lazy = LazyPolicy.Measure(dataset, options, result);

        Assert.Equal(result.FractionBelowThreshold, lazy.Configured.ReEmbedded, 12);
        Assert.Equal(result.TrueFractionBelowThreshold, lazy.Configured.TrueBelow, 12);
        Assert.Equal(80 / 400.0, lazy.Configured.CalibrationPasses, 12);
        Assert.Equal(lazy.Configured.CalibrationPasses + lazy.Configured.ReEmbedded, lazy.Configured.TotalPasses, 12);
        Assert.True(lazy.Configured.ReEmbedded <= result.Costs.LazyTotalPassesPerItem);
        Assert.Equal(LazyPolicy.SweepThresholds, lazy.Sweep.Select(p => p.Threshold));
        Assert.True(lazy.Sweep.Zip(lazy.Sweep.Skip(1)).All(p => p.First.ReEmbedded <= p.Second.ReEmbedded), "a higher threshold selects at least as much");
    }

    [Fact]
    public void Report_WithASystemSection_RoundTripsThroughJson_AndWritesItsPlotsAndTables()
    {
        var datasets = SyntheticZoo.Create(new SyntheticOptions { Galleries = 3, ItemsPerGallery = 80, QueriesPerGallery = 10, Seed = 1 });
        var options = new UpgradeEvaluationOptions { CalibrationSize = 60 };
        var offline = OfflineEvaluation.Run(datasets, options, _directory, "test", "indexer-eval test", ["a note"], protocol: new UserProtocol { Galleries = 3, GallerySize = 80, Queries = 10 });
        var bct = offline.Upgrades.Single(u => u.NewModel == SyntheticZoo.Bct);
        var points = bct.Predicted.Points.Where((_, i) => i % 10 == 0).Select(p => new SystemPoint(p.Beta, p.Beta, p.Beta, p.Beta, p, p, p, true, new Dictionary<string, int> { ["mapped"] = 1 })).ToList();
        var system = new SystemReport
        {
            Command = "indexer-eval system",
            Protocol = offline.Protocol!,
            Options = new SystemOptions(),
            Budget = 10,
            IngestSeconds = 12,
            IngestRate = 20,
            OldOld = bct.Predicted.Points[0] with { Beta = double.NaN },
            TotalSeconds = 100,
            Upgrades =
            [
                new SystemUpgradeResult
                {
                    OldModel = bct.OldModel, NewModel = bct.NewModel, FromVersion = "fm-v1", ToVersion = "fm-v2-bct", Route = "Compatible",
                    Claim = "backward-compatible:fm-v1", ClaimVerified = true,
                    Evaluation = new Compatibility.LabeledEvaluation("alice/u00", 80, 10, 0.4, 0.6, 0.45, 0.44, 0.7, 0.8, 0.72, 0.71),
                    Calibration = new Compatibility.CalibrationReport("fm-v1", "fm-v2-bct", 60, 3, 0, "Ridge", 0.01, new Compatibility.AgreementStats(12, 0.8, 0.5, 0.6, 0.8, 0.9), [], "Neighbours", 0.5, DateTimeOffset.UnixEpoch, TimeSpan.FromSeconds(3)),
                    Scored = 240, LazySelected = 12, Threshold = 0.8,
                    Timings = new SystemTimings(5, 5.5, 2, 2.4, 3, 30, 10, 240, 10),
                    Points = points, RollbackRestoredAnswers = true, MaxVectorDifference = 1e-7, OfflineSystemOrder = bct.Predicted, Offline = bct,
                    Clusters = new SystemClusterResult
                    {
                        NamedClusters = 2, NewlyNamed = 2,
                        Corrections = [new ClusterCorrection("u00", "fm-00001", "Coat", ClusterCorrectionKind.MoveOut, 4, "Pullover 1", null, null)],
                        Points =
                        [
                            ClusterPoint(ClusterStage.Clustered, double.NaN, 0, 0, 0), ClusterPoint(ClusterStage.BeforeRollout, double.NaN, 0, 0, 1),
                            ClusterPoint(ClusterStage.Paused, 0.5, 0.49, 0, 1), ClusterPoint(ClusterStage.Backfilled, 1, 1, 0, 1), ClusterPoint(ClusterStage.RolledBack, double.NaN, 0, 0, 1),
                        ],
                    },
                },
            ],
            ClusterCalibration = [new ClusterCalibrationResult("v1", 0.5, 2, 80, [new ClusterCalibrationPoint(0.45, 0.3, 0.7, 0.9), new ClusterCalibrationPoint(0.5, 0.4, 0.8, 0.8)])],
        };
        var report = offline with { System = system };

        var json = ReportWriter.ToJson(report);
        var back = ReportWriter.FromJson(json);
        Assert.Equal(json, ReportWriter.ToJson(back));

        var written = ReportWriter.Write(report, _directory);
        Assert.Contains(written, p => p.EndsWith(ReportWriter.SystemPlot(system.Upgrades[0]), StringComparison.Ordinal));
        var markdown = File.ReadAllText(Path.Combine(_directory, ReportWriter.MarkdownFile));
        Assert.Contains("## Through the running system", markdown, StringComparison.Ordinal);
        Assert.Contains("### The lazy policy as the running system counts it", markdown, StringComparison.Ordinal);
        Assert.Contains("System mode ran 3 users", markdown, StringComparison.Ordinal);
        Assert.Contains("the calibrations embedded 60 stored images at 20 images/s", markdown, StringComparison.Ordinal);
        Assert.Contains("verified the claim 'backward-compatible:fm-v1'", markdown, StringComparison.Ordinal);
        Assert.Contains("### The users' clusters through each upgrade", markdown, StringComparison.Ordinal);
        Assert.Contains("v1 0.50 (ARI 0.400, purity 0.800, 80.0% in shown clusters)", markdown, StringComparison.Ordinal);
        Assert.Contains("| paused (asked 50%) | 49.0% | fm-v2-bct |", markdown, StringComparison.Ordinal);
        Assert.Contains("- **met**: `v2-bct`: no named item flips", markdown, StringComparison.Ordinal);
        Assert.Contains("*not evaluated*: `v2-independent`: at most 1% of the named items flip", markdown, StringComparison.Ordinal);
        Assert.Equal(json, ReportWriter.ToJson(ReportWriter.Read(_directory)));
    }

    private static ClusterPoint ClusterPoint(ClusterStage stage, double requested, double beta, int flips, int corrections) =>
        new(stage, requested, beta,
        [
            new GalleryClusterMeasure("u00", stage is ClusterStage.Paused or ClusterStage.Backfilled ? "fm-v2-bct" : "fm-v1", new ClusterQuality(60, 80, 4, 0.5, 0.6, 0.85, 0.2),
                new ClusterFlipReport(40, flips, 0, 0), corrections, corrections),
        ]);

    [Fact]
    public void Interpolate_ReadsACurveLinearlyBetweenItsPoints()
    {
        var points = BackfillCurve.Betas.Select(b => new BackfillPoint(b, b, b, 2 * b, 0)).ToArray();
        var report = new RetrievalReport(1, 0, new Dictionary<int, double> { [1] = 0, [5] = 0 }, 0);
        var curve = BackfillCurve.Create(Search.Metrics.BackfillOrder.Predicted, points, report, report with { MeanAveragePrecision = 2 });

        var middle = ReportCharts.Interpolate(curve, 0.33);

        Assert.Equal(0.66, middle.MeanAveragePrecision, 12);
        Assert.Equal(0.33, middle.Cmc1, 12);
        Assert.Equal(2, ReportCharts.Interpolate(curve, 1).MeanAveragePrecision, 12);
        Assert.Equal(0, ReportCharts.Interpolate(curve, 0).MeanAveragePrecision, 12);
    }

    [Fact]
    public async Task CorrectWithRetry_AskedAgainAfterA504_AndNotAfterOtherFailures()
    {
        var moveOut = new ClusterCorrection("u00", "fm-00001", "Coat", ClusterCorrectionKind.MoveOut, 4, "Pullover 1", null, null);
        var moveIn = new ClusterCorrection("u00", "fm-00002", "Bag", ClusterCorrectionKind.MoveIn, 3, null, 7, "Bag 1");

        // A timeout, then the answer: asked twice, the second time the same request.
        var timedOutOnce = new ScriptedHandler(HttpStatusCode.GatewayTimeout, HttpStatusCode.NoContent);
        var log = new StringWriter();
        await SystemEvaluation.CorrectWithRetryAsync(Client(timedOutOnce), "u00", moveOut, log, TimeSpan.Zero);
        Assert.Equal(["DELETE /v1/users/alice/galleries/u00/items/fm-00001/cluster", "DELETE /v1/users/alice/galleries/u00/items/fm-00001/cluster"], timedOutOnce.Requests);
        Assert.Contains("timed out", log.ToString());

        // A timeout every time: the run stops after SystemEvaluation.CorrectionAttempts tries.
        var alwaysTimedOut = new ScriptedHandler(Enumerable.Repeat(HttpStatusCode.GatewayTimeout, 10).ToArray());
        var error = await Assert.ThrowsAsync<IndexerApiException>(() => SystemEvaluation.CorrectWithRetryAsync(Client(alwaysTimedOut), "u00", moveIn, TextWriter.Null, TimeSpan.Zero));
        Assert.Equal(HttpStatusCode.GatewayTimeout, error.StatusCode);
        Assert.Equal(SystemEvaluation.CorrectionAttempts, alwaysTimedOut.Requests.Count);

        // Any other failure is the run's to report: no retry.
        foreach (var status in new[] { HttpStatusCode.InternalServerError, HttpStatusCode.NotFound })
        {
            var failed = new ScriptedHandler(status, HttpStatusCode.NoContent);
            Assert.Equal(status, (await Assert.ThrowsAsync<IndexerApiException>(() => SystemEvaluation.CorrectWithRetryAsync(Client(failed), "u00", moveIn, TextWriter.Null, TimeSpan.Zero))).StatusCode);
            Assert.Single(failed.Requests);
        }

        static IndexerHttpClient Client(HttpMessageHandler handler) => new(new HttpClient(handler) { BaseAddress = new Uri("http://silo.invalid/") }, "alice");
    }

    /// <summary>Answers each request with the next status of its script (a JSON body for a cluster, a problem for an error).</summary>
    private sealed class ScriptedHandler(params HttpStatusCode[] statuses) : HttpMessageHandler
    {
        public List<string> Requests { get; } = [];

        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            Requests.Add($"{request.Method} {request.RequestUri!.AbsolutePath}");
            var status = statuses[Requests.Count - 1];
            var body = (int)status >= 400
                ? $$"""{"status":{{(int)status}},"detail":"scripted {{status}}"}"""
                : """{"id":7,"name":"Bag 1","size":1,"pinnedCount":1,"representatives":[]}""";
            return Task.FromResult(new HttpResponseMessage(status) { Content = new StringContent(body, System.Text.Encoding.UTF8, "application/json") });
        }
    }
}
