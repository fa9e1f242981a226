using System.Text.Json;
using Indexer.Search.Clustering;
using Indexer.Search.Metrics;

namespace Indexer.Search.Tests.Clustering;

public sealed class GalleryClustersUpgradeTests
{
    private const int Dimension = 64;

    /// <summary>Blobs clustered in v1, every cluster named, one item pinned elsewhere and one moved out.</summary>
    private static (Blobs Blobs, GalleryClusters Clusters) NamedGallery(int seed)
    {
        var blobs = Blobs.Create(seed, blobs: 5, perBlob: 30, Dimension, noise: 0.5f);
        var clusters = new GalleryClusters("v1", Dimension, GalleryClustersTests.BlobParameters);
        foreach (var (id, _, vector) in blobs.Items)
        {
            clusters.Add(id, vector);
        }

        foreach (ClusterSummary cluster in clusters.ListClusters())
        {
            clusters.Name(cluster.Id, $"person {cluster.Id}");
        }

        var ones = blobs.Items.Where(i => i.Label == 1).ToList();
        clusters.Move(ones[0].Id, clusters.ClusterOf(blobs.Items.First(i => i.Label == 0).Id)!.Value);
        clusters.MoveOut(ones[1].Id);
        return (blobs, clusters);
    }

    [Fact]
    public void Rebase_IntoARotatedSpace_KeepsIdsNamesMembersAndPins()
    {
        var (blobs, clusters) = NamedGallery(seed: 11);
        float[] rotation = RandomOrthogonal.Create(Dimension, seed: 3);
        var rotated = blobs.Items.ToDictionary(i => i.Id, i => Blobs.Rotate(rotation, i.Vector));
        ClusteringSnapshot before = clusters.ToSnapshot();

        RebaseResult result = clusters.Rebase("v2", Dimension, GalleryClustersTests.BlobParameters, id => rotated[id]);

        Assert.Equal(new RebaseResult("v1", "v2", blobs.Items.Count, 0), result);
        ClusteringSnapshot after = clusters.ToSnapshot();
        Assert.Equal("v2", after.ModelVersion);
        Assert.Equal(JsonSerializer.Serialize(before with { ModelVersion = "v2" }), JsonSerializer.Serialize(after));

        // The backfill re-embeds every item with a little model noise: nobody moves.
        var random = new Random(4);
        foreach (var (id, _, _) in blobs.Items)
        {
            Assert.Null(clusters.Reembed(id, Blobs.Near(random, rotated[id], 0.2f)));
        }

        Assert.Equal(0, ClusterMetrics.NegativeFlips(before, clusters.ToSnapshot()).Flips);
    }

    [Fact]
    public void Rebase_ItemsWithoutAVector_StayMembersUntilReembedded()
    {
        var (blobs, clusters) = NamedGallery(seed: 12);
        var vectors = blobs.Items.ToDictionary(i => i.Id, i => i.Vector);
        var withoutVector = blobs.Items.Where((_, index) => index % 3 == 0).Select(i => i.Id).ToHashSet();
        ClusteringSnapshot before = clusters.ToSnapshot();

        RebaseResult result = clusters.Rebase("v2", Dimension, GalleryClustersTests.BlobParameters, id => withoutVector.Contains(id) ? null : vectors[id]);

        Assert.Equal(withoutVector.Count, result.WithoutVector);
        Assert.Equal(withoutVector.Count, clusters.ItemsWithoutVector);
        Assert.Equal(JsonSerializer.Serialize(before with { ModelVersion = "v2" }), JsonSerializer.Serialize(clusters.ToSnapshot()));
        Assert.All(clusters.ListClusters(), c => Assert.Equal(c.Size, clusters.ItemsOf(c.Id).Total));

        foreach (string id in withoutVector)
        {
            Assert.Null(clusters.Reembed(id, vectors[id]));
        }

        Assert.Equal(0, clusters.ItemsWithoutVector);
        Assert.Equal(0, ClusterMetrics.NegativeFlips(before, clusters.ToSnapshot()).Flips);
    }

    private static readonly ClusteringParameters MoveNamedMembers = GalleryClustersTests.BlobParameters with { NamedMembers = NamedMemberPolicy.Move };

