using Indexer.Search.Maps;

namespace Indexer.Search.Metrics;

/// <summary>One fit of a kernel map during a backfill: at which share of the gallery re-embedded, and on how many anchors.</summary>
public sealed record MapRefit(double Beta, int Anchors);

/// <summary>The backfilling curve when a rollout fits its kernel map again as it goes (<see cref="MapRefitPolicy"/>).</summary>
public static class MapRefinement
{
    /// <summary>
    /// The backfilling curve in <paramref name="order"/> when the kernel map is fitted again as <see cref="MapRefitPolicy.IsDue"/> says,
    /// each time on the items re-embedded so far. Every gallery is taken to be at the same β, as an evenly shared budget
    /// keeps them. Also returns each fit's β and anchors.
    /// </summary>
    /// <param name="dataset">The galleries, with both models' vectors of every item.</param>
    /// <param name="map">The calibration's kernel map.</param>
    /// <param name="calibrationItems">The calibration sample's size.</param>
    /// <param name="evaluation">The evaluation through <paramref name="map"/>.</param>
    /// <param name="kind">What the order is, for the curve.</param>
    /// <param name="order">Per gallery, the order items are re-embedded in.</param>
    /// <param name="epsilon">The ε of β*(ε).</param>
    public static (BackfillCurve Curve, IReadOnlyList<MapRefit> Fits) Curve(
        EvaluationDataset dataset, EmbeddingMap map, int calibrationItems, BackfillEvaluation evaluation, BackfillOrder kind,
        IReadOnlyList<IReadOnlyList<int>> order, double epsilon = CurveSummary.DefaultEpsilon)
    {
        ArgumentNullException.ThrowIfNull(dataset);
        ArgumentNullException.ThrowIfNull(map);
        ArgumentNullException.ThrowIfNull(evaluation);
        ArgumentNullException.ThrowIfNull(order);
        if (map.Kind != MapKind.Kernel) throw new ArgumentException("only a kernel map carries its training pairs to be fitted again", nameof(map));
        var total = dataset.Galleries.Sum(g => g.Count);
        var fits = new List<MapRefit>();
        var evaluations = new List<(double Beta, BackfillEvaluation Evaluation)> { (0, evaluation) };
        for (var anchors = map.Correction!.Count; ;)
        {
            // The smallest β at which as many items as the map's anchors are re-embedded.
            var beta = (double)anchors / total;
            if (beta > 1 || !MapRefitPolicy.IsDue((long)Math.Ceiling(beta * total), anchors, calibrationItems)) break;
            var (oldVectors, newVectors, count) = ReEmbedded(dataset, order, beta);
            map = map.Refined(oldVectors, newVectors, count, out var added, MapRefitPolicy.MaxAnchors(calibrationItems) - anchors)!;
            if (added == 0) break;
            anchors = map.Correction!.Count;
            fits.Add(new MapRefit(beta, anchors));
            evaluations.Add((beta, new BackfillEvaluation(dataset, map, evaluation.Guard)));
        }

        var points = BackfillCurve.Betas.Select(beta => evaluations.Last(e => e.Beta <= beta + 1e-12).Evaluation.MeasureAt(order, beta)).ToArray();
        return (BackfillCurve.Create(kind, points, evaluation.CrossModel.OldOld, evaluation.CrossModel.NewNew, epsilon), fits);
    }

    /// <summary>The old and new vectors of the first ⌊β·|G|⌋ items of each gallery's order.</summary>
    private static (float[] Old, float[] New, int Count) ReEmbedded(EvaluationDataset dataset, IReadOnlyList<IReadOnlyList<int>> order, double beta)
    {
        int dOld = dataset.OldDimension, dNew = dataset.NewDimension;
        var oldVectors = new List<float>();
        var newVectors = new List<float>();
        for (var g = 0; g < dataset.Galleries.Count; g++)
        {
            var gallery = dataset.Galleries[g];
            foreach (var i in order[g].Take(BackfillOrdering.Prefix(beta, order[g].Count)))
            {
                oldVectors.AddRange(gallery.OldVectors.Span.Slice(i * dOld, dOld));
                newVectors.AddRange(gallery.NewVectors.Span.Slice(i * dNew, dNew));
            }
        }

        return (oldVectors.ToArray(), newVectors.ToArray(), oldVectors.Count / dOld);
    }
}
