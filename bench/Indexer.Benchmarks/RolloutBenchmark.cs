using System.Diagnostics;
using Indexer.Client;
using Indexer.Embedding;
using Indexer.Grains.Galleries;
using Indexer.Models;
using Indexer.Search;
using Indexer.Search.Maps;
using Indexer.Storage;
using Indexer.Testing;

namespace Indexer.Benchmarks;

/// <summary>
/// What an upgrade costs on a real silo: time from <c>rollout start</c> to the first query answered by the new version
/// (with and without calibration in the way), backfill throughput against plain ingest throughput with search latency
/// alongside, and the cost of carrying a gallery into the new space through the map against embedding it.
/// </summary>
public static class RolloutBenchmark
{
    public const string Usage = "rollout [--items 800] [--sample 800] [--search-rate 2]   start-to-first-query, backfill vs ingest throughput, search p99 (queries/s; 0: back to back), own-space cost, map cost";

    /// <summary>Ports of the benchmark's silo and Azurite, apart from the tests' and the local run's.</summary>
    private const int BasePort = 5280;

    public static int Run(string[] args)
    {
        var items = Options.Int(args, "--items", 800);
        if (items > 1800) throw new ArgumentException("--items: at most 1800 (the sample images after them are the queries)");
        var sample = Options.Int(args, "--sample", 800);
        var rate = Options.Int(args, "--search-rate", 2, min: 0);
        return RunAsync(items, sample, rate).GetAwaiter().GetResult();
    }

    private static async Task<int> RunAsync(int items, int sample, int rate)
    {
        MapCost();
        await using var host = await SiloHost.StartAsync(BasePort);
        var alice = host.Alice;
        var ops = host.Operator;
        await alice.UploadAsync("warmup", [SampleImages.Upload(1999)]);

        var started = Stopwatch.GetTimestamp();
        foreach (var batch in SampleImages.Uploads(0, items).Chunk(100)) await alice.UploadAsync("bench", batch);
        await WaitIndexedAsync(alice, "bench");
        var ingestRate = items / Stopwatch.GetElapsedTime(started).TotalSeconds;
        Console.WriteLine($"ingest (HTTP upload, embed, write) of {items} images: {ingestRate:F1} img/s");

        var load = rate == 0 ? "back to back" : $"{rate} per second";
        var idle = await SearchLatenciesAsync(alice, TimeSpan.FromSeconds(rate == 0 ? 10 : 30), null, rate);
        Console.WriteLine($"search while idle, {load}: {Describe(idle)}");

        var backbone = ResNet18Model.Import(ResNet18Model.DefaultModelPath, ResNet18Model.DefaultPreprocessPath, "base");
        foreach (var (version, seed) in new[] { ("bench-a", 1), ("bench-b", 2) })
        {
            var model = ModelDerivation.AppendLinearMap(backbone, RandomOrthogonal.Create(512, seed), 512, version, null, "benchmark: v1 rotated");
            await ops.RegisterModelAsync(model.Onnx, model.Manifest.ToJson());
        }

        // 1. First rollout: calibration in the way. 2. Same upgrade again: its calibration is reused.
        var cold = await TimeToFirstNewQueryAsync(host, "bench-a", BackfillPolicy.None, sample);
        await ops.RolloutActionAsync("rollback");
        var warm = await TimeToFirstNewQueryAsync(host, "bench-a", BackfillPolicy.None, sample);
        var mapped = await SearchLatenciesAsync(alice, TimeSpan.FromSeconds(10), null, 0);
        await ops.RolloutActionAsync("rollback");

        // The own-space route: every query embedded by both versions.
        await TimeToFirstNewQueryAsync(host, "bench-a", BackfillPolicy.None, sample, RoutePreference.OwnSpace);
        var ownSpace = await SearchLatenciesAsync(alice, TimeSpan.FromSeconds(10), null, 0);
        await ops.RolloutActionAsync("rollback");
        Console.WriteLine($"rollout start -> first query served by the new version: {cold.Total.TotalSeconds:F2} s with calibration " +
            $"({cold.ToActivation.TotalSeconds:F2} s to activation), {warm.Total.TotalSeconds:F2} s with the calibration reused " +
            $"({warm.ToActivation.TotalSeconds:F2} s to activation); activation -> first answer {warm.ActivationToAnswer.TotalMilliseconds:F0} ms");
        Console.WriteLine($"search back to back, old items mapped (the regression guard embeds each query with the old version too, unless Indexer:Galleries:RegressionGuardDepth is 0): {Describe(mapped)}");
        Console.WriteLine($"search back to back, old items in their own space (two embeddings per query): {Describe(ownSpace)}; p50 {P(ownSpace, 0.5) / P(mapped, 0.5):F2}x mapped");

        // 3. A full backfill with a client searching all along.
        // Calibrate bench-b first, so that the timed part is the backfill alone.
        await TimeToFirstNewQueryAsync(host, "bench-b", BackfillPolicy.None, sample);
        await ops.RolloutActionAsync("rollback");
        await ops.StartRolloutAsync(new RolloutRequest("bench-b", BackfillPolicy.Full, SampleSize: sample));
        await WaitAsync(ops, s => s.ActivatedAt is not null);
        var backfillStarted = Stopwatch.GetTimestamp();
        using var stop = new CancellationTokenSource();
        var during = SearchLatenciesAsync(alice, TimeSpan.FromHours(1), stop.Token, rate);
        var done = await WaitAsync(ops, s => s.Phase != RolloutPhase.Backfilling && s.Phase != RolloutPhase.Calibrating);
        var backfillSeconds = Stopwatch.GetElapsedTime(backfillStarted).TotalSeconds;
        await stop.CancelAsync();
        var busy = await during;
        var backfillRate = done.Done / backfillSeconds;
        Console.WriteLine($"full backfill of {done.Done} items: {backfillSeconds:F1} s = {backfillRate:F1} img/s = {backfillRate / ingestRate:P0} of ingest throughput (target: at least 90%) -> {(backfillRate >= 0.9 * ingestRate ? "met" : "NOT met")}");
        Console.WriteLine($"search during the backfill, {load}: {Describe(busy)}; p99 {P(busy, 0.99) / P(idle, 0.99):F2}x idle (target: at most 2x) -> {(P(busy, 0.99) <= 2 * P(idle, 0.99) ? "met" : "NOT met")}");
        return 0;
    }

