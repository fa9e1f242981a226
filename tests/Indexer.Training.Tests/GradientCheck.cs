namespace Indexer.Training.Tests;

/// <summary>
/// Central finite differences against hand-written gradients. The maths runs in float, so the step is large enough to
/// rise above rounding (1e-3 on values of order one) and the comparison is relative with a small absolute floor.
/// </summary>
internal static class GradientCheck
{
    public const float Step = 1e-3f;

    /// <summary>
    /// For up to <paramref name="samples"/> entries of <paramref name="values"/>, compares (L(v+h) − L(v−h)) / 2h with
    /// <paramref name="analytic"/>; <paramref name="loss"/> must recompute the scalar loss from the current values.
    /// </summary>
    public static void AssertMatches(string what, float[] values, float[] analytic, Func<double> loss, int samples = 40, double tolerance = 2e-2, int seed = 7)
    {
        Assert.Equal(values.Length, analytic.Length);
        var random = new Random(seed);
        var indices = values.Length <= samples
            ? Enumerable.Range(0, values.Length).ToArray()
            : Enumerable.Range(0, samples).Select(_ => random.Next(values.Length)).ToArray();
        var scale = Math.Max(1e-3, analytic.Max(Math.Abs));
        foreach (var i in indices)
        {
            var original = values[i];
            values[i] = original + Step;
            var plus = loss();
            values[i] = original - Step;
            var minus = loss();
            values[i] = original;
            var numeric = (plus - minus) / (2 * Step);
            var error = Math.Abs(numeric - analytic[i]);
            Assert.True(
                error <= tolerance * Math.Max(Math.Abs(numeric), 0.1 * scale),
                $"{what}[{i}]: finite difference {numeric:G6}, backward {analytic[i]:G6}");
        }
    }

    public static float[] RandomArray(Random random, int length, double scale = 1.0)
    {
        var values = new float[length];
        for (var i = 0; i < length; i++) values[i] = (float)(Gaussian.Next(random) * scale);
        return values;
    }

    /// <summary>Σ w·y: a scalar loss whose gradient w.r.t. y is w, to drive a layer's backward pass.</summary>
    public static double Project(float[] y, float[] w)
    {
        double sum = 0;
        for (var i = 0; i < y.Length; i++) sum += (double)y[i] * w[i];
        return sum;
    }

    public static float[] UnitRows(Random random, int n, int d)
    {
        var rows = RandomArray(random, n * d);
        BatchMath.NormalizeRows(rows, n, d);
        return rows;
    }
}
