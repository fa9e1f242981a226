using Indexer.Galleries;

namespace Indexer.Grains.Galleries;

/// <summary>
/// A gallery's persisted grain state: small by design. Vectors and item metadata live in immutable segment blobs; this
/// lists them in apply order, plus the work accepted but not yet done (bounded by <see cref="GalleryOptions.MaxPending"/>).
/// </summary>
[GenerateSerializer, Alias("indexer.gallery-manifest")]
public sealed class GalleryManifest
{
    /// <summary>Null until the gallery is created (explicitly or by its first upload).</summary>
    [Id(0)] public DateTimeOffset? CreatedAt { get; set; }

    /// <summary>Sequence number of the next segment written; segments are applied in increasing sequence order.</summary>
    [Id(1)] public long NextSequence { get; set; }

    [Id(2)] public List<SegmentEntry> Segments { get; set; } = [];

    /// <summary>Accepted items waiting to be embedded, oldest first. Recorded before the caller is answered, so a crash loses none.</summary>
    [Id(3)] public List<PendingItem> Pending { get; set; } = [];

    /// <summary>The latest items that could not be indexed, newest last, at most <see cref="GalleryGrain.RecentFailureLimit"/>.</summary>
    [Id(4)] public List<ItemError> RecentFailures { get; set; } = [];

    [Id(5)] public long FailedCount { get; set; }

    /// <summary>This gallery's part in the latest upgrade's backfill; null before any.</summary>
    [Id(6)] public BackfillState? Backfill { get; set; }
}

/// <summary>
/// A gallery's backfill progress for one rollout, written in the same manifest write that lists the segment of each
/// re-embedded batch, so the counts always match the stored vectors. The queue itself is not stored: it is recomputed
/// from the stored vectors (items still without a new vector, minus <see cref="FailedIds"/>), deterministically.
/// </summary>
[GenerateSerializer, Alias("indexer.backfill-state")]
public sealed class BackfillState
{
    [Id(0)] public string RolloutId { get; set; } = "";

    [Id(1)] public string From { get; set; } = "";

    [Id(2)] public string To { get; set; } = "";

    [Id(3)] public int Scored { get; set; }

    [Id(4)] public int Selected { get; set; }

    [Id(5)] public int Done { get; set; }

    [Id(6)] public List<string> FailedIds { get; set; } = [];

    /// <summary>Of <see cref="Done"/>, items re-embedded ahead of the policy's order because searches kept finding them.</summary>
    [Id(7)] public int Promoted { get; set; }

    /// <summary>
    /// Of <see cref="FailedIds"/>, items given up because their image could not be read while storage answered, with the
    /// last error: unlike a corrupt image, a later try may read them (<see cref="Indexer.Galleries.BackfillOrder.RetryRound"/>).
    /// </summary>
    [Id(8)] public Dictionary<string, string> Unreadable { get; set; } = new(StringComparer.Ordinal);

    /// <summary>The latest retry round of the operator's this gallery has acted on.</summary>
    [Id(9)] public int RetryRound { get; set; }
}

[GenerateSerializer, Immutable, Alias("indexer.segment-entry")]
public sealed record SegmentEntry(
    [property: Id(0)] string Name,
    [property: Id(1)] long Sequence,
    [property: Id(2)] int RecordCount,
    [property: Id(3)] long Bytes);

[GenerateSerializer, Immutable, Alias("indexer.pending-item")]
public sealed record PendingItem(
    [property: Id(0)] string ItemId,
    [property: Id(1)] string ContentHash,
    [property: Id(2)] IReadOnlyDictionary<string, string> Metadata,
    [property: Id(3)] long AcceptedAtUnixMs);
