using System.Globalization;
using Indexer.Search.Metrics;

namespace Indexer.Evaluation;

/// <summary>A gallery's clusters as its user sees them through the API at one moment.</summary>
/// <param name="ModelVersion">The version the clusters are computed in (the serving plan's query version).</param>
/// <param name="Membership">Every item of the gallery and the cluster it is in; null when it is in none (moved out by the user, or not clustered).</param>
/// <param name="Names">Every cluster, shown or not, and its name (null: unnamed).</param>
/// <param name="Shown">The clusters a listing shows: named ones and unnamed ones of at least the version's minimum size.</param>
public sealed record ClusterView(string? ModelVersion, IReadOnlyDictionary<string, long?> Membership, IReadOnlyDictionary<long, string?> Names, IReadOnlySet<long> Shown)
{
    /// <summary>Every item in a named cluster, with that cluster's id: what the flips of an upgrade are counted against.</summary>
    public IReadOnlyDictionary<string, long> NamedMembership() =>
        Membership.Where(m => m.Value is { } id && Names.GetValueOrDefault(id) is not null)
            .ToDictionary(m => m.Key, m => m.Value!.Value, StringComparer.Ordinal);

    /// <summary>The ids of the clusters that carry a name.</summary>
    public IReadOnlySet<long> NamedClusters() => Names.Where(n => n.Value is not null).Select(n => n.Key).ToHashSet();

    /// <summary>Each cluster's members in ordinal order of item id.</summary>
    public IReadOnlyDictionary<long, IReadOnlyList<string>> Members() =>
        Membership.Where(m => m.Value is not null)
            .GroupBy(m => m.Value!.Value)
            .ToDictionary(g => g.Key, g => (IReadOnlyList<string>)g.Select(m => m.Key).Order(StringComparer.Ordinal).ToList());
}

/// <summary>
/// Cluster quality against the images' labels over the items in a shown cluster (METRICS.md: ARI, NMI, purity), with the
/// purity of chance for reference: the share of the most frequent label among those items, i.e. the purity of putting
/// them all in one cluster.
/// </summary>
/// <param name="Items">Items in a shown cluster (the items measured).</param>
/// <param name="GalleryItems">Items in the gallery.</param>
/// <param name="ShownClusters">Clusters a listing shows.</param>
/// <param name="AdjustedRandIndex">ARI of the shown clusters against the labels.</param>
/// <param name="NormalizedMutualInformation">NMI (arithmetic normalisation).</param>
/// <param name="Purity">Purity.</param>
/// <param name="ChancePurity">The most frequent label's share of the items measured.</param>
public sealed record ClusterQuality(int Items, int GalleryItems, int ShownClusters, double AdjustedRandIndex, double NormalizedMutualInformation, double Purity, double ChancePurity)
{
    /// <summary>Share of the gallery in a shown cluster.</summary>
    public double Coverage => GalleryItems == 0 ? double.NaN : (double)Items / GalleryItems;

    /// <summary>Several galleries' quality: counts summed, scores averaged over the galleries (a macro average, as every figure of the report).</summary>
    public static ClusterQuality Average(IReadOnlyList<ClusterQuality> galleries)
    {
        ArgumentNullException.ThrowIfNull(galleries);
        if (galleries.Count == 0) return new ClusterQuality(0, 0, 0, double.NaN, double.NaN, double.NaN, double.NaN);
        return new ClusterQuality(
            galleries.Sum(q => q.Items), galleries.Sum(q => q.GalleryItems), galleries.Sum(q => q.ShownClusters),
            galleries.Average(q => q.AdjustedRandIndex), galleries.Average(q => q.NormalizedMutualInformation),
            galleries.Average(q => q.Purity), galleries.Average(q => q.ChancePurity));
    }
}

/// <summary>What a simulated user corrected.</summary>
public enum ClusterCorrectionKind
{
    /// <summary>An item that does not belong in its cluster, taken out of every cluster.</summary>
    MoveOut = 0,

