using Indexer.Storage;

namespace Indexer.Search.Tests;

[Collection(AzuriteCollection.Name)]
[Trait("Category", "Storage")]
public sealed class BlobClusterStoreTests(AzuriteFixture azurite)
{
    private sealed record Document(string Name, int[] Members);

    private BlobClusterStore NewStore() => new(azurite.Service, AzuriteFixture.NewContainerName("clusters"));

    [Fact]
    public async Task AWriteOverAnOutdatedETag_IsRefused_WhenTheBlobHoldsAnotherDocument()
    {
        var store = NewStore();
        var first = await store.TryWriteAsync("u/g", new Document("a", [1]), null, CancellationToken.None);
        var second = await store.TryWriteAsync("u/g", new Document("b", [1, 2]), first, CancellationToken.None);

        var stale = await store.TryWriteAsync("u/g", new Document("c", [3]), first, CancellationToken.None);

        Assert.NotNull(second);
        Assert.Null(stale);
        Assert.Equal(new Document("b", [1, 2]).Name, (await store.ReadAsync<Document>("u/g", CancellationToken.None))!.Document.Name);
        Assert.Null(await store.TryWriteAsync("u/g", new Document("d", []), null, CancellationToken.None)); // "only if none" fails too
    }

    [Fact]
    public async Task AWriteRepeatedOverTheETagItReplaced_Succeeds_WithTheStoredETag()
    {
        // What a client retry does when the first try was stored but its answer was lost.
        var store = NewStore();
        var first = await store.TryWriteAsync("u/g", new Document("a", [1]), null, CancellationToken.None);
        var document = new Document("b", [1, 2]);
        var written = await store.TryWriteAsync("u/g", document, first, CancellationToken.None);

        var repeated = await store.TryWriteAsync("u/g", document, first, CancellationToken.None);

        Assert.Equal(written, repeated);
        Assert.Equal(written, (await store.ReadAsync<Document>("u/g", CancellationToken.None))!.ETag);
        Assert.NotNull(await store.TryWriteAsync("u/g", new Document("c", []), repeated, CancellationToken.None)); // and the next write goes on from it
    }
}
