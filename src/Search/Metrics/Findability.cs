namespace Indexer.Search.Metrics;

/// <summary>How an item served by a stand-in vector is found, against how its new vector would be found.</summary>
/// <param name="Retention">
/// Of the queries that rank the item among their first <c>depth</c> results with its new vector, the share that still do
/// with the served vector; 1 when no query ranks it that high (nothing to lose).
/// </param>
/// <param name="ScoreCorrelation">
/// Pearson correlation, over the other items taken as queries, between the scores of the served vector and those of the
/// new vector: 1 when the served vector scores as the new one up to a shift and scale; 1 when either is constant.
/// </param>
public readonly record struct ItemFindability(double Retention, double ScoreCorrelation);

/// <summary>
/// Retrieval-grounded compatibility of a gallery served in part by stand-ins (h(φ_old) before an item is re-embedded):
/// would each item be found differently? The queries are stood in for by the gallery's own new vectors, so this needs
/// φ_new for every item and serves evaluation, not the running system. Agreement cos(h(φ_old), φ_new) weighs every
/// direction of the difference alike; these two measures weigh it by what the gallery's queries score along.
/// Cost: count² dot products and count² floats of memory, for galleries of a few thousand items.
/// </summary>
public static class Findability
{
    /// <summary>The result depth a query is taken to look at, by default.</summary>
    public const int DefaultDepth = 10;

    /// <summary>The largest gallery measured at once: its two count x count score tables stay within one array each.</summary>
    public const int MaxCount = 40_000;

    /// <summary>
    /// Each item's <see cref="ItemFindability"/> when it alone is served by its stand-in and every other item by its new
    /// vector; the queries are the other items' new vectors.
    /// </summary>
    /// <param name="served">The stand-in vectors, count x dimension, row-major, normalised.</param>
    /// <param name="truth">The new vectors of the same items, same layout, normalised.</param>
    /// <param name="count">Items.</param>
    /// <param name="dimension">Dimension of the new space.</param>
    /// <param name="depth">Results a query looks at.</param>
    public static ItemFindability[] Compute(ReadOnlySpan<float> served, ReadOnlySpan<float> truth, int count, int dimension, int depth = DefaultDepth)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 0);
        ArgumentOutOfRangeException.ThrowIfLessThan(dimension, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(depth, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(count, MaxCount);
        if (served.Length != (long)count * dimension || truth.Length != (long)count * dimension)
        {
            throw new ArgumentException("served and truth must hold count rows of the dimension");
        }

        // new[q, j] = <φ_new(q), φ_new(j)>; stand[q, i] = <φ_new(q), served(i)>.
        var newScores = new float[count * count];
        var standScores = new float[count * count];
        for (var q = 0; q < count; q++)
        {
            var query = truth.Slice(q * dimension, dimension);
            for (var j = 0; j < count; j++)
            {
                newScores[q * count + j] = VectorMath.Dot(query, truth.Slice(j * dimension, dimension));
                standScores[q * count + j] = VectorMath.Dot(query, served.Slice(j * dimension, dimension));
            }
        }

        // Each query's first results among the other items, by new vectors: the queries that find an item.
        var found = new int[count];
        var kept = new int[count];
        var order = new int[Math.Max(count - 1, 0)];
        var keys = new float[order.Length];
        for (var q = 0; q < count; q++)
        {
            var n = 0;
            for (var j = 0; j < count; j++)
            {
                if (j == q) continue;
                order[n] = j;
                keys[n] = -newScores[q * count + j];
                n++;
            }

            keys.AsSpan(0, n).Sort(order.AsSpan(0, n));
            var first = Math.Min(depth, n);
            for (var k = 0; k < first; k++)
            {
                var i = order[k];
                found[i]++;
                // Served by its stand-in, the item keeps its place if fewer than depth other items score above it.
                var stand = standScores[q * count + i];
                var above = 0;
                for (var r = 0; r < n && above < depth && -keys[r] > stand; r++)
                {
                    if (order[r] != i) above++;
                }

                if (above < depth) kept[i]++;
            }
        }

        var result = new ItemFindability[count];
        for (var i = 0; i < count; i++)
        {
            result[i] = new ItemFindability(found[i] == 0 ? 1 : (double)kept[i] / found[i], Correlation(newScores, standScores, count, i));
        }

        return result;
    }

    /// <summary>Pearson correlation over queries q ≠ i of new[q, i] and stand[q, i].</summary>
    private static double Correlation(float[] newScores, float[] standScores, int count, int i)
    {
        double sx = 0, sy = 0, sxx = 0, syy = 0, sxy = 0;
        var m = 0;
        for (var q = 0; q < count; q++)
        {
            if (q == i) continue;
            double x = newScores[q * count + i], y = standScores[q * count + i];
            sx += x;
            sy += y;
            sxx += x * x;
            syy += y * y;
            sxy += x * y;
            m++;
        }

        if (m < 2) return 1;
        var vx = sxx - sx * sx / m;
        var vy = syy - sy * sy / m;
        const double Flat = 1e-12;
        if (vx <= Flat || vy <= Flat) return 1;
        return Math.Clamp((sxy - sx * sy / m) / Math.Sqrt(vx * vy), -1, 1);
    }
}
