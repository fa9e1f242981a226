using System.Diagnostics;
using System.Globalization;
using System.Text;
using Indexer.Search.Metrics;

namespace Indexer.Search.Tests.Metrics;

public sealed class RetrievalMetricsTests
{
    [Fact]
    public void AveragePrecision_HandComputedRanking()
    {
        // relevant at ranks 1 and 3: (1/1 + 2/3) / 2
        Assert.Equal((1 + 2.0 / 3) / 2, RetrievalMetrics.AveragePrecision([3, 2, 1], [true, false, true]), 12);
        Assert.Equal(1.0, RetrievalMetrics.AveragePrecision([0.9, 0.1], [true, false]), 12);
        Assert.True(double.IsNaN(RetrievalMetrics.AveragePrecision([1, 2], [false, false])));
    }

    [Fact]
    public void AveragePrecision_TiedScoresCountAsOneThreshold()
    {
        // One threshold holding both items: precision 1/2 at recall 1.
        Assert.Equal(0.5, RetrievalMetrics.AveragePrecision([1, 1], [true, false]), 12);
        // Thresholds 2 (1 of 1 relevant) then 1 (2 of 3 relevant): 0.5·1 + 0.5·(2/3).
        Assert.Equal(0.5 + 0.5 * 2 / 3, RetrievalMetrics.AveragePrecision([2, 1, 1], [true, true, false]), 12);
    }

    [Fact]
    public void Evaluate_LeaveOneOut_ExcludesTheQueryAndSkipsQueriesWithoutPositives()
    {
        // Gallery on the unit circle: labels 0, 0, 1, 2 (label 2 has nobody else).
        float[] gallery = [1, 0, 0.8f, 0.6f, 0, 1, -1, 0];
        int[] labels = [0, 0, 1, 2];

        var report = RetrievalMetrics.Evaluate(gallery, labels, [0, 1, 2, 3], gallery, labels, 2, [1, 5]);

        // Query 0 (1,0): others by score 0.8 (label 0), 0 (1), -1 (2): first hit at rank 1, AP 1.
        // Query 1 (0.8,0.6): 0.8 (label 0), 0.6 (1): rank 1, AP 1. Queries 2 and 3 have no other item of their label.
        Assert.Equal(2, report.Queries);
        Assert.Equal(2, report.SkippedWithoutPositive);
        Assert.Equal(1.0, report.CmcAt(1));
        Assert.Equal(1.0, report.MeanAveragePrecision, 12);
    }

    [Fact]
    public void Evaluate_FirstHitBelowTheTop_CountsOnlyForLargerK()
    {
        float[] gallery = [1, 0, 0.9f, 0.436f, 0, 1];
        int[] galleryLabels = [1, 1, 0];
        float[] query = [0.95f, 0.31f];

        var report = RetrievalMetrics.Evaluate(query, [0], null, gallery, galleryLabels, 2, [1, 2, 3]);

        Assert.Equal(0.0, report.CmcAt(1));
        Assert.Equal(0.0, report.CmcAt(2));
        Assert.Equal(1.0, report.CmcAt(3));
        Assert.Equal(1.0 / 3, report.MeanAveragePrecision, 12);
    }

    /// <summary>Checks average precision against scikit-learn's average_precision_score on random rankings with ties.</summary>
    [Fact, Trait("Category", "Reference")]
    public void AveragePrecision_AgreesWithScikitLearn()
    {
        var random = new Random(5);
        var cases = new List<(double[] Scores, bool[] Relevant)>();
        for (var c = 0; c < 25; c++)
        {
            var n = random.Next(2, 60);
            var scores = Enumerable.Range(0, n).Select(_ => Math.Round(random.NextDouble(), c % 2 == 0 ? 1 : 6)).ToArray();
            var relevant = Enumerable.Range(0, n).Select(_ => random.NextDouble() < 0.3).ToArray();
            relevant[random.Next(n)] = true;
            cases.Add((scores, relevant));
        }

        var script = new StringBuilder("from sklearn.metrics import average_precision_score\n");
        foreach (var (scores, relevant) in cases)
        {
            script.Append("print(repr(average_precision_score([")
                .Append(string.Join(",", relevant.Select(r => r ? "1" : "0")))
                .Append("], [")
                .Append(string.Join(",", scores.Select(s => s.ToString("R", CultureInfo.InvariantCulture))))
                .Append("])))\n");
        }

        var expected = RunPython(script.ToString()).Select(line => double.Parse(line, CultureInfo.InvariantCulture)).ToArray();

        Assert.Equal(cases.Count, expected.Length);
        for (var c = 0; c < cases.Count; c++)
        {
            Assert.Equal(expected[c], RetrievalMetrics.AveragePrecision(cases[c].Scores, cases[c].Relevant), 10);
        }
    }

    /// <summary>Debian's python3 with python3-sklearn (scripts/setup.sh installs it).</summary>
    private static string[] RunPython(string script)
    {
        var start = new ProcessStartInfo("/usr/bin/python3", ["-c", script]) { RedirectStandardOutput = true, RedirectStandardError = true };
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEnd();
        var error = process.StandardError.ReadToEnd();
        process.WaitForExit();
        if (process.ExitCode != 0) throw new InvalidOperationException($"python3 failed (is python3-sklearn installed? scripts/setup.sh installs it): {error}");
        return output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
    }
}
