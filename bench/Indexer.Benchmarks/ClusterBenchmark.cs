using System.Diagnostics;
using System.Globalization;
using System.Numerics.Tensors;
using System.Runtime.Intrinsics;
using Indexer.Search;
using Indexer.Search.Clustering;
using Indexer.Search.Metrics;

namespace Indexer.Benchmarks;

/// <summary>
/// Cost of a gallery's clusters (<see cref="GalleryClusters"/>) on synthetic 512-d blobs: adding one item to galleries
/// of different sizes with the same number of clusters (the target: the time depends on the cluster count, not on the
/// gallery size), and a full refinement pass on large galleries.
/// </summary>
internal static class ClusterBenchmark
{
    public const string Usage =
        "cluster [--sizes 1000,10000] [--refine 10000,100000] [--blobs 100] [--adds 1000] [--dim 512] [--threads N] [--seed 42]   add-one-item time vs gallery size, full Refine()";

    /// <summary>
    /// Length of the noise added to a unit centre: 0.9 puts members at cosine ≈ 0.74 to their centre and ≈ 0.55 to one
    /// another, so the first members of a blob often start clusters of their own and the merges and refinement have work.
    /// </summary>
    private const float NoiseNorm = 0.9f;

    /// <summary>Thresholds that recover blobs of <see cref="NoiseNorm"/> (ARI ≈ 1), as a calibration would pick them.</summary>
    private static readonly ClusteringParameters Parameters = new() { JoinThreshold = 0.55f, MergeThreshold = 0.75f };

    /// <summary>The extra add row uses this many times the blobs, to show the cost grows with the cluster count.</summary>
    private const int WideBlobsFactor = 10;

    /// <summary>Items added and refined before timing, so the measured code runs tier-1 JIT code.</summary>
    private const int WarmupItems = 3_000;

    /// <summary>Pause after warming: the JIT batches tier-1 promotions behind a 100 ms delay and compiles in the background.</summary>
    private static readonly TimeSpan TierUpPause = TimeSpan.FromMilliseconds(300);

