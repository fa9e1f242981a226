using System.Net;
using Indexer.Client;
using Indexer.Testing;

namespace Indexer.Tests.EndToEnd;

[Collection(SiloCollection.Name), Trait("Category", "EndToEnd")]
public sealed class AccessTests(SiloFixture fixture)
{
    private string AlicePath => $"v1/users/alice/galleries/{SiloFixture.Gallery}";

    [Fact]
    public async Task NoKeyOrAnUnknownKey_Is401()
    {
        using var anonymous = fixture.Host.RawHttp();
        using var wrong = fixture.Host.RawHttp("not-a-key-of-anyone-here");

        using var none = await anonymous.GetAsync(AlicePath);
        using var bad = await wrong.GetAsync(AlicePath);

        Assert.Equal(HttpStatusCode.Unauthorized, none.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, bad.StatusCode);
        Assert.DoesNotContain("fm-", await bad.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task AnotherUsersKey_Is403ForEveryOperationAndChangesNothing()
    {
        using var bob = fixture.Host.RawHttp(SiloHost.BobKey);
        var upload = new MultipartFormDataContent { { new ByteArrayContent(SampleImages.Images.EncodePng(1400)), "files", "intruder" } };
        var search = new MultipartFormDataContent { { new ByteArrayContent(SampleImages.Images.EncodePng(1400)), "file", "q" } };

        HttpResponseMessage[] responses =
        [
            await bob.GetAsync(AlicePath),
            await bob.GetAsync($"{AlicePath}/items"),
            await bob.GetAsync($"{AlicePath}/items/fm-00001"),
            await bob.GetAsync($"{AlicePath}/items/fm-00001/similar"),
            await bob.PostAsync($"{AlicePath}/search", search),
            await bob.PostAsync($"{AlicePath}/images", upload),
            await bob.DeleteAsync($"{AlicePath}/items/fm-00001"),
            await bob.PutAsync("v1/users/alice/galleries/bobs-idea", null),
        ];

        Assert.All(responses, r => Assert.Equal(HttpStatusCode.Forbidden, r.StatusCode));
        var stats = await fixture.Host.Alice.GetStatsAsync(SiloFixture.Gallery);
        Assert.Equal(SiloFixture.GallerySize, stats.Items);
        Assert.NotNull(await fixture.Host.Alice.GetItemAsync(SiloFixture.Gallery, "fm-00001"));
        foreach (var response in responses) response.Dispose();
    }

    [Fact]
    public async Task SameGalleryNameForTwoUsers_AreTwoSeparateGalleries()
    {
        var bobs = await Assert.ThrowsAsync<IndexerApiException>(() => fixture.Host.Bob.GetStatsAsync(SiloFixture.Gallery));
        Assert.Equal(HttpStatusCode.NotFound, bobs.StatusCode);

        await fixture.Host.Bob.UploadAsync("shared-name", [SampleImages.Upload(1450)]);
        await fixture.Host.Alice.UploadAsync("shared-name", SampleImages.Uploads(1460, 3).ToList());
        var bobStats = await fixture.WaitUntilIndexedAsync("shared-name", "bob");
        var aliceStats = await fixture.WaitUntilIndexedAsync("shared-name", "alice");

        Assert.Equal(1, bobStats.Items);
        Assert.Equal(3, aliceStats.Items);
        var bobSearch = await fixture.Host.Bob.SearchByImageAsync("shared-name", SampleImages.Images.EncodePng(1460), 10);
        Assert.Equal(["fm-01450"], bobSearch.Matches.Select(m => m.ItemId));
    }
}
