namespace Indexer.Training;

/// <summary>
/// A loss on the unit embeddings of a mini-batch, added to the classification loss: BCT's influence loss, focal
/// distillation. It may read per-sample facts by the samples' indices in the training set.
/// </summary>
public interface IEmbeddingLoss
{
    /// <summary>Short name for logs and manifests.</summary>
    string Name { get; }

    /// <summary>
    /// Returns the loss on the batch (already weighted) and adds its gradient w.r.t. <paramref name="embeddings"/>
    /// (n x dimension, unit rows) to <paramref name="gradient"/>.
    /// </summary>
    /// <param name="embeddings">The batch's unit embeddings.</param>
    /// <param name="samples">Each row's index in the training set.</param>
    /// <param name="labels">Each row's label.</param>
    /// <param name="gradient">Accumulates ∂loss/∂embeddings.</param>
    double Accumulate(float[] embeddings, ReadOnlySpan<int> samples, ReadOnlySpan<int> labels, Span<float> gradient);
}