    [Fact]
    public void Reembed_OnlyStrongEvidenceMovesAnItem_AndTheMoveIsReported()
    {
        var (blobs, clusters) = NamedGallery(seed: 13);
        clusters.Rebase("v1", Dimension, MoveNamedMembers, id => blobs.Items.Single(i => i.Id == id).Vector);
        var random = new Random(5);
        var zero = blobs.Items.Where(i => i.Label == 0).ToList();
        long home = clusters.ClusterOf(zero[5].Id)!.Value;
        long elsewhere = clusters.ClusterOf(blobs.Items.First(i => i.Label == 3).Id)!.Value;

        // Halfway between its own centre and another: the evidence is not strong, it stays.
        float[] between = Blobs.Unit([.. blobs.Centres[0].Zip(blobs.Centres[3], (x, y) => x + y)]);
        Assert.Null(clusters.Reembed(zero[5].Id, between));

        // Now squarely in another blob: it moves, and the move names the cluster it left.
        ClusterMove? move = clusters.Reembed(zero[6].Id, Blobs.Near(random, blobs.Centres[3], 0.3f));
        Assert.NotNull(move);
        Assert.Equal(new ClusterMove(zero[6].Id, home, elsewhere, ClusterMoveReason.Reembedded, $"person {home}", move.FromSimilarity, move.ToSimilarity), move);
        Assert.True(move.FromSimilarity < GalleryClustersTests.BlobParameters.JoinThreshold);
        Assert.Equal(elsewhere, clusters.ClusterOf(zero[6].Id));

        // A pinned item never moves, whatever its new vector says.
        string pinned = blobs.Items.First(i => i.Label == 1).Id;
        Assert.Null(clusters.Reembed(pinned, Blobs.Near(random, blobs.Centres[1], 0.3f)));
        Assert.Equal(home, clusters.ClusterOf(pinned));
    }

    [Fact]
    public void Refine_MovesAnItemOutOfANamedClusterOnlyOnStrongEvidence_AndReportsIt()
    {
        var (blobs, clusters) = NamedGallery(seed: 18);
        var random = new Random(8);
        var zero = blobs.Items.Where(i => i.Label == 0).ToList();
        long home = clusters.ClusterOf(zero[5].Id)!.Value;
        long elsewhere = clusters.ClusterOf(blobs.Items.First(i => i.Label == 3).Id)!.Value;
        var vectors = blobs.Items.ToDictionary(i => i.Id, i => i.Vector);
        vectors[zero[5].Id] = Blobs.Unit([.. blobs.Centres[0].Zip(blobs.Centres[3], (x, y) => x + y)]);
        vectors[zero[6].Id] = Blobs.Near(random, blobs.Centres[3], 0.3f);
        clusters.Rebase("v2", Dimension, MoveNamedMembers, id => vectors[id]);

        RefineResult result = clusters.Refine();

        Assert.Empty(result.Suggestions);
        ClusterMove move = Assert.Single(result.NamedMoves);
        Assert.Equal((zero[6].Id, home, elsewhere, ClusterMoveReason.Refined), (move.ItemId, move.FromClusterId, move.ToClusterId, move.Reason));
        Assert.Equal(home, clusters.ClusterOf(zero[5].Id));
        Assert.All(clusters.ListClusters(), c => Assert.Equal($"person {c.Id}", c.Name));
    }

    [Fact]
    public void Reembed_UnderSuggest_LeavesANamedMemberWhereItIs_AndSuggestsTheMove()
    {
        var (blobs, clusters) = NamedGallery(seed: 13);
        var random = new Random(5);
        var zero = blobs.Items.Where(i => i.Label == 0).ToList();
        long home = clusters.ClusterOf(zero[6].Id)!.Value;
        long elsewhere = clusters.ClusterOf(blobs.Items.First(i => i.Label == 3).Id)!.Value;
        ClusteringSnapshot before = clusters.ToSnapshot();
        Assert.Equal(NamedMemberPolicy.Suggest, clusters.Parameters.NamedMembers); // the default

        // The same evidence as in the test above, which moves the item when moves are allowed.
        ClusterMove? suggestion = clusters.Reembed(zero[6].Id, Blobs.Near(random, blobs.Centres[3], 0.3f));

        Assert.NotNull(suggestion);
        Assert.Equal(new ClusterMove(zero[6].Id, home, elsewhere, ClusterMoveReason.Reembedded, $"person {home}", suggestion.FromSimilarity, suggestion.ToSimilarity, Suggested: true),
            suggestion);
        Assert.True(suggestion.FromSimilarity < GalleryClustersTests.BlobParameters.JoinThreshold - GalleryClustersTests.BlobParameters.StayMargin);
        Assert.Equal(home, clusters.ClusterOf(zero[6].Id));
        Assert.Equal(0, ClusterMetrics.NegativeFlips(before, clusters.ToSnapshot()).Flips);

        // Weak evidence is no suggestion at all.
        float[] between = Blobs.Unit([.. blobs.Centres[0].Zip(blobs.Centres[3], (x, y) => x + y)]);
        Assert.Null(clusters.Reembed(zero[5].Id, between));
    }

