using System.Globalization;
using Indexer.Search.Metrics;

namespace Indexer.Evaluation;

/// <summary>
/// The targets of issue 4 and which upgrades they apply to. Thresholds are the issue's; the model names pick the
/// upgrades out of a report's list by their new version.
/// </summary>
public sealed record TargetOptions
{
    /// <summary>New version trained with the BCT influence loss.</summary>
    public string BctModel { get; init; } = "v2-bct";

    /// <summary>New version trained with no compatibility constraint.</summary>
    public string IndependentModel { get; init; } = "v2-independent";

    /// <summary>Share of the gallery the lazy policy may re-embed for a BCT model.</summary>
    public double LazyBudget { get; init; } = 0.05;

    /// <summary>Share of full-backfill mAP the map alone must reach.</summary>
    public double MapOnlyShare { get; init; } = 0.90;

    /// <summary>Share of full-backfill mAP the area under the predicted-order curve must reach.</summary>
    public double AreaShare { get; init; } = 0.99;

    /// <summary>Largest β*(1%) allowed.</summary>
    public double MaxBetaStar { get; init; } = 0.30;

    /// <summary>How far NFR@1 may rise above a full re-index's (0.5 points).</summary>
    public double NegativeFlipSlack { get; init; } = 0.005;

    /// <summary>How far the predicted order's area may fall below the oracle's (1 point of mAP).</summary>
    public double OracleGap { get; init; } = 0.01;
}

/// <summary>One target: met, not met, or not evaluated (null) because its upgrade is not in the report; and by how much.</summary>
public sealed record TargetCheck(string Target, bool? Met, string Detail);

