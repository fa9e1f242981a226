using System.Net;
using Azure;
using Azure.Core;
using Azure.Core.Pipeline;
using Indexer.Client;
using Indexer.Embedding;
using Indexer.Grains;
using Indexer.Models;
using Indexer.Search;
using Indexer.Storage;
using Indexer.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Indexer.Tests.EndToEnd;

/// <summary>
/// A real silo with Azurite whose storage client answers HTTP 500 to reads of the images the test names: one image blob
/// that keeps failing while the rest of storage works (seen with Azurite), or every image read and the image container's
/// properties at once (storage down). The storage client does not retry this injected answer, so each read fails once.
/// </summary>
public sealed class FailingImageReads : HttpPipelinePolicy
{
    private volatile string[] _hashes = [];
    private volatile bool _all;
    private int _failed;

    /// <summary>Requests failed so far, each try of the storage client's retries counted.</summary>
    public int Failed => Volatile.Read(ref _failed);

    /// <summary>Reads of these images fail; everything else works.</summary>
    public void FailReadsOf(params string[] hashes) => _hashes = hashes;

    /// <summary>Every read of the image container fails, its properties included: image storage is down.</summary>
    public void FailAllImageReads(bool on) => _all = on;

    public void Heal()
    {
        _hashes = [];
        _all = false;
    }

    public override void Process(HttpMessage message, ReadOnlyMemory<HttpPipelinePolicy> pipeline)
    {
        if (Fails(message.Request)) message.Response = new InjectedServerError(message.Request.ClientRequestId);
        else ProcessNext(message, pipeline);
    }

    public override ValueTask ProcessAsync(HttpMessage message, ReadOnlyMemory<HttpPipelinePolicy> pipeline)
    {
        if (!Fails(message.Request)) return ProcessNextAsync(message, pipeline);
        message.Response = new InjectedServerError(message.Request.ClientRequestId);
        return ValueTask.CompletedTask;
    }

    private bool Fails(Azure.Core.Request request)
    {
        if (request.Method != RequestMethod.Get) return false;
        // Path: /<account>/<prefix>images[/<content hash>]
        var segments = request.Uri.Path.Split('/', StringSplitOptions.RemoveEmptyEntries);
        if (segments.Length < 2 || !segments[1].EndsWith(IndexerStorageNames.ImagesContainer, StringComparison.Ordinal)) return false;
        var fails = _all || (segments.Length == 3 && _hashes.Contains(segments[2], StringComparer.Ordinal));
        if (fails) Interlocked.Increment(ref _failed);
        return fails;
    }

    private sealed class InjectedServerError(string requestId) : Response
    {
        public override int Status => 500;

        public override string ReasonPhrase => "Internal Server Error (injected by the test)";

        public override Stream? ContentStream { get; set; } = new MemoryStream();

        public override string ClientRequestId { get; set; } = requestId;

        public override void Dispose() => ContentStream?.Dispose();

        protected override bool ContainsHeader(string name) => false;

        protected override IEnumerable<HttpHeader> EnumerateHeaders() => [];

        protected override bool TryGetHeader(string name, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out string? value)
        {
            value = null;
            return false;
        }

        protected override bool TryGetHeaderValues(string name, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out IEnumerable<string>? values)
        {
            values = null;
            return false;
        }
    }
}

public sealed class UnreadableImageFixture : IAsyncLifetime
{
    public FailingImageReads Faults { get; } = new();

    public SiloHost Host { get; private set; } = null!;

    public Task InitializeAsync() => StartAsync();

    private async Task StartAsync()
    {
        Host = await SiloHost.StartAsync(basePort: 6280, overrideServices: services => services.AddSingleton(sp => BlobClients.Create(
            sp.GetRequiredService<IOptions<StorageOptions>>().Value.ConnectionString, perTry: Faults)));
    }

    public Task<Galleries.GalleryStats> WaitUntilIndexedAsync(string gallery, TimeSpan timeout) => SiloHost.WaitUntilIndexedAsync(Host.Alice, gallery, timeout);

    public Task<RolloutStatus> WaitForPhaseAsync(Func<RolloutStatus, bool> done, TimeSpan timeout) => Host.WaitForRolloutAsync(done, timeout);

    public async Task DisposeAsync() => await Host.DisposeAsync();
}

/// <summary>
/// Image reads that fail, through the real path: an image whose blob keeps failing while storage answers is retried beside
/// the others and given up with its error, without holding up anything else, and a resume tries it again; reads failing
/// because image storage is down fail nothing and only delay the work.
/// </summary>
[Trait("Category", "EndToEnd")]
public sealed class UnreadableImageTests(UnreadableImageFixture fixture) : IClassFixture<UnreadableImageFixture>
{
    private static string HashOf(int index) => BlobImageStore.ComputeHash(SampleImages.Images.EncodePng(index));

