using System.Diagnostics;
using System.Globalization;
using System.Numerics.Tensors;
using System.Runtime.Intrinsics;
using Indexer.Search;

namespace Indexer.Benchmarks;

/// <summary>
/// Brute-force search speed of <see cref="FlatVectorIndex"/> against the floor set by memory bandwidth:
/// an exact search must read the whole matrix once, so the time of one plain read of it
/// (<see cref="TensorPrimitives.Sum(ReadOnlySpan{float})"/>) is the reference a query is measured against.
/// </summary>
internal static class SearchBenchmark
{
    public const string Usage = "[--sizes 1000,10000,100000] [--dim 512] [--queries 200] [--k 10] [--seed 42]";

    /// <summary>Cluster centres of the synthetic data: real embeddings cluster, and PLATFORM.md §8 used 1000.</summary>
    private const int Clusters = 1000;

    /// <summary>Length of the noise added to a unit centre: about 0.5 keeps members clearly closer to their own centre.</summary>
    private const float NoiseNorm = 0.5f;

    /// <summary>Untimed searches on each measured index, so its data is touched once before timing.</summary>
    private const int WarmupQueries = 30;

    /// <summary>Rows of the warm-up index: small, so warming takes well under a second.</summary>
    private const int WarmupRows = 2_000;

    /// <summary>Calls per warm-up round: above the tiered JIT's 30-call promotion threshold.</summary>
    private const int WarmupCallsPerRound = 60;

    /// <summary>Warm-up rounds: the second round runs code compiled after the first (tier-0 → instrumented → tier-1).</summary>
    private const int WarmupRounds = 3;

    /// <summary>Pause after each round: the JIT batches promotions behind a 100 ms delay and compiles in the background.</summary>
    private static readonly TimeSpan TierUpPause = TimeSpan.FromMilliseconds(300);

    /// <summary>Repeats of the plain matrix read; the best one is the bandwidth floor (others include noise).</summary>
    private const int ReadRepeats = 7;

    /// <summary>Repeats of the whole batched run; the best is reported for the same reason.</summary>
    private const int BatchRepeats = 3;

    /// <summary>The target: a single query's p50 within this factor of one read of the matrix.</summary>
    private const double TargetRatio = 1.5;

