using System.Diagnostics;
using Indexer.Search.Maps;

namespace Indexer.Search.Metrics;

/// <summary>How <see cref="UpgradeEvaluation"/> calibrates and measures an upgrade.</summary>
public sealed record UpgradeEvaluationOptions
{
    /// <summary>
    /// Items re-embedded by the new model up front to fit the map and the compatibility predictor, drawn evenly across
    /// galleries (<see cref="SampleAllocation"/>), as the system's calibration does.
    /// </summary>
    public int CalibrationSize { get; init; } = 800;

    /// <summary>Seed of the calibration draw, the map's and predictor's held-out splits and the random ordering.</summary>
    public int Seed { get; init; }

    /// <summary>Serve old vectors through a map h fitted by <see cref="MapFitter"/>; false serves them as they are (equal dimensions only).</summary>
    public bool UseMap { get; init; } = true;

    /// <summary>Share of the calibration sample that <see cref="MapFitter"/> holds out to choose among candidate maps.</summary>
    public double MapHeldOutFraction { get; init; } = 0.2;

    /// <summary>Ridge penalties tried by <see cref="MapFitter"/>; its defaults when null.</summary>
    public IReadOnlyList<double>? RidgePenalties { get; init; }

    /// <summary>
    /// The lazy policy re-embeds items whose predicted agreement cos(h(old), new) is below this; the report gives the share.
    /// </summary>
    public double CompatibilityThreshold { get; init; } = 0.8;

    /// <summary>The ε of β*(ε).</summary>
    public double Epsilon { get; init; } = CurveSummary.DefaultEpsilon;

    /// <summary>
    /// Fit a kernel map again with the re-embedded items as the backfill goes, as the system does (<see cref="MapRefinement"/>);
    /// false keeps the calibration's map for the whole curve.
    /// </summary>
    public bool RefineMap { get; init; } = true;

    /// <summary>
    /// Rank the mixed galleries with the <see cref="RegressionGuard"/> of this depth, as the system serves a rollout until its
    /// commit (its calibration of old scores fitted on the calibration sample, as the system's); 0 ranks by the new space
    /// alone.
    /// </summary>
    public int GuardDepth { get; init; } = RegressionGuard.DefaultDepth;

    /// <summary>Throws when an option is out of range, so a bad run fails before any work.</summary>
    public void Validate()
    {
        if (CalibrationSize < 8) throw new ArgumentOutOfRangeException(nameof(CalibrationSize), CalibrationSize, "at least 8 items are needed to fit and check a predictor");
        if (MapHeldOutFraction is <= 0 or >= 1) throw new ArgumentOutOfRangeException(nameof(MapHeldOutFraction), MapHeldOutFraction, "must lie strictly between 0 and 1");
        if (Epsilon is < 0 or >= 1) throw new ArgumentOutOfRangeException(nameof(Epsilon), Epsilon, "must lie in [0, 1)");
        if (GuardDepth is < 0 or 1) throw new ArgumentOutOfRangeException(nameof(GuardDepth), GuardDepth, "0 (no guard) or at least 2");
        if (double.IsNaN(CompatibilityThreshold)) throw new ArgumentOutOfRangeException(nameof(CompatibilityThreshold), "must be a number");
    }
}

/// <summary>
/// What an upgrade costs, as far as it can be computed offline (wall times need the running system). Passes are
/// backbone forward passes per gallery item; a full re-index is 1.0.
/// </summary>
/// <param name="CalibrationPassesPerItem">The calibration sample's share of the gallery, re-embedded before anything is served.</param>
/// <param name="MapOnlyPassesPerItem">Serving h(old) for every item and re-embedding nothing: 0 beyond the calibration.</param>
/// <param name="LazyPassesPerItem">The lazy policy: the share of items whose predicted agreement is below the threshold.</param>
/// <param name="LazyTotalPassesPerItem">The lazy policy including the calibration sample: |calibration ∪ below threshold| / |G|.</param>
/// <param name="MapMultiplyAddsPerItem">Multiply-adds of applying h to one old vector (0 for the identity).</param>
/// <param name="OldBytesPerItem">Bytes of one stored old vector (float32).</param>
/// <param name="NewBytesPerItem">Bytes of one stored new or mapped vector (float32).</param>
/// <param name="MapBytes">Bytes of the map (its weights and, for a local map, its anchors and residuals), stored once per upgrade.</param>
public sealed record UpgradeCosts(
    double CalibrationPassesPerItem,
    double MapOnlyPassesPerItem,
    double LazyPassesPerItem,
    double LazyTotalPassesPerItem,
    long MapMultiplyAddsPerItem,
    int OldBytesPerItem,
    int NewBytesPerItem,
    long MapBytes)
{
    /// <summary>A full re-index passes every item through the backbone once.</summary>
    public double FullBackfillPassesPerItem => 1.0;

    /// <summary>Queries are embedded once, by the new model, whatever the gallery holds.</summary>
    public int EncodingsPerQuery => 1;
}

