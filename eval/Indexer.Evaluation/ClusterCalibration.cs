using System.Globalization;
using Indexer.Search.Clustering;
using Indexer.Search.Metrics;

namespace Indexer.Evaluation;

/// <summary>One join threshold tried on the calibration galleries.</summary>
/// <param name="JoinThreshold">The threshold.</param>
/// <param name="AdjustedRandIndex">Mean ARI over the calibration galleries of all their items, an item outside every shown cluster counting as a cluster of its own.</param>
/// <param name="Purity">Mean purity over the items in a shown cluster.</param>
/// <param name="Coverage">Mean share of the items in a shown cluster.</param>
public sealed record ClusterCalibrationPoint(double JoinThreshold, double AdjustedRandIndex, double Purity, double Coverage);

/// <summary>The join threshold chosen for one model version, and the sweep it was chosen from.</summary>
/// <param name="Version">The zoo's version name.</param>
/// <param name="JoinThreshold">The threshold of the sweep with the highest ARI (ties: the lower threshold).</param>
/// <param name="Galleries">Calibration galleries.</param>
/// <param name="Items">Items in each.</param>
/// <param name="Sweep">Every threshold tried.</param>
public sealed record ClusterCalibrationResult(string Version, double JoinThreshold, int Galleries, int Items, IReadOnlyList<ClusterCalibrationPoint> Sweep);

/// <summary>
/// Chooses a version's clustering join threshold on labelled images no simulated user holds, as the clustering's own
/// documentation asks (cosines differ from one model to the next; the system's default, 0.85, was picked on the raw
/// ResNet18 features). Each calibration gallery is clustered as a gallery would be (items added in id order, then one
/// refinement) with the system's other defaults; the threshold with the best ARI over all items wins, an item outside
/// every shown cluster counting as a cluster of its own, so that leaving items unclustered is not rewarded.
/// </summary>
public static class ClusterCalibration
{
    /// <summary>
    /// Thresholds tried: 0.10 to 0.90 by 0.05 (at most the default merge threshold, 0.95). The zoo's heads are trained with a
    /// cosine classifier, so classes sit far apart and the best thresholds are low (0.30 was the lowest of a first, narrower sweep).
    /// </summary>
    public static readonly IReadOnlyList<double> Candidates = Enumerable.Range(0, 17).Select(i => Math.Round(0.10 + (0.05 * i), 2)).ToArray();

    /// <summary>Sweeps <paramref name="candidates"/> (default <see cref="Candidates"/>) over the galleries and picks the best.</summary>
    /// <param name="version">The version's name, for the result.</param>
    /// <param name="galleries">Each calibration gallery: its items' vectors (row-major, <paramref name="dimension"/> each) and labels.</param>
    /// <param name="dimension">The version's vector length.</param>
    /// <param name="candidates">Thresholds to try.</param>
    public static ClusterCalibrationResult Choose(string version, IReadOnlyList<(float[] Vectors, int[] Labels)> galleries, int dimension, IReadOnlyList<double>? candidates = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(version);
        ArgumentNullException.ThrowIfNull(galleries);
        if (galleries.Count == 0) throw new ArgumentException("at least one calibration gallery", nameof(galleries));
        var sweep = (candidates ?? Candidates).Select(t => Measure(galleries, dimension, t)).ToList();
        var best = sweep.OrderByDescending(p => p.AdjustedRandIndex).ThenBy(p => p.JoinThreshold).First();
        return new ClusterCalibrationResult(version, best.JoinThreshold, galleries.Count, galleries[0].Labels.Length, sweep);
    }

    /// <summary>One threshold over every calibration gallery.</summary>
    public static ClusterCalibrationPoint Measure(IReadOnlyList<(float[] Vectors, int[] Labels)> galleries, int dimension, double joinThreshold)
    {
        ArgumentNullException.ThrowIfNull(galleries);
        var parameters = new ClusteringParameters { JoinThreshold = (float)joinThreshold };
        parameters.Validate();
        double ari = 0, purity = 0, coverage = 0;
        foreach (var (vectors, labels) in galleries)
        {
            if (vectors.Length != labels.Length * dimension) throw new ArgumentException("each gallery needs one vector per label", nameof(galleries));
            var ids = Enumerable.Range(0, labels.Length).Select(i => "i" + i.ToString("D6", CultureInfo.InvariantCulture)).ToArray();
            var clusters = new GalleryClusters("calibration", dimension, parameters);
            clusters.AddMany(ids.Select((id, i) => new KeyValuePair<string, float[]>(id, vectors.AsSpan(i * dimension, dimension).ToArray())).ToList());
            clusters.Refine();
            var shown = clusters.ListClusters(0).Select(c => c.Id).ToHashSet();
            var all = new string[ids.Length];
            var shownLabels = new List<int>();
            var shownClusters = new List<long>();
            for (var i = 0; i < ids.Length; i++)
            {
                var cluster = clusters.ClusterOf(ids[i]);
                var isShown = cluster is { } c && shown.Contains(c);
                all[i] = isShown ? "c" + cluster!.Value.ToString(CultureInfo.InvariantCulture) : "alone " + ids[i];
                if (!isShown) continue;
                shownLabels.Add(labels[i]);
                shownClusters.Add(cluster!.Value);
            }

            ari += ClusterMetrics.AdjustedRandIndex(labels, all);
            purity += shownLabels.Count == 0 ? 0 : ClusterMetrics.Purity(shownLabels, shownClusters);
            coverage += (double)shownLabels.Count / labels.Length;
        }

        return new ClusterCalibrationPoint(joinThreshold, ari / galleries.Count, purity / galleries.Count, coverage / galleries.Count);
    }
}
