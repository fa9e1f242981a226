namespace Indexer.Search.Maps;

/// <summary>Distribution of the agreement (cosine) between mapped old vectors and the true new vectors of the same items.</summary>
public sealed record AgreementSummary(int Count, double Mean, double Min, double P05, double P25, double Median, double P75, double P95)
{
    public static AgreementSummary Of(IReadOnlyList<double> agreements)
    {
        if (agreements.Count == 0) return new AgreementSummary(0, double.NaN, double.NaN, double.NaN, double.NaN, double.NaN, double.NaN, double.NaN);
        var sorted = agreements.Order().ToArray();
        double Quantile(double q) => sorted[(int)Math.Clamp(Math.Floor(q * (sorted.Length - 1)), 0, sorted.Length - 1)];
        return new AgreementSummary(sorted.Length, sorted.Average(), sorted[0], Quantile(0.05), Quantile(0.25), Quantile(0.5), Quantile(0.75), Quantile(0.95));
    }
}

/// <summary>One fitted candidate and how well it did on the held-out items.</summary>
public sealed record MapCandidate(LinearMap Map, AgreementSummary HeldOut);

/// <summary>The chosen map (best mean held-out agreement) and every candidate that was tried.</summary>
public sealed record MapFit(LinearMap Best, AgreementSummary HeldOut, IReadOnlyList<MapCandidate> Candidates);

/// <summary>
/// Fits a map h from an old model's space to a new one's on a calibration sample: the same items embedded by both
/// models. Candidates are the identity and an orthogonal (Procrustes) map, where the dimensions agree, and ridge
/// regression for a few penalties; the one with the best mean agreement on held-out items wins.
/// </summary>
public static class MapFitter
{
    /// <summary>Ridge penalties tried, relative to the mean eigenvalue of XᵀX: from almost least squares to strongly shrunk.</summary>
    public static readonly IReadOnlyList<double> DefaultRidgePenalties = [1e-4, 1e-3, 1e-2, 1e-1];

    /// <param name="oldVectors">count x oldDimension, row-major, L2-normalised.</param>
    /// <param name="newVectors">count x newDimension, row-major, L2-normalised; row i is the same item as in <paramref name="oldVectors"/>.</param>
    /// <param name="count">Items in the calibration sample.</param>
    /// <param name="oldDimension">Dimension of the old model's vectors.</param>
    /// <param name="newDimension">Dimension of the new model's vectors.</param>
    /// <param name="heldOutFraction">Share of the items kept out of fitting to choose among candidates and report agreement.</param>
    /// <param name="ridgePenalties">Ridge penalties to try; <see cref="DefaultRidgePenalties"/> when null.</param>
    /// <param name="seed">Seed of the split into fitted and held-out items.</param>
    public static MapFit Fit(
        ReadOnlySpan<float> oldVectors, ReadOnlySpan<float> newVectors, int count, int oldDimension, int newDimension,
        double heldOutFraction = 0.2, IReadOnlyList<double>? ridgePenalties = null, int seed = 0)
    {
        if (oldVectors.Length != (long)count * oldDimension || newVectors.Length != (long)count * newDimension)
        {
            throw new ArgumentException("the vector arrays do not hold count rows of their dimension");
        }

        if (heldOutFraction is <= 0 or >= 1) throw new ArgumentOutOfRangeException(nameof(heldOutFraction), "must be between 0 and 1");
        var heldOutCount = (int)Math.Round(count * heldOutFraction);
        if (heldOutCount < 1 || count - heldOutCount < 2) throw new ArgumentException($"{count} items are too few to fit and hold out", nameof(count));

        var order = Enumerable.Range(0, count).ToArray();
        new Random(seed).Shuffle(order);
        var heldOut = order[..heldOutCount];
        var train = order[heldOutCount..];
        var trainOld = Gather(oldVectors, train, oldDimension);
        var trainNew = Gather(newVectors, train, newDimension);

        var candidates = new List<LinearMap>();
        if (oldDimension == newDimension)
        {
            candidates.Add(LinearMap.Identity(oldDimension));
            candidates.Add(FitOrthogonal(trainOld, trainNew, train.Length, oldDimension));
        }

        var gram = DenseMath.TransposeTimes(trainOld, trainOld, train.Length, oldDimension, oldDimension);
        var cross = DenseMath.TransposeTimes(trainOld, trainNew, train.Length, oldDimension, newDimension);
        foreach (var penalty in ridgePenalties ?? DefaultRidgePenalties)
        {
            candidates.Add(FitRidge(gram, cross, oldDimension, newDimension, penalty));
        }

        var scored = new List<MapCandidate>(candidates.Count);
        var oldArray = oldVectors.ToArray();
        var newArray = newVectors.ToArray();
        foreach (var map in candidates)
        {
            scored.Add(new MapCandidate(map, AgreementSummary.Of(Agreements(map, oldArray, newArray, heldOut))));
        }

        var best = scored.MaxBy(c => c.HeldOut.Mean)!;
        return new MapFit(best.Map, best.HeldOut, scored);
    }

    /// <summary>Cosine between h(old) and new for each listed item.</summary>
    public static double[] Agreements(LinearMap map, ReadOnlySpan<float> oldVectors, ReadOnlySpan<float> newVectors, IReadOnlyList<int> items)
    {
        var mapped = new float[map.OutputDimension];
        var result = new double[items.Count];
        for (var k = 0; k < items.Count; k++)
        {
            var i = items[k];
            map.Apply(oldVectors.Slice(i * map.InputDimension, map.InputDimension), mapped);
            var target = newVectors.Slice(i * map.OutputDimension, map.OutputDimension);
            result[k] = VectorMath.Dot(mapped, target) / Math.Max(1e-12, Math.Sqrt(VectorMath.Dot(target, target)));
        }

        return result;
    }

    private static LinearMap FitOrthogonal(float[] oldRows, float[] newRows, int n, int dimension)
    {
        var m = DenseMath.TransposeTimes(oldRows, newRows, n, dimension, dimension);
        var w = DenseMath.NearestOrthogonal(m, dimension);
        return LinearMap.FromWeights(MapKind.Orthogonal, dimension, dimension, Array.ConvertAll(w, x => (float)x));
    }

    private static LinearMap FitRidge(double[] gram, double[] cross, int oldDimension, int newDimension, double penalty)
    {
        var trace = 0.0;
        for (var i = 0; i < oldDimension; i++) trace += gram[i * oldDimension + i];
        var lambda = penalty * Math.Max(trace / oldDimension, 1e-12);
        var regularised = (double[])gram.Clone();
        for (var i = 0; i < oldDimension; i++) regularised[i * oldDimension + i] += lambda;
        var w = DenseMath.SolveSymmetricPositiveDefinite(regularised, cross, oldDimension, newDimension);
        return LinearMap.FromWeights(MapKind.Ridge, oldDimension, newDimension, Array.ConvertAll(w, x => (float)x), penalty);
    }

    private static float[] Gather(ReadOnlySpan<float> rows, int[] indices, int dimension)
    {
        var result = new float[indices.Length * dimension];
        for (var k = 0; k < indices.Length; k++) rows.Slice(indices[k] * dimension, dimension).CopyTo(result.AsSpan(k * dimension, dimension));
        return result;
    }
}
