using Indexer.Search.Maps;
using Indexer.Search.Metrics;

namespace Indexer.Evaluation;

/// <summary>The lazy policy at one threshold τ, counted the way the running system counts it.</summary>
/// <param name="Threshold">τ: items whose predicted agreement is below it are re-embedded.</param>
/// <param name="ReEmbedded">Share of gallery items the backfill re-embeds: those predicted below τ.</param>
/// <param name="TrueBelow">Share of gallery items whose true agreement cos(h(old), new) is below τ.</param>
/// <param name="CalibrationPasses">Backbone passes per gallery item spent on the calibration sample before activation.</param>
/// <param name="TotalPasses">Calibration plus backfill passes per gallery item (a calibrated item that is also selected is embedded twice).</param>
/// <param name="Quality">The gallery after the backfill: predicted-below items hold φ_new, every other item h(φ_old).</param>
public sealed record LazyPolicyPoint(double Threshold, double ReEmbedded, double TrueBelow, double CalibrationPasses, double TotalPasses, BackfillPoint Quality);

/// <summary>
/// The lazy policy of one upgrade under the system's accounting, at the configured τ and over a sweep of τ.
/// <see cref="UpgradeEvaluation"/> counts the calibration sample as re-embedded (its new vectors serve as items); the
/// running system does not store calibration vectors as item vectors, so here only the items predicted below τ hold
/// φ_new and the calibration sample is a separate cost.
/// </summary>
/// <param name="Upgrade">"old → new".</param>
/// <param name="NewModel">The new version.</param>
/// <param name="Configured">The policy at the evaluation's τ.</param>
/// <param name="Sweep">The policy at other thresholds, ascending.</param>
/// <param name="Classes">Where the upgrade's gap lies, split by the classes the old version saw; null when they are not known.</param>
public sealed record LazyPolicyResult(string Upgrade, string NewModel, LazyPolicyPoint Configured, IReadOnlyList<LazyPolicyPoint> Sweep, ClassSplit? Classes = null);

/// <summary>
/// The upgrade seen through the classes the old version was trained on (the zoo's v1 saw half of them): measured figures
/// the report's "why" notes quote. Items and queries are split by their label.
/// </summary>
/// <param name="OldClasses">The labels the old version trained on.</param>
/// <param name="UnseenShare">Share of gallery items whose class the old version never saw.</param>
/// <param name="AgreementSeen">Mean true agreement cos(h(old), new) over items of seen classes.</param>
/// <param name="AgreementUnseen">The same over items of unseen classes.</param>
/// <param name="TrueBelowSeen">Share of seen-class items whose true agreement is below τ.</param>
/// <param name="TrueBelowUnseen">Share of unseen-class items whose true agreement is below τ.</param>
/// <param name="SelectedSeen">Share of seen-class items the lazy policy selects at τ.</param>
/// <param name="SelectedUnseen">Share of unseen-class items it selects.</param>
/// <param name="UnseenReEmbedded">The gallery in which exactly the unseen-class items hold φ_new (β = <paramref name="UnseenShare"/>).</param>
/// <param name="MapOnlySeenQueries">β = 0 (every item through the map), queries of seen classes only.</param>
/// <param name="MapOnlyUnseenQueries">β = 0, queries of unseen classes only.</param>
/// <param name="FullSeenQueries">β = 1, queries of seen classes only.</param>
/// <param name="FullUnseenQueries">β = 1, queries of unseen classes only.</param>
public sealed record ClassSplit(
    IReadOnlyList<int> OldClasses,
    double UnseenShare,
    double AgreementSeen,
    double AgreementUnseen,
    double TrueBelowSeen,
    double TrueBelowUnseen,
    double SelectedSeen,
    double SelectedUnseen,
    BackfillPoint UnseenReEmbedded,
    BackfillPoint MapOnlySeenQueries,
    BackfillPoint MapOnlyUnseenQueries,
    BackfillPoint FullSeenQueries,
    BackfillPoint FullUnseenQueries);

/// <summary>Measures <see cref="LazyPolicyResult"/> for an upgrade already evaluated by <see cref="UpgradeEvaluation"/>.</summary>
public static class LazyPolicy
{
    /// <summary>Thresholds of the sweep.</summary>
    public static IReadOnlyList<double> SweepThresholds { get; } = [0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9];