    [Fact]
    public void Reembed_UnderSuggest_StillMovesMembersOfUnnamedClusters()
    {
        var blobs = Blobs.Create(seed: 21, blobs: 4, perBlob: 30, Dimension, noise: 0.5f);
        var clusters = new GalleryClusters("v1", Dimension, GalleryClustersTests.BlobParameters);
        foreach (var (id, _, vector) in blobs.Items)
        {
            clusters.Add(id, vector);
        }

        var zero = blobs.Items.First(i => i.Label == 0);
        long elsewhere = clusters.ClusterOf(blobs.Items.First(i => i.Label == 2).Id)!.Value;

        ClusterMove? move = clusters.Reembed(zero.Id, Blobs.Near(new Random(6), blobs.Centres[2], 0.3f));

        Assert.NotNull(move);
        Assert.False(move.Suggested);
        Assert.Null(move.FromName);
        Assert.Equal(elsewhere, clusters.ClusterOf(zero.Id));
    }

    [Fact]
    public void Refine_UnderSuggest_MovesNoNamedMember_AndReturnsOneSuggestionPerItem_JudgedOnTheFinalClusters()
    {
        var (blobs, clusters) = NamedGallery(seed: 18);
        var random = new Random(8);
        var zero = blobs.Items.Where(i => i.Label == 0).ToList();
        long home = clusters.ClusterOf(zero[6].Id)!.Value;
        long elsewhere = clusters.ClusterOf(blobs.Items.First(i => i.Label == 3).Id)!.Value;
        var vectors = blobs.Items.ToDictionary(i => i.Id, i => i.Vector);
        vectors[zero[5].Id] = Blobs.Unit([.. blobs.Centres[0].Zip(blobs.Centres[3], (x, y) => x + y)]);
        vectors[zero[6].Id] = Blobs.Near(random, blobs.Centres[3], 0.3f);
        vectors[zero[7].Id] = Blobs.Near(random, blobs.Centres[3], 0.3f);
        clusters.Rebase("v2", Dimension, GalleryClustersTests.BlobParameters, id => vectors[id]);
        ClusteringSnapshot before = clusters.ToSnapshot();

        RefineResult result = clusters.Refine();

        Assert.Empty(result.NamedMoves);
        Assert.Equal(new[] { zero[6].Id, zero[7].Id }.Order(StringComparer.Ordinal), result.Suggestions.Select(m => m.ItemId));
        Assert.All(result.Suggestions, m =>
        {
            Assert.True(m.Suggested);
            Assert.Equal((home, elsewhere, ClusterMoveReason.Refined, $"person {home}"), (m.FromClusterId, m.ToClusterId, m.Reason, m.FromName));
            Assert.Equal(home, clusters.ClusterOf(m.ItemId));
        });
        Assert.Equal(0, ClusterMetrics.NegativeFlips(before, clusters.ToSnapshot()).Flips);
    }

    [Fact]
    public void Rebase_ToADifferentDimension_RecomputesCentroidsInTheNewSpace()
    {
        var (blobs, clusters) = NamedGallery(seed: 14);
        ClusteringSnapshot before = clusters.ToSnapshot();
        var halves = blobs.Items.ToDictionary(i => i.Id, i => i.Vector[..(Dimension / 2)]);

        clusters.Rebase("v2-small", Dimension / 2, GalleryClustersTests.BlobParameters, id => halves[id]);

        Assert.Equal(Dimension / 2, clusters.Dimension);
        var random = new Random(6);
        ClusterAssignment added = clusters.Add("new", Blobs.Near(random, blobs.Centres[2], 0.3f)[..(Dimension / 2)]);
        Assert.Equal(clusters.ClusterOf(blobs.Items.First(i => i.Label == 2).Id), added.ClusterId);
        Assert.Equal(0, ClusterMetrics.NegativeFlips(before, clusters.ToSnapshot()).Flips);
    }

