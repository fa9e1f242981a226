namespace Indexer.Search.Clustering;

/// <summary>User actions: corrections the clustering must respect afterwards. Each checks everything before changing anything.</summary>
public sealed partial class GalleryClusters
{
    /// <summary>
    /// Moves an item into a cluster and pins it there: the clustering never moves it again (an upgrade, a refinement or
    /// an automatic merge keeps it in this cluster's id). Moving an item into the cluster it is in just pins it. The
    /// cluster it leaves ceases to exist if it is left empty.
    /// </summary>
    /// <exception cref="KeyNotFoundException">The item or the cluster does not exist. Nothing is changed.</exception>
    public void Move(string itemId, long toClusterId)
    {
        Item item = RequireItem(itemId);
        Cluster target = RequireCluster(toClusterId);
        if (item.Cluster == target)
        {
            if (item.Pin != ItemPin.InCluster)
            {
                item.Pin = ItemPin.InCluster;
                target.Pinned++;
            }

            return;
        }

        if (item.Cluster is not null)
        {
            LeaveCluster(item);
        }

        item.Pin = ItemPin.InCluster;
        JoinCluster(item, target);
    }

    /// <summary>
    /// Takes an item out of every cluster and pins it there: it is in no cluster (<see cref="ClusterOf"/> returns null)
    /// until the user moves it into one, and the clustering never puts it back. The cluster it leaves ceases to exist if
    /// it is left empty.
    /// </summary>
    /// <exception cref="KeyNotFoundException">The item does not exist. Nothing is changed.</exception>
    public void MoveOut(string itemId)
    {
        Item item = RequireItem(itemId);
        if (item.Cluster is not null)
        {
            LeaveCluster(item);
        }

        item.Pin = ItemPin.MovedOut;
    }

    /// <summary>
    /// Merges two clusters on a user's request. The surviving id is <paramref name="intoClusterId"/>'s, unless only
    /// <paramref name="fromClusterId"/> is named, in which case the named one survives: a name always stays with its id.
    /// When both are named, <paramref name="intoClusterId"/> keeps its name and the other name is dropped. Pins carry over.
    /// </summary>
    /// <returns>The id of the merged cluster.</returns>
    /// <exception cref="ArgumentException">The two ids are the same. Nothing is changed.</exception>
    /// <exception cref="KeyNotFoundException">Either cluster does not exist. Nothing is changed.</exception>
    public long Merge(long intoClusterId, long fromClusterId)
    {
        Cluster into = RequireCluster(intoClusterId);
        Cluster from = RequireCluster(fromClusterId);
        if (into == from)
        {
            throw new ArgumentException($"Cluster {intoClusterId} cannot be merged with itself.", nameof(fromClusterId));
        }

        (Cluster survivor, Cluster victim) = into.Name is null && from.Name is not null ? (from, into) : (into, from);
        MergeInto(survivor, victim);
        return survivor.Id;
    }

    /// <summary>Names or renames a cluster. The name is stored trimmed and in Unicode normalisation form C.</summary>
    /// <exception cref="ArgumentException">The name is empty, only white space, longer than <see cref="ClusterNames.MaxLength"/>,
    /// holds control characters or is not valid text. Nothing is changed.</exception>
    /// <exception cref="KeyNotFoundException">The cluster does not exist. Nothing is changed.</exception>
    public void Name(long clusterId, string name)
    {
        string normalised = ClusterNames.Normalize(name);
        RequireCluster(clusterId).Name = normalised;
    }
}
