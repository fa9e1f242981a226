namespace Indexer.Search.Metrics;

/// <summary>
/// Scores one query's ranking of a gallery without allocating: the same values as
/// <see cref="RetrievalMetrics.AveragePrecision"/> (scikit-learn's definition, tied scores as one threshold) and the same
/// first-hit rank as <see cref="RetrievalMetrics.Evaluate"/> (ties: the earlier item first), for the hot loop of the
/// backfilling curves, which scores tens of thousands of rankings.
/// </summary>
internal static class QueryRanking
{
    /// <summary>AP of the ranking by descending score. <paramref name="keys"/> and <paramref name="order"/> are scratch space of the row's length.</summary>
    public static double AveragePrecision(ReadOnlySpan<float> scores, ReadOnlySpan<bool> relevant, int positives, Span<float> keys, Span<int> order)
    {
        var n = scores.Length;
        SortDescending(scores, keys[..n], order[..n]);
        var accumulator = new AveragePrecisionAccumulator(positives);
        for (var k = 0; k < n && !accumulator.Done; k++) accumulator.Add(scores[order[k]], relevant[order[k]]);
        return accumulator.Result();
    }

    /// <summary>Writes the indices of <paramref name="scores"/> by descending score into <paramref name="order"/>; <paramref name="keys"/> is scratch.</summary>
    public static void SortDescending(ReadOnlySpan<float> scores, Span<float> keys, Span<int> order)
    {
        for (var i = 0; i < scores.Length; i++)
        {
            keys[i] = -scores[i];
            order[i] = i;
        }

        keys.Sort(order);
    }

    /// <summary>1-based rank of the first relevant item by descending score, an equal score ranking the earlier item first; 0 when none is relevant.</summary>
    public static int FirstRelevantRank(ReadOnlySpan<float> scores, ReadOnlySpan<bool> relevant)
    {
        var best = float.NegativeInfinity;
        var bestIndex = -1;
        for (var i = 0; i < scores.Length; i++)
        {
            if (relevant[i] && (bestIndex < 0 || scores[i] > best)) (best, bestIndex) = (scores[i], i);
        }

        if (bestIndex < 0) return 0;
        var rank = 1;
        for (var i = 0; i < scores.Length; i++)
        {
            if (scores[i] > best || (scores[i] == best && i < bestIndex)) rank++;
        }

        return rank;
    }
}

/// <summary>
/// Average precision over a ranking fed item by item in descending score order: Σ over the distinct scores of
/// (Rₙ − Rₙ₋₁)·Pₙ, recall and precision taken at the end of each run of equal scores, as scikit-learn does. The order of
/// items within a run of equal scores does not change the result, so two sorted lists can be merged into it.
/// </summary>
internal struct AveragePrecisionAccumulator(int positives)
{
    private double _sum;
    private float _runScore;
    private int _seen;
    private int _truePositives;
    private int _closedTruePositives;

    /// <summary>True once every positive has been counted in a closed run: further items cannot change the result.</summary>
    public readonly bool Done => _closedTruePositives == positives;

    /// <summary>Adds the next item; its score must not exceed the previous one's.</summary>
    public void Add(float score, bool relevant)
    {
        if (_seen > 0 && score != _runScore) CloseRun();
        _runScore = score;
        _seen++;
        if (relevant) _truePositives++;
    }

    /// <summary>The AP of the items added (NaN without positives).</summary>
    public double Result()
    {
        if (positives == 0) return double.NaN;
        CloseRun();
        return _sum;
    }

    private void CloseRun()
    {
        if (_truePositives == _closedTruePositives) return;
        _sum += (double)(_truePositives - _closedTruePositives) / positives * _truePositives / _seen;
        _closedTruePositives = _truePositives;
    }
}
