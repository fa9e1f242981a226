using Indexer.Storage;

namespace Indexer.Grains.Galleries;

/// <summary>
/// Keeps a gallery's segment count logarithmic in its size without rewriting the whole gallery: segments are grouped in
/// tiers by record count (tier = ⌊log₄ count⌋); when the newest <see cref="FanIn"/> segments share a tier they are merged
/// into one segment of the next tier. Each record is rewritten about log₄(n) times over the gallery's life, and only a
/// suffix of the segment list is ever merged, so the merged segment keeps its place in the apply order.
/// </summary>
public static class SegmentMergePlanner
{
    /// <summary>Segments of one tier merged at once. Four keeps both the write amplification (log₄ n) and the segment count (3 per tier) low.</summary>
    public const int FanIn = 4;

    /// <summary>How many of the newest segments to merge now; 0 when none should be.</summary>
    public static int NewestToMerge(IReadOnlyList<int> recordCounts)
    {
        if (recordCounts.Count < FanIn) return 0;
        var tier = Tier(recordCounts[^1]);
        for (var i = 2; i <= FanIn; i++)
        {
            if (Tier(recordCounts[^i]) != tier) return 0;
        }

        return FanIn;
    }

    public static int Tier(int recordCount) => recordCount <= 1 ? 0 : (int)Math.Floor(Math.Log(recordCount, FanIn));

    /// <summary>
    /// Folds the records of consecutive segments (oldest first) into the records of one segment, with the same effect when
    /// applied: per item, the last record of each version wins, and a whole-item tombstone (<see cref="SegmentRecord.RemovesItem"/>)
    /// supersedes everything before it. Tombstones are kept unless <paramref name="includesOldest"/>, since they may delete
    /// vectors held in older segments; with the oldest segment in the merge there is nothing left for them to delete.
    /// </summary>
    public static List<SegmentRecord> Fold(IEnumerable<IReadOnlyList<SegmentRecord>> segmentsOldestFirst, bool includesOldest)
    {
        // Per item, its surviving records in apply order (at most a whole-item tombstone then one record per version).
        var byItem = new Dictionary<string, List<SegmentRecord>>(StringComparer.Ordinal);
        var order = new List<string>();
        foreach (var segment in segmentsOldestFirst)
        {
            foreach (var record in segment)
            {
                if (!byItem.TryGetValue(record.ItemId, out var records))
                {
                    byItem[record.ItemId] = records = [];
                    order.Add(record.ItemId);
                }

                if (record.RemovesItem) records.Clear();
                else records.RemoveAll(r => !r.RemovesItem && r.ModelVersion == record.ModelVersion);
                records.Add(record);
            }
        }

        var result = new List<SegmentRecord>(order.Count);
        foreach (var id in order)
        {
            foreach (var record in byItem[id])
            {
                if (record.IsTombstone && includesOldest) continue;
                result.Add(record);
            }
        }

        return result;
    }
}
