using Indexer.Search.Clustering;

namespace Indexer.Search.Tests.Clustering;

public sealed class GalleryClustersUserActionsTests
{
    private static readonly ClusteringParameters Parameters = new() { JoinThreshold = 0.9f, MergeThreshold = 0.99f, MinimumSizeShown = 1 };

    /// <summary>Three clusters on a circle: "a1","a2" near 0°, "b1","b2" near 90°, "c1" at 200°.</summary>
    private static (GalleryClusters Clusters, long A, long B, long C) ThreeClusters()
    {
        var clusters = new GalleryClusters("v1", 2, Parameters);
        long a = clusters.Add("a1", GalleryClustersTests.Angle(0)).ClusterId;
        clusters.Add("a2", GalleryClustersTests.Angle(5));
        long b = clusters.Add("b1", GalleryClustersTests.Angle(90)).ClusterId;
        clusters.Add("b2", GalleryClustersTests.Angle(95));
        long c = clusters.Add("c1", GalleryClustersTests.Angle(200)).ClusterId;
        return (clusters, a, b, c);
    }

    [Fact]
    public void Move_PinsTheItemAndAnEmptiedClusterCeasesToExist()
    {
        var (clusters, a, _, c) = ThreeClusters();

        clusters.Move("c1", a);

        Assert.Equal(a, clusters.ClusterOf("c1"));
        Assert.Equal(ItemPin.InCluster, clusters.PinOf("c1"));
        Assert.Equal(1, clusters.GetCluster(a).PinnedCount);
        Assert.Throws<KeyNotFoundException>(() => clusters.GetCluster(c));
    }

    [Fact]
    public void MoveOut_LeavesTheItemInNoClusterUntilMovedBack()
    {
        var (clusters, a, b, _) = ThreeClusters();

        clusters.MoveOut("a2");

        Assert.Null(clusters.ClusterOf("a2"));
        Assert.Equal(ItemPin.MovedOut, clusters.PinOf("a2"));
        Assert.Equal(1, clusters.GetCluster(a).Size);
        Assert.Null(clusters.Reembed("a2", GalleryClustersTests.Angle(1)));
        Assert.Null(clusters.ClusterOf("a2"));

        clusters.Move("a2", b);
        Assert.Equal(b, clusters.ClusterOf("a2"));
    }

    [Fact]
    public void Merge_NamedClusterKeepsItsIdAndName()
    {
        var (clusters, a, b, _) = ThreeClusters();
        clusters.Name(b, "Bea");

        long merged = clusters.Merge(a, b);

        Assert.Equal(b, merged);
        Assert.Equal("Bea", clusters.GetCluster(b).Name);
        Assert.Equal(4, clusters.GetCluster(b).Size);
        Assert.Throws<KeyNotFoundException>(() => clusters.GetCluster(a));
    }

    [Fact]
    public void Merge_BothNamed_TargetKeepsItsName()
    {
        var (clusters, a, b, _) = ThreeClusters();
        clusters.Name(a, "Ann");
        clusters.Name(b, "Bea");
        clusters.Move("c1", b);

        long merged = clusters.Merge(a, b);

        Assert.Equal(a, merged);
        Assert.Equal("Ann", clusters.GetCluster(a).Name);
        Assert.Equal(ItemPin.InCluster, clusters.PinOf("c1"));
        Assert.Equal(a, clusters.ClusterOf("c1"));
    }

    [Fact]
    public void Name_StoresTrimmedNormalisedText()
    {
        var (clusters, a, _, _) = ThreeClusters();

        clusters.Name(a, "  Zoe\u0301  ");
        Assert.Equal("Zo\u00e9", clusters.GetCluster(a).Name);

        clusters.Name(a, new string('x', 99) + "\U0001F600"); // 100 characters, the emoji counted once
        Assert.Equal(101, clusters.GetCluster(a).Name!.Length);
    }

    public static TheoryData<string> BadNames => new()
    {
        "",
        "   ",
        "\t\n",
        new string('x', 101),
        "Ann\u0000",
        "Ann\nBea",
    };

    [Theory]
    [MemberData(nameof(BadNames))]
    public void Name_InvalidText_ThrowsAndChangesNothing(string name)
    {
        var (clusters, a, _, _) = ThreeClusters();
        clusters.Name(a, "Ann");
        string before = Snapshots.Json(clusters);

        var error = Assert.Throws<ArgumentException>(() => clusters.Name(a, name));

        Assert.Contains("name", error.Message, StringComparison.OrdinalIgnoreCase);
        Assert.Equal(before, Snapshots.Json(clusters));
    }

