using Indexer.Search.Clustering;

namespace Indexer.Search.Metrics;

/// <summary>
/// Cluster negative flips of an upgrade, as METRICS.md defines them: an item that was in a named cluster flips when
/// afterwards it is no longer in that cluster, either because it left for an unnamed cluster or no cluster
/// (<see cref="Left"/>), or because it moved into a different named cluster (<see cref="MovedToOtherNamed"/>).
/// </summary>
/// <param name="NamedItems">Items in a named cluster before that are still in the gallery after (the denominator).</param>
/// <param name="Left">Items now in an unnamed cluster or in none.</param>
/// <param name="MovedToOtherNamed">Items now in a different named cluster.</param>
/// <param name="Removed">Items in a named cluster before that are no longer in the gallery; deletions, not flips.</param>
public sealed record ClusterFlipReport(int NamedItems, int Left, int MovedToOtherNamed, int Removed)
{
    /// <summary>Negative flips: <see cref="Left"/> + <see cref="MovedToOtherNamed"/>.</summary>
    public int Flips => Left + MovedToOtherNamed;

    /// <summary>Flips over <see cref="NamedItems"/>; NaN when no item was named.</summary>
    public double Fraction => NamedItems == 0 ? double.NaN : (double)Flips / NamedItems;
}

/// <summary>
/// Cluster quality against known labels (adjusted Rand index, normalised mutual information, purity), and cluster
/// negative flips across an upgrade. Partitions are given as one label and one cluster per item, in the same order.
/// </summary>
public static class ClusterMetrics
{
    /// <summary>The gap between 1 and the next double (numpy's float64 eps): scikit-learn's floor for the NMI normaliser.</summary>
    private const double MachineEpsilon = 2.220446049250313e-16;

    /// <summary>
    /// Adjusted Rand index (Hubert and Arabie), as scikit-learn's <c>adjusted_rand_score</c>: the Rand index over item
    /// pairs corrected for chance, 1 for identical partitions (up to renaming), about 0 for independent ones, and
    /// possibly negative. From the contingency table n_ij with row sums a_i and column sums b_j:
    /// ARI = (Σ C(n_ij,2) − E) / (½(Σ C(a_i,2) + Σ C(b_j,2)) − E), E = Σ C(a_i,2)·Σ C(b_j,2) / C(n,2).
    /// When the denominator is 0 (both partitions put everything in one cluster, or everything apart, or n &lt; 2) the
    /// partitions agree on every pair and the score is 1, as in scikit-learn.
    /// </summary>
    public static double AdjustedRandIndex<TLabel, TCluster>(IReadOnlyList<TLabel> labels, IReadOnlyList<TCluster> clusters)
        where TLabel : notnull
        where TCluster : notnull
    {
        Contingency table = Contingency.Build(labels, clusters);
        double n = table.Count;
        double index = table.Cells.Sum(c => PairsOf(c));
        double rows = table.RowSums.Sum(PairsOf);
        double columns = table.ColumnSums.Sum(PairsOf);
        double expected = n < 2 ? 0 : rows * columns / PairsOf(table.Count);
        double max = (rows + columns) / 2;
        return max == expected ? 1.0 : (index - expected) / (max - expected);
    }

    /// <summary>
    /// Normalised mutual information with the arithmetic-mean normalisation, NMI = I(Y; C) / ((H(Y) + H(C)) / 2), natural
    /// logarithms (the base cancels), as scikit-learn's <c>normalized_mutual_info_score</c> with its default
    /// <c>average_method="arithmetic"</c> (equal to the V-measure). As there: 1 when both partitions are a single
    /// cluster (or empty), 0 when the mutual information is 0.
    /// </summary>
    public static double NormalizedMutualInformation<TLabel, TCluster>(IReadOnlyList<TLabel> labels, IReadOnlyList<TCluster> clusters)
        where TLabel : notnull
        where TCluster : notnull
    {
        Contingency table = Contingency.Build(labels, clusters);
        if (table.RowSums.Length == table.ColumnSums.Length && table.RowSums.Length <= 1)
        {
            return 1.0;
        }

        double n = table.Count;
        double mutual = 0;
        foreach (var ((row, column), count) in table.CellsByIndex)
        {
            // n_ij/n · ln(n·n_ij / (a_i·b_j))
            mutual += count / n * (Math.Log(count) + Math.Log(n) - Math.Log(table.RowSums[row]) - Math.Log(table.ColumnSums[column]));
        }

        mutual = Math.Max(mutual, 0); // rounding can leave a tiny negative where the true value is 0
        if (mutual == 0)
        {
            return 0.0;
        }

        double normaliser = Math.Max((Entropy(table.RowSums, n) + Entropy(table.ColumnSums, n)) / 2, MachineEpsilon);
        return mutual / normaliser;
    }

    /// <summary>
    /// Purity: each cluster is credited with its most frequent label, purity = (1/n) Σ_clusters max_label n_ij. In (0, 1];
    /// 1 when every cluster holds one label (all-singleton clusters score 1 too, so read it with the cluster count).
    /// NaN for no items. Items in no cluster should be given a cluster of their own each by the caller.
    /// </summary>
    public static double Purity<TLabel, TCluster>(IReadOnlyList<TLabel> labels, IReadOnlyList<TCluster> clusters)
        where TLabel : notnull
        where TCluster : notnull
    {
        Contingency table = Contingency.Build(labels, clusters);
        if (table.Count == 0)
        {
            return double.NaN;
        }

        var largest = new long[table.ColumnSums.Length];
        foreach (var ((_, column), count) in table.CellsByIndex)
        {
            largest[column] = Math.Max(largest[column], count);
        }

        return (double)largest.Sum() / table.Count;
    }

