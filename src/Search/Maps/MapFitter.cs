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
public sealed record MapCandidate(EmbeddingMap Map, AgreementSummary HeldOut);

/// <summary>The chosen map (best mean held-out agreement) and every candidate that was tried.</summary>
/// <param name="Best">The chosen kind of map, refitted on every calibration item.</param>
/// <param name="HeldOut">Its agreement on the held-out items, as fitted without them (the figure it was chosen by).</param>
/// <param name="Candidates">Every candidate and its held-out agreement.</param>
/// <param name="OutOfFoldAgreements">
/// Each calibration item's agreement under a map fitted the same way on the other items only (k-fold). This is the
/// agreement an item the map never saw gets, which is what a compatibility predictor must learn: on the items a map
/// was fitted on, its agreement is higher than anywhere else, and for a <see cref="MapKind.Local"/> map, whose anchors
/// are those items, close to 1.
/// </param>
public sealed record MapFit(EmbeddingMap Best, AgreementSummary HeldOut, IReadOnlyList<MapCandidate> Candidates, IReadOnlyList<double> OutOfFoldAgreements)
{
    /// <summary>
    /// Each calibration item's h(old) under the map of its fold (the vectors behind <see cref="OutOfFoldAgreements"/>),
    /// count x new dimension, row-major: how the item would be served had it not been in the sample.
    /// </summary>
    public ReadOnlyMemory<float> OutOfFoldMapped { get; init; }

    /// <summary>
    /// Each calibration item's length of h(old) before normalising, under the map of its fold
    /// (<see cref="EmbeddingMap.ApplyAndMeasure"/>): what a predictor reading the map's length learns from.
    /// </summary>
    public IReadOnlyList<double> OutOfFoldLengths { get; init; } = [];
}

/// <summary>
/// Fits a map h from an old model's space to a new one's on a calibration sample: the same items embedded by both
/// models. Candidates are the identity and an orthogonal (Procrustes) map, where the dimensions agree, ridge
/// regression for a few penalties, the best of those with a nearest-neighbour <see cref="LocalCorrection"/> learnt
/// from the fitted items, and kernel ridge regression for a few kernel widths; the one with the best mean agreement on
/// held-out items wins, a non-linear one only by a margin.
/// </summary>
public static class MapFitter
{
    /// <summary>
    /// How much better on held-out items (mean agreement) a non-linear candidate (local or kernel) must be than the best
    /// linear one to be chosen: it costs more to apply and to store, and a compatible model's identity should stay the
    /// identity.
    /// </summary>
    public const double LocalMargin = 0.005;

    /// <summary>
    /// Kernel widths s tried, in exp(s · (cos − 1)): broad bumps, an anchor at cosine 0.5 still weighing e⁻¹ to e⁻²
    /// of an identical one. On the Fashion-MNIST zoo (800 calibration items) s = 1.5–2 fitted best and 4 already
    /// worse; narrower kernels copy single anchors, which the nearest-neighbour correction already does.
    /// </summary>
    public static readonly IReadOnlyList<double> KernelSharpnesses = [1, 2, 4];

    /// <summary>
    /// The kernel ridge penalty μ, relative to the kernel matrix's mean eigenvalue: on the zoo 0.1 fitted best at
    /// every width, 0.03 and 0.3 within 0.003 of it.
    /// </summary>
    public const double KernelPenalty = 0.1;

    /// <summary>Folds of <see cref="MapFit.OutOfFoldAgreements"/>.</summary>
    public const int Folds = 5;

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
    /// <param name="kernelSharpnesses">Kernel widths to try; <see cref="KernelSharpnesses"/> when null, none when empty.</param>
    public static MapFit Fit(
        ReadOnlySpan<float> oldVectors, ReadOnlySpan<float> newVectors, int count, int oldDimension, int newDimension,
        double heldOutFraction = 0.2, IReadOnlyList<double>? ridgePenalties = null, int seed = 0, IReadOnlyList<double>? kernelSharpnesses = null)
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

