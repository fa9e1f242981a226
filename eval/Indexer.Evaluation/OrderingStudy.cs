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
        var evaluation = new BackfillEvaluation(dataset, calibration.Map);
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

        var negatedTrue = trueDeviation.Select(d => Array.ConvertAll(d, x => -x)).ToArray();
        var flatTrue = negatedTrue.SelectMany(d => d).ToArray();
        Row Measure(string order, Needs needs, IReadOnlyList<double[]> compatibility)
        {
            var orderings = compatibility.Select(c => (IReadOnlyList<int>)BackfillOrdering.LeastCompatibleFirst(c)).ToArray();
            var spearman = ReferenceEquals(compatibility, negatedTrue) ? double.NaN : RankStatistics.Spearman(compatibility.SelectMany(c => c).ToArray(), flatTrue);
            var kind = needs == Needs.OldVectors ? BackfillOrder.Predicted : BackfillOrder.Oracle;
            return new Row(dataset.Name, order, needs, evaluation.Curve(kind, orderings, options.Epsilon), spearman);
        }

        var predictedOrder = calibration.Predicted.Select(c => (IReadOnlyList<int>)BackfillOrdering.LeastCompatibleFirst(c)).ToArray();
        var refined = calibration.Map.Kind == MapKind.Kernel ? RefinedCurve(dataset, calibration, evaluation, predictedOrder, options.Epsilon).Curve : null;

        // Every score is a compatibility: lower goes first.
        return
        [
            Measure("agreement, predicted (the system's order)", Needs.OldVectors, calibration.Predicted),
            .. refined is null ? Array.Empty<Row>() : [new Row(dataset.Name, "agreement, predicted; kernel map fitted again with the re-embedded items (not in the system yet)", Needs.OldVectors, refined, double.NaN)],
            Measure($"score deviation ({neighbours} probes), predicted", Needs.OldVectors, predictedDeviation),
            Measure("agreement, true (the report's oracle)", Needs.NewModelOnEveryItem, evaluation.Agreements()),
            Measure($"score deviation ({neighbours} probes), true", Needs.NewModelOnEveryItem, negatedTrue),
            Measure("marginal mAP gain on the held-out queries", Needs.QueriesAndLabels, evaluation.MarginalGains().Select(g => Array.ConvertAll(g, x => -x)).ToArray()),
        ];
    }

    /// <summary>
    /// The predicted order's curve when the kernel map is fitted again, each time the items re-embedded so far outnumber
    /// the map's anchors, on its anchors plus those items (their old and new vectors are both stored until the commit),
    /// up to <see cref="RefinedAnchorsPerCalibrationItem"/> anchors per calibration item. Every gallery is taken to be
    /// at the same β, as an evenly shared budget keeps them. Also returns each fit's β and anchors. Needs a kernel map.
    /// </summary>
    internal static (BackfillCurve Curve, IReadOnlyList<(double Beta, int Anchors)> Fits) RefinedCurve(
        EvaluationDataset dataset, UpgradeCalibration calibration, BackfillEvaluation evaluation, IReadOnlyList<int>[] order, double epsilon)
    {
        if (calibration.Map.Kind != MapKind.Kernel) throw new ArgumentException("only a kernel map can be fitted again", nameof(calibration));
        var fits = new List<(double Beta, int Anchors)>();
        var total = dataset.Galleries.Sum(g => g.Count);
        var inCalibration = calibration.Items.Select(items => items.ToHashSet()).ToArray();
        var evaluations = new List<(double Beta, BackfillEvaluation Evaluation)> { (0, evaluation) };
        var map = calibration.Map;
        var pairs = calibration.Count; // re-embedded items at which the next fit happens: the anchors so far
        while (map.Correction!.Count < RefinedAnchorsPerCalibrationItem * calibration.Count)
        {
            var beta = (double)pairs / total;
            if (beta > 1) break;
            var (oldVectors, newVectors, count) = ReEmbedded(dataset, order, inCalibration, beta);
            map = map.Refined(oldVectors, newVectors, count, out _)!;
            evaluations.Add((beta, new BackfillEvaluation(dataset, map)));
            fits.Add((beta, map.Correction!.Count));
            pairs = map.Correction!.Count;
        }

        var points = BackfillCurve.Betas.Select(beta => evaluations.Last(e => e.Beta <= beta + 1e-12).Evaluation.MeasureAt(order, beta)).ToArray();
        return (BackfillCurve.Create(BackfillOrder.Predicted, points, evaluation.CrossModel.OldOld, evaluation.CrossModel.NewNew, epsilon), fits);
    }

    /// <summary>Most anchors a refined map gets, per calibration item: fitting is cubic in them, applying linear.</summary>
    public const int RefinedAnchorsPerCalibrationItem = 4;

    private static (float[] Old, float[] New, int Count) ReEmbedded(EvaluationDataset dataset, IReadOnlyList<int>[] order, HashSet<int>[] inCalibration, double beta)
    {
        int dOld = dataset.OldDimension, dNew = dataset.NewDimension;
        var oldVectors = new List<float>();
        var newVectors = new List<float>();
        for (var g = 0; g < dataset.Galleries.Count; g++)
        {
            var gallery = dataset.Galleries[g];
            var prefix = BackfillOrdering.Prefix(beta, order[g].Count);
            foreach (var i in order[g].Take(prefix).Where(i => !inCalibration[g].Contains(i)))
            {
                oldVectors.AddRange(gallery.OldVectors.Span.Slice(i * dOld, dOld));
                newVectors.AddRange(gallery.NewVectors.Span.Slice(i * dNew, dNew));
            }
        }

        return (oldVectors.ToArray(), newVectors.ToArray(), oldVectors.Count / dOld);
    }
}
