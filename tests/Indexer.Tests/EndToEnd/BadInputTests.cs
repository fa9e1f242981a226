using System.Net;
using System.Net.Http.Headers;
using Indexer.Client;
using Indexer.Testing;

namespace Indexer.Tests.EndToEnd;

[Collection(SiloCollection.Name), Trait("Category", "EndToEnd")]
public sealed class BadInputTests(SiloFixture fixture)
{
    private IndexerHttpClient Alice => fixture.Host.Alice;

    [Fact]
    public async Task Upload_BadFilesAmongGoodOnes_RejectsEachWithItsReasonAndIndexesTheRest()
    {
        const string gallery = "mixed-upload";
        var uploads = new List<ImageUpload>
        {
            SampleImages.Upload(1200),
            new("empty", BadImages.Empty),
            new("random", BadImages.RandomBytes()),
            new("text", BadImages.Text),
            new("huge", BadImages.HugePng()),
            new("cut-png", SampleImages.Images.EncodePng(1203)[..150]),
            new("bad id/with slash", SampleImages.Images.EncodePng(1201)),
            SampleImages.Upload(1202),
        };

        var result = await Alice.UploadAsync(gallery, uploads);

        Assert.Equal(["fm-01200", "fm-01202"], result.Accepted);
        var reasons = result.Rejected.ToDictionary(r => r.ItemId, r => r.Reason);
        Assert.Contains("empty", reasons["empty"]);
        Assert.Contains("not a supported image format", reasons["random"]);
        Assert.Contains("not a supported image format", reasons["text"]);
        Assert.Contains("megapixels", reasons["huge"]);
        Assert.Contains("truncated", reasons["cut-png"]);
        Assert.Contains("not valid", reasons["bad id/with slash"]);
        var stats = await fixture.WaitUntilIndexedAsync(gallery);
        Assert.Equal(2, stats.Items);
        Assert.Equal(0, stats.Failed);
    }

    [Fact]
    public async Task Upload_TruncatedJpeg_IsReportedAsFailedWithoutStoppingTheBatch()
    {
        const string gallery = "truncated-upload";
        var result = await Alice.UploadAsync(gallery, [new("cut-off", BadImages.TruncatedJpeg()), SampleImages.Upload(1210), new("whole", BadImages.Jpeg(320, 240))]);
        Assert.Equal(3, result.Accepted.Count); // a JPEG may carry data after its end, so only decoding shows the damage

        var stats = await fixture.WaitUntilIndexedAsync(gallery);

        Assert.Equal(2, stats.Items);
        Assert.Equal(1, stats.Failed);
        var failure = Assert.Single(stats.RecentFailures);
        Assert.Equal("cut-off", failure.ItemId);
        Assert.Contains("truncated", failure.Reason);
    }

    [Fact]
    public async Task Search_WithACorruptImage_Is400WithAMessage()
    {
        var error = await Assert.ThrowsAsync<IndexerApiException>(() => Alice.SearchByImageAsync(SiloFixture.Gallery, BadImages.RandomBytes(), 10));

        Assert.Equal(HttpStatusCode.BadRequest, error.StatusCode);
        Assert.Contains("not a supported image format", error.Message);
    }

    [Fact]
    public async Task Search_WithATruncatedJpeg_Is400()
    {
        var error = await Assert.ThrowsAsync<IndexerApiException>(() => Alice.SearchByImageAsync(SiloFixture.Gallery, BadImages.TruncatedJpeg(), 10));

        Assert.Equal(HttpStatusCode.BadRequest, error.StatusCode);
        Assert.Contains("truncated", error.Message);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-3)]
    [InlineData(1_000_000)]
    public async Task Search_WithKOutOfRange_Is400(int k)
    {
        var error = await Assert.ThrowsAsync<IndexerApiException>(() => Alice.SearchByItemAsync(SiloFixture.Gallery, "fm-00001", k));

        Assert.Equal(HttpStatusCode.BadRequest, error.StatusCode);
        Assert.Contains("k must be between", error.Message);
    }

    [Fact]
    public async Task UnknownGalleryAndItem_Are404()
    {
        var gallery = await Assert.ThrowsAsync<IndexerApiException>(() => Alice.GetStatsAsync("no-such-gallery"));
        var search = await Assert.ThrowsAsync<IndexerApiException>(() => Alice.SearchByImageAsync("no-such-gallery", SampleImages.Images.EncodePng(1), 5));
        var item = await Assert.ThrowsAsync<IndexerApiException>(() => Alice.SearchByItemAsync(SiloFixture.Gallery, "no-such-item", 5));

        Assert.All([gallery, search, item], e => Assert.Equal(HttpStatusCode.NotFound, e.StatusCode));
        Assert.Contains("no gallery 'no-such-gallery'", gallery.Message);
    }

    [Fact]
    public async Task InvalidGalleryId_Is400()
    {
        var error = await Assert.ThrowsAsync<IndexerApiException>(() => Alice.CreateGalleryAsync("bad$gallery"));

        Assert.Equal(HttpStatusCode.BadRequest, error.StatusCode);
        Assert.Contains("gallery id", error.Message);
    }

    [Fact]
    public async Task MalformedUploadRequests_Are400AndChangeNothing()
    {
        using var http = fixture.Host.RawHttp(SiloHost.AliceKey);
        var path = $"v1/users/alice/galleries/{SiloFixture.Gallery}/images";

        using var json = await http.PostAsync(path, new StringContent("{\"files\": []}", System.Text.Encoding.UTF8, "application/json"));
        var noFiles = new MultipartFormDataContent { { new StringContent("x"), "other" } };
        using var empty = await http.PostAsync(path, noFiles);
        var badMetadata = new MultipartFormDataContent
        {
            { new ByteArrayContent(SampleImages.Images.EncodePng(1300)) { Headers = { ContentType = new MediaTypeHeaderValue("image/png") } }, "files", "fm-01300" },
            { new StringContent("{not json"), "metadata" },
        };
        using var metadata = await http.PostAsync(path, badMetadata);

        Assert.Equal(HttpStatusCode.BadRequest, json.StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, empty.StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, metadata.StatusCode);
        Assert.Contains("metadata", await metadata.Content.ReadAsStringAsync());
        Assert.Equal(SiloFixture.GallerySize, (await Alice.GetStatsAsync(SiloFixture.Gallery)).Items);
    }
}
