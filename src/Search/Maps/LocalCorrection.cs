using System.Numerics.Tensors;

namespace Indexer.Search.Maps;

/// <summary>How a <see cref="LocalCorrection"/> weighs its anchors.</summary>
public enum CorrectionWeighting
{
    /// <summary>
    /// The weighted mean of the values of the <see cref="LocalCorrection.Neighbours"/> anchors most similar to x, each
    /// weighted exp(s · (cos(x, a_j) − 1)) and the weights scaled to sum to one; the values are residuals
    /// new_j − h_lin(old_j) of a linear map.
    /// </summary>
    NearestNeighbours,

    /// <summary>
    /// Kernel ridge regression: Σ_j exp(s · (cos(x, a_j) − 1)) · α_j over every anchor, weights not scaled; the values
    /// α solve (K + μI) α = Y on the anchors, K_ij = exp(s · (cos(a_i, a_j) − 1)). Fitted by <see cref="LocalCorrection.FitKernelRidge"/>.
    /// </summary>
    KernelRidge,
}

/// <summary>
/// A smooth function of the old vector learnt from calibration items (anchors), added to a map's linear part or, for
/// a <see cref="MapKind.Kernel"/> map, the whole map. Two weightings (<see cref="CorrectionWeighting"/>):
/// <list type="bullet">
/// <item>nearest neighbours: what a linear map gets wrong near each calibration item, added back where a vector lies
/// near those items. A linear map bends the whole old space one way; an old model that saw only some classes squeezes
/// the others differently from place to place, and the anchors' residuals carry that local bend. Far from every anchor
/// the weights are all small but still sum to one, so the correction is that of the nearest region, never an
/// extrapolation.</item>
/// <item>kernel ridge: a least-squares fit, with a penalty, of the new vectors by a sum of broad bumps centred on the
/// anchors. Every anchor contributes, so the fit is smooth across regions instead of copying the nearest few; on the
/// Fashion-MNIST zoo it agrees better with the new model on items it never saw than the linear map with
/// neighbour corrections (docs/results).</item>
/// </list>
/// </summary>
public sealed class LocalCorrection
{
    /// <summary>Anchors averaged per vector: enough to smooth one odd item, few enough to stay local.</summary>
    public const int DefaultNeighbours = 10;

    /// <summary>How fast an anchor's weight falls with its distance: at cosine 0.9 it weighs e⁻² of an identical one.</summary>
    public const double DefaultSharpness = 20;

    private readonly float[] _anchors;
    private readonly float[] _values;

    /// <param name="anchors">The anchors' old vectors, <paramref name="count"/> x <paramref name="inputDimension"/>, row-major, unit length.</param>
    /// <param name="values">Each anchor's value (a residual, or a kernel ridge coefficient), <paramref name="count"/> x <paramref name="outputDimension"/>, row-major.</param>
    /// <param name="count">Anchors.</param>
    /// <param name="inputDimension">Old space dimension.</param>
    /// <param name="outputDimension">New space dimension.</param>
    /// <param name="neighbours">Anchors averaged per vector (nearest-neighbour weighting; kernel ridge uses every anchor).</param>
    /// <param name="sharpness">Weight fall-off with distance.</param>
    /// <param name="weighting">How the anchors are weighed.</param>
    /// <param name="penalty">The kernel ridge penalty μ the values were solved with (reported, not used to apply); 0 for nearest neighbours.</param>
    public LocalCorrection(
        float[] anchors, float[] values, int count, int inputDimension, int outputDimension, int neighbours = DefaultNeighbours, double sharpness = DefaultSharpness,
        CorrectionWeighting weighting = CorrectionWeighting.NearestNeighbours, double penalty = 0)
    {
        ArgumentNullException.ThrowIfNull(anchors);
        ArgumentNullException.ThrowIfNull(values);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(count);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(neighbours);
        if (anchors.Length != (long)count * inputDimension) throw new ArgumentException($"{count} x {inputDimension} anchor values expected; got {anchors.Length}", nameof(anchors));
        if (values.Length != (long)count * outputDimension) throw new ArgumentException($"{count} x {outputDimension} values expected; got {values.Length}", nameof(values));
        if (!double.IsFinite(sharpness) || sharpness < 0) throw new ArgumentOutOfRangeException(nameof(sharpness), sharpness, "must be finite and not negative");
        if (!Enum.IsDefined(weighting)) throw new ArgumentOutOfRangeException(nameof(weighting), weighting, "unknown weighting");
        if (!double.IsFinite(penalty) || penalty < 0) throw new ArgumentOutOfRangeException(nameof(penalty), penalty, "must be finite and not negative");
        _anchors = anchors;
        _values = values;
        Count = count;
        InputDimension = inputDimension;
        OutputDimension = outputDimension;
        Weighting = weighting;
        Neighbours = weighting == CorrectionWeighting.KernelRidge ? count : Math.Min(neighbours, count);
        Sharpness = sharpness;
        Penalty = penalty;
    }

