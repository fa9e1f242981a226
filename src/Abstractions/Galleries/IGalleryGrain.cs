using Orleans.Concurrency;

namespace Indexer.Galleries;

/// <summary>
/// One user's gallery: its items, their vectors (tagged with the model version that produced them) and search over them.
/// Keyed by <see cref="GalleryKey.ToString"/> (<c>user/gallery</c>).
/// </summary>
[Alias("indexer.gallery")]
public interface IGalleryGrain : IGrainWithStringKey
{
    /// <summary>Creates the gallery if it does not exist yet. Idempotent.</summary>
    [Alias("create")]
    Task<GalleryStats> CreateAsync();

    /// <summary>
    /// Records a batch of stored images for indexing and returns at once; embedding happens in the background.
    /// Idempotent by item id: an item already present (or pending) with the same content is reported, not added twice.
    /// </summary>
    [Alias("add-images")]
    Task<AddImagesResult> AddImagesAsync(IReadOnlyList<ImageToAdd> images);

    /// <summary>Top-<paramref name="k"/> items most similar to the query vector.</summary>
    [Alias("search")]
    Task<SearchResult> SearchAsync(QueryEmbedding query, int k);

    /// <summary>
    /// Embeds <paramref name="image"/> with the serving plan's query version (and with the old version too when the
    /// gallery serves old items through an own-space route) and searches with it. Interleaves with the gallery's other
    /// calls while the embedding workers run, so concurrent searches do not queue behind each other's embeddings; the
    /// search itself runs as an ordinary call.
    /// </summary>
    [Alias("search-by-image"), AlwaysInterleave]
    Task<SearchResult> SearchByImageAsync(byte[] image, int k);

    /// <summary>
    /// Top-<paramref name="k"/> for several query vectors at once: queries of one model version share each pass over the
    /// gallery's vectors, so a batch costs little more than one query (evaluation harnesses, "more like these").
    /// </summary>
    [Alias("search-many")]
    Task<IReadOnlyList<SearchResult>> SearchManyAsync(IReadOnlyList<QueryEmbedding> queries, int k);

    /// <summary>Top-<paramref name="k"/> items most similar to an item already in the gallery (the item itself excluded).</summary>
    [Alias("search-by-item")]
    Task<SearchResult> SearchByItemAsync(string itemId, int k);

    /// <summary>Removes an item (indexed or still pending). Returns false when the gallery has no such item.</summary>
    [Alias("delete-item")]
    Task<bool> DeleteItemAsync(string itemId);

    [Alias("get-item")]
    Task<GalleryItem?> GetItemAsync(string itemId);

    /// <summary>Items in item-id order after <paramref name="after"/>, at most <paramref name="limit"/> of them.</summary>
    [Alias("list-items")]
    Task<ItemPage> ListItemsAsync(string? after, int limit);

    [Alias("get-stats")]
    Task<GalleryStats> GetStatsAsync();

    /// <summary>
    /// Up to <paramref name="count"/> items held in <paramref name="modelVersion"/>, chosen at random with
    /// <paramref name="seed"/>, with their stored vectors: a gallery's share of an upgrade's calibration sample.
    /// </summary>
    [Alias("sample")]
    Task<IReadOnlyList<Compatibility.CalibrationItem>> SampleAsync(string modelVersion, int count, int seed);

    /// <summary>
    /// Up to <paramref name="max"/> items held in both <paramref name="from"/> and <paramref name="to"/>, with both stored
    /// vectors, spread evenly over the gallery's items by id: the pairs a rollout fits its map on again (items the backfill
    /// has re-embedded, and uploads embedded with both versions during the rollout).
    /// </summary>
    [Alias("version-pairs")]
    Task<Compatibility.VersionPairs> GetVersionPairsAsync(string from, string to, int max);

    /// <summary>
    /// Takes part in an upgrade's backfill. The first order of a rollout scores every item held in the old version but
    /// not the new one with the rollout's predictor (old vectors only, no new-model pass) and selects, by the policy, the
    /// items to re-embed, least compatible first; every order grants <see cref="BackfillOrder.Credit"/> more items to
    /// re-embed in the background. Returns at once with the progress so far (persisted with each re-embedded batch).
    /// </summary>
    [Alias("backfill")]
    Task<Models.GalleryBackfillProgress> BackfillAsync(BackfillOrder order);

    /// <summary>
    /// Withdraws the credit the rollout <paramref name="rolloutId"/> granted and the gallery has not spent: batches in
    /// flight finish, no new one starts until the next order. A pause, a cancel or a rollback takes effect at once, however
    /// far the grants ran ahead of the workers. Nothing happens for another rollout's id.
    /// </summary>
    [Alias("withdraw-backfill-credit")]
    Task WithdrawBackfillCreditAsync(string rolloutId);

