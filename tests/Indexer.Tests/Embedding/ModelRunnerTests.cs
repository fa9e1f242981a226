using System.Diagnostics.Metrics;
using Indexer.Embedding;
using Indexer.Grains;
using Indexer.Grains.Diagnostics;
using Indexer.Grains.Embedding;
using Indexer.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;

namespace Indexer.Tests.Embedding;

/// <summary>The model runner's priorities, on the real ResNet18 on the CPU.</summary>
[Trait("Category", "Model")]
public sealed class ModelRunnerTests
{
    private static readonly Lazy<ImportedModel> Backbone = new(() =>
        ResNet18Model.Import(ResNet18Model.DefaultModelPath, ResNet18Model.DefaultPreprocessPath, "runner-test"));

    /// <summary>
    /// A query that arrives while a bulk batch of 64 is being inferred waits for one slice of it, not for the whole batch:
    /// it is answered before the batch's last images. (Without slices it could only be answered after all 64.) The batch
    /// is 16 slices long, so the test thread has over a second to send the query after the first slice, even on a busy
    /// machine.
    /// </summary>
    [Fact]
    public async Task AnInteractiveRequest_ArrivingDuringABulkBatch_IsAnsweredBeforeTheBatchEnds()
    {
        using var services = new ServiceCollection().AddMetrics().BuildServiceProvider();
        using var telemetry = new IndexerTelemetry(services.GetRequiredService<IMeterFactory>());
        var options = new EmbeddingOptions { PreferGpu = false, MaxBatchSize = 64, BulkSliceSize = 4, BatchDeadlineMilliseconds = 50 };
        var embedder = new OnnxEmbedder(Backbone.Value.Onnx, Backbone.Value.Manifest, new EmbedderOptions(PreferGpu: false));
        using var runner = new ModelRunner(embedder, options, telemetry, NullLogger.Instance);
        await runner.EmbedAsync(SampleImages.Images.EncodePng(0), CancellationToken.None); // warm-up

        var bulk = Enumerable.Range(1, 64).Select(i => runner.EmbedAsync(SampleImages.Images.EncodePng(i), CancellationToken.None)).ToArray();
        // The first slice's answers mean the batch is formed and inference has started on it.
        await bulk[0];
        var query = runner.EmbedAsync(SampleImages.Images.EncodePng(100), CancellationToken.None, interactive: true);
        var first = await Task.WhenAny(query, bulk[^1]);

        Assert.Same(query, first);
        Assert.False(bulk[^1].IsCompleted, "the batch's last image was embedded before the query");
        await Task.WhenAll(bulk);
        Assert.Equal(512, (await query).Length);
        Assert.All(bulk, b => Assert.Equal(512, b.Result.Length));
    }

    /// <summary>
    /// Two single-threaded sessions (Indexer:Embedding:Sessions = 2 on two cores) drain one queue side by side: both take
    /// work, and every image gets the vector a single session gives it.
    /// </summary>
    [Fact]
    public async Task TwoSessions_ShareTheQueue_AndGiveTheVectorsOneSessionGives()
    {
        using var services = new ServiceCollection().AddMetrics().BuildServiceProvider();
        using var telemetry = new IndexerTelemetry(services.GetRequiredService<IMeterFactory>());
        var options = new EmbeddingOptions { PreferGpu = false, MaxBatchSize = 4, BatchDeadlineMilliseconds = 2 };
        OnnxEmbedder Session() => new(Backbone.Value.Onnx, Backbone.Value.Manifest, new EmbedderOptions(PreferGpu: false, IntraOpThreads: 1));
        var images = Enumerable.Range(0, 32).Select(i => SampleImages.Images.EncodePng(200 + i)).ToList();

        float[][] expected;
        using (var single = new ModelRunner(Session(), options, telemetry, NullLogger.Instance))
        {
            expected = await Task.WhenAll(images.Select(png => single.EmbedAsync(png, CancellationToken.None)));
        }

        using var runner = new ModelRunner([Session(), Session()], options, telemetry, NullLogger.Instance, intraOpThreads: 1);
        var actual = await Task.WhenAll(images.Select(png => runner.EmbedAsync(png, CancellationToken.None)));

        Assert.Equal(2, runner.Sessions);
        Assert.Equal(images.Count, runner.ImagesBySession.Sum());
        Assert.All(runner.ImagesBySession, n => Assert.True(n > 0, $"a session took no work: {string.Join(", ", runner.ImagesBySession)}"));
        for (var i = 0; i < images.Count; i++)
        {
            Assert.True(Indexer.Search.VectorMath.Dot(expected[i], actual[i]) > 1 - 1e-5, $"image {i}: cosine {Indexer.Search.VectorMath.Dot(expected[i], actual[i])}");
        }
    }