    /// <summary>Not theory data: xUnit's data serialisation replaces lone surrogates with U+FFFD before the test sees them.</summary>
    [Fact]
    public void Name_LoneSurrogate_ThrowsAndChangesNothing()
    {
        var (clusters, a, _, _) = ThreeClusters();
        string before = Snapshots.Json(clusters);

        foreach (string name in new[] { "bad\uD800surrogate", "\uDC00", "end\uD83D" })
        {
            Assert.Contains("surrogate", Assert.Throws<ArgumentException>(() => clusters.Name(a, name)).Message);
        }

        Assert.Equal(before, Snapshots.Json(clusters));
    }

    [Fact]
    public void BadRequests_ThrowClearErrorsAndChangeNothing()
    {
        var (clusters, a, _, _) = ThreeClusters();
        clusters.Name(a, "Ann");
        clusters.Move("b2", a);
        string before = Snapshots.Json(clusters);

        Assert.Contains("999", Assert.Throws<KeyNotFoundException>(() => clusters.Name(999, "Ghost")).Message);
        Assert.Contains("itself", Assert.Throws<ArgumentException>(() => clusters.Merge(a, a)).Message);
        Assert.Throws<KeyNotFoundException>(() => clusters.Merge(a, 999));
        Assert.Throws<KeyNotFoundException>(() => clusters.Merge(999, a));
        Assert.Contains("nobody", Assert.Throws<KeyNotFoundException>(() => clusters.Move("nobody", a)).Message);
        Assert.Throws<KeyNotFoundException>(() => clusters.Move("a1", 999));
        Assert.Throws<KeyNotFoundException>(() => clusters.MoveOut("nobody"));
        Assert.Throws<KeyNotFoundException>(() => clusters.Reembed("nobody", GalleryClustersTests.Angle(0)));
        Assert.Throws<ArgumentException>(() => clusters.Reembed("a1", [1f, 0f, 0f]));
        Assert.Throws<ArgumentException>(() => clusters.Reembed("a1", [float.NaN, 0f]));
        Assert.Contains("already", Assert.Throws<ArgumentException>(() => clusters.Add("a1", GalleryClustersTests.Angle(0))).Message);
        Assert.Throws<ArgumentException>(() => clusters.Add("", GalleryClustersTests.Angle(0)));
        Assert.Throws<ArgumentException>(() => clusters.Add("z", [1f]));
        Assert.Throws<ArgumentException>(() => clusters.Add("z", [float.PositiveInfinity, 0f]));
        Assert.Contains("zeros", Assert.Throws<ArgumentException>(() => clusters.Add("z", [0f, 0f])).Message);
        Assert.Throws<ArgumentException>(() => clusters.AddMany([KeyValuePair.Create("y", GalleryClustersTests.Angle(1)), KeyValuePair.Create("z", new[] { float.NaN, 0f })]));
        Assert.Contains("twice", Assert.Throws<ArgumentException>(() => clusters.AddMany([KeyValuePair.Create("y", GalleryClustersTests.Angle(1)), KeyValuePair.Create("y", GalleryClustersTests.Angle(2))])).Message);
        Assert.Throws<ArgumentException>(() => clusters.Rebase("v2", 2, Parameters, id => id == "c1" ? [float.NaN, 1f] : GalleryClustersTests.Angle(0)));
        Assert.Throws<ArgumentException>(() => clusters.Rebase("v2", 3, Parameters, _ => GalleryClustersTests.Angle(0)));
        Assert.Throws<ArgumentException>(() => clusters.Rebase("v2", 2, Parameters with { MergeThreshold = 0.5f }, _ => null));
        Assert.Throws<ArgumentException>(() => clusters.Rebase(" ", 2, Parameters, _ => null));
        Assert.Throws<ArgumentOutOfRangeException>(() => clusters.ItemsOf(a, limit: 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => clusters.ListClusters(representatives: GalleryClusters.MaxRepresentatives + 1));

        Assert.Equal(before, Snapshots.Json(clusters));
        Assert.Equal("v1", clusters.ModelVersion);
    }

    [Theory]
    [InlineData(float.NaN, 0.9f)]
    [InlineData(1.5f, 1.5f)]
    [InlineData(0.9f, 0.8f)]
    public void Parameters_OutOfRange_AreRejected(float join, float merge)
    {
        var parameters = new ClusteringParameters { JoinThreshold = join, MergeThreshold = merge };

        Assert.Throws<ArgumentException>(parameters.Validate);
        Assert.Throws<ArgumentException>(() => new GalleryClusters("v1", 2, parameters));
        Assert.Throws<ArgumentException>(() => new ClusteringParameters { RefineIterations = -1 }.Validate());
        Assert.Throws<ArgumentException>(() => new ClusteringParameters { MinimumSizeShown = 0 }.Validate());
        Assert.Throws<ArgumentException>(() => new ClusteringParameters { StayMargin = -0.1f }.Validate());
    }
}
