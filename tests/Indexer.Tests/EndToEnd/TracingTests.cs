using System.Collections.Concurrent;
using System.Diagnostics;
using Indexer.Testing;

namespace Indexer.Tests.EndToEnd;

[Collection(SiloCollection.Name), Trait("Category", "EndToEnd")]
public sealed class TracingTests(SiloFixture fixture)
{
    [Fact]
    public async Task SearchByImage_IsOneTraceFromTheHttpRequestThroughTheGalleryToTheEmbeddingWorker()
    {
        var activities = new ConcurrentBag<Activity>();
        using var listener = new ActivityListener
        {
            ShouldListenTo = source => source.Name is "Indexer" or "Microsoft.AspNetCore" || source.Name.StartsWith("Microsoft.Orleans", StringComparison.Ordinal),
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = activities.Add,
        };
        ActivitySource.AddActivityListener(listener);

        await fixture.Host.Alice.SearchByImageAsync(SiloFixture.Gallery, SampleImages.Images.EncodePng(SiloFixture.FirstQuery), 5);

        var search = Assert.Single(activities, a => a.OperationName == "gallery search" && a.GetTagItem("indexer.gallery.searched") is int n && n == SiloFixture.GallerySize);
        var trace = activities.Where(a => a.TraceId == search.TraceId).ToList();
        Assert.Contains(trace, a => a.Kind == ActivityKind.Server && a.Source.Name == "Microsoft.AspNetCore");
        Assert.Contains(trace, a => a.DisplayName.Contains("IEmbeddingWorkerGrain", StringComparison.Ordinal));
        Assert.Contains(trace, a => a.DisplayName.Contains("IGalleryGrain", StringComparison.Ordinal));
    }
}
