using Indexer.Galleries;
using Indexer.Grains.Galleries;
using Indexer.Storage;

namespace Indexer.Tests.Unit;

public sealed class GalleryIndexTests
{
    private static readonly Dictionary<string, string> NoMetadata = [];

    private static SegmentRecord Record(string id, string version, params float[] vector) =>
        new(id, new string('a', 64), version, 0, NoMetadata, vector);

    private static SegmentRecord Tombstone(string id) => new(id, new string('a', 64), "v1", 0, NoMetadata, null);

    [Fact]
    public void Apply_RecordsInOrder_LastRecordOfAnItemWins()
    {
        var index = new GalleryIndex();
        index.Apply(Record("a", "v1", 1, 0));
        index.Apply(Record("b", "v1", 0, 1));
        index.Apply(Record("a", "v1", 0, 1));
        index.Apply(Tombstone("b"));

        Assert.Equal(1, index.Count);
        var result = index.Search(new QueryEmbedding("v1", [0, 1]), 5);
        var match = Assert.Single(result.Matches);
        Assert.Equal("a", match.ItemId);
        Assert.Equal(1f, match.Score, 5);
    }

    [Fact]
    public void Search_OverMixedVersions_ComparesOnlyTheQueryVersionAndCountsTheRestAsExcluded()
    {
        var index = new GalleryIndex();
        index.Apply(Record("old-1", "v1", 1, 0));
        index.Apply(Record("old-2", "v1", 0, 1));
        index.Apply(Record("new-1", "v2", 1, 0, 0));

        var result = index.Search(new QueryEmbedding("v2", [1, 0, 0]), 10);

        Assert.Equal(["new-1"], result.Matches.Select(m => m.ItemId));
        Assert.Equal(1, result.Searched);
        Assert.Equal(2, result.Excluded);
        Assert.Equal(new Dictionary<string, int> { ["v1"] = 2, ["v2"] = 1 }, index.CountsByVersion());
    }

    [Fact]
    public void Apply_ItemReembeddedWithANewVersion_MovesBetweenVersionIndexes()
    {
        var index = new GalleryIndex();
        index.Apply(Record("a", "v1", 1, 0));
        index.Apply(Record("a", "v2", 0, 0, 1));

        Assert.Empty(index.Search(new QueryEmbedding("v1", [1, 0]), 5).Matches);
        Assert.Equal("a", Assert.Single(index.Search(new QueryEmbedding("v2", [0, 0, 1]), 5).Matches).ItemId);
        Assert.Equal(new Dictionary<string, int> { ["v2"] = 1 }, index.CountsByVersion());
    }

    [Fact]
    public void Search_WithAQueryOfTheWrongDimension_Throws()
    {
        var index = new GalleryIndex();
        index.Apply(Record("a", "v1", 1, 0));

        var error = Assert.Throws<IndexerException>(() => index.Search(new QueryEmbedding("v1", [1, 0, 0]), 5));
        Assert.Equal(IndexerErrorCode.InvalidArgument, error.Code);
    }

    [Fact]
    public void Page_WalksItemsInOrdinalOrderWithoutGapsOrRepeats()
    {
        var index = new GalleryIndex();
        var ids = Enumerable.Range(0, 25).Select(i => $"item-{i * 7 % 25:D2}").ToList();
        foreach (var id in ids) index.Apply(Record(id, "v1", 1, 0));

        var seen = new List<string>();
        string? after = null;
        do
        {
            var page = index.Page(after, 10);
            seen.AddRange(page.Items.Select(i => i.ItemId));
            after = page.Next;
        }
        while (after is not null);

        Assert.Equal(ids.Order(StringComparer.Ordinal), seen);
        Assert.Empty(index.Page("zzz", 10).Items);
    }

    [Fact]
    public void SearchMany_GivesTheSameResultsAsOneSearchPerQuery_AcrossVersions()
    {
        var index = new GalleryIndex();
        var random = new Random(3);
        for (var i = 0; i < 300; i++)
        {
            var version = i % 3 == 0 ? "v2" : "v1";
            var dimension = version == "v2" ? 6 : 4;
            index.Apply(Record($"item-{i}", version, Enumerable.Range(0, dimension).Select(_ => (float)random.NextDouble() - 0.5f).ToArray()));
        }

        var queries = Enumerable.Range(0, 20)
            .Select(q => new QueryEmbedding(q % 4 == 0 ? "v2" : q % 7 == 0 ? "v3" : "v1",
                Enumerable.Range(0, q % 4 == 0 ? 6 : 4).Select(_ => (float)random.NextDouble() - 0.5f).ToArray()))
            .ToList();

        var batch = index.SearchMany(queries, 7);

        for (var q = 0; q < queries.Count; q++)
        {
            var single = index.Search(queries[q], 7);
            Assert.Equal(single.Matches.Select(m => m.ItemId), batch[q].Matches.Select(m => m.ItemId));
            Assert.Equal(single.Searched, batch[q].Searched);
            Assert.Equal(single.Excluded, batch[q].Excluded);
        }
    }
}
