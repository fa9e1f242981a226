using System.ComponentModel.DataAnnotations;
using System.Text;
using Indexer.Galleries;
using Indexer.Grains;
using Indexer.Grains.Galleries;
using Indexer.Search.Clustering;
using Indexer.Storage;

namespace Indexer.Tests.Unit;

/// <summary>The plain parts of galleries' clusters: per-version options, and the stored document's encoding.</summary>
public sealed class ClusterStorageTests
{
    [Fact]
    public void Options_ForAVersionWithOverrides_TakeThemAndKeepTheRest()
    {
        var options = new ClusteringOptions
        {
            JoinThreshold = 0.8f,
            Versions = { ["v2"] = new ClusteringVersionOptions { JoinThreshold = 0.6f, MergeThreshold = 0.9f } },
        };

        var v1 = options.For("v1");
        var v2 = options.For("v2");

        Assert.Equal(new ClusteringParameters { JoinThreshold = 0.8f }, v1);
        Assert.Equal(0.6f, v2.JoinThreshold);
        Assert.Equal(0.9f, v2.MergeThreshold);
        Assert.Equal(v1.MinimumSizeShown, v2.MinimumSizeShown);
        Assert.Equal(v1 with { JoinThreshold = 0.6f, MergeThreshold = 0.9f }, v2);
    }

    [Fact]
    public void Options_ThresholdsDerivedAtARollout_ApplyUnlessConfigurationSetsTheVersions()
    {
        var options = new ClusteringOptions
        {
            JoinThreshold = 0.8f,
            Versions = { ["v3"] = new ClusteringVersionOptions { JoinThreshold = 0.7f }, ["v4"] = new ClusteringVersionOptions { MergeThreshold = 0.5f } },
        };
        var derived = new Indexer.Models.VersionClustering("v2", 0.31, 0.42, "v1");

        Assert.Equal(new ClusteringParameters { JoinThreshold = 0.31f, MergeThreshold = 0.42f }, options.For("v2", derived));
        Assert.Equal(new ClusteringParameters { JoinThreshold = 0.7f }, options.For("v3", derived with { Version = "v3" }));
        Assert.Equal(new ClusteringParameters { JoinThreshold = 0.6f, MergeThreshold = 0.6f }, options.For("v4", derived with { Version = "v4", JoinThreshold = 0.6 }));
        Assert.Equal(new ClusteringParameters { JoinThreshold = 0.8f }, options.For("v5", null));
    }

    [Fact]
    public void Options_Defaults_AreTheMeasuredOnes_AndValid()
    {
        var options = new ClusteringOptions();

        Assert.Equal(new ClusteringParameters(), options.For("any"));
        Assert.Equal(0.85f, options.JoinThreshold);
        Assert.Equal(0.95f, options.MergeThreshold);
        Assert.Empty(Validate(options));
    }

    [Fact]
    public void Options_WithAnOverrideOutOfRange_FailValidationNamingTheVersion()
    {
        var options = new ClusteringOptions
        {
            Versions =
            {
                ["ok"] = new ClusteringVersionOptions { JoinThreshold = 0.7f },
                ["bad"] = new ClusteringVersionOptions { MergeThreshold = 0.5f }, // below the join threshold
                ["worse"] = new ClusteringVersionOptions { JoinThreshold = 1.5f },
            },
        };

        var problems = Validate(options);

        Assert.Equal(2, problems.Count);
        Assert.Contains(problems, p => p.Contains("Indexer:Clustering:Versions:bad") && p.Contains("MergeThreshold"));
        Assert.Contains(problems, p => p.Contains("Indexer:Clustering:Versions:worse") && p.Contains("JoinThreshold"));
    }

