using System.Numerics.Tensors;

namespace Indexer.Training;

/// <summary>
/// Negative flips of retrieval at rank 1 (METRICS.md, "Negative flips", with β = 1): the fraction of queries whose nearest
/// neighbour (leave-one-out, cosine) had the query's label under the old model and does not under the new one.
/// </summary>
public static class RetrievalFlips
{
    /// <summary>NFR@1 of a full re-index: old queries on the old gallery against new queries on the new gallery.</summary>
    public static double NegativeFlipRateAt1(ReadOnlySpan<float> oldVectors, int oldDimension, ReadOnlySpan<float> newVectors, int newDimension, IReadOnlyList<int> labels)
    {
        ArgumentNullException.ThrowIfNull(labels);
        var n = labels.Count;
        if (n == 0) return double.NaN;
        var flips = 0;
        for (var q = 0; q < n; q++)
        {
            var oldHit = labels[NearestOther(oldVectors, oldDimension, n, q)] == labels[q];
            if (oldHit && labels[NearestOther(newVectors, newDimension, n, q)] != labels[q]) flips++;
        }

        return (double)flips / n;
    }

    /// <summary>The row nearest to row <paramref name="q"/> by inner product, other than q itself (ties: the lower index).</summary>
    public static int NearestOther(ReadOnlySpan<float> vectors, int dimension, int count, int q)
    {
        if (vectors.Length != count * dimension) throw new ArgumentException("count rows of dimension floats are needed", nameof(vectors));
        var query = vectors.Slice(q * dimension, dimension);
        var best = -1;
        var bestScore = float.NegativeInfinity;
        for (var g = 0; g < count; g++)
        {
            if (g == q) continue;
            var score = TensorPrimitives.Dot(query, vectors.Slice(g * dimension, dimension));
            if (score > bestScore)
            {
                bestScore = score;
                best = g;
            }
        }

        return best;
    }
}
