using System.Security.Cryptography;
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Models;
using Indexer.Storage;

namespace Indexer.Search.Tests;

[Collection(AzuriteCollection.Name)]
[Trait("Category", "Storage")]
public sealed class BlobImageStoreTests(AzuriteFixture azurite)
{
    private readonly string _containerName = AzuriteFixture.NewContainerName("images");

    private BlobImageStore NewStore() => new(azurite.Service, _containerName);

    [Fact]
    public async Task Put_returns_sha256_and_get_returns_the_bytes()
    {
        BlobImageStore store = NewStore();
        byte[] bytes = RandomBytes(10_000, seed: 1);
        string hash = await store.PutAsync(bytes, "image/jpeg", CancellationToken.None);

        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(bytes)), hash);
        Assert.Equal(bytes, await store.GetAsync(hash, CancellationToken.None));
        Assert.True(await store.ExistsAsync(hash, CancellationToken.None));

        BlobProperties properties = await Container().GetBlobClient(hash).GetPropertiesAsync();
        Assert.Equal("image/jpeg", properties.ContentType);
    }

    [Fact]
    public async Task Put_of_the_same_bytes_uploads_once()
    {
        BlobImageStore store = NewStore();
        byte[] bytes = RandomBytes(2_000, seed: 2);
        string first = await store.PutAsync(bytes, "image/png", CancellationToken.None);
        BlobProperties before = await Container().GetBlobClient(first).GetPropertiesAsync();

        string second = await store.PutAsync(bytes, "image/png", CancellationToken.None);
        BlobProperties after = await Container().GetBlobClient(second).GetPropertiesAsync();

        Assert.Equal(first, second);
        Assert.Equal(before.ETag, after.ETag);
    }

    [Fact]
    public async Task Concurrent_puts_of_the_same_bytes_all_succeed()
    {
        BlobImageStore store = NewStore();
        byte[] bytes = RandomBytes(50_000, seed: 3);
        string[] hashes = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => store.PutAsync(bytes, null, CancellationToken.None)));
        Assert.Single(hashes.Distinct());
        Assert.Equal(bytes, await store.GetAsync(hashes[0], CancellationToken.None));
    }

    [Fact]
    public async Task Empty_and_large_images_round_trip()
    {
        BlobImageStore store = NewStore();
        string emptyHash = await store.PutAsync(ReadOnlyMemory<byte>.Empty, null, CancellationToken.None);
        Assert.Equal("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", emptyHash);
        Assert.Empty(await store.GetAsync(emptyHash, CancellationToken.None));

        byte[] large = RandomBytes(6 * 1024 * 1024, seed: 4);
        string largeHash = await store.PutAsync(large, "image/jpeg", CancellationToken.None);
        Assert.Equal(large, await store.GetAsync(largeHash, CancellationToken.None));
    }

    [Fact]
    public async Task Missing_image_throws_KeyNotFound_and_does_not_exist()
    {
        BlobImageStore store = NewStore();
        string hash = BlobImageStore.ComputeHash([1, 2, 3]);
        await Assert.ThrowsAsync<KeyNotFoundException>(() => store.GetAsync(hash, CancellationToken.None));
        Assert.False(await store.ExistsAsync(hash, CancellationToken.None));
    }

    [Fact]
    public async Task Delete_is_idempotent()
    {
        BlobImageStore store = NewStore();
        string hash = await store.PutAsync(new byte[] { 9, 9, 9 }, null, CancellationToken.None);
        await store.DeleteAsync(hash, CancellationToken.None);
        Assert.False(await store.ExistsAsync(hash, CancellationToken.None));
        await store.DeleteAsync(hash, CancellationToken.None);

        // After a delete the same bytes can be stored again.
        Assert.Equal(hash, await store.PutAsync(new byte[] { 9, 9, 9 }, null, CancellationToken.None));
        Assert.True(await store.ExistsAsync(hash, CancellationToken.None));
    }

    [Fact]
    public async Task Uppercase_hash_addresses_the_same_image()
    {
        BlobImageStore store = NewStore();
        string hash = await store.PutAsync(new byte[] { 1 }, null, CancellationToken.None);
        Assert.Equal([1], await store.GetAsync(hash.ToUpperInvariant(), CancellationToken.None));
    }

    [Theory]
    [InlineData("")]
    [InlineData("abc")]
    [InlineData("../../segments/x")]
    [InlineData("zz3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")]
    [InlineData("g3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b85")]
    public async Task Invalid_hashes_are_rejected(string hash)
    {
        BlobImageStore store = NewStore();
        await Assert.ThrowsAsync<ArgumentException>(() => store.GetAsync(hash, CancellationToken.None));
        await Assert.ThrowsAsync<ArgumentException>(() => store.ExistsAsync(hash, CancellationToken.None));
        await Assert.ThrowsAsync<ArgumentException>(() => store.DeleteAsync(hash, CancellationToken.None));
    }

    private BlobContainerClient Container() => azurite.Service.GetBlobContainerClient(_containerName);

    private static byte[] RandomBytes(int length, int seed)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }
}
