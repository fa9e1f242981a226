using System.Numerics.Tensors;

namespace Indexer.Training;

/// <summary>
/// Normalised softmax classifier: logits = s · u Ŵᵀ with Ŵ_c = V_c / ‖V_c‖ for unit embeddings u, i.e. s times the
/// cosine between an embedding and each class's weight row. Trained this way, embeddings of one class gather around one
/// direction, which is what cosine retrieval ranks by; and the rows are directly comparable with (normalised) class-mean
/// embeddings, which BCT uses as rows for classes the old model never saw.
/// </summary>
public sealed class CosineClassifier
{
    private readonly float[] _normalized;
    private readonly float[] _norms;
    private float[] _input = [];
    private int _rows;

    /// <summary>A classifier with random Gaussian rows.</summary>
    public CosineClassifier(int dimension, int classes, float scale, Random random)
        : this(RandomRows(dimension, classes, random), dimension, classes, scale)
    {
    }

    /// <summary>A classifier with the given rows (classes x dimension, row-major; they need not be unit length).</summary>
    public CosineClassifier(float[] rows, int dimension, int classes, float scale)
    {
        ArgumentNullException.ThrowIfNull(rows);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(dimension);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(classes);
        if (rows.Length != dimension * classes) throw new ArgumentException($"rows must hold {classes} x {dimension} floats", nameof(rows));
        if (!(scale > 0f)) throw new ArgumentOutOfRangeException(nameof(scale), scale, "the scale must be positive");
        Dimension = dimension;
        Classes = classes;
        Scale = scale;
        Weights = new Parameter("classifier.weights", rows, decay: false);
        _normalized = new float[rows.Length];
        _norms = new float[classes];
    }

    /// <summary>Embedding dimension.</summary>
    public int Dimension { get; }

    /// <summary>Number of classes (rows).</summary>
    public int Classes { get; }

    /// <summary>The factor s on the cosines.</summary>
    public float Scale { get; }

    /// <summary>V: classes x dimension, row-major, not necessarily unit rows.</summary>
    public Parameter Weights { get; }

    /// <summary>The unit rows Ŵ the logits use (a copy).</summary>
    public float[] NormalizedRows()
    {
        Normalize();
        return (float[])_normalized.Clone();
    }

    /// <summary>Logits (n x classes) for unit embeddings <paramref name="u"/> (n x dimension); keeps u for <see cref="Backward"/>.</summary>
    public float[] Forward(float[] u, int n)
    {
        ArgumentNullException.ThrowIfNull(u);
        if (u.Length != n * Dimension) throw new ArgumentException("u must hold n x dimension floats", nameof(u));
        Normalize();
        _input = u;
        _rows = n;
        var logits = new float[n * Classes];
        BatchMath.MultiplyTransposed(u, _normalized, logits, n, Classes, Dimension);
        TensorPrimitives.Multiply(logits, Scale, logits);
        return logits;
    }

    /// <summary>Predicted class of every row of <paramref name="u"/>.</summary>
    public int[] Predict(float[] u, int n)
    {
        var logits = Forward(u, n);
        var predictions = new int[n];
        for (var r = 0; r < n; r++) predictions[r] = TensorPrimitives.IndexOfMax(logits.AsSpan(r * Classes, Classes));
        return predictions;
    }

    /// <summary>
    /// Given ∂loss/∂logits of the last <see cref="Forward"/>, accumulates ∂loss/∂V (through the row normalisation) and
    /// returns ∂loss/∂u. A frozen classifier is simply never handed to the optimiser.
    /// </summary>
    public float[] Backward(float[] logitGradient)
    {
        ArgumentNullException.ThrowIfNull(logitGradient);
        var n = _rows;
        if (logitGradient.Length != n * Classes) throw new ArgumentException("the gradient does not match the last forward pass", nameof(logitGradient));
        var g = new float[logitGradient.Length];
        TensorPrimitives.Multiply(logitGradient, Scale, g);
        var du = new float[n * Dimension];
        BatchMath.Multiply(g, _normalized, ReadOnlyMemory<float>.Empty, du, n, Classes, Dimension);
        var dNormalized = new float[Classes * Dimension];
        BatchMath.AccumulateTransposedProduct(g, _input, dNormalized, n, Classes, Dimension);
        var rowGradient = L2Normalization.Backward(_normalized, _norms, dNormalized, Classes, Dimension);
        TensorPrimitives.Add(Weights.Gradient, rowGradient, Weights.Gradient);
        return du;
    }

    private void Normalize()
    {
        var norms = L2Normalization.Forward(Weights.Value, _normalized, Classes, Dimension);
        norms.CopyTo(_norms, 0);
    }

    private static float[] RandomRows(int dimension, int classes, Random random)
    {
        ArgumentNullException.ThrowIfNull(random);
        var rows = new float[dimension * classes];
        for (var i = 0; i < rows.Length; i++) rows[i] = (float)Gaussian.Next(random);
        return rows;
    }
}