    /// <summary>
    /// Cluster negative flips between two states of one gallery's clusters (before and after an upgrade and its backfill).
    /// Items named before but gone from <paramref name="after"/> were deleted and are counted apart, not as flips.
    /// </summary>
    /// <param name="namedBefore">Item → cluster id, for every item in a named cluster before.</param>
    /// <param name="after">Item → cluster id (null: in no cluster), for every item in the gallery after.</param>
    /// <param name="namedClustersAfter">Ids of the clusters that carry a name after.</param>
    public static ClusterFlipReport NegativeFlips(
        IReadOnlyDictionary<string, long> namedBefore, IReadOnlyDictionary<string, long?> after, IReadOnlySet<long> namedClustersAfter)
    {
        ArgumentNullException.ThrowIfNull(namedBefore);
        ArgumentNullException.ThrowIfNull(after);
        ArgumentNullException.ThrowIfNull(namedClustersAfter);
        int named = 0, left = 0, movedToOtherNamed = 0, removed = 0;
        foreach ((string item, long before) in namedBefore)
        {
            if (!after.TryGetValue(item, out long? now))
            {
                removed++;
                continue;
            }

            named++;
            if (now == before)
            {
                continue;
            }

            if (now is { } cluster && namedClustersAfter.Contains(cluster))
            {
                movedToOtherNamed++;
            }
            else
            {
                left++;
            }
        }

        return new ClusterFlipReport(named, left, movedToOtherNamed, removed);
    }

    /// <summary><see cref="NegativeFlips(IReadOnlyDictionary{string, long}, IReadOnlyDictionary{string, long?}, IReadOnlySet{long})"/> between two snapshots of <see cref="GalleryClusters"/>.</summary>
    public static ClusterFlipReport NegativeFlips(ClusteringSnapshot before, ClusteringSnapshot after)
    {
        ArgumentNullException.ThrowIfNull(before);
        ArgumentNullException.ThrowIfNull(after);
        var namedBefore = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (ClusterRecord cluster in before.Clusters.Where(c => c.Name is not null))
        {
            foreach (string member in cluster.Members)
            {
                namedBefore[member] = cluster.Id;
            }
        }

        var membershipAfter = new Dictionary<string, long?>(StringComparer.Ordinal);
        foreach (ClusterRecord cluster in after.Clusters)
        {
            foreach (string member in cluster.Members)
            {
                membershipAfter[member] = cluster.Id;
            }
        }

        foreach (string item in after.MovedOutItems)
        {
            membershipAfter[item] = null;
        }

        var namedAfter = after.Clusters.Where(c => c.Name is not null).Select(c => c.Id).ToHashSet();
        return NegativeFlips(namedBefore, membershipAfter, namedAfter);
    }

    private static double PairsOf(long count) => count * (count - 1) / 2.0;

    private static double Entropy(long[] sums, double n)
    {
        double h = 0;
        foreach (long s in sums)
        {
            if (s > 0)
            {
                h -= s / n * (Math.Log(s) - Math.Log(n));
            }
        }

        return h;
    }

    /// <summary>The contingency table of two partitions: counts of items per (label, cluster) pair, with its margins.</summary>
    private sealed class Contingency
    {
        private Contingency(long count, long[] rowSums, long[] columnSums, Dictionary<(int Row, int Column), long> cells)
        {
            Count = count;
            RowSums = rowSums;
            ColumnSums = columnSums;
            CellsByIndex = cells;
        }

        public long Count { get; }

        public long[] RowSums { get; }

        public long[] ColumnSums { get; }

        public Dictionary<(int Row, int Column), long> CellsByIndex { get; }

        public IEnumerable<long> Cells => CellsByIndex.Values;

        public static Contingency Build<TLabel, TCluster>(IReadOnlyList<TLabel> labels, IReadOnlyList<TCluster> clusters)
            where TLabel : notnull
            where TCluster : notnull
        {
            ArgumentNullException.ThrowIfNull(labels);
            ArgumentNullException.ThrowIfNull(clusters);
            if (labels.Count != clusters.Count)
            {
                throw new ArgumentException($"One cluster per label is needed: {labels.Count} labels, {clusters.Count} clusters.", nameof(clusters));
            }

            var rowOf = new Dictionary<TLabel, int>();
            var columnOf = new Dictionary<TCluster, int>();
            var rowSums = new List<long>();
            var columnSums = new List<long>();
            var cells = new Dictionary<(int, int), long>();
            for (int i = 0; i < labels.Count; i++)
            {
                if (!rowOf.TryGetValue(labels[i], out int row))
                {
                    rowOf.Add(labels[i], row = rowSums.Count);
                    rowSums.Add(0);
                }

                if (!columnOf.TryGetValue(clusters[i], out int column))
                {
                    columnOf.Add(clusters[i], column = columnSums.Count);
                    columnSums.Add(0);
                }

                rowSums[row]++;
                columnSums[column]++;
                cells[(row, column)] = cells.GetValueOrDefault((row, column)) + 1;
            }

            return new Contingency(labels.Count, [.. rowSums], [.. columnSums], cells);
        }
    }
}
