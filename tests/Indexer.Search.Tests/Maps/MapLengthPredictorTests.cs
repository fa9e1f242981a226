using System.Security.Cryptography;
using Indexer.Search.Maps;

namespace Indexer.Search.Tests.Maps;

public sealed class MonotoneCurveTests
{
    [Fact]
    public void Fit_PoolsEachRunThatWouldFall_IntoOneKnotAtItsMeans()
    {
        // Hand-pooled: (0.1, 0.5) and (0.2, 0.3) fall, so they pool to (0.15, 0.4); (0.5, 0.7) and (0.6, 0.65) to (0.55, 0.675).
        double[] x = [0.4, 0.1, 0.3, 0.2, 0.6, 0.5, 0.8, 0.7];
        double[] y = [0.6, 0.5, 0.6, 0.3, 0.65, 0.7, 0.95, 0.9];

        var curve = MonotoneCurve.Fit(x, y);

        Assert.Equal([0.15, 0.3, 0.4, 0.55, 0.7, 0.8], curve.Knots.Select(k => Math.Round(k, 10)));
        Assert.Equal([0.4, 0.6, 0.6, 0.675, 0.9, 0.95], curve.Values.Select(v => Math.Round(v, 10)));
    }

    [Fact]
    public void At_IsLinearBetweenKnotsAndFlatBeyondThem()
    {
        var curve = new MonotoneCurve([0.2, 0.6], [0.4, 0.8]);

        Assert.Equal(0.4, curve.At(0));
        Assert.Equal(0.6, curve.At(0.4), 12);
        Assert.Equal(0.8, curve.At(3));
    }

    [Fact]
    public void Constructor_RefusesKnotsThatGoBackOrValuesThatFall()
    {
        Assert.Throws<ArgumentException>(() => new MonotoneCurve([0.5, 0.2], [0.1, 0.2]));
        Assert.Throws<ArgumentException>(() => new MonotoneCurve([0.2, 0.5], [0.3, 0.2]));
        Assert.Throws<ArgumentException>(() => new MonotoneCurve([], []));
    }
}

public sealed class MapLengthPredictorTests
{
    /// <summary>A map whose length on the unit circle runs from 0.2 (along y) to 1 (along x).</summary>
    private static readonly EmbeddingMap Squash = EmbeddingMap.FromWeights(MapKind.Ridge, 2, 2, [1, 0, 0, 0.2f], 0.1);

    private static (float[] Vectors, double[] Lengths) Circle(int n, int seed)
    {
        var random = new Random(seed);
        var vectors = new float[n * 2];
        var lengths = new double[n];
        for (var i = 0; i < n; i++)
        {
            var angle = random.NextDouble() * Math.PI;
            (vectors[i * 2], vectors[i * 2 + 1]) = ((float)Math.Cos(angle), (float)Math.Sin(angle));
            lengths[i] = Squash.ApplyAndMeasure(vectors.AsSpan(i * 2, 2), new float[2]);
        }

        return (vectors, lengths);
    }

    [Fact]
    public void Fit_AgreementThatFollowsTheMapsLength_ChoosesTheLengthPredictor_WhichReadsItBack()
    {
        const int n = 300;
        var (vectors, lengths) = Circle(n, seed: 1);
        var agreements = lengths.Select(l => 0.3 + 0.6 * l * l).ToArray();

        var predictor = CompatibilityPredictor.Fit(vectors, agreements, 2, map: Squash, lengths: lengths);

        Assert.Equal(PredictorKind.MapLength, predictor.Kind);
        Assert.True(predictor.HeldOutSpearman > 0.99, $"held-out Spearman {predictor.HeldOutSpearman}");
        var (probes, probeLengths) = Circle(50, seed: 2);
        for (var i = 0; i < 50; i++) Assert.Equal(0.3 + 0.6 * probeLengths[i] * probeLengths[i], predictor.Predict(probes.AsSpan(i * 2, 2)), 0.02);
    }

