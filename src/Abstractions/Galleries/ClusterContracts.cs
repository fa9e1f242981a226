namespace Indexer.Galleries;

/// <summary>
/// One of a gallery's clusters (a group of similar items: a person, a pet, a kind of thing) as a listing shows it.
/// <see cref="Id"/> is stable: it survives items coming and going and model upgrades, and is never reused.
/// </summary>
/// <param name="Id">The cluster's id.</param>
/// <param name="Name">The name the user gave it, or null.</param>
/// <param name="Size">Its members.</param>
/// <param name="PinnedCount">Members the user moved in (the clustering never moves them out).</param>
/// <param name="Representatives">A few members nearest its centre, nearest first: thumbnails for a listing.</param>
[GenerateSerializer, Immutable, Alias("indexer.cluster-info")]
public sealed record ClusterInfo(
    [property: Id(0)] long Id,
    [property: Id(1)] string? Name,
    [property: Id(2)] int Size,
    [property: Id(3)] int PinnedCount,
    [property: Id(4)] IReadOnlyList<string> Representatives);

/// <summary>A page of one cluster's members, in item-id order; ask again with <see cref="Offset"/> + the page's length.</summary>
/// <param name="ClusterId">The cluster listed.</param>
/// <param name="Name">Its name, or null.</param>
/// <param name="Total">All its members.</param>
/// <param name="Offset">Members skipped before this page.</param>
/// <param name="Items">The page's item ids.</param>
[GenerateSerializer, Immutable, Alias("indexer.cluster-page")]
public sealed record ClusterPage(
    [property: Id(0)] long ClusterId,
    [property: Id(1)] string? Name,
    [property: Id(2)] int Total,
    [property: Id(3)] int Offset,
    [property: Id(4)] IReadOnlyList<string> Items);

/// <summary>What made the clustering move an item on its own (user actions are not moves: they are corrections).</summary>
public enum ClusterMoveCause
{
    /// <summary>The item was re-embedded (an upgrade's backfill) and its new vector was strong evidence against its cluster.</summary>
    Reembedded = 0,

    /// <summary>A refinement pass reassigned an item of a named cluster, on strong evidence.</summary>
    Refined = 1,
}

/// <summary>
/// A move the clustering made on its own out of a cluster: recorded so that it can be reported (moves out of named
/// clusters are the cluster negative flips of METRICS.md). A suggestion has the same shape: the move the clustering
/// would make out of a named cluster, not made (the item is still in <c>FromClusterId</c>).
/// </summary>
/// <param name="ItemId">The item moved.</param>
/// <param name="FromClusterId">The cluster it left.</param>
/// <param name="FromName">That cluster's name at the time, or null.</param>
/// <param name="ToClusterId">The cluster it joined.</param>
/// <param name="ToName">That cluster's name at the time, or null.</param>
/// <param name="Cause">What triggered the move.</param>
/// <param name="ModelVersion">The model version the clusters were computed in when it moved.</param>
/// <param name="FromSimilarity">Cosine to the centre of the cluster it left, computed without the item; null when it was alone there.</param>
/// <param name="ToSimilarity">Cosine to the centre of the cluster it joined.</param>
/// <param name="At">When it moved.</param>
[GenerateSerializer, Immutable, Alias("indexer.cluster-move")]
public sealed record ClusterMoveRecord(
    [property: Id(0)] string ItemId,
    [property: Id(1)] long FromClusterId,
    [property: Id(2)] string? FromName,
    [property: Id(3)] long ToClusterId,
    [property: Id(4)] string? ToName,
    [property: Id(5)] ClusterMoveCause Cause,
    [property: Id(6)] string ModelVersion,
    [property: Id(7)] double? FromSimilarity,
    [property: Id(8)] double ToSimilarity,
    [property: Id(9)] DateTimeOffset At);

/// <summary>The state of a gallery's clusters and the moves the clustering made on its own, newest first.</summary>
/// <param name="ModelVersion">The model version the clusters are computed in (the serving plan's query version); null before the gallery has any indexed item.</param>
/// <param name="Items">Items clustered (in a cluster or moved out by the user).</param>
/// <param name="Clusters">Every cluster, shown or not.</param>
/// <param name="Shown">Clusters a listing shows: named ones and those of at least the version's minimum size.</param>
/// <param name="Named">Clusters with a name.</param>
/// <param name="MovedOut">Items the user moved out of every cluster.</param>
/// <param name="WithoutVector">Items with no vector in <paramref name="ModelVersion"/> yet (no route): they keep their place but shape no cluster.</param>
/// <param name="RollbackHeld">True while an upgrade can still be rolled back: the clusters as they were before it are kept and come back with a rollback.</param>
/// <param name="MovesTotal">Moves made since the gallery was created; only the latest are listed.</param>
/// <param name="RecentMoves">The latest moves, newest first.</param>
/// <param name="OpenSuggestions">Moves out of named clusters the clustering suggests and leaves to the user.</param>
/// <param name="JoinThreshold">The join threshold of <paramref name="ModelVersion"/> in use (configured, or derived at its rollout); null before any item is clustered.</param>
[GenerateSerializer, Immutable, Alias("indexer.cluster-report")]
public sealed record ClusterReport(
    [property: Id(0)] string? ModelVersion,
    [property: Id(1)] int Items,
    [property: Id(2)] int Clusters,
    [property: Id(3)] int Shown,
    [property: Id(4)] int Named,
    [property: Id(5)] int MovedOut,
    [property: Id(6)] int WithoutVector,
    [property: Id(7)] bool RollbackHeld,
    [property: Id(8)] long MovesTotal,
    [property: Id(9)] IReadOnlyList<ClusterMoveRecord> RecentMoves,
    [property: Id(10)] int OpenSuggestions,
    [property: Id(11)] double? JoinThreshold);

/// <summary>What a refinement pass changed.</summary>
/// <param name="Iterations">Reassignment passes run.</param>
/// <param name="Reassignments">Item moves over all passes.</param>
/// <param name="ClustersCreated">Clusters started by items far from every centre.</param>
/// <param name="ClustersMerged">Clusters merged away because their centres grew close.</param>
/// <param name="ClustersEmptied">Clusters whose every member moved elsewhere (their ids are retired).</param>
/// <param name="NamedMoves">Moves out of named clusters (each on strong evidence, each recorded as a <see cref="ClusterMoveRecord"/>).</param>
/// <param name="Clusters">Clusters after the pass.</param>
[GenerateSerializer, Immutable, Alias("indexer.cluster-refine-summary")]
public sealed record ClusterRefineSummary(
    [property: Id(0)] int Iterations,
    [property: Id(1)] int Reassignments,
    [property: Id(2)] int ClustersCreated,
    [property: Id(3)] int ClustersMerged,
    [property: Id(4)] int ClustersEmptied,
    [property: Id(5)] int NamedMoves,
    [property: Id(6)] int Clusters);
