namespace Indexer.Search.Clustering;

/// <summary>
/// The persistent state of a <see cref="GalleryClusters"/>: membership, names, pins and the id counter, nothing derived.
/// Centroids are not stored: they are recomputed from the members' vectors by <see cref="GalleryClusters.FromSnapshot"/>,
/// which keeps the snapshot small (item ids only) and independent of float summation order.
/// </summary>
/// <param name="ModelVersion">The model version whose vectors the clusters are computed over.</param>
/// <param name="Dimension">The length of that version's vectors.</param>
/// <param name="Parameters">The clustering parameters of that version.</param>
/// <param name="NextClusterId">The id the next new cluster gets; ids are never reused.</param>
/// <param name="Clusters">Every cluster, by ascending id.</param>
/// <param name="MovedOutItems">Items the user moved out of every cluster, in ordinal order.</param>
public sealed record ClusteringSnapshot(
    string ModelVersion,
    int Dimension,
    ClusteringParameters Parameters,
    long NextClusterId,
    IReadOnlyList<ClusterRecord> Clusters,
    IReadOnlyList<string> MovedOutItems);

/// <summary>One cluster of a <see cref="ClusteringSnapshot"/>.</summary>
/// <param name="Id">Its id.</param>
/// <param name="Name">The user's name for it, or null.</param>
/// <param name="Members">Its members in ordinal order of item id (never empty: an empty cluster ceases to exist).</param>
/// <param name="PinnedMembers">The members the user moved in, in ordinal order; a subset of <paramref name="Members"/>.</param>
public sealed record ClusterRecord(long Id, string? Name, IReadOnlyList<string> Members, IReadOnlyList<string> PinnedMembers);
