namespace Indexer.Search.Maps;

/// <summary>
/// Makes cosine scores of one model space comparable with another's, so results found in two spaces can be merged into
/// one ranking (the own-space route: old items are searched with the query embedded by the old model, new items with the
/// query embedded by the new one). The map is monotone, so it never reorders the results of one space: it matches
/// quantiles. Fitted on items embedded by both models, a score s in the source space becomes the target-space score at
/// the same quantile of the pairwise similarities, so "as close as the closest 0.1% of pairs" means the same in both.
/// Knots are spaced more densely towards the top of the distribution, where search results live.
/// </summary>
public sealed class ScoreCalibration
{
    /// <summary>Knots of a fitted calibration.</summary>
    public const int DefaultKnots = 257;

    /// <summary>Items whose pairs a fit uses at most (their pairs number about half its square).</summary>
    public const int MaxFitItems = 1500;

    private readonly float[] _from;
    private readonly float[] _to;

    private ScoreCalibration(float[] from, float[] to)
    {
        _from = from;
        _to = to;
    }

    /// <summary>Source-space scores at the knots, non-decreasing; empty for the identity.</summary>
    public ReadOnlySpan<float> FromKnots => _from;

    /// <summary>Target-space scores at the same quantiles, non-decreasing.</summary>
    public ReadOnlySpan<float> ToKnots => _to;

    public bool IsIdentity => _from.Length == 0;

    public static ScoreCalibration Identity { get; } = new([], []);

    /// <summary>A calibration from its knots (as stored); both non-decreasing, finite and of one length of at least 2.</summary>
    public static ScoreCalibration FromKnotValues(float[] from, float[] to)
    {
        ArgumentNullException.ThrowIfNull(from);
        ArgumentNullException.ThrowIfNull(to);
        if (from.Length == 0 && to.Length == 0) return Identity;
        if (from.Length != to.Length || from.Length < 2) throw new ArgumentException($"knots must pair up, at least 2 of them; got {from.Length} and {to.Length}");
        for (var i = 0; i < from.Length; i++)
        {
            if (!float.IsFinite(from[i]) || !float.IsFinite(to[i])) throw new ArgumentException($"knot {i} is not finite");
            if (i > 0 && (from[i] < from[i - 1] || to[i] < to[i - 1])) throw new ArgumentException($"knots must not decrease; knot {i} does");
        }

        return new ScoreCalibration(from, to);
    }

    /// <summary>
    /// Fits the calibration from <paramref name="count"/> items embedded by both models (row-major, any norms): the
    /// cosines of every pair among the first <see cref="MaxFitItems"/> items in each space, matched by quantile.
    /// </summary>
    public static ScoreCalibration Fit(ReadOnlySpan<float> source, int sourceDimension, ReadOnlySpan<float> target, int targetDimension, int count, int knots = DefaultKnots)
    {
        if (count < 3) throw new ArgumentException($"at least 3 items are needed to calibrate scores; got {count}", nameof(count));
        if (knots < 2) throw new ArgumentOutOfRangeException(nameof(knots), "at least 2 knots");
        if (source.Length < (long)count * sourceDimension || target.Length < (long)count * targetDimension)
        {
            throw new ArgumentException("fewer vectors than the count says");
        }

        var n = Math.Min(count, MaxFitItems);
        var sourceScores = PairCosines(source, sourceDimension, n);
        var targetScores = PairCosines(target, targetDimension, n);
        Array.Sort(sourceScores);
        Array.Sort(targetScores);
        var from = new float[knots];
        var to = new float[knots];
        for (var k = 0; k < knots; k++)
        {
            // u uniform in [0, 1]; q = 1 - (1 - u)^2 puts half the knots in the top quarter of the distribution.
            var u = (double)k / (knots - 1);
            var q = 1 - (1 - u) * (1 - u);
            from[k] = Quantile(sourceScores, q);
            to[k] = Quantile(targetScores, q);
        }

        return new ScoreCalibration(from, to);
    }

    /// <summary>
    /// The target-space score for a source-space score: linear between knots; beyond the outer knots, shifted by the
    /// nearest knot's offset, so the map stays monotone and continuous everywhere.
    /// </summary>
    public float Apply(float score)
    {
        if (IsIdentity) return score;
        if (score <= _from[0]) return _to[0] + (score - _from[0]);
        if (score >= _from[^1]) return _to[^1] + (score - _from[^1]);
        var hi = UpperBound(_from, score); // first knot above the score; 1 <= hi <= last
        var lo = hi - 1;
        var width = _from[hi] - _from[lo];
        var t = width > 0 ? (score - _from[lo]) / width : 0;
        return _to[lo] + t * (_to[hi] - _to[lo]);
    }

    /// <summary>This calibration followed by <paramref name="next"/>: source space of this one to target space of the next.</summary>
    public ScoreCalibration Then(ScoreCalibration next)
    {
        ArgumentNullException.ThrowIfNull(next);
        if (IsIdentity) return next;
        if (next.IsIdentity) return this;
        var to = new float[_to.Length];
        for (var i = 0; i < to.Length; i++) to[i] = next.Apply(_to[i]);
        return new ScoreCalibration(_from, to);
    }

    private static float[] PairCosines(ReadOnlySpan<float> vectors, int dimension, int n)
    {
        var normalised = new float[n * dimension];
        vectors[..(n * dimension)].CopyTo(normalised);
        for (var i = 0; i < n; i++) VectorMath.NormalizeInPlace(normalised.AsSpan(i * dimension, dimension));
        var scores = new float[n * (n - 1) / 2];
        var p = 0;
        for (var i = 0; i < n; i++)
        {
            var a = normalised.AsSpan(i * dimension, dimension);
            for (var j = i + 1; j < n; j++) scores[p++] = VectorMath.Dot(a, normalised.AsSpan(j * dimension, dimension));
        }

        return scores;
    }

    private static float Quantile(float[] sorted, double q)
    {
        var position = q * (sorted.Length - 1);
        var lo = (int)Math.Floor(position);
        var hi = Math.Min(lo + 1, sorted.Length - 1);
        return (float)(sorted[lo] + (position - lo) * (sorted[hi] - sorted[lo]));
    }

    private static int UpperBound(float[] knots, float value)
    {
        int lo = 0, hi = knots.Length - 1;
        while (lo < hi)
        {
            var mid = (lo + hi) / 2;
            if (knots[mid] > value) hi = mid;
            else lo = mid + 1;
        }

        return lo;
    }
}
