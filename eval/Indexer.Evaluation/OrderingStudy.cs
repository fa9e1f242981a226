using Indexer.Search.Maps;
using Indexer.Search.Metrics;

namespace Indexer.Evaluation;

/// <summary>
/// Which orders of a backfill could reach the area and β* targets, and which of them a system can compute. The
/// report's predicted and oracle orders rank items by agreement cos(h(φ_old), φ_new); this study adds two other
/// per-item measures and their backfilling curves on the same calibration, map and queries:
/// <list type="bullet">
/// <item>the <see cref="ScoreDeviation"/> of each item's served vector against the calibration sample's φ_new as probes:
/// true (it needs φ_new of every item, like the oracle) and predicted from the old vector alone by the system's
/// <see cref="CompatibilityPredictor"/>, fitted on the calibration items' out-of-fold deviations;</item>
/// <item>each item's marginal mAP gain on the held-out queries (<see cref="BackfillEvaluation.MarginalGains"/>), which
/// reads the queries and their labels: a reference for how much any order can front-load, not a method.</item>
/// </list>
/// </summary>
public static class OrderingStudy
{
    /// <summary>What computing an order needs.</summary>
    public enum Needs
    {
        /// <summary>The stored old vectors and the calibration sample: what the running system has.</summary>
        OldVectors,

        /// <summary>The new model's vector of every item: as much as a full re-index.</summary>
        NewModelOnEveryItem,

        /// <summary>The evaluation's queries and labels.</summary>
        QueriesAndLabels,
    }

    /// <summary>One order's curve, summarised on mAP.</summary>
    /// <param name="Upgrade">"old → new".</param>
    /// <param name="Order">What the items are ranked by.</param>
    /// <param name="Needs">What computing the order needs.</param>
    /// <param name="Curve">The backfilling curve in that order.</param>
    /// <param name="SpearmanWithTrueDeviation">Rank correlation of the order's score with the true score deviation over every gallery item (NaN for that order itself).</param>
    public sealed record Row(string Upgrade, string Order, Needs Needs, BackfillCurve Curve, double SpearmanWithTrueDeviation)
    {
        /// <summary>The curve's area, area fraction, β* and regret on mAP.</summary>
        public CurveSummary Summary => Curve.Summary(RetrievalMeasure.MeanAveragePrecision);
    }

    /// <summary>Measures every order of one upgrade; <paramref name="neighbours"/> probes per item for the score deviation.</summary>
    public static IReadOnlyList<Row> Run(EvaluationDataset dataset, UpgradeEvaluationOptions options, int neighbours = ScoreDeviation.DefaultNeighbours)
    {
        ArgumentNullException.ThrowIfNull(dataset);
        ArgumentNullException.ThrowIfNull(options);
        if (!options.UseMap) throw new ArgumentException("the study compares orders through the fitted map; run it with a map", nameof(options));
        var calibration = UpgradeEvaluation.Calibrate(dataset, options);
        var fit = calibration.Fit!;
        var evaluation = new BackfillEvaluation(dataset, calibration.Map, calibration.Guard(options.GuardDepth));
        int dOld = dataset.OldDimension, dNew = dataset.NewDimension;

        // The probes: the calibration sample's new vectors, which the system has once it has calibrated.
        var probes = calibration.NewVectors;

        var trueDeviation = new double[dataset.Galleries.Count][];
        Parallel.For(0, dataset.Galleries.Count, g =>
        {
            var gallery = dataset.Galleries[g];
            trueDeviation[g] = ScoreDeviation.Compute(evaluation.ServedVectors(g).Span, gallery.NewVectors.Span, probes.Span, gallery.Count, calibration.Count, dNew, neighbours);
        });

        // What a system could learn: each calibration item's deviation as it would be served had the map not seen it.
        var calibrationDeviation = ScoreDeviation.Compute(fit.OutOfFoldMapped.Span, probes.Span, probes.Span, calibration.Count, calibration.Count, dNew, neighbours);
        var deviationPredictor = CompatibilityPredictor.Fit(calibration.OldVectors.Span, Array.ConvertAll(calibrationDeviation, d => -d), dOld, options.Seed);
        var predictedDeviation = dataset.Galleries
            .Select(gallery => Enumerable.Range(0, gallery.Count).Select(i => deviationPredictor.Predict(gallery.OldVectors.Span.Slice(i * dOld, dOld))).ToArray())
            .ToArray();

        // Every order as the system would serve it: with the kernel map fitted again as the backfill goes, when it is one.
        var refits = options.RefineMap && calibration.Map.Kind == MapKind.Kernel;
        var negatedTrue = trueDeviation.Select(d => Array.ConvertAll(d, x => -x)).ToArray();
        var flatTrue = negatedTrue.SelectMany(d => d).ToArray();
        Row Measure(string order, Needs needs, IReadOnlyList<double[]> compatibility)
        {
            var orderings = compatibility.Select(c => (IReadOnlyList<int>)BackfillOrdering.LeastCompatibleFirst(c)).ToArray();
            var spearman = ReferenceEquals(compatibility, negatedTrue) ? double.NaN : RankStatistics.Spearman(compatibility.SelectMany(c => c).ToArray(), flatTrue);
            var kind = needs == Needs.OldVectors ? BackfillOrder.Predicted : BackfillOrder.Oracle;
            return new Row(dataset.Name, order, needs, Curve(kind, orderings, refits), spearman);
        }

        BackfillCurve Curve(BackfillOrder kind, IReadOnlyList<IReadOnlyList<int>> orderings, bool refit) => refit
            ? MapRefinement.Curve(dataset, calibration.Map, calibration.Count, evaluation, kind, orderings, options.Epsilon).Curve
            : evaluation.Curve(kind, orderings, options.Epsilon);
        var systemOrder = calibration.Predicted.Select(c => (IReadOnlyList<int>)BackfillOrdering.LeastCompatibleFirst(c)).ToArray();
        var withoutRefits = refits
            ? [new Row(dataset.Name, "agreement, predicted, the calibration's map throughout (no refits)", Needs.OldVectors,
                Curve(BackfillOrder.Predicted, systemOrder, refit: false), double.NaN)]
            : Array.Empty<Row>();

        var unguarded = new BackfillEvaluation(dataset, calibration.Map);
        var withoutGuard = evaluation.Guard is not null
            ? [new Row(dataset.Name, "agreement, predicted, no regression guard", Needs.OldVectors, refits
                ? MapRefinement.Curve(dataset, calibration.Map, calibration.Count, unguarded, BackfillOrder.Predicted, systemOrder, options.Epsilon).Curve
                : unguarded.Curve(BackfillOrder.Predicted, systemOrder, options.Epsilon), double.NaN)]
            : Array.Empty<Row>();

        // Every score is a compatibility: lower goes first.
        return
        [
            Measure("agreement, predicted (the system's order)", Needs.OldVectors, calibration.Predicted),
            .. withoutRefits,
            .. withoutGuard,
            Measure($"score deviation ({neighbours} probes), predicted", Needs.OldVectors, predictedDeviation),
            Measure("agreement, true (the report's oracle)", Needs.NewModelOnEveryItem, evaluation.Agreements()),
            Measure($"score deviation ({neighbours} probes), true", Needs.NewModelOnEveryItem, negatedTrue),
            Measure("marginal mAP gain on the held-out queries", Needs.QueriesAndLabels, evaluation.MarginalGains().Select(g => Array.ConvertAll(g, x => -x)).ToArray()),
        ];
    }
}
