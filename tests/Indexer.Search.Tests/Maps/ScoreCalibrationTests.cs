using Indexer.Search.Maps;

namespace Indexer.Search.Tests.Maps;

public sealed class ScoreCalibrationTests
{
    private const int D = 24;

    private static float[] Gaussian(Random random, int n, int d)
    {
        var v = new float[n * d];
        for (var i = 0; i < v.Length; i++) v[i] = (float)(Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble()));
        return v;
    }

    /// <summary>The target space: every vector plus one shared direction, so every pair looks more alike there.</summary>
    private static float[] Shifted(float[] source, int n, float shift)
    {
        var target = new float[n * (D + 1)];
        for (var i = 0; i < n; i++)
        {
            source.AsSpan(i * D, D).CopyTo(target.AsSpan(i * (D + 1), D));
            target[i * (D + 1) + D] = shift;
        }

        return target;
    }

    private static float Cosine(ReadOnlySpan<float> a, ReadOnlySpan<float> b) =>
        VectorMath.Dot(a, b) / MathF.Sqrt(VectorMath.Dot(a, a) * VectorMath.Dot(b, b));

    [Fact]
    public void Fit_OnARotatedCopy_IsCloseToTheIdentity()
    {
        var random = new Random(1);
        const int n = 300;
        var source = Gaussian(random, n, D);
        var rotation = RandomOrthogonal.Create(D, seed: 3);
        var target = new float[n * D];
        for (var i = 0; i < n; i++)
        {
            for (var j = 0; j < D; j++)
            {
                double sum = 0;
                for (var k = 0; k < D; k++) sum += source[i * D + k] * rotation[k * D + j];
                target[i * D + j] = (float)sum;
            }
        }

        var calibration = ScoreCalibration.Fit(source, D, target, D, n);

        foreach (var s in new[] { -0.5f, -0.1f, 0f, 0.2f, 0.5f, 0.7f })
        {
            Assert.Equal(s, calibration.Apply(s), 3);
        }
    }

    /// <summary>
    /// The defining property: a source score and its calibrated value sit at the same quantile of the pair scores of
    /// fresh items (not the ones fitted on) in their own space.
    /// </summary>
    [Fact]
    public void Fit_MatchesQuantiles_OnHeldOutPairs()
    {
        var random = new Random(2);
        const int n = 400, heldOut = 300;
        var source = Gaussian(random, n, D);
        var calibration = ScoreCalibration.Fit(source, D, Shifted(source, n, 2.5f), D + 1, n);
        var fresh = Gaussian(random, heldOut, D);
        var freshTarget = Shifted(fresh, heldOut, 2.5f);
        var sourceScores = new List<float>();
        var targetScores = new List<float>();
        for (var i = 0; i < heldOut; i++)
        {
            for (var j = i + 1; j < heldOut; j++)
            {
                sourceScores.Add(Cosine(fresh.AsSpan(i * D, D), fresh.AsSpan(j * D, D)));
                targetScores.Add(Cosine(freshTarget.AsSpan(i * (D + 1), D + 1), freshTarget.AsSpan(j * (D + 1), D + 1)));
            }
        }

        sourceScores.Sort();
        targetScores.Sort();
        foreach (var q in new[] { 0.1, 0.5, 0.9, 0.99, 0.999 })
        {
            var s = sourceScores[(int)(q * (sourceScores.Count - 1))];
            var calibrated = calibration.Apply(s);
            var rank = targetScores.BinarySearch(calibrated);
            var quantile = (rank < 0 ? ~rank : rank) / (double)targetScores.Count;
            Assert.InRange(quantile, q - 0.02, q + 0.02);
        }

        // Shifting every vector by s along a new axis raises an orthogonal pair's cosine to about s^2 / (d + s^2) = 0.21.
        Assert.InRange(calibration.Apply(0f), 0.15f, 0.27f);
    }

    [Fact]
    public void Apply_IsMonotoneAndContinuous_InsideAndOutsideTheKnots()
    {
        var random = new Random(3);
        const int n = 200;
        var source = Gaussian(random, n, D);
        var calibration = ScoreCalibration.Fit(source, D, Shifted(source, n, 1.5f), D + 1, n);

        var previous = float.NegativeInfinity;
        for (var s = -1.2f; s <= 1.2f; s += 0.001f)
        {
            var value = calibration.Apply(s);
            Assert.True(value >= previous, $"Apply decreased at {s}");
            Assert.True(value - previous < 0.05f || float.IsNegativeInfinity(previous), $"Apply jumped at {s}");
            previous = value;
        }
    }

    [Fact]
    public void Then_IsTheTwoCalibrationsAppliedInTurn()
    {
        var first = ScoreCalibration.FromKnotValues([-1f, 0f, 1f], [-0.8f, 0.1f, 0.9f]);
        var second = ScoreCalibration.FromKnotValues([-1f, 0.5f, 1f], [-1f, 0.2f, 0.6f]);
        var composed = first.Then(second);

        // Exact at the first one's knots, where the composition keeps its knots.
        foreach (var s in new[] { -1f, 0f, 1f }) Assert.Equal(second.Apply(first.Apply(s)), composed.Apply(s), 5);
        Assert.Same(first, first.Then(ScoreCalibration.Identity));
        Assert.Same(second, ScoreCalibration.Identity.Then(second));
    }

    [Fact]
    public void Codec_RoundTrips_AndRejectsCorruptBytes()
    {
        var random = new Random(4);
        const int n = 100;
        var source = Gaussian(random, n, D);
        var calibration = ScoreCalibration.Fit(source, D, Shifted(source, n, 1f), D + 1, n);

        var bytes = ScoreCalibrationCodec.Encode(calibration);
        var restored = ScoreCalibrationCodec.Decode(bytes);
        for (var s = -1f; s <= 1f; s += 0.01f) Assert.Equal(calibration.Apply(s), restored.Apply(s));
        Assert.True(ScoreCalibrationCodec.Decode(ScoreCalibrationCodec.Encode(ScoreCalibration.Identity)).IsIdentity);

        var flipped = bytes.ToArray();
        flipped[bytes.Length / 2] ^= 0x10;
        Assert.Throws<InvalidDataException>(() => ScoreCalibrationCodec.Decode(flipped));
        Assert.Throws<InvalidDataException>(() => ScoreCalibrationCodec.Decode(bytes[..(bytes.Length - 40)]));
        Assert.Throws<InvalidDataException>(() => ScoreCalibrationCodec.Decode("nope, not a calibration at all, really not"u8.ToArray()));
    }

    [Fact]
    public void FromKnotValues_RejectsKnotsThatDecreaseOrDoNotPairUp()
    {
        Assert.Throws<ArgumentException>(() => ScoreCalibration.FromKnotValues([0f, -1f], [0f, 1f]));
        Assert.Throws<ArgumentException>(() => ScoreCalibration.FromKnotValues([0f, 1f], [0f, 1f, 2f]));
        Assert.Throws<ArgumentException>(() => ScoreCalibration.FromKnotValues([0f, float.NaN], [0f, 1f]));
    }
}
