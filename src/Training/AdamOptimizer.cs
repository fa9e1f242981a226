using System.Numerics.Tensors;

namespace Indexer.Training;

/// <summary>
/// Adam with decoupled weight decay (AdamW, Loshchilov and Hutter): per parameter element,
/// m ← β₁m + (1−β₁)g, v ← β₂v + (1−β₂)g², θ ← θ − lr · (m̂ / (√v̂ + ε) + λθ) where the hats undo the start-up bias.
/// Weight decay applies only to parameters marked for it (weights, not biases).
/// </summary>
public sealed class AdamOptimizer
{
    private readonly Parameter[] _parameters;
    private readonly float[][] _m;
    private readonly float[][] _v;
    private readonly float[] _scratch;
    private int _step;

    /// <summary>An optimiser for <paramref name="parameters"/> with zero moment estimates.</summary>
    public AdamOptimizer(IEnumerable<Parameter> parameters, float weightDecay = 0f, float beta1 = 0.9f, float beta2 = 0.999f, float epsilon = 1e-8f)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        _parameters = parameters.ToArray();
        _m = _parameters.Select(p => new float[p.Value.Length]).ToArray();
        _v = _parameters.Select(p => new float[p.Value.Length]).ToArray();
        _scratch = new float[_parameters.Length == 0 ? 0 : _parameters.Max(p => p.Value.Length)];
        WeightDecay = weightDecay;
        Beta1 = beta1;
        Beta2 = beta2;
        Epsilon = epsilon;
    }

    /// <summary>λ, the decoupled weight decay.</summary>
    public float WeightDecay { get; }

    /// <summary>β₁.</summary>
    public float Beta1 { get; }

    /// <summary>β₂.</summary>
    public float Beta2 { get; }

    /// <summary>ε.</summary>
    public float Epsilon { get; }

    /// <summary>The parameters this optimiser updates.</summary>
    public IReadOnlyList<Parameter> Parameters => _parameters;

    /// <summary>Clears every parameter's gradient; call before each mini-batch.</summary>
    public void ZeroGradients()
    {
        foreach (var p in _parameters) p.ZeroGradient();
    }

    /// <summary>Applies one update with the gradients accumulated since <see cref="ZeroGradients"/>.</summary>
    public void Step(float learningRate)
    {
        _step++;
        var correction1 = 1f - MathF.Pow(Beta1, _step);
        var correction2 = 1f - MathF.Pow(Beta2, _step);
        for (var i = 0; i < _parameters.Length; i++)
        {
            var p = _parameters[i];
            var theta = p.Value.AsSpan();
            var g = p.Gradient.AsSpan();
            var m = _m[i].AsSpan();
            var v = _v[i].AsSpan();
            var s = _scratch.AsSpan(0, theta.Length);

            // m = β₁m + (1−β₁)g
            TensorPrimitives.Multiply(m, Beta1, m);
            TensorPrimitives.MultiplyAdd(g, 1f - Beta1, m, m);

            // v = β₂v + (1−β₂)g²
            TensorPrimitives.Multiply(v, Beta2, v);
            TensorPrimitives.Multiply(g, g, s);
            TensorPrimitives.MultiplyAdd(s, 1f - Beta2, v, v);

            // s = m̂ / (√v̂ + ε)
            TensorPrimitives.Divide(v, correction2, s);
            TensorPrimitives.Sqrt(s, s);
            TensorPrimitives.Add(s, Epsilon, s);
            TensorPrimitives.Divide(m, s, s);
            TensorPrimitives.Divide(s, correction1, s);

            if (p.Decay && WeightDecay > 0f) TensorPrimitives.Multiply(theta, 1f - learningRate * WeightDecay, theta);
            TensorPrimitives.MultiplyAdd(s, -learningRate, theta, theta);
        }
    }
}