    /// <summary>An item moved into the named cluster of its label.</summary>
    MoveIn = 1,
}

/// <summary>One correction a simulated user made, and what it must keep in force afterwards.</summary>
/// <param name="Gallery">The user's gallery.</param>
/// <param name="ItemId">The item corrected.</param>
/// <param name="Label">Its label.</param>
/// <param name="Kind">What the user did.</param>
/// <param name="FromClusterId">The cluster it was in; null when in none.</param>
/// <param name="FromName">That cluster's name.</param>
/// <param name="ToClusterId">For <see cref="ClusterCorrectionKind.MoveIn"/>: the cluster it must stay in.</param>
/// <param name="ToName">That cluster's name.</param>
public sealed record ClusterCorrection(string Gallery, string ItemId, string Label, ClusterCorrectionKind Kind, long? FromClusterId, string? FromName, long? ToClusterId, string? ToName)
{
    /// <summary>True when the correction still holds in <paramref name="view"/>: moved out, in no cluster; moved in, in its cluster.</summary>
    public bool InForce(ClusterView view)
    {
        ArgumentNullException.ThrowIfNull(view);
        if (!view.Membership.TryGetValue(ItemId, out var now)) return false;
        return Kind == ClusterCorrectionKind.MoveOut ? now is null : now == ToClusterId;
    }
}

/// <summary>One gallery's clusters at one measured point of an upgrade.</summary>
/// <param name="Gallery">The gallery.</param>
/// <param name="ModelVersion">The version its clusters were computed in.</param>
/// <param name="Quality">Quality against the labels.</param>
/// <param name="Flips">Negative flips against the named membership before the rollout.</param>
/// <param name="CorrectionsKept">The user's corrections (all made so far in this gallery) still in force.</param>
/// <param name="Corrections">The user's corrections made so far in this gallery.</param>
/// <param name="Suggestions">Open suggestions: members of named clusters the clustering would have moved and left to the user.</param>
/// <param name="CorrectiveSuggestions">Suggestions that would take an item from a cluster whose majority label is not its own to one whose majority is.</param>
/// <param name="HarmfulSuggestions">Suggestions that would take an item from a cluster of its majority label to one of another.</param>
public sealed record GalleryClusterMeasure(
    string Gallery, string? ModelVersion, ClusterQuality Quality, ClusterFlipReport Flips, int CorrectionsKept, int Corrections,
    int Suggestions = 0, int CorrectiveSuggestions = 0, int HarmfulSuggestions = 0);

/// <summary>Where in an upgrade the clusters were measured.</summary>
public enum ClusterStage
{
    /// <summary>As the clustering left them, before the user's actions of this upgrade (names, corrections).</summary>
    Clustered = 0,

    /// <summary>After the user's actions, before the rollout: the baseline of the flips.</summary>
    BeforeRollout = 1,

    /// <summary>The new version active, nothing re-embedded yet (the lazy rollout that grants no budget).</summary>
    Activated = 2,

    /// <summary>The full backfill paused near a requested β.</summary>
    Paused = 3,

    /// <summary>The full backfill ended (β = 1).</summary>
    Backfilled = 4,

    /// <summary>After the harness rolled the upgrade back (how it ends every upgrade).</summary>
    RolledBack = 5,
}

/// <summary>Every gallery's clusters at one point of an upgrade, and their totals.</summary>
/// <param name="Stage">Where in the upgrade.</param>
/// <param name="Requested">The β asked for (pauses); NaN elsewhere.</param>
/// <param name="Beta">The share of all items holding the new version when measured (0 before the rollout and after the rollback).</param>
/// <param name="Galleries">Per gallery.</param>
public sealed record ClusterPoint(ClusterStage Stage, double Requested, double Beta, IReadOnlyList<GalleryClusterMeasure> Galleries)
{
    /// <summary>Quality over the galleries (scores macro-averaged).</summary>
    public ClusterQuality Quality => ClusterQuality.Average(Galleries.Select(g => g.Quality).ToList());

