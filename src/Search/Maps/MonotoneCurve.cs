namespace Indexer.Search.Maps;

/// <summary>
/// A non-decreasing curve y(x) through knots, linear between them and flat beyond the first and the last. Fitted by
/// least squares among all non-decreasing step functions (pool adjacent violators): the points are taken in order of
/// x, and each run of points whose y would go down is pooled into one knot at its mean x and mean y.
/// </summary>
public sealed class MonotoneCurve
{
    private readonly double[] _knots;
    private readonly double[] _values;

    /// <param name="knots">x of each knot, ascending.</param>
    /// <param name="values">y at each knot, non-decreasing.</param>
    public MonotoneCurve(double[] knots, double[] values)
    {
        ArgumentNullException.ThrowIfNull(knots);
        ArgumentNullException.ThrowIfNull(values);
        if (knots.Length == 0 || knots.Length != values.Length) throw new ArgumentException($"one value per knot is needed, and at least one knot; got {knots.Length} knots and {values.Length} values");
        for (var k = 0; k < knots.Length; k++)
        {
            if (!double.IsFinite(knots[k]) || !double.IsFinite(values[k])) throw new ArgumentException($"knot {k} is not finite");
            if (k > 0 && (knots[k] < knots[k - 1] || values[k] < values[k - 1])) throw new ArgumentException($"knot {k} is not after its predecessor, or its value falls");
        }

        _knots = knots;
        _values = values;
    }

    public IReadOnlyList<double> Knots => _knots;

    public IReadOnlyList<double> Values => _values;

    /// <summary>The least-squares non-decreasing fit of <paramref name="y"/> against <paramref name="x"/>.</summary>
    public static MonotoneCurve Fit(IReadOnlyList<double> x, IReadOnlyList<double> y)
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(y);
        if (x.Count == 0 || x.Count != y.Count) throw new ArgumentException($"one y per x is needed, and at least one point; got {x.Count} and {y.Count}");
        var (sumX, sumY, count) = (new List<double>(), new List<double>(), new List<int>());
        foreach (var i in Enumerable.Range(0, x.Count).OrderBy(i => x[i]).ThenBy(i => y[i]))
        {
            sumX.Add(x[i]);
            sumY.Add(y[i]);
            count.Add(1);
            while (count.Count > 1 && sumY[^2] / count[^2] > sumY[^1] / count[^1])
            {
                sumX[^2] += sumX[^1];
                sumY[^2] += sumY[^1];
                count[^2] += count[^1];
                sumX.RemoveAt(sumX.Count - 1);
                sumY.RemoveAt(sumY.Count - 1);
                count.RemoveAt(count.Count - 1);
            }
        }

        return new MonotoneCurve(sumX.Select((s, k) => s / count[k]).ToArray(), sumY.Select((s, k) => s / count[k]).ToArray());
    }

    /// <summary>y at <paramref name="x"/>.</summary>
    public double At(double x)
    {
        if (x <= _knots[0]) return _values[0];
        if (x >= _knots[^1]) return _values[^1];
        var at = Array.BinarySearch(_knots, x);
        if (at >= 0) return _values[at];
        var upper = ~at;
        if (_knots[upper] <= _knots[upper - 1]) return _values[upper];
        return _values[upper - 1] + (x - _knots[upper - 1]) / (_knots[upper] - _knots[upper - 1]) * (_values[upper] - _values[upper - 1]);
    }
}
