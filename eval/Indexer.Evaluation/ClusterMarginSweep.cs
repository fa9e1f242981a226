using System.Globalization;
using Indexer.Search.Clustering;
using Indexer.Search.Maps;
using Indexer.Search.Metrics;

namespace Indexer.Evaluation;

/// <summary>
/// How many named items a backfill moves, against the evidence a re-embedded item needs to leave its named cluster
/// (<see cref="ClusteringParameters.StayMargin"/> = <see cref="ClusteringParameters.MoveMargin"/>), offline and with the
/// system's own clustering class: each gallery is clustered in the old version and every shown cluster named, rebased
/// into the new version through a map fitted on other users' items (the mapped route), then every item re-embedded.
/// It reproduces the system mode's flip figures within about a point in seconds, so the margins can be chosen on it.
/// </summary>
public static class ClusterMarginSweep
{
    /// <summary>One setting's outcome, pooled over the galleries.</summary>
    public sealed record Outcome(string Upgrade, float Margin, int Named, int Flipped, double PurityAfter)
    {
        public double FlipFraction => Named == 0 ? 0 : (double)Flipped / Named;
    }

    /// <param name="dataset">One upgrade: old and new vectors of every user's items.</param>
    /// <param name="galleries">Galleries clustered (from the first).</param>
    /// <param name="calibrationGalleries">Galleries after them whose items fit the map.</param>
    /// <param name="oldJoin">Join threshold in the old version.</param>
    /// <param name="newJoin">Join threshold in the new version.</param>
    /// <param name="margins">Stay and move margin values to try.</param>
    public static IReadOnlyList<Outcome> Run(
        EvaluationDataset dataset, int galleries, int calibrationGalleries, float oldJoin, float newJoin, IReadOnlyList<float> margins)
    {
        ArgumentNullException.ThrowIfNull(dataset);
        ArgumentNullException.ThrowIfNull(margins);
        if (galleries + calibrationGalleries > dataset.Galleries.Count)
        {
            throw new ArgumentException($"{galleries} + {calibrationGalleries} galleries asked for; the dataset has {dataset.Galleries.Count}");
        }

        var dOld = dataset.Galleries[0].OldDimension;
        var dNew = dataset.Galleries[0].NewDimension;
        var calibration = dataset.Galleries.Skip(galleries).Take(calibrationGalleries).ToList();
        var calOld = calibration.SelectMany(g => g.OldVectors.ToArray()).ToArray();
        var calNew = calibration.SelectMany(g => g.NewVectors.ToArray()).ToArray();
        var map = MapFitter.Fit(calOld, calNew, calOld.Length / dOld, dOld, dNew).Best;

        var outcomes = new List<Outcome>();
        foreach (var margin in margins)
        {
            int named = 0, flipped = 0;
            double purity = 0;
            foreach (var gallery in dataset.Galleries.Take(galleries))
            {
                var (n, f, p) = Upgrade(gallery, map, oldJoin, newJoin, margin);
                named += n;
                flipped += f;
                purity += p / galleries;
            }

            outcomes.Add(new Outcome(dataset.Name, margin, named, flipped, purity));
        }

        return outcomes;
    }

    private static (int Named, int Flipped, double PurityAfter) Upgrade(EvaluationGallery gallery, LinearMap map, float oldJoin, float newJoin, float margin)
    {
        var (dOld, dNew) = (gallery.OldDimension, gallery.NewDimension);
        var ids = gallery.ItemIds;
        var clusters = new GalleryClusters("old", dOld, new ClusteringParameters { JoinThreshold = oldJoin, MergeThreshold = Math.Max(oldJoin, 0.95f) });
        for (var i = 0; i < ids.Count; i++) clusters.Add(ids[i], gallery.OldVectors.Span.Slice(i * dOld, dOld));
        clusters.Refine();
        foreach (var cluster in clusters.ListClusters(0)) clusters.Name(cluster.Id, "named " + cluster.Id.ToString(CultureInfo.InvariantCulture));
        var named = ids.Select(id => (id, Cluster: clusters.ClusterOf(id))).Where(p => p.Cluster is not null).ToList();

        var row = Enumerable.Range(0, ids.Count).ToDictionary(i => ids[i], StringComparer.Ordinal);
        var parameters = new ClusteringParameters { JoinThreshold = newJoin, MergeThreshold = Math.Max(newJoin, 0.95f), StayMargin = margin, MoveMargin = margin };
        clusters.Rebase("new", dNew, parameters, id => map.Apply(gallery.OldVectors.Span.Slice(row[id] * dOld, dOld)));
        for (var i = 0; i < ids.Count; i++) clusters.Reembed(ids[i], gallery.NewVectors.Span.Slice(i * dNew, dNew));

        var flipped = named.Count(p => clusters.ClusterOf(p.id) != p.Cluster);
        var labels = new List<int>();
        var members = new List<long>();
        for (var i = 0; i < ids.Count; i++)
        {
            if (clusters.ClusterOf(ids[i]) is not { } cluster) continue;
            labels.Add(gallery.Labels[i]);
            members.Add(cluster);
        }

        return (named.Count, flipped, ClusterMetrics.Purity(labels, members));
    }
}
