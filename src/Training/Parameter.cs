namespace Indexer.Training;

/// <summary>A trainable array and the gradient accumulated for it; the optimiser updates <see cref="Value"/> in place.</summary>
/// <param name="Name">For messages and tests, e.g. "layer1.weights".</param>
/// <param name="Value">The parameter values.</param>
/// <param name="Gradient">∂loss/∂value, same length; cleared by <see cref="ZeroGradient"/>.</param>
/// <param name="Decay">Whether weight decay applies (weights yes, biases no).</param>
public sealed record Parameter(string Name, float[] Value, float[] Gradient, bool Decay)
{
    /// <summary>A parameter of <paramref name="value"/>'s length with a zero gradient.</summary>
    public Parameter(string name, float[] value, bool decay)
        : this(name, value, new float[value.Length], decay)
    {
    }

    /// <summary>Clears the accumulated gradient.</summary>
    public void ZeroGradient() => Array.Clear(Gradient);
}