/// <summary>The measured upgrade: the cross-model table, the three backfilling curves and the figures around them.</summary>
public sealed record UpgradeResult
{
    /// <summary>Name of the old model version.</summary>
    public required string OldModel { get; init; }

    /// <summary>Name of the new model version.</summary>
    public required string NewModel { get; init; }

    /// <summary>Where the data came from (<see cref="EvaluationDataset.Description"/>).</summary>
    public required string Description { get; init; }

    /// <summary>Dimension of the old model's vectors.</summary>
    public required int OldDimension { get; init; }

    /// <summary>Dimension of the new model's vectors.</summary>
    public required int NewDimension { get; init; }

    /// <summary>Simulated users.</summary>
    public required int Galleries { get; init; }

    /// <summary>Gallery items over all users.</summary>
    public required int Items { get; init; }

    /// <summary>Queries scored (with at least one positive in their gallery).</summary>
    public required int Queries { get; init; }

    /// <summary>Queries left out because their gallery holds nothing of their label.</summary>
    public required int SkippedQueries { get; init; }

    /// <summary>The options the evaluation ran with.</summary>
    public required UpgradeEvaluationOptions Options { get; init; }

    /// <summary>Items actually drawn for calibration.</summary>
    public required int CalibrationItems { get; init; }

    /// <summary>M(old,old), M(new,new), M(new,old), M(new,h(old)) (macro over galleries), the criterion and the update gain.</summary>
    public required CrossModelTable CrossModel { get; init; }

    /// <summary>The kind of map serving old vectors (<see cref="MapKind.Identity"/> when none is used).</summary>
    public required MapKind MapKind { get; init; }

    /// <summary>The map's agreement on calibration items it was not fitted on; null when no map was fitted.</summary>
    public AgreementSummary? MapHeldOut { get; init; }

    /// <summary>True agreement cos(h(old), new) over every gallery item.</summary>
    public required AgreementSummary Agreement { get; init; }

    /// <summary>The kind of compatibility predictor chosen on the calibration sample.</summary>
    public required PredictorKind PredictorKind { get; init; }

    /// <summary>Spearman correlation of predicted and true agreement on calibration items the predictor did not see.</summary>
    public required double PredictorHeldOutSpearman { get; init; }

    /// <summary>The same correlation over every gallery item outside the calibration sample.</summary>
    public required double PredictorGallerySpearman { get; init; }

    /// <summary>The lazy policy's threshold on predicted agreement.</summary>
    public required double CompatibilityThreshold { get; init; }

    /// <summary>Share of gallery items whose predicted agreement is below <see cref="CompatibilityThreshold"/>.</summary>
    public required double FractionBelowThreshold { get; init; }

    /// <summary>Share of gallery items whose true agreement is below <see cref="CompatibilityThreshold"/>.</summary>
    public required double TrueFractionBelowThreshold { get; init; }

    /// <summary>The gallery after the lazy policy: the calibration sample and every item predicted below the threshold hold φ_new.</summary>
    public required BackfillPoint Lazy { get; init; }

    /// <summary>The fits of the kernel map along the predicted order's curve (<see cref="MapRefinement"/>); empty when the map was not fitted again.</summary>
    public IReadOnlyList<MapRefit> MapRefits { get; init; } = [];

    /// <summary>The backfilling curve in a seeded random order.</summary>
    public required BackfillCurve Random { get; init; }

    /// <summary>The backfilling curve least compatible first by predicted agreement: the method.</summary>
    public required BackfillCurve Predicted { get; init; }