    /// <summary>
    /// Bulk work runs in slices of <see cref="EmbeddingOptions.BulkSliceSize"/> while nobody searches, and one image per
    /// inference call for <see cref="EmbeddingOptions.InteractiveHoldMilliseconds"/> after a query, so the next query waits
    /// for one image rather than a slice. Observed through the runner's batch-size histogram.
    /// </summary>
    [Fact]
    public async Task AfterAQuery_BulkWorkRunsOneImagePerCall_UntilTheHoldEnds()
    {
        using var services = new ServiceCollection().AddMetrics().BuildServiceProvider();
        var meters = services.GetRequiredService<IMeterFactory>();
        using var telemetry = new IndexerTelemetry(meters);
        var calls = new System.Collections.Concurrent.ConcurrentQueue<int>();
        using var listener = new MeterListener
        {
            InstrumentPublished = (instrument, l) =>
            {
                if (instrument.Meter.Scope == meters && instrument.Name == "indexer.embedding.batch_size") l.EnableMeasurementEvents(instrument);
            },
        };
        listener.SetMeasurementEventCallback<int>((_, size, _, _) => calls.Enqueue(size));
        listener.Start();
        var images = Enumerable.Range(0, 16).Select(i => SampleImages.Images.EncodePng(300 + i)).ToList();

        async Task<int[]> BulkCalls(ModelRunner runner, bool queryFirst)
        {
            await runner.EmbedAsync(SampleImages.Images.EncodePng(0), CancellationToken.None, interactive: queryFirst);
            calls.Clear();
            await Task.WhenAll(images.Select(png => runner.EmbedAsync(png, CancellationToken.None)));
            return [.. calls];
        }

        EmbeddingOptions Options(int hold) =>
            new() { PreferGpu = false, MaxBatchSize = 16, BulkSliceSize = 4, BatchDeadlineMilliseconds = 50, InteractiveHoldMilliseconds = hold };
        OnnxEmbedder Session() => new(Backbone.Value.Onnx, Backbone.Value.Manifest, new EmbedderOptions(PreferGpu: false));

        using (var quiet = new ModelRunner(Session(), Options(hold: 60_000), telemetry, NullLogger.Instance))
        {
            var sizes = await BulkCalls(quiet, queryFirst: false);
            Assert.Equal(16, sizes.Sum());
            Assert.All(sizes, n => Assert.InRange(n, 1, 4));
            Assert.Contains(4, sizes);
        }

        using (var searched = new ModelRunner(Session(), Options(hold: 60_000), telemetry, NullLogger.Instance))
        {
            var sizes = await BulkCalls(searched, queryFirst: true);
            Assert.Equal(Enumerable.Repeat(1, 16), sizes);
        }

        using (var holdOff = new ModelRunner(Session(), Options(hold: 0), telemetry, NullLogger.Instance))
        {
            var sizes = await BulkCalls(holdOff, queryFirst: true);
            Assert.Contains(4, sizes);
        }
    }

    [Fact]
    public void Sessions_ShareTheCores_AndSlicesFollowTheirThreads()
    {
        var defaults = new EmbeddingOptions();
        Assert.Equal((1, 0), defaults.CpuSessions(2)); // one session, the provider's choice of threads
        Assert.Equal((2, 1), new EmbeddingOptions { Sessions = 2 }.CpuSessions(2));
        Assert.Equal((4, 4), new EmbeddingOptions { Sessions = 4 }.CpuSessions(16));
        Assert.Equal((3, 1), new EmbeddingOptions { Sessions = 3 }.CpuSessions(2));
        Assert.Equal((3, 5), new EmbeddingOptions { Sessions = 3, IntraOpThreads = 5 }.CpuSessions(2));
        Assert.Equal(4, defaults.EffectiveBulkSliceSize(0));
        Assert.Equal(1, defaults.EffectiveBulkSliceSize(1));
        Assert.Equal(4, defaults.EffectiveBulkSliceSize(2));
        Assert.Equal(8, new EmbeddingOptions { BulkSliceSize = 8 }.EffectiveBulkSliceSize(1));
    }

    /// <summary>
    /// A runner disposed while its thread still infers a queue it was given (a silo stopped mid-backfill): Dispose
    /// returns without waiting, every queued image is still embedded with the session alive, and the session is released
    /// by the thread once it is done, not before. (Released at once, the next inference call read freed native memory
    /// and the process died.)
    /// </summary>
    [Fact]
    public async Task Disposed_WhileItsQueueDrains_FinishesEveryImage_AndReleasesTheSessionAfterTheLast()
    {
        using var services = new ServiceCollection().AddMetrics().BuildServiceProvider();
        using var telemetry = new IndexerTelemetry(services.GetRequiredService<IMeterFactory>());
        var options = new EmbeddingOptions { PreferGpu = false, MaxBatchSize = 4, BulkSliceSize = 4, BatchDeadlineMilliseconds = 2 };
        var embedder = new OnnxEmbedder(Backbone.Value.Onnx, Backbone.Value.Manifest, new EmbedderOptions(PreferGpu: false));
        var runner = new ModelRunner(embedder, options, telemetry, NullLogger.Instance) { DrainWait = TimeSpan.Zero };
        var expected = await runner.EmbedAsync(SampleImages.Images.EncodePng(400), CancellationToken.None);

        // 24 images are six inference calls: far more than the instant Dispose waits.
        var queued = Enumerable.Range(0, 24).Select(i => runner.EmbedAsync(SampleImages.Images.EncodePng(400 + i), CancellationToken.None)).ToArray();
        await queued[0];
        runner.Dispose();

        Assert.False(runner.SessionsReleased, "the session was released under a thread still inferring");
        var vectors = await Task.WhenAll(queued);
        Assert.Equal(expected, vectors[0]);
        Assert.All(vectors, v => Assert.Equal(512, v.Length));
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (!runner.SessionsReleased && DateTime.UtcNow < deadline) await Task.Delay(10);
        Assert.True(runner.SessionsReleased, "the last thread out did not release the session");
        await Assert.ThrowsAnyAsync<Exception>(() => runner.EmbedAsync(SampleImages.Images.EncodePng(0), CancellationToken.None));
    }
}
