namespace Indexer.Search.Maps;

/// <summary>How a map between two model spaces was fitted.</summary>
public enum MapKind
{
    /// <summary>No change: the new space is the old one (a backward-compatible model).</summary>
    Identity,

    /// <summary>A rotation (orthogonal Procrustes): preserves every distance within the old space.</summary>
    Orthogonal,

    /// <summary>A general linear map, least squares with a ridge penalty.</summary>
    Ridge,
}

/// <summary>
/// A map h from an old model's embedding space to a new one's: y = normalise(x W), W row-major
/// <see cref="InputDimension"/> x <see cref="OutputDimension"/>. Applying it costs
/// <see cref="MultiplyAddsPerItem"/> multiply-adds, a tiny fraction of a backbone pass.
/// </summary>
public sealed class LinearMap
{
    private readonly float[]? _weights;

    private LinearMap(MapKind kind, int inputDimension, int outputDimension, float[]? weights, double regularisation)
    {
        Kind = kind;
        InputDimension = inputDimension;
        OutputDimension = outputDimension;
        _weights = weights;
        Regularisation = regularisation;
    }

    public MapKind Kind { get; }

    public int InputDimension { get; }

    public int OutputDimension { get; }

    /// <summary>The ridge penalty λ (relative to the mean eigenvalue of XᵀX) for <see cref="MapKind.Ridge"/>; 0 otherwise.</summary>
    public double Regularisation { get; }

    public long MultiplyAddsPerItem => _weights is null ? 0 : (long)InputDimension * OutputDimension;

    /// <summary>The weights, row-major; empty for the identity.</summary>
    public ReadOnlySpan<float> Weights => _weights;

    public static LinearMap Identity(int dimension) => new(MapKind.Identity, dimension, dimension, null, 0);

    public static LinearMap FromWeights(MapKind kind, int inputDimension, int outputDimension, float[] weights, double regularisation = 0)
    {
        ArgumentNullException.ThrowIfNull(weights);
        if (weights.Length != (long)inputDimension * outputDimension)
        {
            throw new ArgumentException($"{inputDimension} x {outputDimension} weights expected; got {weights.Length}", nameof(weights));
        }

        return new LinearMap(kind, inputDimension, outputDimension, weights, regularisation);
    }

    /// <summary>y = normalise(x W).</summary>
    public void Apply(ReadOnlySpan<float> input, Span<float> output)
    {
        if (input.Length != InputDimension) throw new ArgumentException($"input has {input.Length} dimensions; the map takes {InputDimension}", nameof(input));
        if (output.Length != OutputDimension) throw new ArgumentException($"output has {output.Length} dimensions; the map gives {OutputDimension}", nameof(output));
        if (_weights is null)
        {
            input.CopyTo(output);
        }
        else
        {
            output.Clear();
            var weights = _weights.AsSpan();
            for (var i = 0; i < InputDimension; i++)
            {
                var xi = input[i];
                if (xi == 0) continue;
                System.Numerics.Tensors.TensorPrimitives.MultiplyAdd(weights.Slice(i * OutputDimension, OutputDimension), xi, output, output);
            }
        }

        VectorMath.NormalizeInPlace(output);
    }

    /// <summary>
    /// This map followed by <paramref name="next"/>, as one map: normalise(normalise(x W₁) W₂) = normalise(x W₁ W₂), so
    /// the product of the weights serves an item two upgrades old in one step (maps chain across upgrades).
    /// </summary>
    public LinearMap Then(LinearMap next)
    {
        ArgumentNullException.ThrowIfNull(next);
        if (next.InputDimension != OutputDimension)
        {
            throw new ArgumentException($"the next map takes {next.InputDimension} dimensions; this one gives {OutputDimension}", nameof(next));
        }

        if (_weights is null) return next;
        if (next._weights is null) return this;
        var product = new float[InputDimension * next.OutputDimension];
        for (var i = 0; i < InputDimension; i++)
        {
            var row = product.AsSpan(i * next.OutputDimension, next.OutputDimension);
            for (var k = 0; k < OutputDimension; k++)
            {
                var w = _weights[i * OutputDimension + k];
                if (w != 0) System.Numerics.Tensors.TensorPrimitives.MultiplyAdd(next._weights.AsSpan(k * next.OutputDimension, next.OutputDimension), w, row, row);
            }
        }

        var kind = Kind == MapKind.Orthogonal && next.Kind == MapKind.Orthogonal ? MapKind.Orthogonal : MapKind.Ridge;
        return new LinearMap(kind, InputDimension, next.OutputDimension, product, Math.Max(Regularisation, next.Regularisation));
    }

    public float[] Apply(ReadOnlySpan<float> input)
    {
        var output = new float[OutputDimension];
        Apply(input, output);
        return output;
    }
}
