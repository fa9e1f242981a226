using Indexer.Embedding;

namespace Indexer.Training.Tests;

public sealed class BackboneFeatureCacheTests : IDisposable
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), $"features-{Guid.NewGuid():N}");

    public void Dispose()
    {
        if (Directory.Exists(_directory)) Directory.Delete(_directory, recursive: true);
    }

    [Fact]
    public void SaveAndLoad_RoundTripsEveryField()
    {
        var features = new BackboneFeatures("set|first2|m", 3, [1f, 2f, 3f, -4f, 5.5f, 0f], [7, 2], [10, 42]);
        var path = Path.Combine(_directory, "a.features");
        BackboneFeatureCache.Save(path, features);
        var loaded = BackboneFeatureCache.Load(path);
        Assert.Equal(features.Key, loaded.Key);
        Assert.Equal(features.Dimension, loaded.Dimension);
        Assert.Equal(features.Features, loaded.Features);
        Assert.Equal(features.Labels, loaded.Labels);
        Assert.Equal(features.SourceIndices, loaded.SourceIndices);
    }

    [Fact]
    public void Load_RejectsAFlippedByteAndATruncatedFile()
    {
        var path = Path.Combine(_directory, "b.features");
        BackboneFeatureCache.Save(path, new BackboneFeatures("k", 2, [1f, 2f, 3f, 4f], [0, 1], [0, 1]));
        var bytes = File.ReadAllBytes(path);
        var flipped = bytes.ToArray();
        flipped[^40] ^= 1;
        File.WriteAllBytes(path, flipped);
        Assert.Throws<InvalidDataException>(() => BackboneFeatureCache.Load(path));
        File.WriteAllBytes(path, bytes[..(bytes.Length / 2)]);
        Assert.Throws<InvalidDataException>(() => BackboneFeatureCache.Load(path));
    }

    [Fact]
    public void KeyOf_ChangesWithTheSelectionAndTheBackbone_AndPathsFollowKeys()
    {
        var manifest = new ModelManifest("resnet18", "in", "out", 224, 224, ChannelOrder.Bgr, [0f, 0f, 0f], [1f, 1f, 1f], 512, true,
            Properties: new Dictionary<string, string> { ["sourceSha256"] = "abc" });
        var cache = new BackboneFeatureCache(_directory);
        var a = BackboneFeatureCache.KeyOf("fashion-mnist-train", "first100perclass", manifest);
        var b = BackboneFeatureCache.KeyOf("fashion-mnist-train", "first200perclass", manifest);
        var c = BackboneFeatureCache.KeyOf("fashion-mnist-train", "first100perclass", manifest with { Properties = new Dictionary<string, string> { ["sourceSha256"] = "def" } });
        Assert.Equal(3, new[] { a, b, c }.Distinct().Count());
        Assert.Equal(3, new[] { cache.PathOf(a), cache.PathOf(b), cache.PathOf(c) }.Distinct().Count());
        Assert.StartsWith(Path.Combine(_directory, "fashion-mnist-train-first100perclass-"), cache.PathOf(a));
    }

    [Fact]
    public void FirstPerClass_TakesTheFirstImagesOfEachLabelInOrder()
    {
        byte[] labels = [0, 1, 0, 0, 2, 1, 1, 2];
        Assert.Equal([0, 1, 2, 4, 5, 7], BackboneFeatures.FirstPerClass(labels, 2));
    }
}