    public const string MapUsage = "map [--anchors 800]   cost of carrying a gallery into the new space through a linear map and a local one";

    /// <summary>The map-cost part alone (<c>map</c>): no silo, one thread, a few seconds.</summary>
    public static int RunMapCost(string[] args)
    {
        var anchors = Options.Int(args, "--anchors", 800, min: 1);
        MapCost(anchors);
        return 0;
    }

    /// <summary>
    /// Carrying 10k old items into the new space (what a gallery does at activation) through a 512x512 linear map, and
    /// through the same map with a local correction of <paramref name="anchors"/> anchors (the calibration sample's
    /// size by default), and through a kernel map on as many anchors, against embedding them.
    /// </summary>
    private static void MapCost(int anchors = 800)
    {
        const int count = 10_000, dimension = 512;
        var random = new Random(1);
        var index = new GalleryIndex();
        var hash = new string('a', 64);
        float[] UnitVector()
        {
            var vector = new float[dimension];
            for (var j = 0; j < dimension; j++) vector[j] = (float)(random.NextDouble() - 0.5);
            VectorMath.NormalizeInPlace(vector);
            return vector;
        }

        for (var i = 0; i < count; i++) index.Apply(new SegmentRecord($"item-{i}", hash, "old", 0, new Dictionary<string, string>(), UnitVector()));

        var linear = EmbeddingMap.FromWeights(MapKind.Ridge, dimension, dimension, RandomOrthogonal.Create(dimension, 3));
        var residuals = new float[anchors * dimension];
        for (var i = 0; i < residuals.Length; i++) residuals[i] = (float)(0.1 * (random.NextDouble() - 0.5));
        var local = linear.WithCorrection(new LocalCorrection(Enumerable.Range(0, anchors).SelectMany(_ => UnitVector()).ToArray(), residuals, anchors, dimension, dimension));
        var kernelAnchors = Enumerable.Range(0, anchors).SelectMany(_ => UnitVector()).ToArray();
        var kernelStarted = Stopwatch.GetTimestamp();
        var kernel = EmbeddingMap.Kernel(LocalCorrection.FitKernelRidge(
            kernelAnchors, Enumerable.Range(0, anchors).SelectMany(_ => UnitVector()).ToArray(), anchors, dimension, dimension, sharpness: 2, MapFitter.KernelPenalty));
        Console.WriteLine($"fitting a kernel map on {anchors} anchors ({dimension}-d): {Stopwatch.GetElapsedTime(kernelStarted).TotalMilliseconds:F0} ms");
        foreach (var (name, map) in new[] { ("linear", linear), ($"local ({anchors} anchors)", local), ($"kernel ({anchors} anchors)", kernel) })
        {
            index.SetRoutes("new", [new IndexRoute("old", RouteKind.Mapped, map)]); // warm-up
            var started = Stopwatch.GetTimestamp();
            index.SetRoutes("new", [new IndexRoute("old", RouteKind.Mapped, map)]);
            var seconds = Stopwatch.GetElapsedTime(started).TotalSeconds;
            Console.WriteLine($"mapping a gallery, {name} map: {count} items x {dimension}x{dimension} in {seconds * 1000:F0} ms = {count / seconds:F0} items/s on one thread " +
                $"({map.MultiplyAddsPerItem:N0} multiply-adds per item)");
        }
    }

