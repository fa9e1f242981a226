using System.Numerics.Tensors;

namespace Indexer.Search.Maps;

/// <summary>
/// What a linear map gets wrong near each calibration item, added back where a vector lies near those items: the
/// correction of x is the weighted mean of the residuals r_j = new_j − h_lin(old_j) of the <see cref="Neighbours"/>
/// anchors most similar to x in the old space, each weighted exp(<see cref="Sharpness"/> · (cos(x, old_j) − 1)).
/// A linear map bends the whole old space one way; an old model that saw only some classes squeezes the others
/// differently from place to place, and the anchors' residuals carry that local bend. Far from every anchor the
/// weights are all small but still sum to one, so the correction is that of the nearest region, never an extrapolation.
/// </summary>
public sealed class LocalCorrection
{
    /// <summary>Anchors averaged per vector: enough to smooth one odd item, few enough to stay local.</summary>
    public const int DefaultNeighbours = 10;

    /// <summary>How fast an anchor's weight falls with its distance: at cosine 0.9 it weighs e⁻² of an identical one.</summary>
    public const double DefaultSharpness = 20;

    private readonly float[] _anchors;
    private readonly float[] _residuals;

    /// <param name="anchors">The anchors' old vectors, <paramref name="count"/> x <paramref name="inputDimension"/>, row-major, unit length.</param>
    /// <param name="residuals">Each anchor's residual, <paramref name="count"/> x <paramref name="outputDimension"/>, row-major.</param>
    /// <param name="count">Anchors.</param>
    /// <param name="inputDimension">Old space dimension.</param>
    /// <param name="outputDimension">New space dimension.</param>
    /// <param name="neighbours">Anchors averaged per vector.</param>
    /// <param name="sharpness">Weight fall-off with distance.</param>
    public LocalCorrection(float[] anchors, float[] residuals, int count, int inputDimension, int outputDimension, int neighbours = DefaultNeighbours, double sharpness = DefaultSharpness)
    {
        ArgumentNullException.ThrowIfNull(anchors);
        ArgumentNullException.ThrowIfNull(residuals);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(count);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(neighbours);
        if (anchors.Length != (long)count * inputDimension) throw new ArgumentException($"{count} x {inputDimension} anchor values expected; got {anchors.Length}", nameof(anchors));
        if (residuals.Length != (long)count * outputDimension) throw new ArgumentException($"{count} x {outputDimension} residual values expected; got {residuals.Length}", nameof(residuals));
        if (!double.IsFinite(sharpness) || sharpness < 0) throw new ArgumentOutOfRangeException(nameof(sharpness), sharpness, "must be finite and not negative");
        _anchors = anchors;
        _residuals = residuals;
        Count = count;
        InputDimension = inputDimension;
        OutputDimension = outputDimension;
        Neighbours = Math.Min(neighbours, count);
        Sharpness = sharpness;
    }

    public int Count { get; }

    public int InputDimension { get; }

    public int OutputDimension { get; }

    public int Neighbours { get; }

    public double Sharpness { get; }

    /// <summary>The anchors' old vectors, row-major.</summary>
    public ReadOnlySpan<float> Anchors => _anchors;

    /// <summary>The anchors' residuals, row-major.</summary>
    public ReadOnlySpan<float> Residuals => _residuals;

    /// <summary>Similarities to every anchor, then the weighted residuals of the nearest.</summary>
    public long MultiplyAddsPerItem => (long)Count * InputDimension + (long)Neighbours * OutputDimension;

    /// <summary>Numbers stored: anchors and residuals.</summary>
    public long ParameterCount => _anchors.LongLength + _residuals.LongLength;

    /// <summary>Adds the correction of <paramref name="input"/> to <paramref name="output"/>.</summary>
    public void AddTo(ReadOnlySpan<float> input, Span<float> output)
    {
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
            TensorPrimitives.MultiplyAdd(_residuals.AsSpan(nearest[k] * OutputDimension, OutputDimension), (float)(weights[k] / total), output, output);
        }
    }
}
