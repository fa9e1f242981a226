using Indexer.Testing;

namespace Indexer.Tests.EndToEnd;

/// <summary>
/// One silo (with Azurite and the real model) shared by the end-to-end tests, and alice's gallery "fashion" of
/// <see cref="GallerySize"/> Fashion-MNIST test images, ingested once over HTTP. Tests that change a gallery use their own.
/// </summary>
public sealed class SiloFixture : IAsyncLifetime
{
    public const string Gallery = "fashion";
    public const int GallerySize = 400;

    /// <summary>Held-out queries: test images after the gallery's, never ingested.</summary>
    public const int FirstQuery = GallerySize, QueryCount = 40;

    public SiloHost Host { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Host = await SiloHost.StartAsync(basePort: 5180);
        var alice = Host.Alice;
        foreach (var batch in SampleImages.Uploads(0, GallerySize).Chunk(100))
        {
            var result = await alice.UploadAsync(Gallery, batch);
            Assert.Empty(result.Rejected);
        }

        await WaitUntilIndexedAsync(Gallery);
    }

    public Task<Galleries.GalleryStats> WaitUntilIndexedAsync(string gallery, string user = "alice") =>
        SiloHost.WaitUntilIndexedAsync(user == "alice" ? Host.Alice : Host.Bob, gallery, TimeSpan.FromMinutes(5));

    public async Task DisposeAsync() => await Host.DisposeAsync();
}

[CollectionDefinition(Name)]
public sealed class SiloCollection : ICollectionFixture<SiloFixture>
{
    public const string Name = "silo";
}