    [Fact]
    public void Fit_JudgesTheLengthPredictorOnTheGivenOutOfFoldLengths_NotOnTheMapItWasGiven()
    {
        // The map given is a rotation, whose length is 1 everywhere; the given lengths carry the agreement exactly.
        // Read through the map, every held-out item would get the same prediction and a useless Spearman.
        const int n = 200;
        var (vectors, _) = Circle(n, seed: 3);
        var random = new Random(4);
        var agreements = Enumerable.Range(0, n).Select(_ => 0.4 + 0.5 * random.NextDouble()).ToArray();
        var lengths = agreements.Select(a => 2 * a).ToArray();
        var rotation = EmbeddingMap.FromWeights(MapKind.Orthogonal, 2, 2, [0, 1, -1, 0]);

        var predictor = CompatibilityPredictor.Fit(vectors, agreements, 2, map: rotation, lengths: lengths);

        Assert.Equal(PredictorKind.MapLength, predictor.Kind);
        Assert.True(predictor.HeldOutSpearman > 0.99, $"held-out Spearman {predictor.HeldOutSpearman}");
    }

    [Fact]
    public void Fit_WithoutLengthsOrWithConstantOnes_NeverChoosesTheLengthPredictor()
    {
        const int n = 100;
        var (vectors, lengths) = Circle(n, seed: 5);
        var agreements = lengths.Select(l => 0.3 + 0.6 * l).ToArray();

        Assert.NotEqual(PredictorKind.MapLength, CompatibilityPredictor.Fit(vectors, agreements, 2).Kind);
        Assert.NotEqual(PredictorKind.MapLength, CompatibilityPredictor.Fit(vectors, agreements, 2, map: Squash, lengths: Enumerable.Repeat(1.0, n).ToArray()).Kind);
        Assert.Throws<ArgumentException>(() => CompatibilityPredictor.Fit(vectors, agreements, 2, map: Squash));
        Assert.Throws<ArgumentException>(() => CompatibilityPredictor.Fit(vectors, agreements, 2, map: Squash, lengths: lengths[1..]));
    }

    [Fact]
    public void Codec_RoundTripsALengthPredictorWithItsMap()
    {
        const int n = 300;
        var (vectors, lengths) = Circle(n, seed: 6);
        var predictor = CompatibilityPredictor.Fit(vectors, lengths.Select(l => 0.3 + 0.6 * l).ToArray(), 2, map: Squash, lengths: lengths);

        var restored = CompatibilityPredictorCodec.Decode(CompatibilityPredictorCodec.Encode(predictor));

        Assert.Equal((PredictorKind.MapLength, predictor.HeldOutSpearman, predictor.CalibrationSize), (restored.Kind, restored.HeldOutSpearman, restored.CalibrationSize));
        var (probes, _) = Circle(50, seed: 7);
        for (var i = 0; i < 50; i++) Assert.Equal(predictor.Predict(probes.AsSpan(i * 2, 2)), restored.Predict(probes.AsSpan(i * 2, 2)));
    }

    [Fact]
    public void Decode_APredictorStoredInTheFirstFormat_StillPredicts()
    {
        // Format 1 ends after the linear weights: no knots and no map.
        using var body = new MemoryStream();
        using (var writer = new BinaryWriter(body, System.Text.Encoding.UTF8, leaveOpen: true))
        {
            writer.Write("IXCP"u8);
            writer.Write(1);
            writer.Write((int)PredictorKind.Linear);
            writer.Write(2);
            writer.Write(40);
            writer.Write(0.5);
            writer.Write(0.7);
            writer.Write(0);
            writer.Write(0);
            writer.Write(2);
            writer.Write(0.1f);
            writer.Write(-0.2f);
        }

        var bytes = body.ToArray().Concat(SHA256.HashData(body.ToArray())).ToArray();

        var predictor = CompatibilityPredictorCodec.Decode(bytes);

        Assert.Equal(PredictorKind.Linear, predictor.Kind);
        Assert.Equal(0.7 + 0.1 * 1 - 0.2 * 0, predictor.Predict([1, 0]), 6);
    }
}