    [Fact]
    public void Snapshot_RoundTripsThroughJson_AndBehavesTheSame()
    {
        var (blobs, clusters) = NamedGallery(seed: 15);
        var vectors = blobs.Items.ToDictionary(i => i.Id, i => i.Vector);

        GalleryClusters restored = GalleryClusters.FromSnapshot(Snapshots.RoundTrip(clusters.ToSnapshot()), id => vectors[id]);

        Assert.Equal(Snapshots.Json(clusters), Snapshots.Json(restored));
        Assert.Equal(clusters.NextClusterId, restored.NextClusterId);
        Assert.Equal(
            JsonSerializer.Serialize(clusters.ListClusters(representatives: 5)),
            JsonSerializer.Serialize(restored.ListClusters(representatives: 5)));
        var random = new Random(7);
        for (int i = 0; i < 20; i++)
        {
            float[] v = Blobs.Near(random, blobs.Centres[i % 5], 0.5f);
            Assert.Equal(clusters.Add($"n{i}", v), restored.Add($"n{i}", v), new AssignmentComparer());
        }

        Assert.Equal(Snapshots.Json(clusters), Snapshots.Json(restored));
    }

    [Fact]
    public void FromSnapshot_Inconsistent_IsRejected()
    {
        var (blobs, clusters) = NamedGallery(seed: 16);
        ClusteringSnapshot good = clusters.ToSnapshot();
        ClusterRecord first = good.Clusters[0];

        ClusteringSnapshot[] bad =
        [
            good with { NextClusterId = first.Id },
            good with { Clusters = [.. good.Clusters, first] },
            good with { Clusters = [first with { Id = 1000 }, .. good.Clusters.Skip(1)] },
            good with { Clusters = [first with { Members = [] }, .. good.Clusters.Skip(1)] },
            good with { Clusters = [first with { PinnedMembers = ["stranger"] }, .. good.Clusters.Skip(1)] },
            good with { Clusters = [first with { Name = " " }, .. good.Clusters.Skip(1)] },
            good with { MovedOutItems = [first.Members[0]] },
            good with { Parameters = good.Parameters with { JoinThreshold = 2 } },
        ];

        Assert.All(bad, snapshot => Assert.Throws<ArgumentException>(() => GalleryClusters.FromSnapshot(snapshot, _ => null)));
        Assert.Equal(blobs.Items.Count, GalleryClusters.FromSnapshot(good, _ => null).ItemsWithoutVector);
    }

    [Fact]
    public void NamedMembership_FeedsTheFlipMetric()
    {
        var (blobs, clusters) = NamedGallery(seed: 17);
        IReadOnlyDictionary<string, long> named = clusters.NamedMembership();
        ClusteringSnapshot before = clusters.ToSnapshot();
        string mover = blobs.Items.First(i => i.Label == 4).Id;
        long target = clusters.ClusterOf(blobs.Items.First(i => i.Label == 2).Id)!.Value;

        clusters.Move(mover, target);
        clusters.Remove(blobs.Items.First(i => i.Label == 3).Id);

        ClusterFlipReport report = ClusterMetrics.NegativeFlips(before, clusters.ToSnapshot());
        Assert.Equal(blobs.Items.Count - 1, named.Count); // every cluster is named; one item was moved out
        Assert.Equal(new ClusterFlipReport(named.Count - 1, 0, 1, 1), report);
    }

    private sealed class AssignmentComparer : IEqualityComparer<ClusterAssignment>
    {
        public bool Equals(ClusterAssignment? x, ClusterAssignment? y) =>
            x!.ClusterId == y!.ClusterId && x.StartedCluster == y.StartedCluster && x.AbsorbedClusterIds.SequenceEqual(y.AbsorbedClusterIds);

        public int GetHashCode(ClusterAssignment obj) => obj.ClusterId.GetHashCode();
    }

    [Fact]
    public void CarriedOver_MovesTheThresholdsToTheSameQuantileOfTheOtherScale_AndKeepsTheRest()
    {
        // Pair similarities 0..1 in the old model land on 0..0.5 below the median and 0.5..1 above in the new one.
        var scores = Indexer.Search.Maps.ScoreCalibration.FromKnotValues([0f, 0.5f, 0.9f, 1f], [0f, 0.3f, 0.6f, 1f]);
        var old = GalleryClustersTests.BlobParameters with { JoinThreshold = 0.5f, MergeThreshold = 0.9f, StayMargin = 0.2f };

        ClusteringParameters carried = old.CarriedOver(scores);

        Assert.Equal(0.3f, carried.JoinThreshold, 5);
        Assert.Equal(0.6f, carried.MergeThreshold, 5);
        Assert.Equal(old with { JoinThreshold = carried.JoinThreshold, MergeThreshold = carried.MergeThreshold }, carried);
        Assert.Equal(old, old.CarriedOver(Indexer.Search.Maps.ScoreCalibration.Identity));
    }
}
