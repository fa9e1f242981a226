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
    public void Pairs_AreTheItemsHeldInBothVersions_WithBothVectors_StridedOverThemWhenMoreThanAsked()
    {
        var index = new GalleryIndex();
        for (var i = 0; i < 6; i++) index.Apply(Record($"item-{i}", "v1", 1, i));
        for (var i = 0; i < 6; i++) if (i != 3) index.Apply(Record($"item-{i}", "v2", i, 1, 0)); // item-3 is held in v1 only
        index.Apply(Record("new-only", "v2", 0, 0, 1));

        var all = index.Pairs("v1", "v2", 10);
        var two = index.Pairs("v1", "v2", 2);

        Assert.Equal((5, 2, 3), (all.Count, all.OldDimension, all.NewDimension));
        var expectedOld = new[] { 0, 1, 2, 4, 5 }.SelectMany(i => Normalized(1, i)).ToArray();
        var expectedNew = new[] { 0, 1, 2, 4, 5 }.SelectMany(i => Normalized(i, 1, 0)).ToArray();
        Assert.Equal(expectedOld, all.Old);
        Assert.Equal(expectedNew, all.New);
        Assert.Equal(2, two.Count); // items 0 and 2 of the five: every other one
        Assert.Equal(Normalized(1, 0).Concat(Normalized(1, 2)), two.Old);
        Assert.Equal(0, index.Pairs("v1", "v3", 10).Count);
        Assert.Equal(0, index.Pairs("v1", "v2", 0).Count);

        static float[] Normalized(params float[] v)
        {
            Indexer.Search.VectorMath.NormalizeInPlace(v);
            return v;
        }
    }

    [Fact]
    public void Apply_ItemReembeddedWithANewVersion_KeepsBothVectorsUntilTheOldOneIsDropped()
    {
        var index = new GalleryIndex();
        index.Apply(Record("a", "v1", 1, 0));
        index.Apply(Record("a", "v2", 0, 0, 1));

        Assert.Equal(1, index.Count);
        Assert.Equal("a", Assert.Single(index.Search(new QueryEmbedding("v1", [1, 0]), 5).Matches).ItemId);
        Assert.Equal("a", Assert.Single(index.Search(new QueryEmbedding("v2", [0, 0, 1]), 5).Matches).ItemId);
        Assert.Equal(new Dictionary<string, int> { ["v1"] = 1, ["v2"] = 1 }, index.CountsByVersion());
        Assert.True(index.TryGet("a", out var item));
        Assert.Equal("v2", item.ModelVersion);
        Assert.Equal(["v1", "v2"], item.ModelVersions!);

        index.Apply(new SegmentRecord("a", new string('a', 64), "v1", 0, NoMetadata, null)); // what a commit writes

        Assert.Equal(1, index.Count);
        Assert.Empty(index.Search(new QueryEmbedding("v1", [1, 0]), 5).Matches);
        Assert.Equal(new Dictionary<string, int> { ["v2"] = 1 }, index.CountsByVersion());

        index.Apply(new SegmentRecord("a", new string('a', 64), SegmentRecord.AllVersions, 0, NoMetadata, null));
        Assert.Equal(0, index.Count);
    }

    [Fact]
    public void Search_WithAMappedRoute_RanksOldItemsInTheNewSpaceAsTheOldModelDid()
    {
        // v2 = v1 rotated: through the exact map, a v2 query must rank v1-only items exactly as the v1 query ranks them.
        const int dimension = 8;
        var rotation = Search.RandomOrthogonal.Create(dimension, seed: 4);
        var map = Search.Maps.EmbeddingMap.FromWeights(Search.Maps.MapKind.Orthogonal, dimension, dimension, rotation);
        var random = new Random(9);
        float[] RandomVector() => Enumerable.Range(0, dimension).Select(_ => (float)random.NextDouble() - 0.5f).ToArray();
        var oldOnly = new GalleryIndex();
        var mixed = new GalleryIndex();
        for (var i = 0; i < 60; i++)
        {
            var vector = RandomVector();
            oldOnly.Apply(Record($"item-{i}", "v1", vector));
            mixed.Apply(Record($"item-{i}", "v1", vector));
            if (i % 3 == 0) mixed.Apply(Record($"item-{i}", "v2", map.Apply(vector))); // a third already backfilled
        }

        mixed.SetRoutes("v2", [new IndexRoute("v1", Models.RouteKind.Mapped, map)]);
        var query = RandomVector();

        var before = oldOnly.Search(new QueryEmbedding("v1", query), 10);
        var after = mixed.Search(new QueryEmbedding("v2", map.Apply(query)), 10);

        Assert.Equal(before.Matches.Select(m => m.ItemId), after.Matches.Select(m => m.ItemId));
        Assert.Equal(before.Matches.Select(m => m.Score), after.Matches.Select(m => m.Score), (a, b) => Math.Abs(a - b) < 1e-4);
        Assert.Equal(60, after.Searched);
        Assert.Equal(0, after.Excluded);
        Assert.Equal(new Dictionary<string, int> { ["same-version"] = 20, ["mapped"] = 40 }, after.Routes);
    }

    /// <summary>
    /// x is held in v1 only and served mapped; y was re-embedded and holds both. The v2 query puts x first (0.8 against
    /// 0.6); the old model puts y first (1 against 0): with the query's v1 embedding the guard ranks y first, by the mean
    /// of both scores (x 0.4, y 0.8).
    /// </summary>
    [Fact]
    public void Guard_OrdersTheFirstMatchesByBothModels_OnlyForAQueryCarryingItsOldEmbedding()
    {
        var index = new GalleryIndex();
        index.Apply(Record("x", "v1", 0, 1));
        index.Apply(Record("y", "v1", 1, 0));
        index.Apply(Record("y", "v2", 1, 0));
        index.SetRoutes("v2", [new IndexRoute("v1", Models.RouteKind.Mapped, Search.Maps.EmbeddingMap.Identity(2))]);
        var oldEmbedding = new Dictionary<string, float[]> { ["v1"] = [1, 0] };

        var unguarded = index.Search(new QueryEmbedding("v2", [0.6f, 0.8f], oldEmbedding), 2);
        index.SetGuard("v1", new Search.RegressionGuard(Search.Maps.ScoreCalibration.Identity, depth: 2));
        var guarded = index.Search(new QueryEmbedding("v2", [0.6f, 0.8f], oldEmbedding), 2);
        var withoutOldEmbedding = index.Search(new QueryEmbedding("v2", [0.6f, 0.8f]), 2);

        Assert.Equal(["x", "y"], unguarded.Matches.Select(m => m.ItemId));
        Assert.Null(unguarded.GuardedBy);
        Assert.Equal(["y", "x"], guarded.Matches.Select(m => m.ItemId));
        Assert.Equal("v1", guarded.GuardedBy);
        Assert.Equal([0.6f, 0.8f], guarded.Matches.Select(m => m.Score), (a, b) => Math.Abs(a - b) < 1e-6); // the scores stay the new space's
        Assert.Equal(["x", "y"], withoutOldEmbedding.Matches.Select(m => m.ItemId));
        Assert.Null(withoutOldEmbedding.GuardedBy);
        Assert.Equal(["v1"], index.CompanionVersions());
        index.SetGuard(null, null);
        Assert.Empty(index.CompanionVersions());
    }

    [Fact]
    public void SetRoutes_ItemsWithoutARouteAreExcluded_AndAnItemLeavesItsRouteWhenBackfilled()
    {
        var index = new GalleryIndex();
        index.Apply(Record("old", "v1", 1, 0));
        index.Apply(Record("other", "v0", 0, 1, 0));
        index.Apply(Record("new", "v2", 0, 1));
        index.SetRoutes("v2", [new IndexRoute("v1", Models.RouteKind.Compatible, Search.Maps.EmbeddingMap.Identity(2))]);

        var result = index.Search(new QueryEmbedding("v2", [1, 0]), 10);
        Assert.Equal(["old", "new"], result.Matches.Select(m => m.ItemId));
        Assert.Equal(1, result.Excluded);
        Assert.Equal(new Dictionary<Models.RouteKind, int> { [Models.RouteKind.SameVersion] = 1, [Models.RouteKind.Compatible] = 1, [Models.RouteKind.Excluded] = 1 }, index.RouteCounts());

        index.Apply(Record("old", "v2", 0.6f, 0.8f)); // backfilled: served by its own v2 vector from now on

        var backfilled = index.Search(new QueryEmbedding("v2", [1, 0]), 10);
        Assert.Equal(0.6f, backfilled.Matches.Single(m => m.ItemId == "old").Score, 4);
        Assert.Equal(new Dictionary<string, int> { ["same-version"] = 2 }, backfilled.Routes);
        Assert.True(index.TryGetVector("other", "v2", out var own));
        Assert.Equal("v0", own.ModelVersion);
    }

    [Fact]
    public void OwnSpaceRoute_SearchesOldItemsWithTheQuerysOldEmbedding_AndMergesByCalibratedScore()
    {
        var index = new GalleryIndex();
        index.Apply(Record("old-near", "v1", 1, 0));
        index.Apply(Record("old-far", "v1", 0, 1));
        index.Apply(Record("new", "v2", 0, 0, 1));
        // v1 scores read 0.1 lower in v2's scale: a v1 cosine of 1 is worth 0.9 there.
        var scores = Search.Maps.ScoreCalibration.FromKnotValues([-1f, 1f], [-1.1f, 0.9f]);
        index.SetRoutes("v2", [new IndexRoute("v1", Models.RouteKind.OwnSpace, Search.Maps.EmbeddingMap.Identity(2), scores)]);

        Assert.Equal(["v1"], index.OwnSpaceVersions());
        var both = index.Search(new QueryEmbedding("v2", [0.6f, 0, 0.8f], new Dictionary<string, float[]> { ["v1"] = [1, 0] }), 10);
        Assert.Equal(["old-near", "new", "old-far"], both.Matches.Select(m => m.ItemId));
        Assert.Equal(0.9f, both.Matches[0].Score, 4);
        Assert.Equal(0.8f, both.Matches[1].Score, 4);
        Assert.Equal(-0.1f, both.Matches[2].Score, 4);
        Assert.Equal(new Dictionary<string, int> { ["same-version"] = 1, ["own-space"] = 2 }, both.Routes);
        Assert.Equal(0, both.Excluded);

        // Without the old embedding the old items cannot be compared: counted as excluded, not guessed.
        var newOnly = index.Search(new QueryEmbedding("v2", [0.6f, 0, 0.8f]), 10);
        Assert.Equal(["new"], newOnly.Matches.Select(m => m.ItemId));
        Assert.Equal(2, newOnly.Excluded);

        // An own-space item has no vector of the query version: asking for one gives its own version's vector.
        Assert.True(index.TryGetVector("old-near", "v2", out var own));
        Assert.Equal("v1", own.ModelVersion);

        index.Apply(Record("old-near", "v2", 1, 0, 0)); // backfilled: leaves the own-space route
        var after = index.Search(new QueryEmbedding("v2", [1, 0, 0], new Dictionary<string, float[]> { ["v1"] = [1, 0] }), 10);
        Assert.Equal(new Dictionary<string, int> { ["same-version"] = 2, ["own-space"] = 1 }, after.Routes);
        Assert.Equal(1f, after.Matches[0].Score, 4);
    }

    [Fact]
    public void OwnSpaceRoute_WithTheUpgradesMap_GivesOldItemsAVectorOfTheNewVersion_ForClusters()
    {
        var index = new GalleryIndex();
        index.Apply(Record("old", "v1", 1, 0));
        index.Apply(Record("new", "v2", 0, 0, 1));
        // v1 (2-d) into v2 (3-d): x -> (0, x0, x1)
        var carry = Search.Maps.EmbeddingMap.FromWeights(Search.Maps.MapKind.Ridge, 2, 3, [0, 1, 0, 0, 0, 1]);
        index.SetRoutes("v2", [new IndexRoute("v1", Models.RouteKind.OwnSpace, Search.Maps.EmbeddingMap.Identity(2), Search.Maps.ScoreCalibration.Identity, carry)]);

        Assert.True(index.TryGetVector("old", "v2", out var carried));
        Assert.Equal("v2", carried.ModelVersion);
        Assert.Equal([0f, 1f, 0f], carried.Vector);

        // Search still compares the old item in its own space, never through the map.
        var result = index.Search(new QueryEmbedding("v2", [0, 1, 0], new Dictionary<string, float[]> { ["v1"] = [0, 1] }), 5);
        Assert.Equal(0f, result.Matches.Single(m => m.ItemId == "old").Score, 4);
    }

    [Fact]
    public void OwnSpaceRoute_AQueryEmbeddingOfTheWrongLength_IsRejected()
    {
        var index = new GalleryIndex();
        index.Apply(Record("old", "v1", 1, 0));
        index.Apply(Record("new", "v2", 0, 0, 1));
        index.SetRoutes("v2", [new IndexRoute("v1", Models.RouteKind.OwnSpace, Search.Maps.EmbeddingMap.Identity(2), Search.Maps.ScoreCalibration.Identity)]);

        var ex = Assert.Throws<IndexerException>(() => index.Search(new QueryEmbedding("v2", [0, 0, 1], new Dictionary<string, float[]> { ["v1"] = [1, 0, 0] }), 5));
        Assert.Equal(IndexerErrorCode.InvalidArgument, ex.Code);
    }

    [Fact]
    public void Unconverted_ListsItemsHeldOnlyInTheOldVersion_WithTheirVectors()
    {
        var index = new GalleryIndex();
        index.Apply(Record("b", "v1", 0, 2));
        index.Apply(Record("a", "v1", 3, 0));
        index.Apply(Record("c", "v1", 1, 1));
        index.Apply(Record("c", "v2", 1, 1, 1));

        var (ids, _, vectors, dimension) = index.Unconverted("v1", "v2");

        Assert.Equal(["a", "b"], ids);
        Assert.Equal(2, dimension);
        Assert.Equal([1f, 0f, 0f, 1f], vectors);
        Assert.Equal("c", Assert.Single(index.HeldWithOthers("v2")).ItemId);
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