    /// <summary>The galleries' flips summed.</summary>
    public ClusterFlipReport Flips => new(Galleries.Sum(g => g.Flips.NamedItems), Galleries.Sum(g => g.Flips.Left), Galleries.Sum(g => g.Flips.MovedToOtherNamed), Galleries.Sum(g => g.Flips.Removed));

    /// <summary>Corrections in force over all galleries.</summary>
    public int CorrectionsKept => Galleries.Sum(g => g.CorrectionsKept);

    /// <summary>Open suggestions over all galleries.</summary>
    public int Suggestions => Galleries.Sum(g => g.Suggestions);

    /// <summary>Suggestions the labels agree with, over all galleries.</summary>
    public int CorrectiveSuggestions => Galleries.Sum(g => g.CorrectiveSuggestions);

    /// <summary>Suggestions the labels disagree with, over all galleries.</summary>
    public int HarmfulSuggestions => Galleries.Sum(g => g.HarmfulSuggestions);

    /// <summary>Corrections made so far over all galleries.</summary>
    public int Corrections => Galleries.Sum(g => g.Corrections);

    /// <summary>The clusters' versions, e.g. "fm-v2-bct" (several when galleries differ).</summary>
    public string ModelVersions => string.Join(", ", Galleries.Select(g => g.ModelVersion ?? "-").Distinct(StringComparer.Ordinal));
}

/// <summary>The clusters of one upgrade driven through the system: the user's actions before it and every measured point.</summary>
public sealed record SystemClusterResult
{
    /// <summary>Clusters named by the user before this upgrade, over all galleries (this upgrade's and earlier ones').</summary>
    public required int NamedClusters { get; init; }

    /// <summary>Clusters the user named before this upgrade (those that had no name yet).</summary>
    public required int NewlyNamed { get; init; }

    /// <summary>The corrections the user made before this upgrade.</summary>
    public required IReadOnlyList<ClusterCorrection> Corrections { get; init; }

    /// <summary>Every point measured, in order: clustered, before the rollout, activated, paused…, backfilled, rolled back.</summary>
    public required IReadOnlyList<ClusterPoint> Points { get; init; }

    /// <summary>The points from activation on (what the upgrade did to the user's clusters).</summary>
    public IEnumerable<ClusterPoint> DuringUpgrade => Points.Where(p => p.Stage >= ClusterStage.Activated);

    /// <summary>The largest share of named items flipped at any point from activation on; NaN when nothing was named.</summary>
    public double MaxFlipFraction
    {
        get
        {
            var fractions = DuringUpgrade.Select(p => p.Flips.Fraction).Where(f => !double.IsNaN(f)).ToList();
            return fractions.Count == 0 ? double.NaN : fractions.Max();
        }
    }

    /// <summary>True when every correction was in force at every point after the user made it.</summary>
    public bool CorrectionsAlwaysKept => Points.Where(p => p.Stage >= ClusterStage.BeforeRollout).All(p => p.CorrectionsKept == p.Corrections);
}

/// <summary>
/// The plain logic of the cluster part of the system mode: a simulated user's names and corrections, and the measures
/// of METRICS.md over what the API shows (quality against labels, negative flips against the named membership).
/// </summary>
public static class ClusterEvaluation
{
    /// <summary>
    /// Names for the shown clusters that have none: the majority label of their members and a number, "Trouser 2",
    /// numbered per label by size (largest first, then id) after the numbers already used by names of that form.
    /// Names are user data; the system never sees the labels.
    /// </summary>
    public static IReadOnlyDictionary<long, string> NameClusters(ClusterView view, Func<string, string> labelOf)
    {
        ArgumentNullException.ThrowIfNull(view);
        ArgumentNullException.ThrowIfNull(labelOf);
        var members = view.Members();
        var used = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var name in view.Names.Values.OfType<string>())
        {
            var space = name.LastIndexOf(' ');
            if (space > 0 && int.TryParse(name.AsSpan(space + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var n))
            {
                var label = name[..space];
                used[label] = Math.Max(used.GetValueOrDefault(label), n);
            }
        }

        var names = new Dictionary<long, string>();
        foreach (var id in view.Shown.Where(id => view.Names.GetValueOrDefault(id) is null && members.ContainsKey(id))
            .OrderByDescending(id => members[id].Count).ThenBy(id => id))
        {
            var label = Majority(members[id], labelOf);
            var number = used.GetValueOrDefault(label) + 1;
            used[label] = number;
            names[id] = Invariant($"{label} {number}");
        }

        return names;
    }