    /// <summary>
    /// Kernel ridge regression of <paramref name="targets"/> on <paramref name="anchors"/>: the values α solve
    /// (K + μI) α = Y with K_ij = exp(s · (⟨a_i, a_j⟩ − 1)). For unit anchors K's diagonal is 1, so μ is relative to
    /// its mean eigenvalue, as a ridge map's λ is to XᵀX's.
    /// </summary>
    /// <param name="anchors">count x inputDimension, row-major, unit rows (kept, not copied).</param>
    /// <param name="targets">count x outputDimension, row-major: what the correction should give at each anchor.</param>
    /// <param name="count">Anchors.</param>
    /// <param name="inputDimension">Old space dimension.</param>
    /// <param name="outputDimension">New space dimension.</param>
    /// <param name="sharpness">s: how fast an anchor's weight falls with distance.</param>
    /// <param name="penalty">μ: how strongly the fit is smoothed (must be positive).</param>
    public static LocalCorrection FitKernelRidge(float[] anchors, ReadOnlySpan<float> targets, int count, int inputDimension, int outputDimension, double sharpness, double penalty)
    {
        ArgumentNullException.ThrowIfNull(anchors);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(count);
        if (anchors.Length != (long)count * inputDimension) throw new ArgumentException($"{count} x {inputDimension} anchor values expected; got {anchors.Length}", nameof(anchors));
        if (targets.Length != (long)count * outputDimension) throw new ArgumentException($"{count} x {outputDimension} targets expected; got {targets.Length}", nameof(targets));
        if (!double.IsFinite(sharpness) || sharpness < 0) throw new ArgumentOutOfRangeException(nameof(sharpness), sharpness, "must be finite and not negative");
        if (!double.IsFinite(penalty) || penalty <= 0) throw new ArgumentOutOfRangeException(nameof(penalty), penalty, "must be finite and positive");

        var kernel = new double[count * count];
        for (var i = 0; i < count; i++)
        {
            var a = anchors.AsSpan(i * inputDimension, inputDimension);
            for (var j = 0; j < i; j++)
            {
                var k = Math.Exp(sharpness * (TensorPrimitives.Dot(a, anchors.AsSpan(j * inputDimension, inputDimension)) - 1));
                kernel[i * count + j] = k;
                kernel[j * count + i] = k;
            }

            kernel[i * count + i] = Math.Exp(sharpness * (TensorPrimitives.Dot(a, a) - 1)) + penalty;
        }

        var right = new double[targets.Length];
        for (var i = 0; i < right.Length; i++) right[i] = targets[i];
        var solved = DenseMath.SolveSymmetricPositiveDefinite(kernel, right, count, outputDimension);
        var values = new float[solved.Length];
        for (var i = 0; i < values.Length; i++) values[i] = (float)solved[i];
        return new LocalCorrection(anchors, values, count, inputDimension, outputDimension, count, sharpness, CorrectionWeighting.KernelRidge, penalty);
    }

    /// <summary>
    /// What a kernel ridge correction was fitted to reproduce at its anchors: Y = (K + μI) α, recovered from the anchors
    /// and values alone (on the Fashion-MNIST zoo within 1e-7 of the new vectors it was fitted on). So a kernel map
    /// carries its own training set, and can be fitted again with more pairs (<see cref="ExtendKernelRidge"/>).
    /// </summary>
    public float[] KernelRidgeTargets()
    {
        if (Weighting != CorrectionWeighting.KernelRidge) throw new InvalidOperationException("only a kernel ridge correction has targets to recover");
        var targets = new float[Count * OutputDimension];
        var row = new float[OutputDimension];
        for (var i = 0; i < Count; i++)
        {
            Array.Clear(row);
            var a = _anchors.AsSpan(i * InputDimension, InputDimension);
            for (var j = 0; j < Count; j++)
            {
                var k = Math.Exp(Sharpness * (TensorPrimitives.Dot(a, _anchors.AsSpan(j * InputDimension, InputDimension)) - 1)) + (i == j ? Penalty : 0);
                TensorPrimitives.MultiplyAdd(_values.AsSpan(j * OutputDimension, OutputDimension), (float)k, row, row);
            }

            row.CopyTo(targets.AsSpan(i * OutputDimension, OutputDimension));
        }

        return targets;
    }

