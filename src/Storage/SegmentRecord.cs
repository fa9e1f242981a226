namespace Indexer.Storage;

/// <summary>
/// One entry of an immutable vector segment: one gallery item's vector in one model version at the time the segment was
/// written (an item holds a vector per version during an upgrade). Later segments override earlier ones for the same
/// item and version, which is why deletions are written as tombstones rather than by rewriting old segments.
/// </summary>
/// <param name="ItemId">The gallery item's id.</param>
/// <param name="ContentHash">Lowercase hex SHA-256 of the image bytes (the image blob's name).</param>
/// <param name="ModelVersion">Version of the embedding model that produced <see cref="Vector"/>.</param>
/// <param name="AddedAtUnixMs">When the item was added, in Unix milliseconds.</param>
/// <param name="Metadata">Free-form string pairs kept with the item.</param>
/// <param name="Vector">The embedding, or null for a tombstone (the item, or its vector in <paramref name="ModelVersion"/>, was deleted).</param>
public sealed record SegmentRecord(
    string ItemId,
    string ContentHash,
    string ModelVersion,
    long AddedAtUnixMs,
    IReadOnlyDictionary<string, string> Metadata,
    float[]? Vector)
{
    /// <summary>
    /// <see cref="ModelVersion"/> of a tombstone that removes the whole item; a tombstone naming one version drops only
    /// the item's vector in that version (what committing an upgrade does to re-embedded items' old vectors).
    /// </summary>
    public const string AllVersions = "*";

    /// <summary>True when this record marks a deletion.</summary>
    public bool IsTombstone => Vector is null;

    /// <summary>True when this record deletes the whole item rather than one version of its vector.</summary>
    public bool RemovesItem => Vector is null && ModelVersion == AllVersions;
}