    /// <summary>
    /// A user's two corrections in one gallery, chosen deterministically among the items not in <paramref name="exclude"/>:
    /// (1) out: in the largest named cluster that holds one, the first item (by id) whose label is not the cluster's
    /// majority label, taken out of every cluster; (2) in: the first item (by id) of a named cluster whose label is not
    /// that cluster's majority label but is the majority label of another named cluster, moved into the largest such
    /// cluster (failing that, an item in no shown cluster). Either is left out when no item qualifies.
    /// </summary>
    public static IReadOnlyList<ClusterCorrection> PlanCorrections(string gallery, ClusterView view, Func<string, string> labelOf, IReadOnlySet<string> exclude)
    {
        ArgumentNullException.ThrowIfNull(view);
        ArgumentNullException.ThrowIfNull(labelOf);
        ArgumentNullException.ThrowIfNull(exclude);
        var members = view.Members();
        var named = view.NamedClusters().Where(members.ContainsKey)
            .OrderByDescending(id => members[id].Count).ThenBy(id => id).ToList();
        var majority = named.ToDictionary(id => id, id => Majority(members[id], labelOf));
        var corrections = new List<ClusterCorrection>(2);

        foreach (var id in named)
        {
            var item = members[id].FirstOrDefault(i => !exclude.Contains(i) && labelOf(i) != majority[id]);
            if (item is null) continue;
            corrections.Add(new ClusterCorrection(gallery, item, labelOf(item), ClusterCorrectionKind.MoveOut, id, view.Names[id], null, null));
            break;
        }

        // The named cluster of each label a user would drag an item into: the largest whose majority it is.
        var home = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var id in named) home.TryAdd(majority[id], id);
        bool Candidate(string item) => !exclude.Contains(item) && corrections.All(c => c.ItemId != item) && home.ContainsKey(labelOf(item));
        var misplaced = view.Membership.Keys.Order(StringComparer.Ordinal)
            .Where(i => view.Membership[i] is { } id && majority.TryGetValue(id, out var m) && m != labelOf(i) && Candidate(i));
        var unshown = view.Membership.Keys.Order(StringComparer.Ordinal)
            .Where(i => (view.Membership[i] is not { } id || !view.Shown.Contains(id)) && Candidate(i));
        if (misplaced.Concat(unshown).FirstOrDefault() is { } moved)
        {
            var from = view.Membership[moved];
            var to = home[labelOf(moved)];
            corrections.Add(new ClusterCorrection(gallery, moved, labelOf(moved), ClusterCorrectionKind.MoveIn, from,
                from is { } f ? view.Names.GetValueOrDefault(f) : null, to, view.Names[to]));
        }

