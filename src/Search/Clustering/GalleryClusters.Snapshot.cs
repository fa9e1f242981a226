namespace Indexer.Search.Clustering;

/// <summary>Persistence: the state is membership, names, pins and the id counter; vectors come back from the gallery.</summary>
public sealed partial class GalleryClusters
{
    /// <summary>The persistent state, in a deterministic order (clusters by id, items ordinal). Cost: O(N).</summary>
    public ClusteringSnapshot ToSnapshot()
    {
        var clusters = _clusters.Values
            .OrderBy(c => c.Id)
            .Select(c => new ClusterRecord(
                c.Id,
                c.Name,
                [.. c.Members],
                [.. c.Members.Where(m => _items[m].Pin == ItemPin.InCluster)]))
            .ToList();
        var movedOut = _items.Values
            .Where(i => i.Pin == ItemPin.MovedOut)
            .Select(i => i.Id)
            .Order(StringComparer.Ordinal)
            .ToList();
        return new ClusteringSnapshot(ModelVersion, Dimension, Parameters, _nextClusterId, clusters, movedOut);
    }

    /// <summary>
    /// Rebuilds a clustering from its snapshot and its items' vectors in <see cref="ClusteringSnapshot.ModelVersion"/>;
    /// centroids are recomputed from the vectors. An item for which <paramref name="vectorOf"/> returns null keeps its
    /// place without a vector, as after <see cref="Rebase"/>; the caller removes items deleted from the gallery since the
    /// snapshot was taken, and adds those added since.
    /// </summary>
    /// <exception cref="ArgumentException">The snapshot is inconsistent (a duplicate or out-of-range id, an item in two
    /// places, an empty cluster, a pin on a non-member, an invalid name) or a vector is invalid.</exception>
    /// <remarks>Cost: O(N·d) plus the calls to <paramref name="vectorOf"/>.</remarks>
    public static GalleryClusters FromSnapshot(ClusteringSnapshot snapshot, Func<string, float[]?> vectorOf)
    {
        ArgumentNullException.ThrowIfNull(snapshot);
        ArgumentNullException.ThrowIfNull(vectorOf);
        ArgumentNullException.ThrowIfNull(snapshot.Clusters, nameof(snapshot));
        ArgumentNullException.ThrowIfNull(snapshot.MovedOutItems, nameof(snapshot));
        var clusters = new GalleryClusters(snapshot.ModelVersion, snapshot.Dimension, snapshot.Parameters);
        if (snapshot.NextClusterId < 1)
        {
            throw Invalid($"the next cluster id must be positive, got {snapshot.NextClusterId}");
        }

        clusters._nextClusterId = snapshot.NextClusterId;
        foreach (ClusterRecord record in snapshot.Clusters)
        {
            if (record is null || record.Members is null || record.PinnedMembers is null)
            {
                throw Invalid("a cluster record or its member lists are missing");
            }

            if (record.Id < 1 || record.Id >= snapshot.NextClusterId)
            {
                throw Invalid($"cluster id {record.Id} is outside [1, {snapshot.NextClusterId})");
            }

            if (record.Members.Count == 0)
            {
                throw Invalid($"cluster {record.Id} has no member");
            }

            var cluster = new Cluster(record.Id, snapshot.Dimension);
            if (!clusters._clusters.TryAdd(record.Id, cluster))
            {
                throw Invalid($"cluster id {record.Id} appears twice");
            }

            if (record.Name is not null)
            {
                string name;
                try
                {
                    name = ClusterNames.Normalize(record.Name);
                }
                catch (ArgumentException e)
                {
                    throw Invalid($"cluster {record.Id} has an invalid name: {e.Message}");
                }

                cluster.Name = name;
            }

            foreach (string member in record.Members)
            {
                var item = new Item(RequireSnapshotItemId(member)) { Cluster = cluster };
                if (!clusters._items.TryAdd(member, item))
                {
                    throw Invalid($"item '{member}' appears in two places");
                }

                cluster.Members.Add(member);
            }

            foreach (string pinned in record.PinnedMembers)
            {
                if (pinned is null || !cluster.Members.Contains(pinned) || clusters._items[pinned].Pin != ItemPin.None)
                {
                    throw Invalid($"cluster {record.Id} pins '{pinned}', which is not one of its members or is listed twice");
                }

                clusters._items[pinned].Pin = ItemPin.InCluster;
                cluster.Pinned++;
            }
        }

        foreach (string movedOut in snapshot.MovedOutItems)
        {
            if (!clusters._items.TryAdd(RequireSnapshotItemId(movedOut), new Item(movedOut) { Pin = ItemPin.MovedOut }))
            {
                throw Invalid($"item '{movedOut}' appears in two places");
            }
        }

        Dictionary<string, float[]?> vectors = ReadVectors(clusters._items.Keys, snapshot.Dimension, vectorOf, nameof(vectorOf));
        foreach (Item item in clusters._items.Values)
        {
            item.Vector = vectors[item.Id];
        }

        clusters.RebuildCentroids();
        return clusters;

        static string RequireSnapshotItemId(string id) => string.IsNullOrEmpty(id) ? throw Invalid("an item id is empty") : id;

        static ArgumentException Invalid(string problem) => new($"The clustering snapshot is inconsistent: {problem}.", nameof(snapshot));
    }
}
