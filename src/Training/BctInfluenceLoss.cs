using System.Numerics.Tensors;

namespace Indexer.Training;

/// <summary>
/// BCT's influence loss (Shen et al., "Towards Backward-Compatible Representation Learning", CVPR 2020):
/// λ · CE(φ_old's frozen classifier applied to the new embedding, label). It pulls new embeddings of every class towards
/// the old model's class directions, so new queries can search an old gallery. The old classifier has a row for every
/// class of the new training set: for classes the old model never saw, its row is the normalised mean old embedding of
/// that class (see <see cref="ExtendedClassifier"/>).
/// </summary>
public sealed class BctInfluenceLoss : IEmbeddingLoss
{
    private readonly CosineClassifier _old;

    /// <param name="oldClassifier">The old model's classifier, extended to all classes; it is never updated.</param>
    /// <param name="weight">λ.</param>
    public BctInfluenceLoss(CosineClassifier oldClassifier, float weight = 1f)
    {
        ArgumentNullException.ThrowIfNull(oldClassifier);
        if (!(weight >= 0f)) throw new ArgumentOutOfRangeException(nameof(weight), weight, "λ must not be negative");
        _old = new CosineClassifier((float[])oldClassifier.Weights.Value.Clone(), oldClassifier.Dimension, oldClassifier.Classes, oldClassifier.Scale);
        Weight = weight;
    }

    /// <summary>λ.</summary>
    public float Weight { get; }

    /// <inheritdoc />
    public string Name => "bct-influence";

    /// <inheritdoc />
    public double Accumulate(float[] embeddings, ReadOnlySpan<int> samples, ReadOnlySpan<int> labels, Span<float> gradient)
    {
        var n = labels.Length;
        var logits = _old.Forward(embeddings, n);
        var dLogits = new float[logits.Length];
        var loss = SoftmaxCrossEntropy.Compute(logits, labels, _old.Classes, dLogits);
        TensorPrimitives.Multiply(dLogits, Weight, dLogits);
        var du = _old.Backward(dLogits);
        TensorPrimitives.Add(gradient, du, gradient);
        return Weight * loss;
    }
}