        return corrections;
    }

    /// <summary>Quality against the labels over the items in a shown cluster.</summary>
    public static ClusterQuality Quality(ClusterView view, Func<string, string> labelOf)
    {
        ArgumentNullException.ThrowIfNull(view);
        ArgumentNullException.ThrowIfNull(labelOf);
        var labels = new List<string>();
        var clusters = new List<long>();
        foreach (var (item, cluster) in view.Membership.OrderBy(m => m.Key, StringComparer.Ordinal))
        {
            if (cluster is not { } id || !view.Shown.Contains(id)) continue;
            labels.Add(labelOf(item));
            clusters.Add(id);
        }

        var shown = view.Shown.Count(view.Names.ContainsKey);
        if (labels.Count == 0) return new ClusterQuality(0, view.Membership.Count, shown, double.NaN, double.NaN, double.NaN, double.NaN);
        var chance = labels.GroupBy(l => l, StringComparer.Ordinal).Max(g => g.Count()) / (double)labels.Count;
        return new ClusterQuality(labels.Count, view.Membership.Count, shown,
            ClusterMetrics.AdjustedRandIndex(labels, clusters), ClusterMetrics.NormalizedMutualInformation(labels, clusters), ClusterMetrics.Purity(labels, clusters), chance);
    }

    /// <summary>
    /// One gallery at one point: quality, flips against <paramref name="namedBefore"/>, corrections in force, and the open
    /// suggestions (item, its cluster, the suggested one) judged against the labels by the majority label of each cluster.
    /// </summary>
    public static GalleryClusterMeasure Measure(
        string gallery, ClusterView view, Func<string, string> labelOf, IReadOnlyDictionary<string, long> namedBefore, IReadOnlyList<ClusterCorrection> corrections,
        IReadOnlyList<(string ItemId, long From, long To)>? suggestions = null)
    {
        ArgumentNullException.ThrowIfNull(view);
        ArgumentNullException.ThrowIfNull(namedBefore);
        ArgumentNullException.ThrowIfNull(corrections);
        var flips = ClusterMetrics.NegativeFlips(namedBefore, view.Membership, view.NamedClusters());
        suggestions ??= [];
        var majority = Majorities(view.Membership.Where(m => m.Value is not null).Select(m => KeyValuePair.Create(m.Key, m.Value!.Value)), labelOf);
        var verdicts = suggestions.Select(s => Judge(labelOf(s.ItemId), majority.GetValueOrDefault(s.From), majority.GetValueOrDefault(s.To))).ToList();
        var corrective = verdicts.Count(v => v == MoveVerdict.Corrective);
        var harmful = verdicts.Count(v => v == MoveVerdict.Harmful);

        return new GalleryClusterMeasure(gallery, view.ModelVersion, Quality(view, labelOf), flips, corrections.Count(c => c.InForce(view)), corrections.Count,
            suggestions.Count, corrective, harmful);
    }

    /// <summary>
    /// How the labels judge moving an item with label <paramref name="label"/> from a cluster whose majority label is
    /// <paramref name="fromMajority"/> to one whose majority is <paramref name="toMajority"/> (null: no such cluster).
    /// </summary>
    public static MoveVerdict Judge(string label, string? fromMajority, string? toMajority) =>
        (fromMajority == label, toMajority == label) switch
        {
            (false, true) => MoveVerdict.Corrective,
            (true, false) => MoveVerdict.Harmful,
            _ => MoveVerdict.Neither,
        };

    /// <summary>Each cluster's majority label (<see cref="Majority"/>), from item → cluster pairs.</summary>
    public static Dictionary<long, string> Majorities(IEnumerable<KeyValuePair<string, long>> membership, Func<string, string> labelOf) =>
        membership.GroupBy(m => m.Value).ToDictionary(g => g.Key, g => Majority(g.Select(m => m.Key), labelOf));

    /// <summary>The most frequent label among <paramref name="items"/>; ties go to the ordinally first label.</summary>
    public static string Majority(IEnumerable<string> items, Func<string, string> labelOf)
    {
        ArgumentNullException.ThrowIfNull(items);
        ArgumentNullException.ThrowIfNull(labelOf);
        return items.GroupBy(labelOf, StringComparer.Ordinal)
            .OrderByDescending(g => g.Count()).ThenBy(g => g.Key, StringComparer.Ordinal)
            .First().Key;
    }

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}

/// <summary>How the labels judge a move (or a suggested one) of an item between clusters.</summary>
public enum MoveVerdict
{
    /// <summary>Its label is the majority of neither or of both clusters.</summary>
    Neither = 0,

    /// <summary>From a cluster whose majority label is not the item's to one whose majority is.</summary>
    Corrective = 1,

    /// <summary>From a cluster whose majority label is the item's to one whose majority is not.</summary>
    Harmful = 2,
}