    /// <summary>
    /// Repeats the calibration of <see cref="UpgradeEvaluation.Evaluate"/> (same draw, same map fit, same predictor, same
    /// seeds: the library calls it makes, in the same order), checks that it reproduces <paramref name="result"/>'s share
    /// below τ, and measures the lazy policy with calibration vectors not kept.
    /// </summary>
    /// <param name="dataset">The upgrade's dataset.</param>
    /// <param name="options">The options it was evaluated with.</param>
    /// <param name="result">Its evaluation.</param>
    /// <param name="oldClasses">The labels the old version trained on, for <see cref="ClassSplit"/>; null to skip it.</param>
    public static LazyPolicyResult Measure(EvaluationDataset dataset, UpgradeEvaluationOptions options, UpgradeResult result, IReadOnlyCollection<int>? oldClasses = null)
    {
        ArgumentNullException.ThrowIfNull(dataset);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(result);
        var calibrated = UpgradeEvaluation.Calibrate(dataset, options);
        var count = calibrated.Count;
        var evaluation = new BackfillEvaluation(dataset, options.UseMap ? calibrated.Map : null);
        var truth = evaluation.Agreements();
        var predicted = calibrated.Predicted;

        LazyPolicyPoint At(double threshold)
        {
            var masks = predicted.Select(p => (IReadOnlyList<bool>)p.Select(x => x < threshold).ToArray()).ToArray();
            var items = (double)dataset.ItemCount;
            var selected = masks.Sum(m => m.Count(x => x)) / items;
            var trueBelow = truth.Sum(a => a.Count(x => x < threshold)) / items;
            var calibrationPasses = count / items;
            return new LazyPolicyPoint(threshold, selected, trueBelow, calibrationPasses, calibrationPasses + selected, evaluation.Measure(masks, selected));
        }

        var configured = At(options.CompatibilityThreshold);
        if (Math.Abs(configured.ReEmbedded - result.FractionBelowThreshold) > 1e-12)
        {
            throw new InvalidOperationException(
                $"{result.Name}: repeating the calibration selected {configured.ReEmbedded:P3} of the items, the evaluation {result.FractionBelowThreshold:P3}; the two no longer match");
        }

        var classes = oldClasses is { Count: > 0 } ? Split(dataset, options, evaluation, truth, predicted, oldClasses) : null;
        return new LazyPolicyResult(result.Name, result.NewModel, configured, SweepThresholds.Select(At).ToArray(), classes);
    }

    private static ClassSplit Split(
        EvaluationDataset dataset, UpgradeEvaluationOptions options, BackfillEvaluation evaluation, IReadOnlyList<double[]> truth, double[][] predicted, IReadOnlyCollection<int> oldClasses)
    {
        var seen = oldClasses.ToHashSet();
        var galleries = dataset.Galleries;
        var threshold = options.CompatibilityThreshold;
        var seenItems = new List<(double Truth, double Predicted)>();
        var unseenItems = new List<(double Truth, double Predicted)>();
        for (var g = 0; g < galleries.Count; g++)
        {
            for (var i = 0; i < galleries[g].Count; i++) (seen.Contains(galleries[g].Labels[i]) ? seenItems : unseenItems).Add((truth[g][i], predicted[g][i]));
        }

        static double Mean(List<(double Truth, double Predicted)> items, Func<(double Truth, double Predicted), double> f) => items.Count == 0 ? double.NaN : items.Average(f);
        var unseenMasks = galleries.Select(g => (IReadOnlyList<bool>)g.Labels.Select(l => !seen.Contains(l)).ToArray()).ToArray();
        var unseenShare = (double)unseenItems.Count / dataset.ItemCount;
        var (mapSeen, fullSeen) = ByQueries(dataset, evaluation, q => seen.Contains(q));
        var (mapUnseen, fullUnseen) = ByQueries(dataset, evaluation, q => !seen.Contains(q));
        return new ClassSplit(
            oldClasses.Order().ToArray(),
            unseenShare,
            Mean(seenItems, x => x.Truth),
            Mean(unseenItems, x => x.Truth),
            Mean(seenItems, x => x.Truth < threshold ? 1 : 0),
            Mean(unseenItems, x => x.Truth < threshold ? 1 : 0),
            Mean(seenItems, x => x.Predicted < threshold ? 1 : 0),
            Mean(unseenItems, x => x.Predicted < threshold ? 1 : 0),
            evaluation.Measure(unseenMasks, unseenShare),
            mapSeen,
            mapUnseen,
            fullSeen,
            fullUnseen);
    }

    /// <summary>β = 0 and β = 1 for the queries whose label passes <paramref name="keep"/> only (same galleries, same map).</summary>
    private static (BackfillPoint MapOnly, BackfillPoint Full) ByQueries(EvaluationDataset dataset, BackfillEvaluation evaluation, Func<int, bool> keep)
    {
        var galleries = dataset.Galleries.Select(g =>
        {
            var queries = Enumerable.Range(0, g.QueryCount).Where(q => keep(g.QueryLabels[q])).ToArray();
            return new EvaluationGallery(
                g.Name, g.ItemIds, g.Labels, g.OldVectors.Span, g.NewVectors.Span,
                queries.Select(q => g.QueryLabels[q]).ToArray(), Rows(g.QueryOldVectors.Span, queries, g.OldDimension), Rows(g.QueryNewVectors.Span, queries, g.NewDimension),
                g.OldDimension, g.NewDimension);
        }).ToArray();
        var subset = new BackfillEvaluation(new EvaluationDataset(dataset.OldModel, dataset.NewModel, dataset.Description, galleries), evaluation.UsesMap ? evaluation.Map : null);
        IReadOnlyList<bool>[] All(bool value) => galleries.Select(g => (IReadOnlyList<bool>)Enumerable.Repeat(value, g.Count).ToArray()).ToArray();
        return (subset.Measure(All(false), 0), subset.Measure(All(true), 1));
    }

    private static float[] Rows(ReadOnlySpan<float> rows, int[] indices, int dimension)
    {
        var result = new float[indices.Length * dimension];
        for (var k = 0; k < indices.Length; k++) rows.Slice(indices[k] * dimension, dimension).CopyTo(result.AsSpan(k * dimension, dimension));
        return result;
    }
}
