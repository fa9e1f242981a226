namespace Indexer.Search.Metrics;

/// <summary>The orderings of a gallery's backfill that METRICS.md compares.</summary>
public enum BackfillOrder
{
    /// <summary>A seeded random permutation: the baseline.</summary>
    Random,

    /// <summary>Least compatible first by the compatibility predicted from the stored old vector alone (no new-model pass).</summary>
    Predicted,

    /// <summary>Least compatible first by the true agreement cos(h(old), new): needs the new model on every item, an upper bound.</summary>
    Oracle,
}

/// <summary>
/// The order in which a backfill re-embeds a gallery's items. The rule is "least compatible first": the items whose
/// served vector h(φ_old) agrees least with what the new model would give are replaced first. The same rule serves the
/// offline curves (scores = predicted or true agreement) and the system's own backfill (scores = predicted agreement).
/// </summary>
public static class BackfillOrdering
{
    /// <summary>
    /// Item indices by ascending compatibility score, lowest (least compatible) first; equal scores keep index order,
    /// so the result is deterministic. NaN scores are treated as least compatible: an item nothing is known about goes first.
    /// </summary>
    public static int[] LeastCompatibleFirst(IReadOnlyList<double> compatibility)
    {
        ArgumentNullException.ThrowIfNull(compatibility);
        var keys = new double[compatibility.Count];
        var order = new int[compatibility.Count];
        for (var i = 0; i < keys.Length; i++)
        {
            keys[i] = double.IsNaN(compatibility[i]) ? double.NegativeInfinity : compatibility[i];
            order[i] = i;
        }

        // Array.Sort is unstable; sorting (key, index) pairs makes ties come out in index order.
        Array.Sort(order, (a, b) =>
        {
            var byKey = keys[a].CompareTo(keys[b]);
            return byKey != 0 ? byKey : a.CompareTo(b);
        });
        return order;
    }

    /// <summary>A uniformly random permutation of 0..count−1; the same seed gives the same permutation.</summary>
    public static int[] Random(int count, int seed)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        var order = Enumerable.Range(0, count).ToArray();
        new Random(seed).Shuffle(order);
        return order;
    }

    /// <summary>The number of items a backfill at fraction β has re-embedded: ⌊β·count⌋ (METRICS.md).</summary>
    public static int Prefix(double beta, int count)
    {
        if (beta is < 0 or > 1 || double.IsNaN(beta)) throw new ArgumentOutOfRangeException(nameof(beta), beta, "β must lie in [0, 1]");
        // i/20 · count can land a rounding error below an integer (0.15 · 20 = 2.9999…); nudge before flooring.
        return Math.Min(count, (int)Math.Floor(beta * count + 1e-9));
    }

    /// <summary>Marks the first <paramref name="count"/> items of <paramref name="order"/>: the items that hold the new model's vector.</summary>
    public static bool[] Mask(IReadOnlyList<int> order, int count)
    {
        ArgumentNullException.ThrowIfNull(order);
        if (count < 0 || count > order.Count) throw new ArgumentOutOfRangeException(nameof(count), count, $"0..{order.Count} items can be marked");
        var mask = new bool[order.Count];
        for (var k = 0; k < count; k++) mask[order[k]] = true;
        return mask;
    }
}
