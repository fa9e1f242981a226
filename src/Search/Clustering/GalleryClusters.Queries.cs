namespace Indexer.Search.Clustering;

/// <summary>Read-only views for listings; none changes the clustering.</summary>
public sealed partial class GalleryClusters
{
    /// <summary>
    /// The clusters a listing shows, largest first (equal sizes by id): named clusters, and unnamed ones with at least
    /// <see cref="ClusteringParameters.MinimumSizeShown"/> members (all of them when <paramref name="includeHidden"/>).
    /// Cost: O(N·d) over the members of the clusters listed when representatives are asked for.
    /// </summary>
    /// <param name="representatives">Members nearest each centroid to return, 0 to <see cref="MaxRepresentatives"/>.</param>
    /// <param name="includeHidden">Also list the small unnamed clusters.</param>
    public IReadOnlyList<ClusterSummary> ListClusters(int representatives = 3, bool includeHidden = false)
    {
        RequireRepresentatives(representatives);
        return _clusters.Values
            .Where(c => includeHidden || c.Name is not null || c.Members.Count >= Parameters.MinimumSizeShown)
            .OrderByDescending(c => c.Members.Count)
            .ThenBy(c => c.Id)
            .Select(c => Summarise(c, representatives))
            .ToList();
    }

    /// <summary>True when a cluster with this id exists (ids of merged-away or emptied clusters are retired).</summary>
    public bool ContainsCluster(long clusterId) => _clusters.ContainsKey(clusterId);

    /// <summary>One cluster as <see cref="ListClusters"/> shows it, whether or not it is hidden.</summary>
    /// <exception cref="KeyNotFoundException">The cluster does not exist.</exception>
    public ClusterSummary GetCluster(long clusterId, int representatives = 3)
    {
        RequireRepresentatives(representatives);
        return Summarise(RequireCluster(clusterId), representatives);
    }

    /// <summary>A page of a cluster's members in ordinal order of item id. Cost: O(offset + limit).</summary>
    /// <exception cref="ArgumentOutOfRangeException">A negative offset, or a limit outside [1, <see cref="MaxPageSize"/>].</exception>
    /// <exception cref="KeyNotFoundException">The cluster does not exist.</exception>
    public ClusterItemsPage ItemsOf(long clusterId, int offset = 0, int limit = 100)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        ArgumentOutOfRangeException.ThrowIfLessThan(limit, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(limit, MaxPageSize);
        Cluster cluster = RequireCluster(clusterId);
        return new ClusterItemsPage(clusterId, cluster.Members.Count, offset, cluster.Members.Skip(offset).Take(limit).ToList());
    }

    /// <summary>The cluster an item is in, or null when the user moved it out.</summary>
    /// <exception cref="KeyNotFoundException">The item is not known.</exception>
    public long? ClusterOf(string itemId) => RequireItem(itemId).Cluster?.Id;

    /// <summary>How the user pinned an item, if at all.</summary>
    /// <exception cref="KeyNotFoundException">The item is not known.</exception>
    public ItemPin PinOf(string itemId) => RequireItem(itemId).Pin;

    /// <summary>Every item in a named cluster, with that cluster's id: what METRICS.md's cluster flips compare across an upgrade.</summary>
    public IReadOnlyDictionary<string, long> NamedMembership()
    {
        var named = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (Cluster cluster in _clusters.Values)
        {
            if (cluster.Name is null)
            {
                continue;
            }

            foreach (string member in cluster.Members)
            {
                named.Add(member, cluster.Id);
            }
        }

        return named;
    }

    private ClusterSummary Summarise(Cluster cluster, int representatives) =>
        new(cluster.Id, cluster.Name, cluster.Members.Count, cluster.Pinned, Representatives(cluster, representatives));

    /// <summary>
    /// The <paramref name="count"/> members with a vector nearest the centroid, nearest first (ties by id); members
    /// without a vector fill up in id order when too few have one.
    /// </summary>
    private List<string> Representatives(Cluster cluster, int count)
    {
        var chosen = new List<string>(Math.Min(count, cluster.Members.Count));
        if (count == 0)
        {
            return chosen;
        }

        if (cluster.Row >= 0)
        {
            ReadOnlySpan<float> centroid = Centroid(cluster.Row);
            var best = new List<(float Score, string Id)>(count + 1);
            foreach (string member in cluster.Members)
            {
                float[]? vector = _items[member].Vector;
                if (vector is null)
                {
                    continue;
                }

                float score = VectorMath.Dot(centroid, vector);
                if (best.Count == count && score <= best[^1].Score)
                {
                    continue; // members come in id order, so an equal score never displaces an earlier id
                }

                int at = best.Count;
                while (at > 0 && best[at - 1].Score < score)
                {
                    at--;
                }

                best.Insert(at, (score, member));
                if (best.Count > count)
                {
                    best.RemoveAt(count);
                }
            }

            chosen.AddRange(best.Select(b => b.Id));
        }

        foreach (string member in cluster.Members)
        {
            if (chosen.Count == count)
            {
                break;
            }

            if (_items[member].Vector is null)
            {
                chosen.Add(member);
            }
        }

        return chosen;
    }

    private static void RequireRepresentatives(int representatives)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(representatives);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(representatives, MaxRepresentatives);
    }
}
