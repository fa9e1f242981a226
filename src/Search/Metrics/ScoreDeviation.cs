namespace Indexer.Search.Metrics;

/// <summary>
/// A retrieval-grounded measure of how badly an item is served before it is re-embedded: how far the scores its served
/// vector h(φ_old) gets from the queries that would find it differ from the scores its new vector φ_new would get.
/// The queries are stood in for by probe vectors in the new space (for instance the calibration sample's φ_new), and
/// "would find it" means the probes nearest to φ_new. Agreement cos(h(φ_old), φ_new) counts every direction of the
/// difference alike; this counts only the directions the item's neighbourhood scores along, which is what moves it in
/// a ranking.
/// </summary>
public static class ScoreDeviation
{
    /// <summary>Probes averaged over per item by default.</summary>
    public const int DefaultNeighbours = 30;

    /// <summary>A probe this close to an item's φ_new (cosine) is the item itself, as when a calibration item is scored, and is skipped.</summary>
    public const float SelfSimilarity = 1 - 1e-6f;

    /// <summary>
    /// Per item, the mean over the <paramref name="neighbours"/> probes nearest to its φ_new of
    /// |⟨probe, served⟩ − ⟨probe, φ_new⟩|: 0 when the served vector scores like the new one.
    /// </summary>
    /// <param name="served">The vectors served before re-embedding, count x dimension, row-major, normalised.</param>
    /// <param name="truth">The new model's vectors of the same items, same layout.</param>
    /// <param name="probes">Probe vectors in the new space, probeCount x dimension, normalised.</param>
    /// <param name="count">Items.</param>
    /// <param name="probeCount">Probes.</param>
    /// <param name="dimension">Dimension of the new space.</param>
    /// <param name="neighbours">Probes per item; fewer when fewer remain after skipping the item itself.</param>
    public static double[] Compute(
        ReadOnlySpan<float> served, ReadOnlySpan<float> truth, ReadOnlySpan<float> probes, int count, int probeCount, int dimension, int neighbours = DefaultNeighbours)
    {
        if (served.Length != (long)count * dimension || truth.Length != (long)count * dimension)
        {
            throw new ArgumentException("served and truth must hold count rows of the dimension");
        }

        if (probes.Length != (long)probeCount * dimension) throw new ArgumentException("probes must hold probeCount rows of the dimension", nameof(probes));
        ArgumentOutOfRangeException.ThrowIfLessThan(neighbours, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(probeCount, 1);

        var result = new double[count];
        var truthScores = new float[probeCount];
        var order = new int[probeCount];
        var keys = new float[probeCount];
        for (var i = 0; i < count; i++)
        {
            var t = truth.Slice(i * dimension, dimension);
            var s = served.Slice(i * dimension, dimension);
            for (var p = 0; p < probeCount; p++)
            {
                truthScores[p] = VectorMath.Dot(probes.Slice(p * dimension, dimension), t);
                keys[p] = -truthScores[p];
                order[p] = p;
            }

            keys.AsSpan().Sort(order.AsSpan());
            double sum = 0;
            var used = 0;
            for (var k = 0; k < probeCount && used < neighbours; k++)
            {
                var p = order[k];
                if (truthScores[p] >= SelfSimilarity) continue;
                sum += Math.Abs(VectorMath.Dot(probes.Slice(p * dimension, dimension), s) - truthScores[p]);
                used++;
            }

            result[i] = used == 0 ? 0 : sum / used;
        }

        return result;
    }
}
