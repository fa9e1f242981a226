namespace Indexer.Search.Clustering;

/// <summary>How a user correction holds an item in place; the clustering never moves a pinned item.</summary>
public enum ItemPin
{
    /// <summary>Not pinned: the clustering places the item.</summary>
    None = 0,

    /// <summary>The user moved the item into its cluster (<see cref="GalleryClusters.Move"/>); it stays there.</summary>
    InCluster = 1,

    /// <summary>The user moved the item out (<see cref="GalleryClusters.MoveOut"/>); it stays in no cluster.</summary>
    MovedOut = 2,
}

/// <summary>Why the clustering moved an item out of its cluster on its own.</summary>
public enum ClusterMoveReason
{
    /// <summary>The item's vector was replaced (<see cref="GalleryClusters.Reembed"/>), typically by an upgrade's backfill.</summary>
    Reembedded = 0,

    /// <summary>A refinement pass (<see cref="GalleryClusters.Refine"/>) reassigned it.</summary>
    Refined = 1,
}

/// <summary>Where <see cref="GalleryClusters.Add"/> put an item.</summary>
/// <param name="ClusterId">The item's cluster once the add and any merge it caused are done.</param>
/// <param name="StartedCluster">True when no centroid was close enough and the item started a new cluster.</param>
/// <param name="AbsorbedClusterIds">Clusters merged away because the joined cluster grew close to them; their ids are retired.</param>
public sealed record ClusterAssignment(long ClusterId, bool StartedCluster, IReadOnlyList<long> AbsorbedClusterIds);

/// <summary>
/// A move the clustering made on its own out of a cluster, for the grain to record and report (moves out of named
/// clusters are what METRICS.md counts as cluster negative flips); or, with <see cref="Suggested"/>, one it would have
/// made out of a named cluster and leaves to the user (<see cref="NamedMemberPolicy.Suggest"/>).
/// </summary>
/// <param name="ItemId">The item moved.</param>
/// <param name="FromClusterId">Its cluster before.</param>
/// <param name="ToClusterId">Its cluster after: an existing cluster, or one it started (in <see cref="GalleryClusters.Refine"/> only).</param>
/// <param name="Reason">What triggered the move.</param>
/// <param name="FromName">The name of the cluster it left, or null.</param>
/// <param name="FromSimilarity">Cosine to its old cluster's centroid computed without the item itself; NaN when it was alone there.</param>
/// <param name="ToSimilarity">Cosine to the centroid of the cluster it moved to (before the move).</param>
/// <param name="Suggested">True when the item did not move: it is still in <paramref name="FromClusterId"/>, and the move
/// is a suggestion.</param>
public sealed record ClusterMove(
    string ItemId, long FromClusterId, long ToClusterId, ClusterMoveReason Reason, string? FromName, float FromSimilarity, float ToSimilarity,
    bool Suggested = false);

/// <summary>A cluster as a listing shows it.</summary>
/// <param name="Id">Stable id: kept as items come and go, never reused.</param>
/// <param name="Name">The user's name for it, or null.</param>
/// <param name="Size">Members, including those without a vector in the current model version.</param>
/// <param name="PinnedCount">Members the user moved in.</param>
/// <param name="Representatives">Up to the asked number of members nearest the centroid, nearest first.</param>
public sealed record ClusterSummary(long Id, string? Name, int Size, int PinnedCount, IReadOnlyList<string> Representatives);

/// <summary>One page of a cluster's members, in ordinal order of item id.</summary>
/// <param name="ClusterId">The cluster listed.</param>
/// <param name="Total">All its members.</param>
/// <param name="Offset">Members skipped before this page.</param>
/// <param name="Items">The page.</param>
public sealed record ClusterItemsPage(long ClusterId, int Total, int Offset, IReadOnlyList<string> Items);

/// <summary>What a <see cref="GalleryClusters.Refine"/> pass changed.</summary>
/// <param name="Iterations">Reassignment passes run (fewer than asked when nothing moved).</param>
/// <param name="Reassignments">Item moves over all passes (an item moved twice counts twice).</param>
/// <param name="ClustersCreated">Clusters started by items too far from every centroid.</param>
/// <param name="ClustersMerged">Clusters merged away because their centroids grew close.</param>
/// <param name="ClustersEmptied">Clusters whose every member moved elsewhere; their ids are retired.</param>
/// <param name="NamedMoves">Moves out of named clusters (each made only on strong evidence; none under <see cref="NamedMemberPolicy.Suggest"/>).</param>
/// <param name="Suggestions">Under <see cref="NamedMemberPolicy.Suggest"/>, the moves out of named clusters the pass would
/// have made and did not, one per item, from the last pass that found one.</param>
public sealed record RefineResult(
    int Iterations, int Reassignments, int ClustersCreated, int ClustersMerged, int ClustersEmptied, IReadOnlyList<ClusterMove> NamedMoves,
    IReadOnlyList<ClusterMove> Suggestions);

/// <summary>What <see cref="GalleryClusters.Rebase"/> did.</summary>
/// <param name="FromVersion">The model version before.</param>
/// <param name="ToVersion">The model version now.</param>
/// <param name="WithVector">Items that have a vector in the new version space.</param>
/// <param name="WithoutVector">Items kept where they were with no vector: they count as members but shape no centroid.</param>
public sealed record RebaseResult(string FromVersion, string ToVersion, int WithVector, int WithoutVector);
