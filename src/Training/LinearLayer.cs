using System.Numerics.Tensors;
using Indexer.Embedding;

namespace Indexer.Training;

/// <summary>
/// A trainable fully connected layer y = x W + b (optionally followed by ReLU) with a hand-written backward pass.
/// W is row-major input x output, the layout of ONNX MatMul, so it exports to a <see cref="DenseLayer"/> unchanged.
/// </summary>
public sealed class LinearLayer
{
    private float[] _input = [];
    private float[] _output = [];
    private int _rows;

    /// <summary>A layer with He-initialised weights (scaled for ReLU when <paramref name="relu"/>) and zero biases.</summary>
    public LinearLayer(int inputDimension, int outputDimension, bool relu, bool bias, Random random, string name = "layer")
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(inputDimension);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(outputDimension);
        ArgumentNullException.ThrowIfNull(random);
        InputDimension = inputDimension;
        OutputDimension = outputDimension;
        Relu = relu;
        var weights = new float[inputDimension * outputDimension];
        var std = Math.Sqrt((relu ? 2.0 : 1.0) / inputDimension);
        for (var i = 0; i < weights.Length; i++) weights[i] = (float)(Gaussian.Next(random) * std);
        Weights = new Parameter(name + ".weights", weights, decay: true);
        Bias = bias ? new Parameter(name + ".bias", new float[outputDimension], decay: false) : null;
    }

    /// <summary>Length of an input row.</summary>
    public int InputDimension { get; }

    /// <summary>Length of an output row.</summary>
    public int OutputDimension { get; }

    /// <summary>Whether ReLU follows the affine map.</summary>
    public bool Relu { get; }

    /// <summary>W, input x output, row-major.</summary>
    public Parameter Weights { get; }

    /// <summary>b, or null for a layer without bias.</summary>
    public Parameter? Bias { get; }

    /// <summary>The trainable parameters.</summary>
    public IEnumerable<Parameter> Parameters => Bias is null ? [Weights] : [Weights, Bias];

    /// <summary>
    /// Computes the layer on <paramref name="rows"/> input rows and keeps input and output for <see cref="Backward"/>.
    /// The returned array is owned by the layer and overwritten by the next call.
    /// </summary>
    public float[] Forward(float[] input, int rows)
    {
        ArgumentNullException.ThrowIfNull(input);
        if (input.Length < rows * InputDimension) throw new ArgumentException("input holds fewer rows than given", nameof(input));
        _input = input;
        _rows = rows;
        if (_output.Length != rows * OutputDimension) _output = new float[rows * OutputDimension];
        BatchMath.Multiply(
            input.AsMemory(0, rows * InputDimension), Weights.Value, Bias?.Value ?? ReadOnlyMemory<float>.Empty, _output, rows, InputDimension, OutputDimension);
        if (Relu) TensorPrimitives.Max(_output, 0f, _output);
        return _output;
    }

    /// <summary>
    /// Given ∂loss/∂output of the last <see cref="Forward"/>, accumulates the parameter gradients and returns
    /// ∂loss/∂input (a new array).
    /// </summary>
    public float[] Backward(float[] outputGradient)
    {
        ArgumentNullException.ThrowIfNull(outputGradient);
        var n = _rows;
        if (outputGradient.Length != n * OutputDimension) throw new ArgumentException("the gradient does not match the last forward pass", nameof(outputGradient));
        var g = outputGradient;
        if (Relu)
        {
            g = new float[g.Length];
            for (var i = 0; i < g.Length; i++) g[i] = _output[i] > 0f ? outputGradient[i] : 0f;
        }

        BatchMath.AccumulateTransposedProduct(_input.AsMemory(0, n * InputDimension), g, Weights.Gradient, n, InputDimension, OutputDimension);
        if (Bias is not null) BatchMath.AccumulateColumnSums(g, Bias.Gradient, n, OutputDimension);
        var inputGradient = new float[n * InputDimension];
        BatchMath.MultiplyTransposed(g, Weights.Value, inputGradient, n, InputDimension, OutputDimension);
        return inputGradient;
    }

    /// <summary>A copy of the current weights as an exportable layer.</summary>
    public DenseLayer ToDenseLayer() =>
        new(InputDimension, OutputDimension, (float[])Weights.Value.Clone(), Bias is null ? null : (float[])Bias.Value.Clone(), Relu);
}
