namespace Indexer.Search.Metrics;

/// <summary>
/// Regressions of a classifier update, as METRICS.md defines them, over <see cref="Count"/> samples:
/// NFR = (1/N) Σ 1[ŷ_new ≠ y ∧ ŷ_old = y], PFR = (1/N) Σ 1[ŷ_new = y ∧ ŷ_old ≠ y],
/// relative NFR = NFR / ((1 − ER_old) · ER_new).
/// </summary>
public sealed record FlipRates(int Count, double NegativeFlipRate, double PositiveFlipRate, double OldErrorRate, double NewErrorRate)
{
    /// <summary>NFR / ((1 − ER_old) · ER_new): negative flips relative to what independent errors would give; NaN when that is 0.</summary>
    public double RelativeNegativeFlipRate
    {
        get
        {
            var expected = (1 - OldErrorRate) * NewErrorRate;
            return expected == 0 ? double.NaN : NegativeFlipRate / expected;
        }
    }
}

/// <summary>Negative (and positive) flips between an old and a new model: samples the old one got right and the new one gets wrong.</summary>
public static class NegativeFlips
{
    /// <summary>Flip rates of a classifier update from each sample's true label and the two models' predictions.</summary>
    public static FlipRates Classification(IReadOnlyList<int> labels, IReadOnlyList<int> oldPredictions, IReadOnlyList<int> newPredictions)
    {
        ArgumentNullException.ThrowIfNull(labels);
        ArgumentNullException.ThrowIfNull(oldPredictions);
        ArgumentNullException.ThrowIfNull(newPredictions);
        if (oldPredictions.Count != labels.Count || newPredictions.Count != labels.Count)
        {
            throw new ArgumentException("one old and one new prediction per label are needed");
        }

        var n = labels.Count;
        if (n == 0) return new FlipRates(0, double.NaN, double.NaN, double.NaN, double.NaN);
        int negative = 0, positive = 0, oldErrors = 0, newErrors = 0;
        for (var i = 0; i < n; i++)
        {
            var oldRight = oldPredictions[i] == labels[i];
            var newRight = newPredictions[i] == labels[i];
            if (!oldRight) oldErrors++;
            if (!newRight) newErrors++;
            if (oldRight && !newRight) negative++;
            if (!oldRight && newRight) positive++;
        }

        return new FlipRates(n, (double)negative / n, (double)positive / n, (double)oldErrors / n, (double)newErrors / n);
    }

    /// <summary>
    /// Retrieval NFR@k = (1/|Q|) Σ_q 1[CMC@k_q(before) = 1 ∧ CMC@k_q(after) = 0], from each query's top-k hit indicator
    /// before (old queries against the old gallery) and after the change. NaN for no queries.
    /// </summary>
    public static double Retrieval(IReadOnlyList<bool> hitBefore, IReadOnlyList<bool> hitAfter)
    {
        ArgumentNullException.ThrowIfNull(hitBefore);
        ArgumentNullException.ThrowIfNull(hitAfter);
        if (hitBefore.Count != hitAfter.Count) throw new ArgumentException("one indicator per query is needed on both sides");
        if (hitBefore.Count == 0) return double.NaN;
        var flips = 0;
        for (var q = 0; q < hitBefore.Count; q++)
        {
            if (hitBefore[q] && !hitAfter[q]) flips++;
        }

        return (double)flips / hitBefore.Count;
    }
}
