namespace Indexer.Search.Metrics;

/// <summary>
/// Retrieval quality of new-model queries against one mixed gallery Φ^G_{π,β} (METRICS.md, "Partial backfill"), each
/// figure averaged over galleries (macro: every simulated user weighs the same, whatever their gallery's size).
/// </summary>
/// <param name="Beta">Fraction β of each gallery that holds φ_new; the rest holds h(φ_old).</param>
/// <param name="Cmc1">CMC@1 (top-1 accuracy).</param>
/// <param name="Cmc5">CMC@5.</param>
/// <param name="MeanAveragePrecision">mAP.</param>
/// <param name="NegativeFlipRate1">NFR@1(β): share of queries that found a positive first under old/old and no longer do.</param>
public sealed record BackfillPoint(double Beta, double Cmc1, double Cmc5, double MeanAveragePrecision, double NegativeFlipRate1)
{
    /// <summary>The value of one retrieval measure at this point.</summary>
    public double Value(RetrievalMeasure measure) => measure switch
    {
        RetrievalMeasure.Cmc1 => Cmc1,
        RetrievalMeasure.Cmc5 => Cmc5,
        RetrievalMeasure.MeanAveragePrecision => MeanAveragePrecision,
        _ => throw new ArgumentOutOfRangeException(nameof(measure), measure, null),
    };
}

/// <summary>The retrieval measures a backfilling curve is drawn for.</summary>
public enum RetrievalMeasure
{
    /// <summary>CMC@1, top-1 accuracy.</summary>
    Cmc1,

    /// <summary>CMC@5.</summary>
    Cmc5,

    /// <summary>Mean average precision.</summary>
    MeanAveragePrecision,
}

/// <summary>
/// The figures METRICS.md derives from one backfilling curve M(β), β = i/20, i = 0..20:
/// area M̃ = mean of the 21 points, M̃ / M(new,new), β*(ε) = the smallest β with M(β) ≥ (1 − ε)·M(new,new), and
/// regret = max_β (M(old,old) − M(β))⁺.
/// </summary>
/// <param name="OldOld">M(old,old): what users had before the upgrade began.</param>
/// <param name="NewNew">M(new,new): a full re-index.</param>
/// <param name="Area">M̃, the mean of the curve's points.</param>
/// <param name="AreaFraction">M̃ / M(new,new).</param>
/// <param name="Epsilon">The ε of <paramref name="BetaStar"/>.</param>
/// <param name="BetaStar">β*(ε); NaN when no point of the curve comes that close.</param>
/// <param name="Regret">max_β (M(old,old) − M(β))⁺; 0 means search never fell below what users had.</param>
public sealed record CurveSummary(double OldOld, double NewNew, double Area, double AreaFraction, double Epsilon, double BetaStar, double Regret)
{
    /// <summary>The ε METRICS.md reports β* at: within 1% of a full re-index.</summary>
    public const double DefaultEpsilon = 0.01;

    /// <summary>Summarises a curve given as its values at <paramref name="betas"/> (ascending).</summary>
    public static CurveSummary Of(IReadOnlyList<double> betas, IReadOnlyList<double> values, double oldOld, double newNew, double epsilon = DefaultEpsilon)
    {
        var area = BackfillFigures.Area(values);
        return new CurveSummary(oldOld, newNew, area, area / newNew, epsilon, BackfillFigures.BetaStar(betas, values, newNew, epsilon), BackfillFigures.Regret(values, oldOld));
    }
}

/// <summary>The figures of METRICS.md on a backfilling curve given as its values at ascending β.</summary>
public static class BackfillFigures
{
    /// <summary>M̃: the mean of the curve's points (on the grid β = i/20 this is the area METRICS.md defines).</summary>
    public static double Area(IReadOnlyList<double> values)
    {
        ArgumentNullException.ThrowIfNull(values);
        if (values.Count == 0) throw new ArgumentException("a curve needs at least one point", nameof(values));
        return values.Average();
    }

    /// <summary>The smallest β whose value reaches (1 − ε)·M(new,new); NaN when none does.</summary>
    public static double BetaStar(IReadOnlyList<double> betas, IReadOnlyList<double> values, double newNew, double epsilon = CurveSummary.DefaultEpsilon)
    {
        ArgumentNullException.ThrowIfNull(betas);
        ArgumentNullException.ThrowIfNull(values);
        if (betas.Count != values.Count) throw new ArgumentException("one value per β is needed");
        var target = (1 - epsilon) * newNew;
        for (var i = 0; i < values.Count; i++)
        {
            if (values[i] >= target) return betas[i];
        }

        return double.NaN;
    }

    /// <summary>max over the curve of (M(old,old) − M(β))⁺.</summary>
    public static double Regret(IReadOnlyList<double> values, double oldOld)
    {
        ArgumentNullException.ThrowIfNull(values);
        var regret = 0.0;
        foreach (var value in values) regret = Math.Max(regret, oldOld - value);
        return regret;
    }
}

/// <summary>
/// A backfilling curve: the mixed gallery's quality at β = i/<see cref="Steps"/>, i = 0..<see cref="Steps"/>, for one
/// ordering, with its derived figures on mAP, CMC@1 and CMC@5, and its NFR@1 curve.
/// </summary>
public sealed record BackfillCurve(
    BackfillOrder Order,
    IReadOnlyList<BackfillPoint> Points,
    CurveSummary MeanAveragePrecision,
    CurveSummary Cmc1,
    CurveSummary Cmc5)
{
    /// <summary>Steps of the β grid: 21 points, β = 0, 0.05, …, 1.</summary>
    public const int Steps = 20;

    /// <summary>β = i/20 for i = 0..20.</summary>
    public static IReadOnlyList<double> Betas { get; } = Enumerable.Range(0, Steps + 1).Select(i => (double)i / Steps).ToArray();

    /// <summary>The largest NFR@1 anywhere along the backfill.</summary>
    public double MaxNegativeFlipRate1 => Points.Max(p => p.NegativeFlipRate1);

    /// <summary>The derived figures of one measure.</summary>
    public CurveSummary Summary(RetrievalMeasure measure) => measure switch
    {
        RetrievalMeasure.Cmc1 => Cmc1,
        RetrievalMeasure.Cmc5 => Cmc5,
        RetrievalMeasure.MeanAveragePrecision => MeanAveragePrecision,
        _ => throw new ArgumentOutOfRangeException(nameof(measure), measure, null),
    };

    /// <summary>Builds the curve and its summaries from its points (one per β of <see cref="Betas"/>) and the baselines.</summary>
    public static BackfillCurve Create(BackfillOrder order, IReadOnlyList<BackfillPoint> points, RetrievalReport oldOld, RetrievalReport newNew, double epsilon = CurveSummary.DefaultEpsilon)
    {
        ArgumentNullException.ThrowIfNull(points);
        ArgumentNullException.ThrowIfNull(oldOld);
        ArgumentNullException.ThrowIfNull(newNew);
        var betas = points.Select(p => p.Beta).ToArray();
        CurveSummary Of(RetrievalMeasure measure, double before, double after) =>
            CurveSummary.Of(betas, points.Select(p => p.Value(measure)).ToArray(), before, after, epsilon);
        return new BackfillCurve(
            order,
            points.ToArray(),
            Of(RetrievalMeasure.MeanAveragePrecision, oldOld.MeanAveragePrecision, newNew.MeanAveragePrecision),
            Of(RetrievalMeasure.Cmc1, oldOld.CmcAt(1), newNew.CmcAt(1)),
            Of(RetrievalMeasure.Cmc5, oldOld.CmcAt(5), newNew.CmcAt(5)));
    }
}
