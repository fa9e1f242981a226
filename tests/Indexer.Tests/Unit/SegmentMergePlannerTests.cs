using Indexer.Grains.Galleries;
using Indexer.Storage;

namespace Indexer.Tests.Unit;

public sealed class SegmentMergePlannerTests
{
    [Theory]
    [InlineData(new[] { 64, 64, 64 }, 0)]
    [InlineData(new[] { 64, 64, 64, 64 }, 4)]
    [InlineData(new[] { 1000, 64, 64, 64, 64 }, 4)]
    [InlineData(new[] { 256, 64, 64, 64 }, 0)]
    [InlineData(new[] { 64, 64, 64, 1 }, 0)]
    public void NewestToMerge_MergesOnlyWhenTheNewestFourShareATier(int[] counts, int expected) =>
        Assert.Equal(expected, SegmentMergePlanner.NewestToMerge(counts));

    [Fact]
    public void Simulated_Ingest_KeepsTheSegmentCountLogarithmicAndRewritesEachRecordLogarithmicallyOften()
    {
        var segments = new List<int>();
        long written = 0;
        const int batches = 4000, batchSize = 64;
        for (var b = 0; b < batches; b++)
        {
            segments.Add(batchSize);
            written += batchSize;
            int count;
            while ((count = SegmentMergePlanner.NewestToMerge(segments)) > 0)
            {
                var merged = segments.Skip(segments.Count - count).Sum();
                segments.RemoveRange(segments.Count - count, count);
                segments.Add(merged);
                written += merged;
            }
        }

        var items = (long)batches * batchSize;
        Assert.Equal(items, segments.Sum());
        // 256k items: log4(256k / 64) = 6 tiers above the batch size, at most 3 segments each waiting to merge.
        Assert.True(segments.Count <= 3 * 7, $"{segments.Count} segments");
        Assert.True(written / (double)items <= 7.5, $"each record written {written / (double)items:F1} times");
    }

    [Fact]
    public void Fold_KeepsTheLastRecordOfEachItemAndDropsTombstonesOnlyWithTheOldestSegment()
    {
        Dictionary<string, string> none = [];
        var hash = new string('b', 64);
        IReadOnlyList<SegmentRecord> first = [new("a", hash, "v1", 1, none, [1f]), new("b", hash, "v1", 1, none, [2f])];
        IReadOnlyList<SegmentRecord> second = [new("a", hash, "v1", 2, none, [3f]), new("c", hash, "v1", 2, none, null)];

        var middle = SegmentMergePlanner.Fold([first, second], includesOldest: false);
        var all = SegmentMergePlanner.Fold([first, second], includesOldest: true);

        Assert.Equal(["a", "b", "c"], middle.Select(r => r.ItemId));
        Assert.Equal(3f, middle[0].Vector![0]);
        Assert.Null(middle[2].Vector);
        Assert.Equal(["a", "b"], all.Select(r => r.ItemId));
    }

    [Fact]
    public void Fold_KeepsOneRecordPerItemAndVersion_AndAppliesLikeTheSegmentsItReplaces()
    {
        Dictionary<string, string> none = [];
        var hash = new string('b', 64);
        IReadOnlyList<SegmentRecord> first = [new("a", hash, "v1", 1, none, [1f, 0f]), new("b", hash, "v1", 1, none, [0f, 1f])];
        IReadOnlyList<SegmentRecord> second =
        [
            new("a", hash, "v2", 2, none, [1f, 0f, 0f]), // backfilled: both versions survive
            new("b", hash, SegmentRecord.AllVersions, 2, none, null), // deleted
            new("b", hash, "v2", 3, none, [0f, 1f, 0f]), // and added again
        ];
        IReadOnlyList<SegmentRecord> third = [new("a", hash, "v1", 4, none, null)]; // committed: a's v1 vector dropped

        var middle = SegmentMergePlanner.Fold([first, second, third], includesOldest: false);
        var all = SegmentMergePlanner.Fold([first, second, third], includesOldest: true);

        Assert.Equal([("a", "v2"), ("a", "v1"), ("b", SegmentRecord.AllVersions), ("b", "v2")], middle.Select(r => (r.ItemId, r.ModelVersion)));
        Assert.Equal([("a", "v2"), ("b", "v2")], all.Select(r => (r.ItemId, r.ModelVersion)));
        var folded = new GalleryIndex();
        var applied = new GalleryIndex();
        foreach (var record in all) folded.Apply(record);
        foreach (var record in first.Concat(second).Concat(third)) applied.Apply(record);
        Assert.Equal(applied.CountsByVersion(), folded.CountsByVersion());
        Assert.Equal(applied.Page(null, 10).Items.Select(i => (i.ItemId, string.Join(",", i.ModelVersions!))), folded.Page(null, 10).Items.Select(i => (i.ItemId, string.Join(",", i.ModelVersions!))));
    }
}