    /// <summary>
    /// An upgrade's commit: items that hold a vector in <paramref name="to"/> drop their vectors in every other version.
    /// Items held only in older versions keep them. Returns how many vectors were dropped.
    /// </summary>
    [Alias("commit-upgrade")]
    Task<int> CommitUpgradeAsync(string from, string to);

    /// <summary>
    /// The gallery's clusters, largest first: named ones and those of at least the model version's minimum size (all of
    /// them with <paramref name="includeHidden"/>), each with up to <paramref name="representatives"/> members nearest its centre.
    /// </summary>
    [Alias("list-clusters")]
    Task<IReadOnlyList<ClusterInfo>> ListClustersAsync(int representatives = 3, bool includeHidden = false);

    /// <summary>A page of a cluster's members in item-id order. Unknown cluster: NotFound; a bad offset or limit: InvalidArgument.</summary>
    [Alias("get-cluster-items")]
    Task<ClusterPage> GetClusterItemsAsync(long clusterId, int offset, int limit);

    /// <summary>
    /// Names or renames a cluster; the name stays with the cluster through every model upgrade. Unknown cluster: NotFound;
    /// an empty, too long or invalid name: InvalidArgument. Nothing is changed on error; the change is stored before the answer.
    /// </summary>
    [Alias("name-cluster")]
    Task<ClusterInfo> NameClusterAsync(long clusterId, string name);

    /// <summary>
    /// Merges <paramref name="fromClusterId"/> into <paramref name="intoClusterId"/> (a name always stays with its id: if only
    /// the second is named, it survives). Returns the merged cluster. Unknown cluster: NotFound; merging a cluster with
    /// itself: InvalidArgument.
    /// </summary>
    [Alias("merge-clusters")]
    Task<ClusterInfo> MergeClustersAsync(long intoClusterId, long fromClusterId);

    /// <summary>
    /// Moves an item into a cluster and pins it there: neither the clustering nor an upgrade moves it again. Returns the
    /// cluster. Unknown item or cluster: NotFound.
    /// </summary>
    [Alias("move-item")]
    Task<ClusterInfo> MoveItemAsync(string itemId, long toClusterId);

    /// <summary>Takes an item out of every cluster, for good (a user correction). Unknown item: NotFound.</summary>
    [Alias("move-item-out")]
    Task MoveItemOutAsync(string itemId);

    /// <summary>Runs a refinement pass over the clusters now; it respects names and the user's moves.</summary>
    [Alias("refine-clusters")]
    Task<ClusterRefineSummary> RefineClustersAsync();

    /// <summary>The clusters' state and the latest moves the clustering made on its own (upgrades' re-embedding, refinement).</summary>
    [Alias("get-cluster-moves")]
    Task<ClusterReport> GetClusterMovesAsync();

    /// <summary>
    /// Open suggestions, strongest evidence first: members of named clusters that the clustering would have moved (after
    /// an upgrade's re-embedding or a refinement) and left where they are, for the user to accept or dismiss.
    /// </summary>
    [Alias("list-cluster-suggestions")]
    Task<IReadOnlyList<ClusterMoveRecord>> ListClusterSuggestionsAsync();

    /// <summary>
    /// Accepts the open suggestion for an item: it moves to the suggested cluster and is pinned there (as a user move).
    /// Returns that cluster. No open suggestion for the item: NotFound, nothing changed.
    /// </summary>
    [Alias("accept-cluster-suggestion")]
    Task<ClusterInfo> AcceptClusterSuggestionAsync(string itemId);

    /// <summary>
    /// Dismisses the open suggestion for an item: it stays in its named cluster and is pinned there, so it is not suggested
    /// again. Returns its cluster. No open suggestion for the item: NotFound, nothing changed.
    /// </summary>
    [Alias("dismiss-cluster-suggestion")]
    Task<ClusterInfo> DismissClusterSuggestionAsync(string itemId);
}

/// <summary>One rollout's instruction to a gallery: re-embed up to <see cref="Credit"/> more selected items.</summary>
/// <remarks>
/// <see cref="RetryRound"/> counts the operator's requests to try unreadable items again: a gallery that has seen a
/// lower round puts the items it gave up for unreadable back in its queue.
/// </remarks>
[GenerateSerializer, Immutable, Alias("indexer.backfill-order")]
public sealed record BackfillOrder(
    [property: Id(0)] string RolloutId,
    [property: Id(1)] string From,
    [property: Id(2)] string To,
    [property: Id(3)] Models.BackfillPolicy Policy,
    [property: Id(4)] double Threshold,
    [property: Id(5)] double? MaxFraction,
    [property: Id(6)] int Credit,
    [property: Id(7)] Models.RouteKind Route = Models.RouteKind.Mapped,
    [property: Id(8)] int PromoteAfterHits = 0,
    [property: Id(9)] int RetryRound = 0);
