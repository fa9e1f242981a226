namespace Indexer.Galleries;

/// <summary>An image already stored (content-addressed) that a gallery should index under <see cref="ItemId"/>.</summary>
[GenerateSerializer, Immutable, Alias("indexer.image-to-add")]
public sealed record ImageToAdd(
    [property: Id(0)] string ItemId,
    [property: Id(1)] string ContentHash,
    [property: Id(2)] IReadOnlyDictionary<string, string> Metadata);

/// <summary>Why one item of a batch was not taken.</summary>
[GenerateSerializer, Immutable, Alias("indexer.item-error")]
public sealed record ItemError([property: Id(0)] string ItemId, [property: Id(1)] string Reason);

/// <summary>
/// The outcome of <see cref="IGalleryGrain.AddImagesAsync"/>. Accepted items are recorded durably and embedded in the
/// background; <see cref="GalleryStats.Pending"/> tells how many are still waiting.
/// </summary>
[GenerateSerializer, Immutable, Alias("indexer.add-images-result")]
public sealed record AddImagesResult(
    [property: Id(0)] IReadOnlyList<string> Accepted,
    [property: Id(1)] IReadOnlyList<string> AlreadyPresent,
    [property: Id(2)] IReadOnlyList<ItemError> Rejected);

/// <summary>
/// One indexed item as a client sees it. <see cref="ModelVersion"/> is the version it was last embedded with;
/// <see cref="ModelVersions"/> lists every version it holds a vector in (two while an upgrade can be rolled back).
/// </summary>
[GenerateSerializer, Immutable, Alias("indexer.gallery-item")]
public sealed record GalleryItem(
    [property: Id(0)] string ItemId,
    [property: Id(1)] string ContentHash,
    [property: Id(2)] string ModelVersion,
    [property: Id(3)] DateTimeOffset AddedAt,
    [property: Id(4)] IReadOnlyDictionary<string, string> Metadata,
    [property: Id(5)] IReadOnlyList<string>? ModelVersions = null);

/// <summary>A page of items in item-id order; pass <see cref="Next"/> back to get the following page.</summary>
[GenerateSerializer, Immutable, Alias("indexer.item-page")]
public sealed record ItemPage([property: Id(0)] IReadOnlyList<GalleryItem> Items, [property: Id(1)] string? Next);

/// <summary>What a gallery holds and how far its ingest has come.</summary>
[GenerateSerializer, Immutable, Alias("indexer.gallery-stats")]
public sealed record GalleryStats(
    [property: Id(0)] string UserId,
    [property: Id(1)] string GalleryId,
    [property: Id(2)] int Items,
    [property: Id(3)] int Pending,
    [property: Id(4)] int Failed,
    [property: Id(5)] IReadOnlyDictionary<string, int> ItemsByModelVersion,
    [property: Id(6)] int Segments,
    [property: Id(7)] long SegmentBytes,
    [property: Id(8)] IReadOnlyList<ItemError> RecentFailures,
    [property: Id(9)] DateTimeOffset CreatedAt);

/// <summary>
/// A query vector and the model version that produced it. <see cref="OtherVersions"/> may carry the same query embedded
/// by other model versions: items served through an own-space route are compared with the one of their version (an item
/// whose version is missing there is counted as excluded).
/// </summary>
[GenerateSerializer, Immutable, Alias("indexer.query-embedding")]
public sealed record QueryEmbedding(
    [property: Id(0)] string ModelVersion,
    [property: Id(1)] float[] Vector,
    [property: Id(2)] IReadOnlyDictionary<string, float[]>? OtherVersions = null);

/// <summary>One search hit. <see cref="Score"/> is the cosine similarity in the query's model space.</summary>
[GenerateSerializer, Immutable, Alias("indexer.search-match")]
public sealed record SearchMatch(
    [property: Id(0)] string ItemId,
    [property: Id(1)] float Score,
    [property: Id(2)] string ModelVersion,
    [property: Id(3)] IReadOnlyDictionary<string, string> Metadata);

/// <summary>
/// Search results and how they were served: <see cref="Searched"/> items were compared with the query;
/// <see cref="Excluded"/> items were not, because they are held in a model version the query cannot be compared with
/// yet. <see cref="Routes"/> splits the searched items by route ("same-version", "compatible", "mapped", "own-space").
/// <see cref="GuardedBy"/> names the version whose scores ordered the first few matches during a rollout (the regression
/// guard); their scores stay the query version's, so those first matches need not be in descending score.
/// </summary>
[GenerateSerializer, Immutable, Alias("indexer.search-result")]
public sealed record SearchResult(
    [property: Id(0)] IReadOnlyList<SearchMatch> Matches,
    [property: Id(1)] string QueryModelVersion,
    [property: Id(2)] int Searched,
    [property: Id(3)] int Excluded,
    [property: Id(4)] IReadOnlyDictionary<string, int>? Routes = null,
    [property: Id(5)] string? GuardedBy = null);
