using System.Numerics.Tensors;
using Indexer.Embedding;

namespace Indexer.Training;

/// <summary>
/// The fixed input transform of a head: L2-normalise the backbone feature, then standardise each dimension with the
/// training set's mean and standard deviation. Training sees standardised inputs (Adam converges far faster on them);
/// for export the standardisation is folded into the first layer (<see cref="Fold"/>), so the exported graph only
/// needs the L2 normalisation in front of the layers.
/// </summary>
public sealed class FeatureStandardizer
{
    /// <summary>
    /// A dimension's deviation is never taken below this fraction of the mean deviation over all dimensions: a backbone
    /// channel that is almost always zero on the training set must not be amplified into noise on new images.
    /// </summary>
    public const float MinDeviationFraction = 0.1f;

    private FeatureStandardizer(float[] mean, float[] deviation)
    {
        Mean = mean;
        Deviation = deviation;
    }

    /// <summary>Input width.</summary>
    public int Dimension => Mean.Length;

    /// <summary>Per-dimension mean of the L2-normalised training features.</summary>
    public float[] Mean { get; }

    /// <summary>Per-dimension standard deviation (floored, see <see cref="MinDeviationFraction"/>).</summary>
    public float[] Deviation { get; }

    /// <summary>Fits the transform on raw backbone features (count x dimension).</summary>
    public static FeatureStandardizer Fit(ReadOnlySpan<float> rawFeatures, int count, int dimension)
    {
        if (count <= 0 || rawFeatures.Length != count * dimension) throw new ArgumentException("count rows of dimension floats are needed", nameof(rawFeatures));
        var normalized = rawFeatures.ToArray();
        BatchMath.NormalizeRows(normalized, count, dimension);
        var mean = new double[dimension];
        var square = new double[dimension];
        for (var r = 0; r < count; r++)
        {
            var row = normalized.AsSpan(r * dimension, dimension);
            for (var i = 0; i < dimension; i++)
            {
                mean[i] += row[i];
                square[i] += (double)row[i] * row[i];
            }
        }

        var m = new float[dimension];
        var s = new float[dimension];
        for (var i = 0; i < dimension; i++)
        {
            var mu = mean[i] / count;
            m[i] = (float)mu;
            s[i] = (float)Math.Sqrt(Math.Max(0, square[i] / count - mu * mu));
        }

        var floor = Math.Max(TensorPrimitives.Sum(s) / dimension * MinDeviationFraction, 1e-12f);
        TensorPrimitives.Max(s, floor, s);
        return new FeatureStandardizer(m, s);
    }

    /// <summary>The transformed rows of raw backbone features (a new array).</summary>
    public float[] Transform(ReadOnlySpan<float> rawFeatures, int count)
    {
        var d = Dimension;
        if (rawFeatures.Length != count * d) throw new ArgumentException("count rows of dimension floats are needed", nameof(rawFeatures));
        var result = rawFeatures.ToArray();
        BatchMath.NormalizeRows(result, count, d);
        for (var r = 0; r < count; r++)
        {
            var row = result.AsSpan(r * d, d);
            TensorPrimitives.Subtract(row, Mean, row);
            TensorPrimitives.Divide(row, Deviation, row);
        }

        return result;
    }

    /// <summary>
    /// The first layer rewritten to take the L2-normalised feature x directly: with s = (x − μ)/σ,
    /// s W + b = x (W / σ) + (b − (μ/σ) W), so W'ᵢ = Wᵢ / σᵢ and b' = b − Σᵢ (μᵢ/σᵢ) Wᵢ.
    /// </summary>
    public DenseLayer Fold(DenseLayer first)
    {
        ArgumentNullException.ThrowIfNull(first);
        if (first.InputDimension != Dimension) throw new ArgumentException($"the layer takes {first.InputDimension} inputs, the transform gives {Dimension}", nameof(first));
        var q = first.OutputDimension;
        var weights = new float[first.Weights.Length];
        var bias = first.Bias is null ? new float[q] : (float[])first.Bias.Clone();
        for (var i = 0; i < Dimension; i++)
        {
            var row = first.Weights.AsSpan(i * q, q);
            TensorPrimitives.Divide(row, Deviation[i], weights.AsSpan(i * q, q));
            TensorPrimitives.MultiplyAdd(row, -Mean[i] / Deviation[i], bias, bias);
        }

        return first with { Weights = weights, Bias = bias };
    }
}
