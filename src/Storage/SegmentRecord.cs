namespace Indexer.Storage;

/// <summary>
/// One entry of an immutable vector segment: the latest state of one gallery item at the time the
/// segment was written. Later segments override earlier ones for the same <see cref="ItemId"/>, which
/// is why deletions are written as tombstones rather than by rewriting old segments.
/// </summary>
/// <param name="ItemId">The gallery item's id.</param>
/// <param name="ContentHash">Lowercase hex SHA-256 of the image bytes (the image blob's name).</param>
/// <param name="ModelVersion">Version of the embedding model that produced <see cref="Vector"/>.</param>
/// <param name="AddedAtUnixMs">When the item was added, in Unix milliseconds.</param>
/// <param name="Metadata">Free-form string pairs kept with the item.</param>
/// <param name="Vector">The embedding, or null for a tombstone (the item was deleted).</param>
public sealed record SegmentRecord(
    string ItemId,
    string ContentHash,
    string ModelVersion,
    long AddedAtUnixMs,
    IReadOnlyDictionary<string, string> Metadata,
    float[]? Vector)
{
    /// <summary>True when this record marks a deletion.</summary>
    public bool IsTombstone => Vector is null;
}
