using Azure.Storage.Blobs;
using Indexer.Storage;

namespace Indexer.Search.Tests;

[Collection(AzuriteCollection.Name)]
[Trait("Category", "Storage")]
public sealed class BlobModelStoreTests(AzuriteFixture azurite)
{
    private readonly string _containerName = AzuriteFixture.NewContainerName("models");

    private BlobModelStore NewStore() => new(azurite.Service, _containerName);

    [Fact]
    public async Task Put_then_get_model_and_manifest()
    {
        BlobModelStore store = NewStore();
        byte[] onnx = new byte[300_000];
        new Random(1).NextBytes(onnx);
        const string manifest = "{\"version\":\"resnet18-v1\",\"dimension\":512,\"note\":\"größe ✓\"}";

        await store.PutAsync("resnet18-v1", onnx, manifest, CancellationToken.None);

        Assert.Equal(onnx, await store.GetModelAsync("resnet18-v1", CancellationToken.None));
        Assert.Equal(manifest, await store.GetManifestJsonAsync("resnet18-v1", CancellationToken.None));
        Assert.True(await Container().GetBlobClient("resnet18-v1/model.onnx").ExistsAsync());
        Assert.True(await Container().GetBlobClient("resnet18-v1/manifest.json").ExistsAsync());
    }

    [Fact]
    public async Task Put_again_overwrites_the_version()
    {
        BlobModelStore store = NewStore();
        await store.PutAsync("v1", new byte[] { 1 }, "{\"a\":1}", CancellationToken.None);
        await store.PutAsync("v1", new byte[] { 2, 2 }, "{\"a\":2}", CancellationToken.None);
        Assert.Equal([2, 2], await store.GetModelAsync("v1", CancellationToken.None));
        Assert.Equal("{\"a\":2}", await store.GetManifestJsonAsync("v1", CancellationToken.None));
    }

    [Fact]
    public async Task Missing_version_gives_KeyNotFound_and_null_manifest()
    {
        BlobModelStore store = NewStore();
        await Assert.ThrowsAsync<KeyNotFoundException>(() => store.GetModelAsync("nope", CancellationToken.None));
        Assert.Null(await store.GetManifestJsonAsync("nope", CancellationToken.None));
    }

    [Fact]
    public async Task List_reports_only_complete_versions()
    {
        BlobModelStore store = NewStore();
        await store.PutAsync("b-2", new byte[] { 1 }, "{}", CancellationToken.None);
        await store.PutAsync("a.1", new byte[] { 1 }, "{}", CancellationToken.None);
        // A crashed upload: model written, manifest never written.
        await Container().GetBlobClient("c-3/model.onnx").UploadAsync(BinaryData.FromBytes(new byte[] { 1 }), overwrite: true);

        var versions = new List<string>();
        await foreach (string version in store.ListVersionsAsync(CancellationToken.None))
        {
            versions.Add(version);
        }

        Assert.Equal(["a.1", "b-2"], versions);
        Assert.Null(await store.GetManifestJsonAsync("c-3", CancellationToken.None));
    }

    [Fact]
    public async Task List_of_empty_store_is_empty()
    {
        BlobModelStore store = NewStore();
        await foreach (string version in store.ListVersionsAsync(CancellationToken.None))
        {
            Assert.Fail($"unexpected version {version}");
        }
    }

    [Theory]
    [InlineData("")]
    [InlineData(".hidden")]
    [InlineData("..")]
    [InlineData("a/b")]
    [InlineData("a b")]
    [InlineData("v1\\x")]
    public async Task Invalid_versions_are_rejected(string version)
    {
        BlobModelStore store = NewStore();
        await Assert.ThrowsAsync<ArgumentException>(() => store.PutAsync(version, new byte[] { 1 }, "{}", CancellationToken.None));
        await Assert.ThrowsAsync<ArgumentException>(() => store.GetModelAsync(version, CancellationToken.None));
        await Assert.ThrowsAsync<ArgumentException>(() => store.GetManifestJsonAsync(version, CancellationToken.None));
    }

    [Fact]
    public void BlobClients_rejects_empty_connection_string_and_pins_the_service_version()
    {
        Assert.Throws<ArgumentException>(() => BlobClients.Create(" "));
        Assert.Equal(BlobClientOptions.ServiceVersion.V2025_11_05, BlobClients.PinnedServiceVersion);
    }

    private BlobContainerClient Container() => azurite.Service.GetBlobContainerClient(_containerName);

    [Fact]
    public async Task Maps_round_trip_and_a_missing_map_is_null()
    {
        BlobModelStore store = new(azurite.Service, AzuriteFixture.NewContainerName("maps"));
        byte[] map = [1, 2, 3, 4, 5];

        await store.PutMapAsync("v1", "v2", map, CancellationToken.None);

        Assert.Equal(map, await store.GetMapAsync("v1", "v2", CancellationToken.None));
        Assert.Null(await store.GetMapAsync("v2", "v1", CancellationToken.None));
        Assert.Empty(await ToListAsync(store.ListVersionsAsync(CancellationToken.None))); // a map alone is not a version
    }

    [Fact]
    public async Task A_map_is_downloaded_again_only_when_its_etag_changed()
    {
        BlobModelStore store = new(azurite.Service, AzuriteFixture.NewContainerName("maps"));
        await store.PutMapAsync("v1", "v2", new byte[] { 1, 2, 3 }, CancellationToken.None);

        var first = await store.GetMapUnlessAsync("v1", "v2", held: null, CancellationToken.None);
        var unchanged = await store.GetMapUnlessAsync("v1", "v2", first!.ETag, CancellationToken.None);
        await store.PutMapAsync("v1", "v2", new byte[] { 4, 5 }, CancellationToken.None); // fitted again, stored in place
        var changed = await store.GetMapUnlessAsync("v1", "v2", first.ETag, CancellationToken.None);

        Assert.Equal(new byte[] { 1, 2, 3 }, first.Content);
        Assert.Equal(first.ETag, unchanged!.ETag);
        Assert.Null(unchanged.Content);
        Assert.NotEqual(first.ETag, changed!.ETag);
        Assert.Equal(new byte[] { 4, 5 }, changed.Content);
        Assert.Null(await store.GetMapUnlessAsync("v2", "v1", first.ETag, CancellationToken.None));
    }

    private static async Task<List<string>> ToListAsync(IAsyncEnumerable<string> items)
    {
        var list = new List<string>();
        await foreach (var item in items) list.Add(item);
        return list;
    }
}
