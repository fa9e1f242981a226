using System.Diagnostics;
using System.Globalization;
using System.Text;
using Indexer.Search.Metrics;

namespace Indexer.Search.Tests.Clustering;

public sealed class ClusterMetricsTests
{
    [Fact]
    public void AdjustedRandIndex_HandComputedCases()
    {
        // Contingency {2}, {1, 1}: Σ C(n_ij,2) = 1, rows 2, columns 1, E = 2·1/6, max 1.5 → (1 − 1/3) / (1.5 − 1/3) = 4/7.
        Assert.Equal(4.0 / 7, ClusterMetrics.AdjustedRandIndex([0, 0, 1, 1], [0, 0, 1, 2]), 12);
        Assert.Equal(1.0, ClusterMetrics.AdjustedRandIndex([0, 0, 1, 1], ["b", "b", "a", "a"]), 12);
        // Every pair split one way and joined the other: index 0, E = 2·0/6... rows 2, columns 0 → (0 − 0) / (1 − 0) = 0.
        Assert.Equal(0.0, ClusterMetrics.AdjustedRandIndex([0, 0, 1, 1], [0, 1, 2, 3]), 12);
        Assert.Equal(1.0, ClusterMetrics.AdjustedRandIndex([7, 7, 7], [1, 1, 1]), 12);
        Assert.Equal(1.0, ClusterMetrics.AdjustedRandIndex(Array.Empty<int>(), Array.Empty<int>()), 12);
        Assert.True(ClusterMetrics.AdjustedRandIndex([0, 0, 1, 1], [0, 1, 0, 1]) < 0);
    }

    [Fact]
    public void NormalizedMutualInformation_HandComputedCases()
    {
        // H(Y) = ln 2, H(C) = 1.5 ln 2, I = ln 2 (C determines Y): ln 2 / (2.5 ln 2 / 2) = 0.8.
        Assert.Equal(0.8, ClusterMetrics.NormalizedMutualInformation([0, 0, 1, 1], [0, 0, 1, 2]), 12);
        Assert.Equal(1.0, ClusterMetrics.NormalizedMutualInformation([0, 0, 1, 1], [5, 5, 4, 4]), 12);
        Assert.Equal(0.0, ClusterMetrics.NormalizedMutualInformation([0, 0, 1, 1], [0, 1, 0, 1]), 12);
        Assert.Equal(1.0, ClusterMetrics.NormalizedMutualInformation([3, 3], [9, 9]), 12);
        Assert.Equal(0.0, ClusterMetrics.NormalizedMutualInformation([0, 1, 2], [0, 0, 0]), 12);
    }

    [Fact]
    public void Purity_HandComputedCases()
    {
        // Cluster a holds labels {0, 0, 1} (2 of its best), b holds {1, 1} (2): 4/5.
        Assert.Equal(0.8, ClusterMetrics.Purity([0, 0, 1, 1, 1], ["a", "a", "a", "b", "b"]), 12);
        Assert.Equal(1.0, ClusterMetrics.Purity([0, 1, 2], [0, 1, 2]), 12);
        Assert.Equal(1.0 / 3, ClusterMetrics.Purity([0, 1, 2], [0, 0, 0]), 12);
        Assert.True(double.IsNaN(ClusterMetrics.Purity(Array.Empty<int>(), Array.Empty<int>())));
        Assert.Throws<ArgumentException>(() => ClusterMetrics.Purity([0, 1], [0]));
    }

    [Fact]
    public void NegativeFlips_HandComputedCase()
    {
        var namedBefore = new Dictionary<string, long> { ["x1"] = 1, ["x2"] = 1, ["x3"] = 2, ["x4"] = 2, ["x5"] = 1 };
        var after = new Dictionary<string, long?> { ["x1"] = 1, ["x2"] = 3, ["x3"] = 1, ["x4"] = null, ["y"] = 1 };

        ClusterFlipReport report = ClusterMetrics.NegativeFlips(namedBefore, after, new HashSet<long> { 1, 2 });

        // x1 stays; x2 left for an unnamed cluster, x4 for no cluster; x3 moved to another named one; x5 was deleted.
        Assert.Equal(new ClusterFlipReport(NamedItems: 4, Left: 2, MovedToOtherNamed: 1, Removed: 1), report);
        Assert.Equal(3, report.Flips);
        Assert.Equal(0.75, report.Fraction, 12);
        Assert.True(double.IsNaN(ClusterMetrics.NegativeFlips(new Dictionary<string, long>(), after, new HashSet<long>()).Fraction));
    }

    /// <summary>Checks ARI and NMI against scikit-learn's adjusted_rand_score and normalized_mutual_info_score (arithmetic).</summary>
    [Fact, Trait("Category", "Reference")]
    public void AdjustedRandIndexAndNmi_AgreeWithScikitLearn()
    {
        var random = new Random(9);
        var cases = new List<(int[] Labels, int[] Clusters)>
        {
            ([0, 0, 0], [1, 1, 1]),
            ([0, 1, 2], [0, 1, 2]),
            ([0, 1, 2], [0, 0, 0]),
            ([4], [2]),
        };
        for (int c = 0; c < 30; c++)
        {
            int n = random.Next(2, 80);
            int labelCount = random.Next(1, 7), clusterCount = random.Next(1, 9);
            int[] labels = [.. Enumerable.Range(0, n).Select(_ => random.Next(labelCount))];
            // Half the cases: clusters that mostly follow the labels, so scores span the whole range.
            int[] clusters = [.. labels.Select(l => c % 2 == 0 && random.NextDouble() < 0.7 ? l : random.Next(clusterCount))];
            cases.Add((labels, clusters));
        }

        var script = new StringBuilder("from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score\n");
        foreach (var (labels, clusters) in cases)
        {
            string a = $"[{string.Join(",", labels)}]", b = $"[{string.Join(",", clusters)}]";
            script.Append(CultureInfo.InvariantCulture, $"print(repr(float(adjusted_rand_score({a}, {b}))), repr(float(normalized_mutual_info_score({a}, {b}))))\n");
        }

        string[] lines = RunPython(script.ToString());

        Assert.Equal(cases.Count, lines.Length);
        for (int c = 0; c < cases.Count; c++)
        {
            double[] expected = [.. lines[c].Split(' ').Select(x => double.Parse(x, CultureInfo.InvariantCulture))];
            Assert.Equal(expected[0], ClusterMetrics.AdjustedRandIndex(cases[c].Labels, cases[c].Clusters), 10);
            Assert.Equal(expected[1], ClusterMetrics.NormalizedMutualInformation(cases[c].Labels, cases[c].Clusters), 10);
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
