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

    /// <summary>
    /// A ridge (or orthogonal) map plus a <see cref="LocalCorrection"/> learnt from the calibration items near each
    /// vector; also the kind of a chain of several stages.
    /// </summary>
    Local,

    /// <summary>Kernel ridge regression on the calibration items, no linear part (<see cref="CorrectionWeighting.KernelRidge"/>).</summary>
    Kernel,
}

/// <summary>
/// A map h from an old model's embedding space to a new one's: y = normalise(x W + c(x)), W row-major
/// <see cref="InputDimension"/> x <see cref="OutputDimension"/> (none for the identity; zero for a kernel map) and c an
/// optional <see cref="LocalCorrection"/>. A map may be followed by another (<see cref="Then"/>): maps chain across upgrades.
/// Applying it costs <see cref="MultiplyAddsPerItem"/> multiply-adds, a tiny fraction of a backbone pass.
/// </summary>
public sealed class EmbeddingMap
{
    /// <summary>Largest intermediate vector of a chain kept on the stack (16 KiB).</summary>
    private const int MaxStackDimension = 4096;

    private readonly float[]? _weights;

    private EmbeddingMap(MapKind stageKind, int inputDimension, int outputDimension, float[]? weights, double regularisation, LocalCorrection? correction = null, EmbeddingMap? next = null)
    {
        StageKind = stageKind;
        Kind = next is not null || (correction is not null && stageKind != MapKind.Kernel) ? MapKind.Local : stageKind;
        InputDimension = inputDimension;
        OutputDimension = next?.OutputDimension ?? outputDimension;
        StageOutputDimension = outputDimension;
        _weights = weights;
        Regularisation = regularisation;
        Correction = correction;
        Next = next;
    }

    /// <summary>How the map was fitted; <see cref="MapKind.Local"/> when it carries a correction or has several stages.</summary>
    public MapKind Kind { get; }

    /// <summary>How this stage's linear part was fitted: identity, orthogonal or ridge; kernel when it has none.</summary>
    public MapKind StageKind { get; }

    public int InputDimension { get; }

    /// <summary>Dimension of the result, after every stage.</summary>
    public int OutputDimension { get; }

    /// <summary>Dimension of this stage's result, the input of <see cref="Next"/>.</summary>
    public int StageOutputDimension { get; }

    /// <summary>
    /// The ridge penalty of a ridge stage (λ, relative to the mean eigenvalue of XᵀX) or of a kernel stage (μ, relative
    /// to that of the kernel matrix); 0 otherwise.
    /// </summary>
    public double Regularisation { get; }

    /// <summary>The local correction added before normalising; null for a purely linear stage.</summary>
    public LocalCorrection? Correction { get; }

    /// <summary>The map applied to this one's result; null for a single stage.</summary>
    public EmbeddingMap? Next { get; }

    public long MultiplyAddsPerItem =>
        (_weights is null ? 0 : (long)InputDimension * StageOutputDimension) + (Correction?.MultiplyAddsPerItem ?? 0) + (Next?.MultiplyAddsPerItem ?? 0);

    /// <summary>Numbers stored for the map: weights, anchors and residuals of every stage.</summary>
    public long ParameterCount => (_weights?.LongLength ?? 0) + (Correction?.ParameterCount ?? 0) + (Next?.ParameterCount ?? 0);

    /// <summary>This stage's weights, row-major; empty for the identity.</summary>
    public ReadOnlySpan<float> Weights => _weights;

    public static EmbeddingMap Identity(int dimension) => new(MapKind.Identity, dimension, dimension, null, 0);

    /// <summary>y = normalise(c(x)): a map that is all kernel ridge regression (<see cref="LocalCorrection.FitKernelRidge"/>).</summary>
    public static EmbeddingMap Kernel(LocalCorrection correction)
    {
        ArgumentNullException.ThrowIfNull(correction);
        if (correction.Weighting != CorrectionWeighting.KernelRidge) throw new ArgumentException("a kernel map needs a kernel ridge correction", nameof(correction));
        return new EmbeddingMap(MapKind.Kernel, correction.InputDimension, correction.OutputDimension, null, correction.Penalty, correction);
    }

    /// <summary>
    /// A kernel map fitted again on its own training pairs plus <paramref name="count"/> more (<see cref="LocalCorrection.ExtendKernelRidge"/>),
    /// such as the items a backfill has re-embedded; null for any other kind of map, which does not carry its training pairs.
    /// </summary>
    public EmbeddingMap? Refined(ReadOnlySpan<float> oldVectors, ReadOnlySpan<float> newVectors, int count, out int added, int maxAdded = int.MaxValue)
    {
        added = 0;
        if (Kind != MapKind.Kernel) return null;
        return Kernel(Correction!.ExtendKernelRidge(oldVectors, newVectors, count, out added, maxAdded));
    }

    public static EmbeddingMap FromWeights(MapKind kind, int inputDimension, int outputDimension, float[] weights, double regularisation = 0)
    {
        ArgumentNullException.ThrowIfNull(weights);
        if (kind is MapKind.Identity or MapKind.Local or MapKind.Kernel) throw new ArgumentException($"a {kind} map is not made from weights alone", nameof(kind));
        if (weights.Length != (long)inputDimension * outputDimension)
        {
            throw new ArgumentException($"{inputDimension} x {outputDimension} weights expected; got {weights.Length}", nameof(weights));
        }

        return new EmbeddingMap(kind, inputDimension, outputDimension, weights, regularisation);
    }