    /// <summary>The backfilling curve least compatible first by true agreement: an upper bound.</summary>
    public required BackfillCurve Oracle { get; init; }

    /// <summary>What the policies cost, as far as it can be computed offline.</summary>
    public required UpgradeCosts Costs { get; init; }

    /// <summary>Wall time of this evaluation (not of an upgrade).</summary>
    public required TimeSpan Elapsed { get; init; }

    /// <summary>"old → new".</summary>
    public string Name => $"{OldModel} → {NewModel}";

    /// <summary>
    /// NFR@1 of a full re-index once committed: new/new against old/old. Unguarded, it is also the end point of every
    /// curve; with the regression guard the curves end lower, while the old vectors are still held.
    /// </summary>
    public required double FullReindexNegativeFlipRate1 { get; init; }

    /// <summary>The three curves in the order random, predicted, oracle.</summary>
    [System.Text.Json.Serialization.JsonIgnore] // the same three curves as the properties above
    public IReadOnlyList<BackfillCurve> Curves => [Random, Predicted, Oracle];
}

/// <summary>
/// The offline evaluation of one upgrade (METRICS.md) on feature matrices: calibrates as the system does (a sample
/// drawn evenly across galleries, re-embedded by the new model; a map fitted on it by <see cref="MapFitter"/>; a
/// <see cref="CompatibilityPredictor"/> fitted on the map's agreement there), then measures the cross-model table, the
/// backfilling curves in random, predicted and oracle order, the lazy policy, and the offline costs.
/// </summary>
public static class UpgradeEvaluation
{
    /// <summary>Evaluates one upgrade; every random choice follows <see cref="UpgradeEvaluationOptions.Seed"/>.</summary>
    public static UpgradeResult Evaluate(EvaluationDataset dataset, UpgradeEvaluationOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(dataset);
        options ??= new UpgradeEvaluationOptions();
        options.Validate();
        if (!options.UseMap && dataset.OldDimension != dataset.NewDimension)
        {
            throw new ArgumentException($"without a map the dimensions must agree ({dataset.OldDimension} vs {dataset.NewDimension})", nameof(options));
        }

        var clock = Stopwatch.StartNew();
        var galleries = dataset.Galleries;
        int dOld = dataset.OldDimension, dNew = dataset.NewDimension;

        var calibrated = Calibrate(dataset, options);
        var (calibration, calibrationCount, fit, map, predictor, predicted) =
            (calibrated.Items, calibrated.Count, calibrated.Fit, calibrated.Map, calibrated.Predictor, calibrated.Predicted);
        var evaluation = new BackfillEvaluation(dataset, options.UseMap ? map : null, calibrated.Guard(options.GuardDepth));
        var agreements = evaluation.Agreements();

        // HashCode.Combine would differ from process to process; a plain formula keeps runs reproducible.
        var randomOrder = galleries.Select((g, k) => (IReadOnlyList<int>)BackfillOrdering.Random(g.Count, unchecked((options.Seed * 7919) + k))).ToArray();
        var predictedOrder = predicted.Select(p => (IReadOnlyList<int>)BackfillOrdering.LeastCompatibleFirst(p)).ToArray();
        var oracleOrder = agreements.Select(a => (IReadOnlyList<int>)BackfillOrdering.LeastCompatibleFirst(a)).ToArray();

        // The lazy policy: the calibration items already hold φ_new; every item predicted below the threshold is re-embedded.
        var threshold = options.CompatibilityThreshold;
        var lazyMask = new IReadOnlyList<bool>[galleries.Count];
        var outsideCalibrationPredicted = new List<double>();
        var outsideCalibrationTrue = new List<double>();
        int below = 0, trueBelow = 0, lazyTotal = 0;
        for (var g = 0; g < galleries.Count; g++)
        {
            var mask = new bool[galleries[g].Count];
            var inCalibration = new HashSet<int>(calibration[g]);
            for (var i = 0; i < mask.Length; i++)
            {
                var isBelow = predicted[g][i] < threshold;
                if (isBelow) below++;
                if (agreements[g][i] < threshold) trueBelow++;
                mask[i] = isBelow || inCalibration.Contains(i);
                if (mask[i]) lazyTotal++;
                if (!inCalibration.Contains(i))
                {
                    outsideCalibrationPredicted.Add(predicted[g][i]);
                    outsideCalibrationTrue.Add(agreements[g][i]);
                }
            }

            lazyMask[g] = mask;
        }

        // Every order's curve as the system would serve it: with the kernel map fitted again along the way, when it is one.
        var refines = options.UseMap && options.RefineMap && map.Kind == MapKind.Kernel;
        (BackfillCurve Curve, IReadOnlyList<MapRefit> Fits) Curve(BackfillOrder kind, IReadOnlyList<IReadOnlyList<int>> order) => refines
            ? MapRefinement.Curve(dataset, map, calibrationCount, evaluation, kind, order, options.Epsilon)
            : (evaluation.Curve(kind, order, options.Epsilon), []);
        var predictedCurve = Curve(BackfillOrder.Predicted, predictedOrder);

        var items = dataset.ItemCount;
        var costs = new UpgradeCosts(
            CalibrationPassesPerItem: (double)calibrationCount / items,
            MapOnlyPassesPerItem: 0,
            LazyPassesPerItem: (double)below / items,
            LazyTotalPassesPerItem: (double)lazyTotal / items,
            MapMultiplyAddsPerItem: options.UseMap ? map.MultiplyAddsPerItem : 0,
            OldBytesPerItem: dOld * sizeof(float),
            NewBytesPerItem: dNew * sizeof(float),
            MapBytes: options.UseMap ? map.ParameterCount * sizeof(float) : 0);

        var result = new UpgradeResult
        {
            OldModel = dataset.OldModel,
            NewModel = dataset.NewModel,
            Description = dataset.Description,
            OldDimension = dOld,
            NewDimension = dNew,
            Galleries = galleries.Count,
            Items = items,
            Queries = evaluation.CrossModel.NewNew.Queries,
            SkippedQueries = evaluation.CrossModel.NewNew.SkippedWithoutPositive,
            Options = options,
            CalibrationItems = calibrationCount,
            CrossModel = evaluation.CrossModel,
            MapKind = options.UseMap ? map.Kind : MapKind.Identity,
            MapHeldOut = fit?.HeldOut,
            Agreement = AgreementSummary.Of(agreements.SelectMany(a => a).ToArray()),
            PredictorKind = predictor.Kind,
            PredictorHeldOutSpearman = predictor.HeldOutSpearman,
            PredictorGallerySpearman = RankStatistics.Spearman(outsideCalibrationPredicted, outsideCalibrationTrue),
            CompatibilityThreshold = threshold,
            FractionBelowThreshold = (double)below / items,
            TrueFractionBelowThreshold = (double)trueBelow / items,
            Lazy = evaluation.Measure(lazyMask, (double)lazyTotal / items),
            FullReindexNegativeFlipRate1 = evaluation.FullReindex.NegativeFlipRate1,
            Random = Curve(BackfillOrder.Random, randomOrder).Curve,
            Predicted = predictedCurve.Curve,
            MapRefits = predictedCurve.Fits,
            Oracle = Curve(BackfillOrder.Oracle, oracleOrder).Curve,
            Costs = costs,
            Elapsed = TimeSpan.Zero,
        };
        return result with { Elapsed = clock.Elapsed };
    }