    public static int Run(string[] args)
    {
        Options options = Options.Parse(args);
        Console.WriteLine(
            $"# cluster benchmark: dim {options.Dimension}, {options.Blobs} blobs (noise {NoiseNorm}), join {Parameters.JoinThreshold}, " +
            $"merge {Parameters.MergeThreshold}, seed {options.Seed}");
        Console.WriteLine(
            $"# {Environment.ProcessorCount} cores, .NET {Environment.Version}, Vector512 accelerated: {Vector512.IsHardwareAccelerated}, " +
            $"Refine with 1 and {options.Threads} threads");
        Console.WriteLine();

        WarmUp(options);

        Console.WriteLine($"## Add one item ({options.Adds} adds, one at a time, to a gallery already holding the given items)");
        Console.WriteLine();
        Console.WriteLine("| items | blobs | clusters | build ms | add mean µs | add p50 µs | add p99 µs |");
        Console.WriteLine("|---:|---:|---:|---:|---:|---:|---:|");

        // The same blobs at every size, then the largest size with ten times the blobs: the cost follows the clusters.
        foreach (Options row in options.Sizes.Select(size => options with { Sizes = [size] })
            .Append(options with { Sizes = [options.Sizes.Max()], Blobs = options.Blobs * WideBlobsFactor }))
        {
            AddResult r = MeasureAdd(row.Sizes[0], row);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"| {row.Sizes[0]} | {row.Blobs} | {r.Clusters} | {r.BuildMs:F0} | {r.MeanUs:F1} | {r.P50Us:F1} | {r.P99Us:F1} |"));
        }

        Console.WriteLine();
        Console.WriteLine("## Refine() on a gallery built one item at a time");
        Console.WriteLine();
        Console.WriteLine($"| items | clusters before | clusters after | passes | reassignments | merges | ARI vs blobs before | ARI after | ms (1 thread) | ms ({options.Threads} threads) |");
        Console.WriteLine("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        foreach (int size in options.RefineSizes)
        {
            RefineRow r = MeasureRefine(size, options);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"| {size} | {r.ClustersBefore} | {r.ClustersAfter} | {r.Result.Iterations} | {r.Result.Reassignments} | {r.Result.ClustersMerged} | " +
                $"{r.AriBefore:F3} | {r.AriAfter:F3} | {r.SingleThreadMs:F0} | {r.ParallelMs:F0} |"));
        }

        return 0;
    }

    private static AddResult MeasureAdd(int size, Options options)
    {
        var data = new Data(options, size + options.Adds);
        GC.Collect();
        var clusters = new GalleryClusters("bench", options.Dimension, Parameters);
        long start = Stopwatch.GetTimestamp();
        for (int i = 0; i < size; i++)
        {
            clusters.Add(Id(i), data.Vector(i));
        }

        double buildMs = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
        var latencies = new double[options.Adds];
        for (int a = 0; a < options.Adds; a++)
        {
            int i = size + a;
            long t = Stopwatch.GetTimestamp();
            clusters.Add(Id(i), data.Vector(i));
            latencies[a] = Stopwatch.GetElapsedTime(t).TotalMicroseconds;
        }

        double mean = latencies.Average();
        Array.Sort(latencies);
        return new AddResult(clusters.ClusterCount, buildMs, mean, Percentile(latencies, 0.50), Percentile(latencies, 0.99));
    }

    private static RefineRow MeasureRefine(int size, Options options)
    {
        var data = new Data(options, size);
        GC.Collect();
        var clusters = new GalleryClusters("bench", options.Dimension, Parameters);
        for (int i = 0; i < size; i++)
        {
            clusters.Add(Id(i), data.Vector(i));
        }

        ClusteringSnapshot built = clusters.ToSnapshot();
        int before = clusters.ClusterCount;
        double ariBefore = ClusterMetrics.AdjustedRandIndex(data.Labels, ClustersOf(clusters, size));

        long start = Stopwatch.GetTimestamp();
        RefineResult result = clusters.Refine();
        double singleMs = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
        double ariAfter = ClusterMetrics.AdjustedRandIndex(data.Labels, ClustersOf(clusters, size));
        int after = clusters.ClusterCount;

        // The same refinement again from the same state, scored on every core.
        var again = GalleryClusters.FromSnapshot(built, id => data.Vector(int.Parse(id.AsSpan(5), CultureInfo.InvariantCulture)).ToArray());
        GC.Collect();
        start = Stopwatch.GetTimestamp();
        RefineResult parallel = again.Refine(options.Threads);
        double parallelMs = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
        if (parallel.Reassignments != result.Reassignments || again.ClusterCount != after)
        {
            throw new InvalidOperationException($"Refine with {options.Threads} threads disagrees with Refine on 1 thread at size {size}.");
        }

        return new RefineRow(before, after, result, ariBefore, ariAfter, singleMs, parallelMs);
    }

    /// <summary>Runs adds, removes and refinement on a small gallery until the JIT has promoted them to tier 1.</summary>
    private static void WarmUp(Options options)
    {
        var data = new Data(options with { Seed = options.Seed + 1 }, WarmupItems);
        for (int round = 0; round < 2; round++)
        {
            var clusters = new GalleryClusters("warm", options.Dimension, Parameters);
            for (int i = 0; i < WarmupItems; i++)
            {
                clusters.Add(Id(i), data.Vector(i));
            }

            clusters.Refine();
            clusters.Refine(options.Threads);
            Thread.Sleep(TierUpPause);
        }
    }

    private static long[] ClustersOf(GalleryClusters clusters, int size) =>
        [.. Enumerable.Range(0, size).Select(i => clusters.ClusterOf(Id(i)) ?? -1)];

    private static string Id(int i) => string.Create(CultureInfo.InvariantCulture, $"item-{i:D7}");

    /// <summary>Nearest-rank percentile of sorted values.</summary>
    private static double Percentile(double[] sorted, double p)
    {
        int rank = (int)Math.Ceiling(p * sorted.Length);
        return sorted[Math.Clamp(rank - 1, 0, sorted.Length - 1)];
    }

    /// <summary>Synthetic blobs: random unit centres, each item a centre plus Gaussian noise of length about <see cref="NoiseNorm"/>.</summary>
    private sealed class Data
    {
        private readonly float[] _vectors;
        private readonly int _dimension;

        public Data(Options options, int count)
        {
            _dimension = options.Dimension;
            var random = new Random(options.Seed);
            var centres = new float[options.Blobs * _dimension];
            for (int b = 0; b < options.Blobs; b++)
            {
                Span<float> centre = centres.AsSpan(b * _dimension, _dimension);
                FillGaussian(random, centre);
                VectorMath.NormalizeInPlace(centre);
            }

            _vectors = new float[count * _dimension];
            Labels = new int[count];
            for (int i = 0; i < count; i++)
            {
                int label = random.Next(options.Blobs);
                Labels[i] = label;
                Span<float> v = _vectors.AsSpan(i * _dimension, _dimension);
                FillGaussian(random, v);
                TensorPrimitives.Multiply(v, NoiseNorm / MathF.Sqrt(_dimension), v);
                TensorPrimitives.Add(v, centres.AsSpan(label * _dimension, _dimension), v);
            }
        }

        public int[] Labels { get; }

        public ReadOnlySpan<float> Vector(int i) => _vectors.AsSpan(i * _dimension, _dimension);

        /// <summary>Standard normal samples by the Box–Muller transform.</summary>
        private static void FillGaussian(Random random, Span<float> destination)
        {
            for (int i = 0; i < destination.Length; i += 2)
            {
                double u1 = 1.0 - random.NextDouble();
                double u2 = random.NextDouble();
                double radius = Math.Sqrt(-2.0 * Math.Log(u1));
                destination[i] = (float)(radius * Math.Cos(2 * Math.PI * u2));
                if (i + 1 < destination.Length)
                {
                    destination[i + 1] = (float)(radius * Math.Sin(2 * Math.PI * u2));
                }
            }
        }
    }

    private sealed record AddResult(int Clusters, double BuildMs, double MeanUs, double P50Us, double P99Us);

    private sealed record RefineRow(int ClustersBefore, int ClustersAfter, RefineResult Result, double AriBefore, double AriAfter, double SingleThreadMs, double ParallelMs);

    private sealed record Options(int[] Sizes, int[] RefineSizes, int Blobs, int Adds, int Dimension, int Threads, int Seed)
    {
        public static Options Parse(string[] args)
        {
            var options = new Options([1_000, 10_000], [10_000, 100_000], 100, 1_000, 512, Environment.ProcessorCount, 42);
            for (int i = 0; i < args.Length; i++)
            {
                string name = args[i];
                string value = i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{name} needs a value.");
                options = name switch
                {
                    "--sizes" => options with { Sizes = PositiveList(name, value) },
                    "--refine" => options with { RefineSizes = PositiveList(name, value) },
                    "--blobs" => options with { Blobs = Positive(name, value) },
                    "--adds" => options with { Adds = Positive(name, value) },
                    "--dim" => options with { Dimension = Positive(name, value) },
                    "--threads" => options with { Threads = Positive(name, value) },
                    "--seed" => options with { Seed = int.Parse(value, CultureInfo.InvariantCulture) },
                    _ => throw new ArgumentException($"unknown option {name}."),
                };
            }

            return options;
        }

        private static int[] PositiveList(string name, string value) =>
            [.. value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(s => Positive(name, s))];

        private static int Positive(string name, string text) =>
            int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out int value) && value > 0
                ? value
                : throw new ArgumentException($"{name} expects a positive integer, got \"{text}\".");
    }
}