    public static int Run(string[] args)
    {
        Options options = Options.Parse(args);
        Console.WriteLine($"# search benchmark: dim {options.Dimension}, {options.Queries} queries, k {options.K}, seed {options.Seed}");
        Console.WriteLine(
            $"# {Environment.ProcessorCount} cores, .NET {Environment.Version}, Vector512 accelerated: {Vector512.IsHardwareAccelerated}, " +
            $"{FlatVectorIndex.QueriesPerPass} queries per pass in SearchMany, 1 thread");
        Console.WriteLine();
        Console.WriteLine("| rows | dim | matrix MiB | build ms | read once ms | Search p50 ms | Search p99 ms | Search q/s | SearchMany ms/query | SearchMany q/s | p50 / read once |");
        Console.WriteLine("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");

        WarmUp(options);

        bool allMet = true;
        foreach (int size in options.Sizes)
        {
            Result result = Measure(size, options);
            allMet &= size < 100_000 || result.Ratio <= TargetRatio;
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"| {size} | {options.Dimension} | {result.MatrixMiB:F1} | {result.BuildMs:F0} | {result.ReadOnceMs:F3} | {result.P50Ms:F3} | {result.P99Ms:F3} | " +
                $"{result.SingleQps:F0} | {result.ManyMsPerQuery:F3} | {result.ManyQps:F0} | {result.Ratio:F2} |"));
        }

        Console.WriteLine();
        Console.WriteLine(allMet
            ? $"target met: every size >= 100000 has Search p50 <= {TargetRatio}x read once"
            : $"TARGET MISSED: Search p50 > {TargetRatio}x read once at a size >= 100000");
        return 0;
    }

    private static Result Measure(int size, Options options)
    {
        int dim = options.Dimension;
        GC.Collect();
        GC.WaitForPendingFinalizers();

        var random = new Random(options.Seed);
        float[] centres = RandomUnitVectors(random, Clusters, dim);
        var index = new FlatVectorIndex(dim, initialCapacity: size);
        float[] v = new float[dim];
        long buildStart = Stopwatch.GetTimestamp();
        for (int i = 0; i < size; i++)
        {
            Perturb(random, centres.AsSpan(random.Next(Clusters) * dim, dim), v);
            index.Upsert(string.Create(CultureInfo.InvariantCulture, $"item-{i:D7}"), v);
        }

        double buildMs = Stopwatch.GetElapsedTime(buildStart).TotalMilliseconds;

        var queryRandom = new Random(options.Seed + 1);
        float[] queries = new float[options.Queries * dim];
        for (int q = 0; q < options.Queries; q++)
        {
            Perturb(queryRandom, centres.AsSpan(queryRandom.Next(Clusters) * dim, dim), queries.AsSpan(q * dim, dim));
        }

        double readOnceMs = double.MaxValue;
        float checksum = 0;
        for (int r = 0; r < ReadRepeats; r++)
        {
            long start = Stopwatch.GetTimestamp();
            checksum += TensorPrimitives.Sum(index.RowData);
            readOnceMs = Math.Min(readOnceMs, Stopwatch.GetElapsedTime(start).TotalMilliseconds);
        }

        GC.KeepAlive(checksum);

        for (int w = 0; w < WarmupQueries; w++)
        {
            index.Search(queries.AsSpan((w % options.Queries) * dim, dim), options.K);
        }

        index.SearchMany(queries.AsSpan(0, Math.Min(options.Queries, FlatVectorIndex.QueriesPerPass) * dim),
            Math.Min(options.Queries, FlatVectorIndex.QueriesPerPass), options.K);

        var latencies = new double[options.Queries];
        var single = new IReadOnlyList<SearchHit>[options.Queries];
        for (int q = 0; q < options.Queries; q++)
        {
            long start = Stopwatch.GetTimestamp();
            single[q] = index.Search(queries.AsSpan(q * dim, dim), options.K);
            latencies[q] = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
        }

        double manyMs = double.MaxValue;
        IReadOnlyList<SearchHit>[] many = [];
        for (int r = 0; r < BatchRepeats; r++)
        {
            long start = Stopwatch.GetTimestamp();
            many = index.SearchMany(queries, options.Queries, options.K);
            manyMs = Math.Min(manyMs, Stopwatch.GetElapsedTime(start).TotalMilliseconds);
        }

        for (int q = 0; q < options.Queries; q++)
        {
            if (!single[q].SequenceEqual(many[q]))
            {
                throw new InvalidOperationException($"SearchMany and Search disagree on query {q} at size {size}.");
            }
        }

        double total = latencies.Sum();
        Array.Sort(latencies);
        double p50 = Percentile(latencies, 0.50);
        return new Result(
            MatrixMiB: (double)size * dim * sizeof(float) / (1024 * 1024),
            BuildMs: buildMs,
            ReadOnceMs: readOnceMs,
            P50Ms: p50,
            P99Ms: Percentile(latencies, 0.99),
            SingleQps: options.Queries / (total / 1000),
            ManyMsPerQuery: manyMs / options.Queries,
            ManyQps: options.Queries / (manyMs / 1000),
            Ratio: p50 / readOnceMs);
    }

    /// <summary>
    /// Runs every measured code path many times on a small index, then pauses so the tiered JIT finishes its
    /// background tier-1 compiles (precompiled ReadyToRun code, e.g. TensorPrimitives, has no AVX-512 paths).
    /// </summary>
    private static void WarmUp(Options options)
    {
        int dim = options.Dimension;
        var random = new Random(options.Seed + 2);
        var index = new FlatVectorIndex(dim, WarmupRows);
        float[] queries = RandomUnitVectors(random, FlatVectorIndex.QueriesPerPass, dim);
        for (int i = 0; i < WarmupRows; i++)
        {
            index.Upsert(string.Create(CultureInfo.InvariantCulture, $"warm-{i}"), queries.AsSpan((i % FlatVectorIndex.QueriesPerPass) * dim, dim));
        }

        float sink = 0;
        for (int round = 0; round < WarmupRounds; round++)
        {
            for (int i = 0; i < WarmupCallsPerRound; i++)
            {
                sink += TensorPrimitives.Sum(index.RowData);
                sink += index.Search(queries.AsSpan(0, dim), options.K)[0].Score;
                sink += index.SearchMany(queries, FlatVectorIndex.QueriesPerPass, options.K)[0][0].Score;
            }

            Thread.Sleep(TierUpPause);
        }

        GC.KeepAlive(sink);
    }

    /// <summary>Nearest-rank percentile of sorted values.</summary>
    private static double Percentile(double[] sorted, double p)
    {
        int rank = (int)Math.Ceiling(p * sorted.Length);
        return sorted[Math.Clamp(rank - 1, 0, sorted.Length - 1)];
    }

    private static float[] RandomUnitVectors(Random random, int count, int dim)
    {
        float[] vectors = new float[count * dim];
        for (int i = 0; i < count; i++)
        {
            Span<float> v = vectors.AsSpan(i * dim, dim);
            FillGaussian(random, v);
            VectorMath.NormalizeInPlace(v);
        }

        return vectors;
    }

    /// <summary>destination = centre + noise of length about <see cref="NoiseNorm"/> (the index normalises it).</summary>
    private static void Perturb(Random random, ReadOnlySpan<float> centre, Span<float> destination)
    {
        FillGaussian(random, destination);
        TensorPrimitives.Multiply(destination, NoiseNorm / MathF.Sqrt(destination.Length), destination);
        TensorPrimitives.Add(destination, centre, destination);
    }

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

    private sealed record Result(
        double MatrixMiB,
        double BuildMs,
        double ReadOnceMs,
        double P50Ms,
        double P99Ms,
        double SingleQps,
        double ManyMsPerQuery,
        double ManyQps,
        double Ratio);

    private sealed record Options(int[] Sizes, int Dimension, int Queries, int K, int Seed)
    {
        public static Options Parse(string[] args)
        {
            var options = new Options([1_000, 10_000, 100_000], 512, 200, 10, 42);
            for (int i = 0; i < args.Length; i++)
            {
                string name = args[i];
                string value = i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{name} needs a value.");
                options = name switch
                {
                    "--sizes" => options with { Sizes = [.. value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(s => Positive(name, s))] },
                    "--dim" => options with { Dimension = Positive(name, value) },
                    "--queries" => options with { Queries = Positive(name, value) },
                    "--k" => options with { K = Positive(name, value) },
                    "--seed" => options with { Seed = int.Parse(value, CultureInfo.InvariantCulture) },
                    _ => throw new ArgumentException($"unknown option {name}."),
                };
            }

            if (options.Sizes.Length == 0)
            {
                throw new ArgumentException("--sizes needs at least one size.");
            }

            return options;
        }

        private static int Positive(string name, string text) =>
            int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out int value) && value > 0
                ? value
                : throw new ArgumentException($"{name} expects a positive integer, got \"{text}\".");
    }
}