    [Fact]
    public void Document_RoundTripsThroughItsStoredForm_NamesPinsJournalAndMovesIncluded()
    {
        var clusters = new GalleryClusters("v1", 3, new ClusteringParameters());
        clusters.Add("a", [1, 0, 0]);
        clusters.Add("b", [0.99f, 0.1f, 0]);
        clusters.Add("c", [0, 1, 0]);
        clusters.Add("d", [0, 0, 1]);
        var ab = clusters.ClusterOf("a")!.Value;
        clusters.Name(ab, "Zoë 🐈");
        clusters.Move("d", clusters.ClusterOf("c")!.Value);
        clusters.MoveOut("b");
        var move = new ClusterMoveRecord("x", 1, "Zoë 🐈", 2, null, ClusterMoveCause.Reembedded, "v2", null, 0.9, DateTimeOffset.FromUnixTimeSeconds(1_700_000_000));
        var document = new ClusterDocument(ClusterDocument.CurrentFormat, clusters.ToSnapshot(), clusters.ToSnapshot() with { ModelVersion = "v0" },
            [new ClusterUserAction(ClusterUserActionKind.Name, ClusterId: ab, Name: "Zoë 🐈"), new ClusterUserAction(ClusterUserActionKind.MoveOut, "b")],
            [move], 7, 3);

        var (bytes, checksum) = BlobClusterStore.Encode(document);
        var back = BlobClusterStore.Decode<ClusterDocument>(bytes, checksum);

        Assert.Equal(document.Format, back.Format);
        Assert.Equal(document.MovesTotal, back.MovesTotal);
        Assert.Equal(document.AddedSinceRefine, back.AddedSinceRefine);
        Assert.Equal(document.Journal, back.Journal);
        Assert.Equal(document.Moves, back.Moves);
        Assert.Equal("v0", back.Rollback!.ModelVersion);
        var restored = GalleryClusters.FromSnapshot(back.Current, id => id switch
        {
            "a" => [1, 0, 0],
            "b" => [0.99f, 0.1f, 0],
            "c" => [0, 1, 0],
            _ => [0, 0, 1],
        });
        Assert.Equal(clusters.ListClusters(3, includeHidden: true), restored.ListClusters(3, includeHidden: true), new SummaryComparer());
        Assert.Equal(ItemPin.MovedOut, restored.PinOf("b"));
        Assert.Equal(ItemPin.InCluster, restored.PinOf("d"));
        Assert.Equal(clusters.NextClusterId, restored.NextClusterId);
        Assert.Equal(back.Current.Parameters, clusters.Parameters);
    }

    [Fact]
    public void Document_Damaged_IsRefusedNotHalfRead()
    {
        var snapshot = new GalleryClusters("v1", 2, new ClusteringParameters()).ToSnapshot();
        var (bytes, checksum) = BlobClusterStore.Encode(new ClusterDocument(ClusterDocument.CurrentFormat, snapshot, null, [], [], 0, 0));

        var flipped = (byte[])bytes.Clone();
        flipped[^2] ^= 0x20;
        Assert.Throws<InvalidDataException>(() => BlobClusterStore.Decode<ClusterDocument>(flipped, checksum));
        Assert.Throws<InvalidDataException>(() => BlobClusterStore.Decode<ClusterDocument>(bytes, null));
        var notJson = Encoding.UTF8.GetBytes("{\"format\": ");
        var ex = Assert.Throws<InvalidDataException>(() => BlobClusterStore.Decode<ClusterDocument>(notJson, Sha256(notJson)));
        Assert.Contains("not valid", ex.Message);
    }

    [Fact]
    public void BlobName_IsOneDocumentPerGallery_UnderItsEscapedKey()
    {
        Assert.Equal("alice%2Fg/clusters.json", BlobClusterStore.BlobName("alice/g"));
        Assert.NotEqual(BlobClusterStore.BlobName("alice/g"), BlobClusterStore.BlobName("alice/g2"));
        Assert.Equal("alice%2F%2E%2E/clusters.json", BlobClusterStore.BlobName("alice/.."));
    }

    private static List<string> Validate(ClusteringOptions options)
    {
        var results = new List<ValidationResult>();
        Validator.TryValidateObject(options, new ValidationContext(options), results, validateAllProperties: true);
        return results.Select(r => r.ErrorMessage ?? "").ToList();
    }

    private static string Sha256(byte[] bytes) => Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(bytes));

    private sealed class SummaryComparer : IEqualityComparer<ClusterSummary>
    {
        public bool Equals(ClusterSummary? x, ClusterSummary? y) =>
            x is not null && y is not null && x.Id == y.Id && x.Name == y.Name && x.Size == y.Size && x.PinnedCount == y.PinnedCount
            && x.Representatives.SequenceEqual(y.Representatives);

        public int GetHashCode(ClusterSummary obj) => obj.Id.GetHashCode();
    }
}