    [Fact]
    public async Task ABackfill_GivesUpAnImageThatKeepsFailingToRead_FinishesTheRest_AndAResumeReEmbedsItOnceItReads()
    {
        const string gallery = "backfill";
        const int count = 48, bad = 1010;
        var alice = fixture.Host.Alice;
        Assert.Empty((await alice.UploadAsync(gallery, SampleImages.Uploads(1000, count).ToList())).Rejected);
        Assert.Equal(0, (await fixture.WaitUntilIndexedAsync(gallery, TimeSpan.FromMinutes(3))).Failed);

        var model = ModelDerivation.AppendLinearMap(RolloutFixture.Backbone.Value, RandomOrthogonal.Create(512, 71), 512, "rotated-unreadable", null, "v1 followed by a random rotation");
        await fixture.Host.Operator.RegisterModelAsync(model.Onnx, model.Manifest.ToJson());
        fixture.Faults.FailReadsOf(HashOf(bad));
        await fixture.Host.Operator.StartRolloutAsync(new RolloutRequest("rotated-unreadable", BackfillPolicy.Full, SampleSize: 20));

        var finished = await fixture.WaitForPhaseAsync(s => s.Phase is not (RolloutPhase.Calibrating or RolloutPhase.Backfilling), TimeSpan.FromMinutes(4));
        // The rollout covers the galleries of the other tests too: the full policy selects every item of them all.
        Assert.Equal(RolloutPhase.Backfilled, finished.Phase);
        Assert.Equal(finished.Scored, finished.Selected);
        Assert.Equal(finished.Selected - 1, finished.Done); // the others were not held up behind it
        Assert.Equal(1, finished.Failed);
        Assert.Equal(1, finished.Unreadable);
        var stats = await alice.GetStatsAsync(gallery);
        Assert.Equal(count, stats.Items); // nothing lost: the unreadable item keeps its old vector, served through the map
        Assert.Equal(count - 1, stats.ItemsByModelVersion["rotated-unreadable"]);
        var search = await alice.SearchByItemAsync(gallery, SampleImages.Upload(bad).ItemId, 5);
        Assert.Equal("rotated-unreadable", search.QueryModelVersion);
        Assert.Equal(5, search.Matches.Count);

        fixture.Faults.Heal();
        Assert.Equal(RolloutPhase.Backfilling, (await fixture.Host.Operator.RolloutActionAsync("resume")).Phase);
        var retried = await fixture.WaitForPhaseAsync(s => s.Phase != RolloutPhase.Backfilling, TimeSpan.FromMinutes(2));
        Assert.Equal(RolloutPhase.Backfilled, retried.Phase);
        Assert.Equal(retried.Selected, retried.Done);
        Assert.Equal(0, retried.Failed);
        Assert.Equal(0, retried.Unreadable);
        Assert.Equal(count, (await alice.GetStatsAsync(gallery)).ItemsByModelVersion["rotated-unreadable"]);

        // Nothing is left to try again: a further resume is refused and changes nothing.
        var refused = await Assert.ThrowsAsync<IndexerApiException>(() => fixture.Host.Operator.RolloutActionAsync("resume"));
        Assert.Equal(HttpStatusCode.Conflict, refused.StatusCode);
        Assert.Equal(RolloutPhase.Committed, (await fixture.Host.Operator.RolloutActionAsync("commit")).Phase);
    }

    [Fact]
    public async Task AnUpload_WhoseImageKeepsFailingToRead_FailsWithTheStorageError_AndTheOthersAreIndexed()
    {
        const string gallery = "ingest";
        const int count = 24, bad = 1105;
        fixture.Faults.FailReadsOf(HashOf(bad));
        var failedBefore = fixture.Faults.Failed;
        try
        {
            Assert.Empty((await fixture.Host.Alice.UploadAsync(gallery, SampleImages.Uploads(1100, count).ToList())).Rejected);
            var stats = await fixture.WaitUntilIndexedAsync(gallery, TimeSpan.FromMinutes(3));
            Assert.Equal(count - 1, stats.Items);
            Assert.Equal(1, stats.Failed);
            var failure = Assert.Single(stats.RecentFailures);
            Assert.Equal(SampleImages.Upload(bad).ItemId, failure.ItemId);
            Assert.Contains("could not be read from image storage", failure.Reason);
            Assert.True(fixture.Faults.Failed - failedBefore >= Grains.Galleries.ReadStrikes.DefaultLimit,
                $"the image was given up after {fixture.Faults.Failed - failedBefore} failed reads");
            Console.WriteLine($"failed reads before the upload was given up: {fixture.Faults.Failed - failedBefore}");
        }
        finally
        {
            fixture.Faults.Heal();
        }
    }

    [Fact]
    public async Task Uploads_WhileImageStorageIsDown_WaitForItAndNoneFails()
    {
        const string gallery = "outage";
        const int count = 24;
        fixture.Faults.FailAllImageReads(true);
        try
        {
            Assert.Empty((await fixture.Host.Alice.UploadAsync(gallery, SampleImages.Uploads(1200, count).ToList())).Rejected);
            // Long enough for several tries of each batch, each after the storage client's own retries.
            await Task.Delay(TimeSpan.FromSeconds(15));
            var during = await fixture.Host.Alice.GetStatsAsync(gallery);
            Assert.Equal(0, during.Items);
            Assert.Equal(0, during.Failed);
            Assert.Equal(count, during.Pending);
        }
        finally
        {
            fixture.Faults.Heal();
        }

        var after = await fixture.WaitUntilIndexedAsync(gallery, TimeSpan.FromMinutes(2));
        Assert.Equal(count, after.Items);
        Assert.Equal(0, after.Failed);
    }
}