    /// <summary>
    /// This kernel ridge correction fitted again, with the same width and penalty, on its own anchors and targets plus
    /// <paramref name="count"/> more pairs (an old vector and the new model's vector of the same item, such as the items a
    /// backfill has re-embedded). A pair whose old vector is already an anchor, bit for bit, is skipped: the same item
    /// twice would count double. Fitting costs O(n³) in the anchors n.
    /// </summary>
    /// <param name="oldVectors">count x <see cref="InputDimension"/>, row-major, unit rows.</param>
    /// <param name="newVectors">count x <see cref="OutputDimension"/>, row-major.</param>
    /// <param name="count">Pairs.</param>
    /// <param name="added">Pairs that became anchors.</param>
    /// <param name="maxAdded">Most pairs to add, the first ones that are not anchors already.</param>
    public LocalCorrection ExtendKernelRidge(ReadOnlySpan<float> oldVectors, ReadOnlySpan<float> newVectors, int count, out int added, int maxAdded = int.MaxValue)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(maxAdded);
        if (Weighting != CorrectionWeighting.KernelRidge) throw new InvalidOperationException("only a kernel ridge correction can be fitted again with more pairs");
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        if (oldVectors.Length != (long)count * InputDimension) throw new ArgumentException($"{count} x {InputDimension} old values expected; got {oldVectors.Length}", nameof(oldVectors));
        if (newVectors.Length != (long)count * OutputDimension) throw new ArgumentException($"{count} x {OutputDimension} new values expected; got {newVectors.Length}", nameof(newVectors));

        var known = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < Count; i++) known.Add(Key(_anchors.AsSpan(i * InputDimension, InputDimension)));
        var rows = new List<int>();
        for (var i = 0; i < count && rows.Count < maxAdded; i++)
        {
            if (known.Add(Key(oldVectors.Slice(i * InputDimension, InputDimension)))) rows.Add(i);
        }

        added = rows.Count;
        var total = Count + rows.Count;
        var anchors = new float[total * InputDimension];
        var targets = new float[total * OutputDimension];
        _anchors.CopyTo(anchors, 0);
        KernelRidgeTargets().CopyTo(targets, 0);
        for (var r = 0; r < rows.Count; r++)
        {
            oldVectors.Slice(rows[r] * InputDimension, InputDimension).CopyTo(anchors.AsSpan((Count + r) * InputDimension, InputDimension));
            newVectors.Slice(rows[r] * OutputDimension, OutputDimension).CopyTo(targets.AsSpan((Count + r) * OutputDimension, OutputDimension));
        }

        return FitKernelRidge(anchors, targets, total, InputDimension, OutputDimension, Sharpness, Penalty);

        static string Key(ReadOnlySpan<float> vector) => Convert.ToBase64String(System.Runtime.InteropServices.MemoryMarshal.AsBytes(vector));
    }

    public int Count { get; }

    public int InputDimension { get; }

    public int OutputDimension { get; }

    public int Neighbours { get; }

    public double Sharpness { get; }

    public CorrectionWeighting Weighting { get; }

    /// <summary>The kernel ridge penalty μ the values were solved with; 0 for nearest neighbours.</summary>
    public double Penalty { get; }

    /// <summary>The anchors' old vectors, row-major.</summary>
    public ReadOnlySpan<float> Anchors => _anchors;

    /// <summary>The anchors' values (residuals, or kernel ridge coefficients), row-major.</summary>
    public ReadOnlySpan<float> Values => _values;

    /// <summary>Similarities to every anchor, then the weighted values of the nearest (of all, for kernel ridge).</summary>
    public long MultiplyAddsPerItem => (long)Count * InputDimension + (long)Neighbours * OutputDimension;

    /// <summary>Numbers stored: anchors and values.</summary>
    public long ParameterCount => _anchors.LongLength + _values.LongLength;

    /// <summary>Adds the correction of <paramref name="input"/> to <paramref name="output"/>.</summary>
    public void AddTo(ReadOnlySpan<float> input, Span<float> output)
    {
        if (Weighting == CorrectionWeighting.KernelRidge)
        {
            for (var j = 0; j < Count; j++)
            {
                var s = TensorPrimitives.Dot(input, _anchors.AsSpan(j * InputDimension, InputDimension));
                TensorPrimitives.MultiplyAdd(_values.AsSpan(j * OutputDimension, OutputDimension), (float)Math.Exp(Sharpness * (s - 1)), output, output);
            }

            return;
        }

        Span<int> nearest = stackalloc int[Neighbours];
        Span<float> similarity = stackalloc float[Neighbours];
        var found = 0;
        for (var j = 0; j < Count; j++)
        {
            var s = TensorPrimitives.Dot(input, _anchors.AsSpan(j * InputDimension, InputDimension));
            if (found == Neighbours && s <= similarity[found - 1]) continue;
            var at = found == Neighbours ? found - 1 : found++;
            while (at > 0 && similarity[at - 1] < s)
            {
                similarity[at] = similarity[at - 1];
                nearest[at] = nearest[at - 1];
                at--;
            }

            similarity[at] = s;
            nearest[at] = j;
        }

        // Weights relative to the nearest anchor's, so that exp never underflows to all zeros.
        double total = 0;
        Span<float> weights = stackalloc float[found];
        for (var k = 0; k < found; k++)
        {
            weights[k] = (float)Math.Exp(Sharpness * (similarity[k] - similarity[0]));
            total += weights[k];
        }

        for (var k = 0; k < found; k++)
        {
            TensorPrimitives.MultiplyAdd(_values.AsSpan(nearest[k] * OutputDimension, OutputDimension), (float)(weights[k] / total), output, output);
        }
    }
}
