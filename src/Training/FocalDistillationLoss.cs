using System.Numerics.Tensors;

namespace Indexer.Training;

/// <summary>
/// Focal distillation (Yan et al., "Positive-Congruent Training", CVPR 2021): a distillation loss towards the old model,
/// weighted per sample by α + β · 1[the old model classified the sample correctly], so the new model is held hardest to
/// the old one exactly where the old one was right: that is where a disagreement would be a negative flip.
/// The distillation is T² · KL(softmax(l_old / T) ‖ softmax(l_new / T)), where both logit vectors come from the old
/// (extended) classifier: l_old on the old model's embedding of the sample, l_new on the new model's embedding. Both
/// models then speak over the same classes, even though the old model was trained on fewer.
/// </summary>
public sealed class FocalDistillationLoss : IEmbeddingLoss
{
    private readonly CosineClassifier _old;
    private readonly float[] _oldLogits;
    private readonly bool[] _oldCorrect;

    /// <param name="oldClassifier">The old model's classifier, extended to all classes; never updated.</param>
    /// <param name="oldLogits">The old classifier's logits on the old model's embedding of every training sample (samples x classes).</param>
    /// <param name="oldCorrect">Whether the old model classified each training sample correctly.</param>
    /// <param name="alpha">α: the weight of every sample.</param>
    /// <param name="beta">β: the extra weight of samples the old model got right.</param>
    /// <param name="temperature">T, the softmax temperature of the distillation.</param>
    public FocalDistillationLoss(CosineClassifier oldClassifier, float[] oldLogits, bool[] oldCorrect, float alpha, float beta, float temperature)
    {
        ArgumentNullException.ThrowIfNull(oldClassifier);
        ArgumentNullException.ThrowIfNull(oldLogits);
        ArgumentNullException.ThrowIfNull(oldCorrect);
        if (oldLogits.Length != oldCorrect.Length * oldClassifier.Classes) throw new ArgumentException("one logit row per sample is needed", nameof(oldLogits));
        if (!(alpha >= 0f) || !(beta >= 0f)) throw new ArgumentOutOfRangeException(nameof(alpha), "α and β must not be negative");
        if (!(temperature > 0f)) throw new ArgumentOutOfRangeException(nameof(temperature), temperature, "T must be positive");
        _old = new CosineClassifier((float[])oldClassifier.Weights.Value.Clone(), oldClassifier.Dimension, oldClassifier.Classes, oldClassifier.Scale);
        _oldLogits = oldLogits;
        _oldCorrect = oldCorrect;
        Alpha = alpha;
        Beta = beta;
        Temperature = temperature;
    }

    /// <summary>α.</summary>
    public float Alpha { get; }

    /// <summary>β.</summary>
    public float Beta { get; }

    /// <summary>T.</summary>
    public float Temperature { get; }

    /// <inheritdoc />
    public string Name => "focal-distillation";

    /// <inheritdoc />
    public double Accumulate(float[] embeddings, ReadOnlySpan<int> samples, ReadOnlySpan<int> labels, Span<float> gradient)
    {
        var n = samples.Length;
        var c = _old.Classes;
        var logits = _old.Forward(embeddings, n);
        var dLogits = new float[logits.Length];
        var p = new float[c];
        var q = new float[c];
        var scaled = new float[c];
        double loss = 0;
        for (var r = 0; r < n; r++)
        {
            var sample = samples[r];
            var weight = Alpha + (_oldCorrect[sample] ? Beta : 0f);
            TensorPrimitives.Divide(_oldLogits.AsSpan(sample * c, c), Temperature, scaled);
            TensorPrimitives.SoftMax(scaled, p);
            var logZp = SoftmaxCrossEntropy.LogSumExp(scaled);
            double kl = 0;
            var oldScaled = (float[])scaled.Clone();
            TensorPrimitives.Divide(logits.AsSpan(r * c, c), Temperature, scaled);
            TensorPrimitives.SoftMax(scaled, q);
            var logZq = SoftmaxCrossEntropy.LogSumExp(scaled);
            for (var k = 0; k < c; k++)
            {
                if (p[k] > 0f) kl += p[k] * ((oldScaled[k] - logZp) - (scaled[k] - logZq));
            }

            loss += weight * Temperature * Temperature * kl;

            // ∂/∂l_new of T² KL = T (q − p); averaged over the batch.
            var g = dLogits.AsSpan(r * c, c);
            TensorPrimitives.Subtract(q, p, g);
            TensorPrimitives.Multiply(g, weight * Temperature / n, g);
        }

        var du = _old.Backward(dLogits);
        TensorPrimitives.Add(gradient, du, gradient);
        return loss / n;
    }
}
