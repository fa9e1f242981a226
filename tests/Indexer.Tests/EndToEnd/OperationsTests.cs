using System.Net;
using System.Net.Http.Json;
using Indexer.Galleries;
using Indexer.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace Indexer.Tests.EndToEnd;

[Collection(SiloCollection.Name), Trait("Category", "EndToEnd")]
public sealed class OperationsTests(SiloFixture fixture)
{
    [Fact]
    public async Task Metrics_ExposeIndexerAndOrleansInstruments()
    {
        using var http = fixture.Host.RawHttp();

        var text = await http.GetStringAsync("metrics");

        Assert.Contains("indexer_ingest_accepted", text);
        Assert.Contains("indexer_embedding_images", text);
        Assert.Contains("indexer_embedding_execution_provider", text);
        Assert.Contains("provider=\"CPU\"", text);
        Assert.Contains("orleans_", text);
        Assert.Contains("indexer_storage_request_duration", text);
    }

    [Fact]
    public async Task OpenApiDocument_DescribesTheGalleryRoutes()
    {
        using var http = fixture.Host.RawHttp();

        var document = await http.GetStringAsync("openapi/v1.json");

        Assert.Contains("/v1/users/{userId}/galleries/{galleryId}/search", document);
        Assert.Contains("/v1/users/{userId}/galleries/{galleryId}/images", document);
    }

    [Fact]
    public async Task Readiness_ReportsHealthyOnceAModelIsCurrent()
    {
        using var http = fixture.Host.RawHttp();

        using var ready = await http.GetAsync("health/ready");
        var models = await fixture.Host.Alice.ListModelsAsync();

        Assert.Equal(HttpStatusCode.OK, ready.StatusCode);
        Assert.Equal("v1", models.Current);
        Assert.Contains(models.Versions, v => v.Version == "v1" && v.Dimension == 512);
    }

    [Fact]
    public async Task GalleryDirectory_ListsEveryCreatedGalleryForOperatorsOnly()
    {
        await fixture.Host.Bob.CreateGalleryAsync("listed-by-directory");
        using var ops = fixture.Host.RawHttp(SiloHost.OperatorKey);
        using var alice = fixture.Host.RawHttp(SiloHost.AliceKey);

        var keys = await ops.GetFromJsonAsync<List<string>>("v1/galleries?limit=10000");
        using var forbidden = await alice.GetAsync("v1/galleries");

        Assert.Contains("bob/listed-by-directory", keys!);
        Assert.Contains($"alice/{SiloFixture.Gallery}", keys!);
        Assert.Equal(HttpStatusCode.Forbidden, forbidden.StatusCode);
    }

    /// <summary>
    /// A directory shard whose stored record changed under it (same content, new ETag: what a write that was stored but
    /// whose answer was lost leaves behind) still registers the next gallery of that shard and keeps the earlier ones.
    /// </summary>
    [Fact]
    public async Task GalleryDirectory_WhoseStoredRecordChangesUnderIt_StillListsEveryGallery()
    {
        const string first = "bob/stale-directory";
        await fixture.Host.Bob.CreateGalleryAsync("stale-directory");
        var shard = IGalleryDirectoryGrain.ShardOf(first);
        var second = Enumerable.Range(0, 10_000).Select(i => $"stale-directory-{i}").First(name => IGalleryDirectoryGrain.ShardOf("bob/" + name) == shard);
        var blob = fixture.Host.Services.GetRequiredService<IGrainFactory>().GetGrain<IGalleryDirectoryGrain>(shard).GetGrainId() + ".";

        await fixture.Host.RestoreGrainStateAsync("directory", blob);
        await fixture.Host.Bob.CreateGalleryAsync(second);

        using var ops = fixture.Host.RawHttp(SiloHost.OperatorKey);
        var keys = await ops.GetFromJsonAsync<List<string>>("v1/galleries?limit=10000");
        Assert.Contains(first, keys!);
        Assert.Contains("bob/" + second, keys!);
        var stored = await fixture.Host.ReadGrainStateAsync<Indexer.Grains.Galleries.GalleryDirectoryState>("directory", blob);
        Assert.Contains(first, stored.Galleries);
        Assert.Contains("bob/" + second, stored.Galleries);
    }
}
