using System.Globalization;
using Indexer.Search.Clustering;
using Indexer.Search.Maps;
using Indexer.Search.Metrics;

namespace Indexer.Evaluation;

/// <summary>
/// What a backfill does to named clusters, against the evidence a re-embedded item needs to leave one
/// (<see cref="ClusteringParameters.StayMargin"/> = <see cref="ClusteringParameters.MoveMargin"/>) and under both
/// <see cref="NamedMemberPolicy"/> values, offline and with the system's own clustering class: each gallery is clustered
/// in the old version and every shown cluster named, rebased into the new version through a map fitted on other users'
/// items (the mapped route), then every item re-embedded. Each move (or suggestion) is judged against the labels: it is
/// corrective when the item's label differs from the majority label of the named cluster it leaves and matches the
/// majority of the one it goes to, harmful in the opposite case. It reproduces the system mode's flip figures within
/// about a point in seconds, so the margins and the policy can be chosen on it.
/// </summary>
public static class ClusterMarginSweep
{
    /// <summary>One setting's outcome, pooled over the galleries.</summary>
    /// <param name="Upgrade">The upgrade's name.</param>
    /// <param name="Margin">Stay = move margin.</param>
    /// <param name="Policy">What the clustering did with named members the evidence placed elsewhere.</param>
    /// <param name="Named">Items in named clusters before the upgrade.</param>
    /// <param name="Flipped">Named items that left their cluster (METRICS.md's cluster negative flips).</param>
    /// <param name="Suggested">Named items left in place with a suggestion (<see cref="NamedMemberPolicy.Suggest"/> only).</param>
    /// <param name="Corrective">Moves or suggestions that take an item from a cluster of another label to one of its own.</param>
    /// <param name="Harmful">Moves or suggestions that take an item from a cluster of its label to one of another.</param>
    /// <param name="PurityAfter">Mean purity of the galleries' clusters after the backfill.</param>
    public sealed record Outcome(string Upgrade, float Margin, NamedMemberPolicy Policy, int Named, int Flipped, int Suggested, int Corrective, int Harmful, double PurityAfter)
    {
        /// <summary>Flipped over named items.</summary>
        public double FlipFraction => Named == 0 ? 0 : (double)Flipped / Named;

        /// <summary>Moves or suggestions made: flips under <see cref="NamedMemberPolicy.Move"/>, suggestions under <see cref="NamedMemberPolicy.Suggest"/>.</summary>
        public int Decisions => Policy == NamedMemberPolicy.Move ? Flipped : Suggested;
    }

    /// <param name="dataset">One upgrade: old and new vectors of every user's items.</param>
    /// <param name="galleries">Galleries clustered (from the first).</param>
    /// <param name="calibrationGalleries">Galleries after them whose items fit the map.</param>
    /// <param name="oldJoin">Join threshold in the old version.</param>
    /// <param name="newJoin">Join threshold in the new version.</param>
    /// <param name="margins">Stay and move margin values to try.</param>
    /// <param name="policies">The named-member policies to try at each margin.</param>
    public static IReadOnlyList<Outcome> Run(
        EvaluationDataset dataset, int galleries, int calibrationGalleries, float oldJoin, float newJoin, IReadOnlyList<float> margins,
        IReadOnlyList<NamedMemberPolicy>? policies = null)
    {
        ArgumentNullException.ThrowIfNull(dataset);
        ArgumentNullException.ThrowIfNull(margins);
        policies ??= [NamedMemberPolicy.Move, NamedMemberPolicy.Suggest];
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
            foreach (var policy in policies)
            {
                var total = new Outcome(dataset.Name, margin, policy, 0, 0, 0, 0, 0, 0);
                foreach (var gallery in dataset.Galleries.Take(galleries))
                {
                    var one = Upgrade(gallery, map, oldJoin, newJoin, margin, policy);
                    total = total with
                    {
                        Named = total.Named + one.Named,
                        Flipped = total.Flipped + one.Flipped,
                        Suggested = total.Suggested + one.Suggested,
                        Corrective = total.Corrective + one.Corrective,
                        Harmful = total.Harmful + one.Harmful,
                        PurityAfter = total.PurityAfter + (one.PurityAfter / galleries),
                    };
                }

                outcomes.Add(total);
            }
        }

