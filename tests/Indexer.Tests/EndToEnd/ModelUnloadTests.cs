using Indexer.Grains;
using Indexer.Grains.Diagnostics;
using Indexer.Grains.Embedding;
using Indexer.Storage;
using Indexer.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;

namespace Indexer.Tests.EndToEnd;

/// <summary>A silo's pipeline unloads a model version nobody uses any more (a committed upgrade's old version).</summary>
[Collection(SiloCollection.Name), Trait("Category", "EndToEnd")]
public sealed class ModelUnloadTests(SiloFixture fixture)
{
    [Fact]
    public async Task Pipeline_UnloadsAVersionIdleForThePeriod_AndLoadsItAgainWhenAsked()
    {
        var services = fixture.Host.Services;
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var options = Options.Create(new EmbeddingOptions { PreferGpu = false, UnloadIdleAfterMinutes = 30 });
        using var pipeline = new EmbeddingPipeline(services.GetRequiredService<BlobImageStore>(), services.GetRequiredService<BlobModelStore>(),
            options, services.GetRequiredService<IndexerTelemetry>(), time, NullLogger<EmbeddingPipeline>.Instance);
        var image = SampleImages.Images.EncodePng(3);

        var first = await pipeline.EmbedBytesAsync("v1", image, CancellationToken.None);
        Assert.Equal(["v1"], pipeline.LoadedVersions);

        time.Advance(TimeSpan.FromMinutes(20));
        Assert.Equal(["v1"], pipeline.LoadedVersions); // used 20 minutes ago: kept
        time.Advance(TimeSpan.FromMinutes(20));
        Assert.Empty(pipeline.LoadedVersions); // 40 minutes idle: unloaded

        var again = await pipeline.EmbedBytesAsync("v1", image, CancellationToken.None);
        Assert.Equal(first, again);
        Assert.Equal(["v1"], pipeline.LoadedVersions);
    }
}