    private static async Task<(TimeSpan Total, TimeSpan ToActivation, TimeSpan ActivationToAnswer)> TimeToFirstNewQueryAsync(
        SiloHost host, string version, BackfillPolicy policy, int sample, RoutePreference route = RoutePreference.Auto)
    {
        var query = SampleImages.Images.EncodePng(1990);
        var started = Stopwatch.GetTimestamp();
        await host.Operator.StartRolloutAsync(new RolloutRequest(version, policy, SampleSize: sample, Route: route));
        TimeSpan? activated = null;
        while (true)
        {
            var result = await host.Alice.SearchByImageAsync("bench", query, 10);
            if (result.QueryModelVersion == version)
            {
                var total = Stopwatch.GetElapsedTime(started);
                activated ??= total;
                return (total, activated.Value, total - activated.Value);
            }

            if (activated is null && (await host.Operator.GetRolloutAsync())?.ActivatedAt is not null) activated = Stopwatch.GetElapsedTime(started);
        }
    }

    private static async Task<RolloutStatus> WaitAsync(IndexerHttpClient ops, Func<RolloutStatus, bool> done)
    {
        while (true)
        {
            var status = await ops.GetRolloutAsync();
            if (status is not null && done(status)) return status;
            await Task.Delay(100);
        }
    }

    /// <summary>
    /// One client searching by image: <paramref name="rate"/> queries per second on a fixed schedule (a late query starts
    /// at once, the next ones keep the schedule), or back to back when 0.
    /// </summary>
    private static async Task<List<double>> SearchLatenciesAsync(IndexerHttpClient client, TimeSpan duration, CancellationToken? stop, int rate)
    {
        var latencies = new List<double>();
        var begin = Stopwatch.GetTimestamp();
        var deadline = begin + (long)(duration.TotalSeconds * Stopwatch.Frequency);
        for (var i = 0; Stopwatch.GetTimestamp() < deadline && stop?.IsCancellationRequested != true; i++)
        {
            if (rate > 0)
            {
                var due = TimeSpan.FromSeconds((double)i / rate) - Stopwatch.GetElapsedTime(begin);
                if (due > TimeSpan.Zero)
                {
                    try
                    {
                        await Task.Delay(due, stop ?? CancellationToken.None);
                    }
                    catch (OperationCanceledException)
                    {
                        break;
                    }
                }
            }

            var started = Stopwatch.GetTimestamp();
            await client.SearchByImageAsync("bench", SampleImages.Images.EncodePng(1900 + i % 50), 10);
            latencies.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
        }

        return latencies;
    }

    private static double P(List<double> values, double q)
    {
        var sorted = values.Order().ToList();
        return sorted[Math.Min(sorted.Count - 1, (int)Math.Ceiling(q * sorted.Count) - 1)];
    }

    private static string Describe(List<double> latencies) =>
        $"{latencies.Count} searches by image (embed + search), p50 {P(latencies, 0.5):F0} ms, p99 {P(latencies, 0.99):F0} ms";

    private static async Task WaitIndexedAsync(IndexerHttpClient client, string gallery)
    {
        while ((await client.GetStatsAsync(gallery)).Pending > 0) await Task.Delay(50);
    }
}