    /// <summary>
    /// The calibration of an upgrade as the evaluation performs it: the sample drawn evenly across galleries
    /// (<see cref="DrawCalibration"/>), the map fitted on it (identity without <see cref="UpgradeEvaluationOptions.UseMap"/>),
    /// the compatibility predictor fitted on its agreements, and every gallery item's predicted compatibility.
    /// Deterministic for a dataset and options, so other measurements of the same upgrade can reuse it.
    /// </summary>
    public static UpgradeCalibration Calibrate(EvaluationDataset dataset, UpgradeEvaluationOptions options)
    {
        ArgumentNullException.ThrowIfNull(dataset);
        ArgumentNullException.ThrowIfNull(options);
        var galleries = dataset.Galleries;
        int dOld = dataset.OldDimension, dNew = dataset.NewDimension;

        // Calibration: the same number of items from every gallery where sizes allow, drawn at random within each.
        var calibration = DrawCalibration(galleries, options.CalibrationSize, options.Seed);
        var calibrationCount = calibration.Sum(c => c.Length);
        if (calibrationCount < 8) throw new ArgumentException($"only {calibrationCount} items could be drawn for calibration; at least 8 are needed", nameof(dataset));
        var calibrationOld = new float[calibrationCount * dOld];
        var calibrationNew = new float[calibrationCount * dNew];
        var row = 0;
        for (var g = 0; g < galleries.Count; g++)
        {
            foreach (var i in calibration[g])
            {
                galleries[g].OldVectors.Span.Slice(i * dOld, dOld).CopyTo(calibrationOld.AsSpan(row * dOld, dOld));
                galleries[g].NewVectors.Span.Slice(i * dNew, dNew).CopyTo(calibrationNew.AsSpan(row * dNew, dNew));
                row++;
            }
        }

        MapFit? fit = options.UseMap
            ? MapFitter.Fit(calibrationOld, calibrationNew, calibrationCount, dOld, dNew, options.MapHeldOutFraction, options.RidgePenalties, options.Seed)
            : null;
        var map = fit?.Best ?? EmbeddingMap.Identity(dOld);
        var calibrationAgreement = fit?.OutOfFoldAgreements ?? MapFitter.Agreements(map, calibrationOld, calibrationNew, Enumerable.Range(0, calibrationCount).ToArray());
        var predictor = fit is not null
            ? CompatibilityPredictor.Fit(calibrationOld, calibrationAgreement, dOld, options.Seed, fit.Best, fit.OutOfFoldLengths)
            : CompatibilityPredictor.Fit(calibrationOld, calibrationAgreement, dOld, options.Seed);
        var predicted = new double[galleries.Count][];
        Parallel.For(0, galleries.Count, g =>
        {
            var old = galleries[g].OldVectors;
            predicted[g] = new double[galleries[g].Count];
            for (var i = 0; i < predicted[g].Length; i++) predicted[g][i] = predictor.Predict(old.Span.Slice(i * dOld, dOld));
        });

        return new UpgradeCalibration(calibration, calibrationCount, fit, map, predictor, predicted)
        {
            OldVectors = calibrationOld,
            NewVectors = calibrationNew,
        };
    }

