using Indexer.Search.Metrics;

namespace Indexer.Evaluation;

/// <summary>
/// Whether a threshold on a retrieval-grounded compatibility would select fewer items than the lazy policy's threshold
/// on agreement: per upgrade and route, the share of gallery items below τ by agreement cos(served, φ_new), by
/// <see cref="Findability"/>'s score correlation and by its retention (would the item still be found by the queries
/// that find it). Every measure reads φ_new of every item, so this bounds what any predictor of them could select.
/// </summary>
public static class FindabilityStudy
{
    /// <summary>A per-item measure over the gallery: its mean and the share of items below τ.</summary>
    /// <param name="Mean">Mean over every gallery item.</param>
    /// <param name="Below">Share of gallery items below τ.</param>
    public readonly record struct Spread(double Mean, double Below);

    /// <summary>One upgrade served one way.</summary>
    /// <param name="Upgrade">"old → new".</param>
    /// <param name="Route">How old items are served: through the calibration's map, or their old vectors directly.</param>
    /// <param name="Items">Gallery items measured.</param>
    /// <param name="Threshold">τ.</param>
    /// <param name="Agreement">cos(served, φ_new).</param>
    /// <param name="PredictedBelow">The lazy policy's selection: share predicted below τ (the map's route only; NaN otherwise).</param>
    /// <param name="ScoreCorrelation"><see cref="ItemFindability.ScoreCorrelation"/>.</param>
    /// <param name="Retention"><see cref="ItemFindability.Retention"/> at <paramref name="Depth"/>.</param>
    /// <param name="Depth">The result depth of the retention.</param>
    /// <param name="SpearmanAgreementRetention">Rank correlation of agreement and retention over the items.</param>
    public sealed record Row(
        string Upgrade, string Route, int Items, double Threshold, Spread Agreement, double PredictedBelow, Spread ScoreCorrelation, Spread Retention, int Depth, double SpearmanAgreementRetention);

    /// <summary>Measures one upgrade through its calibration's map and, where the spaces have one dimension, directly.</summary>
    public static IReadOnlyList<Row> Run(EvaluationDataset dataset, UpgradeEvaluationOptions options, int depth = Findability.DefaultDepth)
    {
        ArgumentNullException.ThrowIfNull(dataset);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentOutOfRangeException.ThrowIfLessThan(depth, 1);
        var calibration = UpgradeEvaluation.Calibrate(dataset, options);
        var rows = new List<Row>
        {
            Measure(dataset, new BackfillEvaluation(dataset, calibration.Map), $"through the map ({calibration.Map.Kind.ToString().ToLowerInvariant()}), as served", options.CompatibilityThreshold, depth,
                calibration.Predicted.SelectMany(p => p).Count(x => x < options.CompatibilityThreshold) / (double)dataset.ItemCount),
        };
        if (dataset.OldDimension == dataset.NewDimension)
        {
            rows.Add(Measure(dataset, new BackfillEvaluation(dataset, null), "old vectors directly (no map)", options.CompatibilityThreshold, depth, double.NaN));
        }

        return rows;
    }

    private static Row Measure(EvaluationDataset dataset, BackfillEvaluation evaluation, string route, double threshold, int depth, double predictedBelow)
    {
        var galleries = dataset.Galleries;
        var findability = new ItemFindability[galleries.Count][];
        Parallel.For(0, galleries.Count, g =>
            findability[g] = Findability.Compute(evaluation.ServedVectors(g).Span, galleries[g].NewVectors.Span, galleries[g].Count, dataset.NewDimension, depth));
        var agreement = evaluation.Agreements().SelectMany(a => a).ToArray();
        var items = findability.SelectMany(f => f).ToArray();
        var correlation = items.Select(i => i.ScoreCorrelation).ToArray();
        var retention = items.Select(i => i.Retention).ToArray();
        Spread Of(double[] values) => new(values.Average(), values.Count(v => v < threshold) / (double)values.Length);
        return new Row(
            $"{dataset.OldModel} → {dataset.NewModel}", route, items.Length, threshold, Of(agreement), predictedBelow, Of(correlation), Of(retention), depth,
            RankStatistics.Spearman(agreement, retention));
    }
}