        return outcomes;
    }

    private static Outcome Upgrade(EvaluationGallery gallery, EmbeddingMap map, float oldJoin, float newJoin, float margin, NamedMemberPolicy policy)
    {
        var (dOld, dNew) = (gallery.OldDimension, gallery.NewDimension);
        var ids = gallery.ItemIds;
        var label = Enumerable.Range(0, ids.Count).ToDictionary(i => ids[i], i => gallery.Labels[i].ToString(CultureInfo.InvariantCulture), StringComparer.Ordinal);
        var clusters = new GalleryClusters("old", dOld, new ClusteringParameters { JoinThreshold = oldJoin, MergeThreshold = Math.Max(oldJoin, 0.95f) });
        for (var i = 0; i < ids.Count; i++) clusters.Add(ids[i], gallery.OldVectors.Span.Slice(i * dOld, dOld));
        clusters.Refine();
        var shown = clusters.ListClusters(0).Select(c => c.Id).ToHashSet();
        foreach (var cluster in shown) clusters.Name(cluster, "named " + cluster.ToString(CultureInfo.InvariantCulture));
        var named = ids.Select(id => (id, Cluster: clusters.ClusterOf(id))).Where(p => p.Cluster is { } c && shown.Contains(c))
            .ToDictionary(p => p.id, p => p.Cluster!.Value, StringComparer.Ordinal);
        var majorityBefore = ClusterEvaluation.Majorities(named, id => label[id]);

        var row = Enumerable.Range(0, ids.Count).ToDictionary(i => ids[i], StringComparer.Ordinal);
        var parameters = new ClusteringParameters
        {
            JoinThreshold = newJoin, MergeThreshold = Math.Max(newJoin, 0.95f), StayMargin = margin, MoveMargin = margin, NamedMembers = policy,
        };
        clusters.Rebase("new", dNew, parameters, id => map.Apply(gallery.OldVectors.Span.Slice(row[id] * dOld, dOld)));
        var suggestions = new Dictionary<string, ClusterMove>(StringComparer.Ordinal);
        for (var i = 0; i < ids.Count; i++)
        {
            if (clusters.Reembed(ids[i], gallery.NewVectors.Span.Slice(i * dNew, dNew)) is { Suggested: true } suggestion) suggestions[ids[i]] = suggestion;
        }

        var after = ids.Where(id => clusters.ClusterOf(id) is not null).ToDictionary(id => id, id => clusters.ClusterOf(id)!.Value, StringComparer.Ordinal);
        var majorityAfter = ClusterEvaluation.Majorities(after, id => label[id]);
        var decisions = policy == NamedMemberPolicy.Move
            ? named.Where(p => after.GetValueOrDefault(p.Key, -1) != p.Value).Select(p => (Item: p.Key, To: after.GetValueOrDefault(p.Key, -1)))
            : suggestions.Values.Select(s => (Item: s.ItemId, To: s.ToClusterId));
        var verdicts = decisions.Select(d => ClusterEvaluation.Judge(label[d.Item], majorityBefore[named[d.Item]], majorityAfter.GetValueOrDefault(d.To))).ToList();
        var corrective = verdicts.Count(v => v == MoveVerdict.Corrective);
        var harmful = verdicts.Count(v => v == MoveVerdict.Harmful);

        var flipped = named.Count(p => after.GetValueOrDefault(p.Key, -1) != p.Value);
        var purity = ClusterMetrics.Purity([.. after.Keys.Select(id => gallery.Labels[row[id]])], [.. after.Values]);
        return new Outcome("", margin, policy, named.Count, flipped, suggestions.Count, corrective, harmful, purity);
    }
}