    /// <summary>Per gallery, the items drawn for calibration: <see cref="SampleAllocation"/> shares, a seeded random pick within each.</summary>
    public static int[][] DrawCalibration(IReadOnlyList<EvaluationGallery> galleries, int total, int seed)
    {
        ArgumentNullException.ThrowIfNull(galleries);
        var shares = SampleAllocation.Allocate(galleries.Select(g => g.Count).ToArray(), total);
        var random = new Random(seed);
        var drawn = new int[galleries.Count][];
        for (var g = 0; g < galleries.Count; g++)
        {
            var order = Enumerable.Range(0, galleries[g].Count).ToArray();
            random.Shuffle(order);
            drawn[g] = order[..shares[g]];
            Array.Sort(drawn[g]);
        }

        return drawn;
    }
}

/// <summary>
/// An upgrade's calibration (<see cref="UpgradeEvaluation.Calibrate"/>): the sample's item indices per gallery and their
/// count, the map fit (null without a map) and the map used, the predictor, and each gallery item's predicted compatibility.
/// </summary>
public sealed record UpgradeCalibration(
    int[][] Items, int Count, MapFit? Fit, EmbeddingMap Map, CompatibilityPredictor Predictor, double[][] Predicted)
{
    /// <summary>The sample's old vectors, gallery by gallery in <see cref="Items"/> order, row-major.</summary>
    public ReadOnlyMemory<float> OldVectors { get; init; }

    /// <summary>The sample's new vectors, in the same order as <see cref="OldVectors"/>.</summary>
    public ReadOnlyMemory<float> NewVectors { get; init; }

    /// <summary>
    /// The regression guard of this depth, with the calibration of old scores the system fits on the same sample
    /// (<see cref="UpgradeFit"/>); null for depth 0.
    /// </summary>
    public RegressionGuard? Guard(int depth)
    {
        if (depth == 0) return null;
        var oldDimension = OldVectors.Length / Count;
        var newDimension = NewVectors.Length / Count;
        return new RegressionGuard(ScoreCalibration.Fit(OldVectors.Span, oldDimension, NewVectors.Span, newDimension, Count), depth);
    }
}