        var oldArray = oldVectors.ToArray();
        var newArray = newVectors.ToArray();
        var penalties = ridgePenalties ?? DefaultRidgePenalties;
        var scored = Candidates(trainOld, trainNew, train.Length, oldDimension, newDimension, penalties)
            .Select(map => new MapCandidate(map, AgreementSummary.Of(Agreements(map, oldArray, newArray, heldOut))))
            .ToList();
        var linear = scored.MaxBy(c => c.HeldOut.Mean)!;
        var nonlinear = new List<EmbeddingMap> { linear.Map.WithCorrection(Correction(linear.Map, trainOld, trainNew, train.Length)) };
        foreach (var sharpness in kernelSharpnesses ?? KernelSharpnesses) nonlinear.Add(Kernel(trainOld, trainNew, train.Length, oldDimension, newDimension, sharpness, KernelPenalty));
        var firstNonlinear = scored.Count;
        scored.AddRange(nonlinear.Select(map => new MapCandidate(map, AgreementSummary.Of(Agreements(map, oldArray, newArray, heldOut)))));

        // Chosen on the held-out items, then refitted on every item: a local or kernel map gains most from more anchors.
        var bestNonlinear = scored[firstNonlinear..].MaxBy(c => c.HeldOut.Mean)!;
        var best = bestNonlinear.HeldOut.Mean >= linear.HeldOut.Mean + LocalMargin ? bestNonlinear : linear;
        var final = FitLike(best.Map, linear.Map, oldArray, newArray, count);
        var (outOfFold, lengths) = OutOfFold(best.Map, linear.Map, oldArray, newArray, count, oldDimension, newDimension, seed);
        var agreements = new double[count];
        for (var i = 0; i < count; i++)
        {
            var target = newArray.AsSpan(i * newDimension, newDimension);
            agreements[i] = VectorMath.Dot(outOfFold.AsSpan(i * newDimension, newDimension), target) / Math.Max(1e-12, Math.Sqrt(VectorMath.Dot(target, target)));
        }