    /// <summary>This single-stage map with <paramref name="correction"/> added before normalising.</summary>
    public EmbeddingMap WithCorrection(LocalCorrection correction)
    {
        ArgumentNullException.ThrowIfNull(correction);
        if (Next is not null || Correction is not null) throw new InvalidOperationException("only a single uncorrected stage takes a correction");
        if (correction.InputDimension != InputDimension || correction.OutputDimension != OutputDimension)
        {
            throw new ArgumentException($"the correction takes {correction.InputDimension}-d to {correction.OutputDimension}-d; the map {InputDimension}-d to {OutputDimension}-d", nameof(correction));
        }

        return new EmbeddingMap(StageKind, InputDimension, OutputDimension, _weights, Regularisation, correction);
    }

    /// <summary>y = normalise(x W + c(x)), then the next stage's map of y.</summary>
    public void Apply(ReadOnlySpan<float> input, Span<float> output) => ApplyAndMeasure(input, output);

    /// <summary>
    /// Applies the map (<see cref="Apply(ReadOnlySpan{float}, Span{float})"/>) and returns the length of the last stage's
    /// result before it was normalised. A linear map's length follows the old vector's direction; a kernel map's is
    /// short where the calibration items around x have new vectors that disagree (their average is short) or where x
    /// lies far from every one of them. It is 1 for the identity and a rotation.
    /// </summary>
    public double ApplyAndMeasure(ReadOnlySpan<float> input, Span<float> output)
    {
        if (input.Length != InputDimension) throw new ArgumentException($"input has {input.Length} dimensions; the map takes {InputDimension}", nameof(input));
        if (output.Length != OutputDimension) throw new ArgumentException($"output has {output.Length} dimensions; the map gives {OutputDimension}", nameof(output));
        if (Next is null) return ApplyStage(input, output);

        // Embedding dimensions are hundreds of floats: the intermediate vector fits on the stack, so serving a gallery
        // through a chain allocates nothing per item.
        Span<float> stage = StageOutputDimension <= MaxStackDimension ? stackalloc float[StageOutputDimension] : new float[StageOutputDimension];
        ApplyStage(input, stage);
        return Next.ApplyAndMeasure(stage, output);
    }

    /// <summary>
    /// This map followed by <paramref name="next"/>, as one map. Two linear stages become one, since
    /// normalise(normalise(x W₁) W₂) = normalise(x W₁ W₂): an item two upgrades old is served in one step. A stage
    /// with a correction is not linear, so the stages are kept and applied in turn.
    /// </summary>
    public EmbeddingMap Then(EmbeddingMap next)
    {
        ArgumentNullException.ThrowIfNull(next);
        if (next.InputDimension != OutputDimension)
        {
            throw new ArgumentException($"the next map takes {next.InputDimension} dimensions; this one gives {OutputDimension}", nameof(next));
        }

        if (Next is not null) return new EmbeddingMap(StageKind, InputDimension, StageOutputDimension, _weights, Regularisation, Correction, Next.Then(next));
        if (Correction is null && _weights is null) return next;
        if (next.Correction is null && next._weights is null && next.Next is null) return this;
        if (Correction is not null || next.Correction is not null || next.Next is not null)
        {
            return new EmbeddingMap(StageKind, InputDimension, StageOutputDimension, _weights, Regularisation, Correction, next);
        }

        var product = new float[InputDimension * next.OutputDimension];
        for (var i = 0; i < InputDimension; i++)
        {
            var row = product.AsSpan(i * next.OutputDimension, next.OutputDimension);
            for (var k = 0; k < OutputDimension; k++)
            {
                var w = _weights![i * OutputDimension + k];
                if (w != 0) System.Numerics.Tensors.TensorPrimitives.MultiplyAdd(next._weights.AsSpan(k * next.OutputDimension, next.OutputDimension), w, row, row);
            }
        }

        var kind = Kind == MapKind.Orthogonal && next.Kind == MapKind.Orthogonal ? MapKind.Orthogonal : MapKind.Ridge;
        return new EmbeddingMap(kind, InputDimension, next.OutputDimension, product, Math.Max(Regularisation, next.Regularisation));
    }

    public float[] Apply(ReadOnlySpan<float> input)
    {
        var output = new float[OutputDimension];
        Apply(input, output);
        return output;
    }

    /// <summary>Applies this stage alone and returns its result's length before normalising.</summary>
    private double ApplyStage(ReadOnlySpan<float> input, Span<float> output)
    {
        if (StageKind == MapKind.Kernel)
        {
            output.Clear();
        }
        else if (_weights is null)
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
                System.Numerics.Tensors.TensorPrimitives.MultiplyAdd(weights.Slice(i * StageOutputDimension, StageOutputDimension), xi, output, output);
            }
        }

        Correction?.AddTo(input, output);
        var length = System.Numerics.Tensors.TensorPrimitives.Norm(output);
        VectorMath.NormalizeInPlace(output);
        return length;
    }
}