/// <summary>Checks a report's upgrades against the targets of issue 4.</summary>
public static class Targets
{
    /// <summary>One line per target, in the order.</summary>
    public static IReadOnlyList<TargetCheck> Check(IReadOnlyList<UpgradeResult> upgrades, TargetOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(upgrades);
        options ??= new TargetOptions();
        var bct = upgrades.FirstOrDefault(u => u.NewModel == options.BctModel);
        var independent = upgrades.FirstOrDefault(u => u.NewModel == options.IndependentModel);
        var checks = new List<TargetCheck>();

        var bctName = options.BctModel;
        var indName = options.IndependentModel;
        checks.Add(For(bct, $"`{bctName}`: compatibility criterion holds (new/old mAP > old/old mAP)", r =>
        {
            var margin = r.CrossModel.NewOld.MeanAveragePrecision - r.CrossModel.OldOld.MeanAveragePrecision;
            return (margin > 0, $"new/old {P(r.CrossModel.NewOld.MeanAveragePrecision)} vs old/old {P(r.CrossModel.OldOld.MeanAveragePrecision)}: {By(margin > 0, margin)}");
        }));
        checks.Add(For(bct, $"`{bctName}`: the lazy policy re-embeds at most {P(options.LazyBudget, 0)}% of the gallery", r =>
        {
            var used = r.Costs.LazyTotalPassesPerItem;
            return (used <= options.LazyBudget,
                $"re-embeds {P(used)}% (calibration sample {P(r.Costs.CalibrationPassesPerItem)}% ∪ {P(r.FractionBelowThreshold)}% predicted below τ = {F(r.CompatibilityThreshold, 2)}): {By(used <= options.LazyBudget, options.LazyBudget - used)}");
        }));
        checks.Add(For(independent, $"`{indName}`, map only: at least {P(options.MapOnlyShare, 0)}% of full-backfill mAP", r =>
        {
            var mapped = (r.CrossModel.NewMapped ?? r.CrossModel.NewOld).MeanAveragePrecision;
            var share = mapped / r.CrossModel.NewNew.MeanAveragePrecision;
            return (share >= options.MapOnlyShare, $"new/h(old) {P(mapped)} = {P(share)}% of new/new {P(r.CrossModel.NewNew.MeanAveragePrecision)}: {By(share >= options.MapOnlyShare, share - options.MapOnlyShare)}");
        }));
        checks.Add(For(independent, $"`{indName}`, predicted order: area under the backfilling curve at least {P(options.AreaShare, 0)}% of full-backfill mAP", r =>
        {
            var share = r.Predicted.MeanAveragePrecision.AreaFraction;
            return (share >= options.AreaShare, $"area {P(r.Predicted.MeanAveragePrecision.Area)} = {P(share)}% of full: {By(share >= options.AreaShare, share - options.AreaShare)}");
        }));
        checks.Add(For(independent, $"`{indName}`, predicted order: β*(1%) at most {P(options.MaxBetaStar, 0)}% of the gallery", r =>
        {
            var betaStar = r.Predicted.MeanAveragePrecision.BetaStar;
            var met = betaStar <= options.MaxBetaStar;
            return (met, $"β*(1%) = {P(betaStar, 0)}%: {By(met, options.MaxBetaStar - betaStar)}");
        }));
        checks.Add(For(independent, $"`{indName}`, predicted order: regret 0 (mAP and top-1 never below old/old)", r =>
        {
            var map = r.Predicted.MeanAveragePrecision;
            var top1 = r.Predicted.Cmc1;
            var met = map.Regret == 0 && top1.Regret == 0;
            var worst = r.Predicted.Points.MinBy(p => p.MeanAveragePrecision - map.OldOld)!;
            return (met, met
                ? $"lowest mAP {P(r.Predicted.Points.Min(p => p.MeanAveragePrecision))} ≥ old/old {P(map.OldOld)}; lowest top-1 {P(r.Predicted.Points.Min(p => p.Cmc1))} ≥ {P(top1.OldOld)}"
                : $"mAP regret {P(map.Regret)} points (lowest at β = {P(worst.Beta, 0)}%), top-1 regret {P(top1.Regret)} points: not met");
        }));
        checks.Add(For(independent, $"`{indName}`, predicted order: NFR@1 never above a full re-index's + {P(options.NegativeFlipSlack)} points", r =>
        {
            var limit = r.FullReindexNegativeFlipRate1 + options.NegativeFlipSlack;
            var worst = r.Predicted.Points.MaxBy(p => p.NegativeFlipRate1)!;
            var met = worst.NegativeFlipRate1 <= limit + 1e-12;
            return (met, $"max NFR@1 {P(worst.NegativeFlipRate1)}% at β = {P(worst.Beta, 0)}% vs full re-index {P(r.FullReindexNegativeFlipRate1)}% + {P(options.NegativeFlipSlack)}: {By(met, limit - worst.NegativeFlipRate1)}");
        }));
        checks.Add(For(independent, $"`{indName}`: predicted order beats random on area and comes within {P(options.OracleGap)} point of the oracle", r =>
        {
            double random = r.Random.MeanAveragePrecision.Area, predicted = r.Predicted.MeanAveragePrecision.Area, oracle = r.Oracle.MeanAveragePrecision.Area;
            var beatsRandom = predicted > random;
            var nearOracle = oracle - predicted <= options.OracleGap;
            return (beatsRandom && nearOracle,
                $"areas: predicted {P(predicted)}, random {P(random)} ({Signed(predicted - random)}), oracle {P(oracle)} ({Signed(predicted - oracle)}): " +
                (beatsRandom && nearOracle ? "met" : beatsRandom ? $"not met: {P(oracle - predicted - options.OracleGap)} points too far from the oracle" : "not met: no better than random"));
        }));
        return checks;
    }

    private static TargetCheck For(UpgradeResult? result, string target, Func<UpgradeResult, (bool Met, string Detail)> check)
    {
        if (result is null) return new TargetCheck(target, null, "not evaluated: that upgrade is not in this report");
        var (met, detail) = check(result);
        return new TargetCheck(target, met, detail);
    }

    /// <summary>A share as percent: 0.1234 → "12.3".</summary>
    internal static string P(double share, int decimals = 1) =>
        double.IsNaN(share) ? "n/a" : (100 * share).ToString("F" + decimals.ToString(CultureInfo.InvariantCulture), CultureInfo.InvariantCulture);

    internal static string F(double value, int decimals) =>
        double.IsNaN(value) ? "n/a" : value.ToString("F" + decimals.ToString(CultureInfo.InvariantCulture), CultureInfo.InvariantCulture);

    private static string Signed(double share) => (share >= 0 ? "+" : "−") + P(Math.Abs(share));

    private static string By(bool met, double margin) => met ? $"met by {P(Math.Abs(margin))} points" : $"not met by {P(Math.Abs(margin))} points";
}