        return new MapFit(final, best.HeldOut, scored, agreements) { OutOfFoldMapped = outOfFold, OutOfFoldLengths = lengths };
    }

    /// <summary>The linear candidates fitted on the given rows: identity and orthogonal (equal dimensions), then ridge per penalty.</summary>
    private static List<EmbeddingMap> Candidates(float[] trainOld, float[] trainNew, int n, int oldDimension, int newDimension, IReadOnlyList<double> penalties)
    {
        var candidates = new List<EmbeddingMap>();
        if (oldDimension == newDimension)
        {
            candidates.Add(EmbeddingMap.Identity(oldDimension));
            candidates.Add(FitOrthogonal(trainOld, trainNew, n, oldDimension));
        }

        var gram = DenseMath.TransposeTimes(trainOld, trainOld, n, oldDimension, oldDimension);
        var cross = DenseMath.TransposeTimes(trainOld, trainNew, n, oldDimension, newDimension);
        foreach (var penalty in penalties) candidates.Add(FitRidge(gram, cross, oldDimension, newDimension, penalty));
        return candidates;
    }

    /// <summary>Kernel ridge regression of the new vectors on the old ones, the fitted items as anchors.</summary>
    private static EmbeddingMap Kernel(float[] trainOld, float[] trainNew, int n, int oldDimension, int newDimension, double sharpness, double penalty) =>
        EmbeddingMap.Kernel(LocalCorrection.FitKernelRidge((float[])trainOld.Clone(), trainNew, n, oldDimension, newDimension, sharpness, penalty));

    /// <summary>The residuals new − h(old) of the fitted items, as anchors of a correction on top of <paramref name="linear"/>.</summary>
    private static LocalCorrection Correction(EmbeddingMap linear, float[] trainOld, float[] trainNew, int n)
    {
        int dIn = linear.InputDimension, dOut = linear.OutputDimension;
        var residuals = new float[n * dOut];
        var mapped = new float[dOut];
        for (var i = 0; i < n; i++)
        {
            linear.Apply(trainOld.AsSpan(i * dIn, dIn), mapped);
            var target = trainNew.AsSpan(i * dOut, dOut);
            var residual = residuals.AsSpan(i * dOut, dOut);
            for (var j = 0; j < dOut; j++) residual[j] = target[j] - mapped[j];
        }

        return new LocalCorrection((float[])trainOld.Clone(), residuals, n, dIn, dOut);
    }

    /// <summary>
    /// A map fitted the way <paramref name="chosen"/> was, on other rows: the same linear candidate (kind and penalty)
    /// and, for a local map, a correction whose anchors are these rows; for a kernel map, the same width and penalty
    /// with these rows as anchors.
    /// </summary>
    private static EmbeddingMap FitLike(EmbeddingMap chosen, EmbeddingMap linear, float[] oldRows, float[] newRows, int n)
    {
        int oldDimension = linear.InputDimension, newDimension = linear.OutputDimension;
        if (chosen.Kind == MapKind.Kernel) return Kernel(oldRows, newRows, n, oldDimension, newDimension, chosen.Correction!.Sharpness, chosen.Correction.Penalty);
        var refitted = linear.Kind switch
        {
            MapKind.Identity => EmbeddingMap.Identity(oldDimension),
            MapKind.Orthogonal => FitOrthogonal(oldRows, newRows, n, oldDimension),
            _ => FitRidge(
                DenseMath.TransposeTimes(oldRows, oldRows, n, oldDimension, oldDimension),
                DenseMath.TransposeTimes(oldRows, newRows, n, oldDimension, newDimension),
                oldDimension, newDimension, linear.Regularisation),
        };
        return chosen.Kind == MapKind.Local ? refitted.WithCorrection(Correction(refitted, oldRows, newRows, n)) : refitted;
    }

    /// <summary>
    /// Each item's h(old) under a map of the chosen kind refitted on the other folds: the same candidate for a linear
    /// map; for a local one, the same linear base refitted plus a correction whose anchors are the other folds' items;
    /// for a kernel one, the same width and penalty on the other folds' items.
    /// The identity needs no refit.
    /// </summary>
    private static (float[] Mapped, double[] Lengths) OutOfFold(
        EmbeddingMap chosen, EmbeddingMap linear, float[] oldRows, float[] newRows, int count, int oldDimension, int newDimension, int seed)
    {
        var mapped = new float[count * newDimension];
        var lengths = new double[count];
        if (chosen.Kind == MapKind.Identity)
        {
            for (var i = 0; i < count; i++) lengths[i] = chosen.ApplyAndMeasure(oldRows.AsSpan(i * oldDimension, oldDimension), mapped.AsSpan(i * newDimension, newDimension));
            return (mapped, lengths);
        }

        var order = Enumerable.Range(0, count).ToArray();
        new Random(unchecked(seed + 1)).Shuffle(order);
        for (var fold = 0; fold < Folds; fold++)
        {
            var test = order.Where((_, k) => k % Folds == fold).ToArray();
            var train = order.Where((_, k) => k % Folds != fold).ToArray();
            if (test.Length == 0 || train.Length < 2) continue;
            var refitted = FitLike(chosen, linear, Gather(oldRows, train, oldDimension), Gather(newRows, train, newDimension), train.Length);
            foreach (var i in test) lengths[i] = refitted.ApplyAndMeasure(oldRows.AsSpan(i * oldDimension, oldDimension), mapped.AsSpan(i * newDimension, newDimension));
        }

        return (mapped, lengths);
    }

    /// <summary>Cosine between h(old) and new for each listed item.</summary>
    public static double[] Agreements(EmbeddingMap map, ReadOnlySpan<float> oldVectors, ReadOnlySpan<float> newVectors, IReadOnlyList<int> items)
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

    private static EmbeddingMap FitOrthogonal(float[] oldRows, float[] newRows, int n, int dimension)
    {
        var m = DenseMath.TransposeTimes(oldRows, newRows, n, dimension, dimension);
        var w = DenseMath.NearestOrthogonal(m, dimension);
        return EmbeddingMap.FromWeights(MapKind.Orthogonal, dimension, dimension, Array.ConvertAll(w, x => (float)x));
    }

    private static EmbeddingMap FitRidge(double[] gram, double[] cross, int oldDimension, int newDimension, double penalty)
    {
        var trace = 0.0;
        for (var i = 0; i < oldDimension; i++) trace += gram[i * oldDimension + i];
        var lambda = penalty * Math.Max(trace / oldDimension, 1e-12);
        var regularised = (double[])gram.Clone();
        for (var i = 0; i < oldDimension; i++) regularised[i * oldDimension + i] += lambda;
        var w = DenseMath.SolveSymmetricPositiveDefinite(regularised, cross, oldDimension, newDimension);
        return EmbeddingMap.FromWeights(MapKind.Ridge, oldDimension, newDimension, Array.ConvertAll(w, x => (float)x), penalty);
    }

    private static float[] Gather(ReadOnlySpan<float> rows, int[] indices, int dimension)
    {
        var result = new float[indices.Length * dimension];
        for (var k = 0; k < indices.Length; k++) rows.Slice(indices[k] * dimension, dimension).CopyTo(result.AsSpan(k * dimension, dimension));
        return result;
    }
}
