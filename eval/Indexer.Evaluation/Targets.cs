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

    /// <summary>Issue 5: the largest share of named items that may flip through an upgrade to <see cref="IndependentModel"/> (BCT: none).</summary>
    public double ClusterFlipBudget { get; init; } = 0.01;

    /// <summary>Issue 5, "purity well above chance": purity at least this multiple of chance purity (the largest class's share).</summary>
    public double PurityOverChance { get; init; } = 2;
}

/// <summary>One target: met, not met, or not evaluated (null) because its upgrade is not in the report; and by how much.</summary>
public sealed record TargetCheck(string Target, bool? Met, string Detail);

/// <summary>Checks a report's upgrades against the targets of issue 4 and, when the system was driven, the cluster targets of issue 5.</summary>
public static class Targets
{
    /// <summary>One line per target, in the issue's order, from the offline upgrades alone.</summary>
    public static IReadOnlyList<TargetCheck> Check(IReadOnlyList<UpgradeResult> upgrades, TargetOptions? options = null) =>
        Check(new EvaluationReport("", "", upgrades, []), options);

    /// <summary>
    /// One line per target, in the issue's order. The lazy policy is counted as the running system counts it when the
    /// report has <see cref="EvaluationReport.Lazy"/> (calibration vectors are not kept as item vectors); the BCT claim's
    /// verification at rollout comes from <see cref="EvaluationReport.System"/> when the system was driven.
    /// </summary>
    public static IReadOnlyList<TargetCheck> Check(EvaluationReport report, TargetOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(report);
        var upgrades = report.Upgrades;
        options ??= new TargetOptions();
        var bctSystem = report.System?.Upgrades.FirstOrDefault(u => u.NewModel == options.BctModel);
        var bctLazy = report.Lazy?.FirstOrDefault(l => l.NewModel == options.BctModel);
        var bct = upgrades.FirstOrDefault(u => u.NewModel == options.BctModel);
        var independent = upgrades.FirstOrDefault(u => u.NewModel == options.IndependentModel);
        var checks = new List<TargetCheck>();

        var bctName = options.BctModel;
        var indName = options.IndependentModel;
        checks.Add(For(bct, $"`{bctName}`: compatibility criterion holds (new/old mAP > old/old mAP), verified automatically at rollout", r =>
        {
            var margin = r.CrossModel.NewOld.MeanAveragePrecision - r.CrossModel.OldOld.MeanAveragePrecision;
            var detail = $"offline: new/old {P(r.CrossModel.NewOld.MeanAveragePrecision)} vs old/old {P(r.CrossModel.OldOld.MeanAveragePrecision)}, {By(margin > 0, margin)}";
            if (bctSystem is null) return (margin > 0, detail + "; the rollout's verification was not run (system mode absent)");
            var e = bctSystem.Evaluation;
            var verified = bctSystem.ClaimVerified == true;
            detail += $"; at rollout the system {(verified ? "verified" : "did not verify")} the claim '{bctSystem.Claim}'" +
                (e is null ? string.Empty : $" on {e.Items} labeled items of {e.Gallery} (new/old {P(e.NewOldMap)} vs old/old {P(e.OldOldMap)})") +
                $" and served old items {bctSystem.Route.ToLowerInvariant()}";
            return (margin > 0 && verified, detail);
        }));
        checks.Add(For(bct, $"`{bctName}`: the default lazy policy (τ = {F(bct?.CompatibilityThreshold ?? double.NaN, 2)}) re-embeds at most {P(options.LazyBudget, 0)}% of the gallery", r =>
        {
            if (bctLazy is null)
            {
                var total = r.Costs.LazyTotalPassesPerItem;
                return (total <= options.LazyBudget,
                    $"re-embeds {P(total)}% (calibration sample {P(r.Costs.CalibrationPassesPerItem)}% ∪ {P(r.FractionBelowThreshold)}% predicted below τ): {By(total <= options.LazyBudget, options.LazyBudget - total)}");
            }

            var used = bctLazy.Configured.ReEmbedded;
            var detail = $"the backfill re-embeds {P(used)}% of the items (predicted below τ; calibration vectors are not kept, as in the system): {By(used <= options.LazyBudget, options.LazyBudget - used)}. " +
                $"Backbone passes including the calibration sample: {P(bctLazy.Configured.TotalPasses)}% of the gallery";
            if (bctSystem is not null) detail += $"; the running system's own lazy selection on its {bctSystem.Scored} items: {P(bctSystem.LazyFraction)}%";
            return (used <= options.LazyBudget, detail);
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
            return (share >= options.AreaShare, $"area {P(r.Predicted.MeanAveragePrecision.Area)} = {Near(share, options.AreaShare)}% of full: {By(share >= options.AreaShare, share - options.AreaShare)}");
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
        if (report.System is { } system) checks.AddRange(ClusterChecks(system, options));
        return checks;
    }

    /// <summary>
    /// The cluster targets of issue 5, from the system run: purity well above chance, named items flipping through the
    /// upgrade (at most <see cref="TargetOptions.ClusterFlipBudget"/> for the independent version, none for BCT, at every
    /// point measured from activation to the end), and every user correction in force throughout.
    /// </summary>
    public static IReadOnlyList<TargetCheck> ClusterChecks(SystemReport system, TargetOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(system);
        options ??= new TargetOptions();
        var withClusters = system.Upgrades.Where(u => u.Clusters is not null).ToList();
        var checks = new List<TargetCheck>();

        var purityTarget = $"clusters of the Fashion-MNIST galleries: purity well above chance (at least {F(options.PurityOverChance, 0)}x the largest class's share), with ARI and NMI";
        if (withClusters.Count == 0)
        {
            checks.Add(new TargetCheck(purityTarget, null, "not evaluated: the system run measured no clusters"));
        }
        else
        {
            var q = withClusters[0].Clusters!.Points[0].Quality;
            var met = q.Purity >= options.PurityOverChance * q.ChancePurity;
            checks.Add(new TargetCheck(purityTarget, met,
                $"as the system clustered the {system.Protocol.Galleries} galleries in `{withClusters[0].FromVersion}` (mean over galleries): purity {F(q.Purity, 3)} against chance {F(q.ChancePurity, 3)} " +
                $"({F(q.Purity / q.ChancePurity, 1)}x), ARI {F(q.AdjustedRandIndex, 3)}, NMI {F(q.NormalizedMutualInformation, 3)}, over the {P(q.Coverage)}% of the items in a shown cluster: {(met ? "met" : "not met")}"));
        }

        checks.Add(FlipCheck(system, options.IndependentModel, options.ClusterFlipBudget,
            $"`{options.IndependentModel}`: at most {P(options.ClusterFlipBudget, 0)}% of the named items flip (leave their named cluster or move to another named one), at every point from activation to the end of the backfill and the rollback"));
        checks.Add(FlipCheck(system, options.BctModel, 0,
            $"`{options.BctModel}`: no named item flips, at every point from activation to the end of the backfill and the rollback"));

        const string correctionsTarget = "every user correction (an item moved out of a cluster, an item moved into one) stays in force through every upgrade";
        if (withClusters.Count == 0)
        {
            checks.Add(new TargetCheck(correctionsTarget, null, "not evaluated: the system run measured no clusters"));
        }
        else
        {
            var points = withClusters.SelectMany(u => u.Clusters!.Points.Where(p => p.Stage >= ClusterStage.BeforeRollout).Select(p => (Upgrade: u, Point: p))).ToList();
            var worst = points.MinBy(x => x.Point.Corrections == 0 ? 1.0 : (double)x.Point.CorrectionsKept / x.Point.Corrections);
            var met = withClusters.All(u => u.Clusters!.CorrectionsAlwaysKept) && points.Any(x => x.Point.Corrections > 0);
            checks.Add(new TargetCheck(correctionsTarget, met, points.All(x => x.Point.Corrections == 0)
                ? "not met: no correction was made (no gallery had a misplaced item in a named cluster)"
                : $"{withClusters.Sum(u => u.Clusters!.Corrections.Count)} corrections made over {withClusters.Count} upgrade(s), checked at {points.Count} points; " +
                  (met ? "all in force at every point: met" : $"the fewest in force: {worst.Point.CorrectionsKept} of {worst.Point.Corrections} ({worst.Upgrade.Name}, {StageName(worst.Point)}): not met")));
        }

        return checks;
    }

    private static TargetCheck FlipCheck(SystemReport system, string model, double budget, string target)
    {
        var upgrade = system.Upgrades.FirstOrDefault(u => u.NewModel == model);
        if (upgrade?.Clusters is not { } clusters) return new TargetCheck(target, null, $"not evaluated: `{model}` was not driven through the system with clusters");
        var during = clusters.DuringUpgrade.ToList();
        var worst = during.MaxBy(p => double.IsNaN(p.Flips.Fraction) ? -1 : p.Flips.Fraction);
        if (worst is null || double.IsNaN(worst.Flips.Fraction)) return new TargetCheck(target, false, "not met: no item was in a named cluster before the rollout");
        var met = during.All(p => p.Flips.Fraction <= budget + 1e-12);
        var end = during.LastOrDefault(p => p.Stage == ClusterStage.Backfilled);
        var rolledBack = during.LastOrDefault(p => p.Stage == ClusterStage.RolledBack);
        var detail = $"the most at {StageName(worst)}: {worst.Flips.Flips} of {worst.Flips.NamedItems} named items = {P(worst.Flips.Fraction, 2)}% ({worst.Flips.Left} left, {worst.Flips.MovedToOtherNamed} to another named cluster)";
        if (end is not null && end != worst) detail += $"; after the backfill {end.Flips.Flips} = {P(end.Flips.Fraction, 2)}%";
        if (rolledBack is not null) detail += $"; after the rollback {rolledBack.Flips.Flips}";
        if (end is not null && end.Suggestions > 0)
        {
            // Flips stay at 0 because named members are suggested, not moved: say how much evidence waits for the user.
            detail += $"; left to the user after the backfill: {end.Suggestions} suggested moves ({end.CorrectiveSuggestions} corrective, {end.HarmfulSuggestions} harmful by label)";
        }

        return new TargetCheck(target, met, detail + (met ? ": met" : $": not met by {P(worst.Flips.Fraction - budget, 2)} points"));
    }

    /// <summary>Where a cluster point was measured, for a sentence: "β = 25% (asked 25%)", "the end of the backfill".</summary>
    internal static string StageName(ClusterPoint point)
    {
        ArgumentNullException.ThrowIfNull(point);
        return point.Stage switch
        {
            ClusterStage.Clustered => "the clusters as the system made them",
            ClusterStage.BeforeRollout => "the start (after the user's names and corrections)",
            ClusterStage.Activated => "activation (β = 0)",
            ClusterStage.Paused => $"the pause at β = {P(point.Beta)}% (asked {P(point.Requested, 0)}%)",
            ClusterStage.Backfilled => "the end of the backfill (β = 100%)",
            ClusterStage.RolledBack => "the rollback",
            _ => point.Stage.ToString(),
        };
    }

    /// <summary>
    /// The measured reasons behind missed targets, one paragraph per missed target, from the report's own figures (the
    /// curves, the lazy policy's sweep and the class split): nothing here is a guess.
    /// </summary>
    public static IReadOnlyList<string> Why(EvaluationReport report, TargetOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(report);
        options ??= new TargetOptions();
        var checks = Check(report, options);
        var why = new List<string>();
        var bct = report.Upgrades.FirstOrDefault(u => u.NewModel == options.BctModel);
        var independent = report.Upgrades.FirstOrDefault(u => u.NewModel == options.IndependentModel);
        var bctLazy = report.Lazy?.FirstOrDefault(l => l.NewModel == options.BctModel);
        var indLazy = report.Lazy?.FirstOrDefault(l => l.NewModel == options.IndependentModel);
        bool Missed(int index) => index < checks.Count && checks[index].Met == false;

        if (Missed(0) && bct is not null)
        {
            why.Add($"**BCT criterion.** new/old {P(bct.CrossModel.NewOld.MeanAveragePrecision)} against old/old {P(bct.CrossModel.OldOld.MeanAveragePrecision)} offline" +
                (report.System?.Upgrades.FirstOrDefault(u => u.NewModel == options.BctModel) is { } s ? $"; at rollout the system's verification said {(s.ClaimVerified == true ? "verified" : "not verified")}: {s.Message}" : string.Empty) + ".");
        }

        if (Missed(1) && bct is not null && bctLazy is not null)
        {
            var c = bctLazy.Configured;
            var within = bctLazy.Sweep.Where(p => p.ReEmbedded <= options.LazyBudget).MaxBy(p => p.Threshold);
            var text = $"**Lazy policy on `{options.BctModel}`.** τ applies to each item's agreement cos(h(φ_old), φ_new), and {options.BctModel}'s vectors are not close to what the best fitted map " +
                $"makes of v1's ({bct.MapKind.ToString().ToLowerInvariant()}, held-out agreement {F(bct.MapHeldOut?.Mean ?? double.NaN, 3)}): the true agreement averages {F(bct.Agreement.Mean, 3)} (p05 {F(bct.Agreement.P05, 3)}) " +
                $"and is below τ = {F(c.Threshold, 2)} for {P(c.TrueBelow)}% of the items; the predictor ({bct.PredictorKind.ToString().ToLowerInvariant()}{(bct.PredictorKind == Search.Maps.PredictorKind.Neighbours ? ", whose predictions are averages over calibration neighbours and so lie nearer the mean" : string.Empty)}) puts {P(c.ReEmbedded)}% below τ. " +
                $"BCT's loss constrains v2 through v1's classifier: new queries rank v1's gallery better than v1 does (new/old {P(bct.CrossModel.NewOld.MeanAveragePrecision)} vs old/old {P(bct.CrossModel.OldOld.MeanAveragePrecision)}), " +
                "but the two vectors of one item still differ as much as those of an independently trained version (compare the agreement of the other upgrades in the predictor table).";
            if (bctLazy.Classes is { } k)
            {
                text += $" By class: items of the classes v1 saw agree {F(k.AgreementSeen, 3)} on average and {P(k.SelectedSeen)}% of them are selected; items of the classes it never saw agree {F(k.AgreementUnseen, 3)} and {P(k.SelectedUnseen)}% are selected.";
            }

            text += within is null
                ? $" No threshold of the sweep keeps the share under {P(options.LazyBudget, 0)}%."
                : $" The sweep: τ = {F(within.Threshold, 2)} would re-embed {P(within.ReEmbedded)}% (within the budget) and reach mAP {P(within.Quality.MeanAveragePrecision)}, against {P((bct.CrossModel.NewMapped ?? bct.CrossModel.NewOld).MeanAveragePrecision)} for the map alone and {P(c.Quality.MeanAveragePrecision)} at τ = {F(c.Threshold, 2)}: the budget is met only by a threshold that changes almost nothing.";
            // The policy spends what the map leaves: where another upgrade's vectors are closer to what the map makes of the
            // old ones, the same τ selects fewer of its items.
            var closest = report.Upgrades.Where(u => u.NewModel != options.BctModel && u.Agreement.Mean > bct.Agreement.Mean).MaxBy(u => u.Agreement.Mean);
            if (closest is not null && report.Lazy?.FirstOrDefault(l => l.NewModel == closest.NewModel) is { } closestLazy)
            {
                var closestSystem = report.System?.Upgrades.FirstOrDefault(u => u.NewModel == closest.NewModel);
                text += $" The same τ on `{closest.NewModel}`, whose vectors the map reproduces better (agreement mean {F(closest.Agreement.Mean, 3)}, p05 {F(closest.Agreement.P05, 3)}), selects {P(closestLazy.Configured.ReEmbedded)}%" +
                    (closestSystem is null ? "." : $" (the running system: {P(closestSystem.LazyFraction)}%).") +
                    " The policy spends what the map leaves; BCT's compatibility, through v1's classifier, does not bring each item's vectors closer.";
            }

            text += $" Apart from the policy, the calibration sample ({P(c.CalibrationPasses)}% of this benchmark's gallery) already costs more backbone passes than the {P(options.LazyBudget, 0)}% budget.";
            why.Add(text);
        }

        if (independent is not null && (Missed(3) || Missed(4)))
        {
            var predicted = independent.Predicted.MeanAveragePrecision;
            var oracle = independent.Oracle.MeanAveragePrecision;
            var mapOnly = (independent.CrossModel.NewMapped ?? independent.CrossModel.NewOld).MeanAveragePrecision;
            // Whether an order by true agreement would meet the targets decides what limits them: the map and the
            // measure of compatibility, or the prediction of it from old vectors.
            var oracleMeets = oracle.AreaFraction >= options.AreaShare && oracle.BetaStar <= options.MaxBetaStar;
            var text = $"**Area and β*(1%) on `{options.IndependentModel}`.** " +
                (oracleMeets
                    ? "The prediction is what limits them: the oracle order (true agreement, which needs the new model on every item) meets both, "
                    : "The ordering is not what limits them: the oracle order (true agreement, an upper bound for any order the predictor could give) ") +
                $"reaching an area of {P(oracle.AreaFraction)}% of full and β*(1%) = {P(oracle.BetaStar, 0)}%, against {P(predicted.AreaFraction)}% and {P(predicted.BetaStar, 0)}% for the predicted order" +
                (oracleMeets ? $", whose Spearman correlation with the true agreement is {F(independent.PredictorGallerySpearman, 3)} over the gallery. " : ". ") +
                $"The curve starts at the map's {P(mapOnly)} ({P(mapOnly / independent.CrossModel.NewNew.MeanAveragePrecision)}% of full) and the gap to {P(independent.CrossModel.NewNew.MeanAveragePrecision)} is spread over many items: " +
                $"the true agreement is below {F(independent.CompatibilityThreshold, 2)} for {P(independent.TrueFractionBelowThreshold)}% of them (mean {F(independent.Agreement.Mean, 3)}).";
            if (indLazy?.Classes is { } k)
            {
                var gapUnseen = k.FullUnseenQueries.MeanAveragePrecision - k.MapOnlyUnseenQueries.MeanAveragePrecision;
                var gapSeen = k.FullSeenQueries.MeanAveragePrecision - k.MapOnlySeenQueries.MeanAveragePrecision;
                var atUnseenShare = ReportCharts.Interpolate(independent.Predicted, k.UnseenShare).MeanAveragePrecision;
                text += $" Split by the classes v1 was trained on: items of the classes it never saw ({P(k.UnseenShare)}% of the gallery) agree {F(k.AgreementUnseen, 3)} on average, items of the classes it saw {F(k.AgreementSeen, 3)}; " +
                    $"through the map, queries of unseen classes reach mAP {P(k.MapOnlyUnseenQueries.MeanAveragePrecision)} against {P(k.FullUnseenQueries.MeanAveragePrecision)} after a full re-index (a gap of {P(gapUnseen)} points), " +
                    $"queries of seen classes {P(k.MapOnlySeenQueries.MeanAveragePrecision)} against {P(k.FullSeenQueries.MeanAveragePrecision)} ({P(gapSeen)} points). " +
                    $"Re-embedding exactly the unseen classes' items (β = {P(k.UnseenShare, 0)}%) reaches {P(k.UnseenReEmbedded.MeanAveragePrecision / independent.CrossModel.NewNew.MeanAveragePrecision)}% of full; the predicted order at the same β reaches {P(atUnseenShare / independent.CrossModel.NewNew.MeanAveragePrecision)}%.";
                if (!oracleMeets && k.AgreementUnseen >= k.AgreementSeen && gapUnseen > gapSeen)
                {
                    text += " So the larger loss of quality is with the classes whose items agree no worse: per-item agreement, which both the predictor and the oracle order rank by, " +
                        "does not single out the items whose replacement matters most for ranking, and no order by it front-loads the gain enough for 99% of the area or a β*(1%) of 30%.";
                }
            }

            why.Add(text);
        }

        if (independent is not null && Missed(5))
        {
            why.Add($"**Regret on `{options.IndependentModel}`.** The lowest points of the predicted-order curve: mAP {P(independent.Predicted.Points.Min(p => p.MeanAveragePrecision))} and top-1 {P(independent.Predicted.Points.Min(p => p.Cmc1))} against old/old {P(independent.CrossModel.OldOld.MeanAveragePrecision)} / {P(independent.CrossModel.OldOld.CmcAt(1))}.");
        }

        if (independent is not null && Missed(6))
        {
            var worst = independent.Predicted.Points.MaxBy(p => p.NegativeFlipRate1)!;
            var text = $"**NFR@1 on `{options.IndependentModel}`.** The largest NFR@1 of the predicted order is {P(worst.NegativeFlipRate1)}% at β = {P(worst.Beta, 0)}%" +
                (worst.Beta == 0 ? ", i.e. the map alone before anything is re-embedded" : string.Empty) +
                $"; a full re-index flips {P(independent.FullReindexNegativeFlipRate1)}%. The curve is noisy at this size: one query is {P(1.0 / Math.Max(1, independent.Queries), 2)} points, and the budget of {P(options.NegativeFlipSlack)} points is {Math.Round(options.NegativeFlipSlack * independent.Queries)} queries.";
            if (indLazy?.Classes is { } k)
            {
                var excessSeen = k.MapOnlySeenQueries.NegativeFlipRate1 - k.FullSeenQueries.NegativeFlipRate1;
                var excessUnseen = k.MapOnlyUnseenQueries.NegativeFlipRate1 - k.FullUnseenQueries.NegativeFlipRate1;
                text += $" By query class, through the map alone {P(k.MapOnlySeenQueries.NegativeFlipRate1)}% of the seen-class queries and {P(k.MapOnlyUnseenQueries.NegativeFlipRate1)}% of the unseen-class queries flip; " +
                    $"after a full re-index {P(k.FullSeenQueries.NegativeFlipRate1)}% and {P(k.FullUnseenQueries.NegativeFlipRate1)}%: the map's excess over a re-index is {P(excessSeen)} points on seen-class queries " +
                    $"and {P(excessUnseen)} on unseen-class queries (rates within each group).";
            }

            why.Add(text);
        }

        if (independent is not null && Missed(7))
        {
            why.Add($"**Ordering on `{options.IndependentModel}`.** Areas: predicted {P(independent.Predicted.MeanAveragePrecision.Area)}, random {P(independent.Random.MeanAveragePrecision.Area)}, oracle {P(independent.Oracle.MeanAveragePrecision.Area)}; " +
                $"the predictor's Spearman correlation with the true agreement is {F(independent.PredictorGallerySpearman, 3)} over the gallery.");
        }

        if (report.System is { } system)
        {
            foreach (var (model, budget) in new[] { (options.IndependentModel, options.ClusterFlipBudget), (options.BctModel, 0.0) })
            {
                if (system.Upgrades.FirstOrDefault(u => u.NewModel == model)?.Clusters is not { } clusters) continue;
                var during = clusters.DuringUpgrade.ToList();
                if (during.Count == 0 || during.All(p => p.Flips.Fraction <= budget + 1e-12)) continue;
                var text = $"**Cluster flips on `{model}`.** Share of the {during[0].Flips.NamedItems} named items flipped, point by point: " +
                    string.Join("; ", during.Select(p => $"{StageName(p)} {P(p.Flips.Fraction, 2)}% ({p.Flips.Left} left, {p.Flips.MovedToOtherNamed} to another named cluster)")) + ". ";
                var activated = during.FirstOrDefault(p => p.Stage == ClusterStage.Activated);
                if (activated is not null && activated.Flips.Flips == 0)
                {
                    text += "Nothing flipped at activation, when the clusters moved into the new version's space with every old vector carried over by its route, so the flips come with the backfill's re-embedded vectors: " +
                        "the system moves a re-embedded item when its new vector is far from its cluster's centre and near another's (GalleryClusters.Reembed's margins).";
                }

                var start = clusters.Points.FirstOrDefault(p => p.Stage == ClusterStage.BeforeRollout);
                var end = during.LastOrDefault(p => p.Stage == ClusterStage.Backfilled);
                if (start is not null && end is not null && end.Quality.Purity > start.Quality.Purity)
                {
                    text += $" Meanwhile the clusters' purity rose from {F(start.Quality.Purity, 3)} before the rollout to {F(end.Quality.Purity, 3)} after the backfill (ARI {F(start.Quality.AdjustedRandIndex, 3)} → {F(end.Quality.AdjustedRandIndex, 3)}): " +
                        "the moves mostly follow the new version's better separation of the classes, at the cost of the membership the user named.";
                }

                if (during.LastOrDefault(p => p.Stage == ClusterStage.RolledBack) is { } back) text += $" After the rollback {back.Flips.Flips} named items are out of place.";
                why.Add(text);
            }
        }

        return why;
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

    private static string By(bool met, double margin) => $"{(met ? "met" : "not met")} by {Near(Math.Abs(margin), 0)} points";

    /// <summary>A share in percent to one decimal, or to three when one decimal would print it as <paramref name="line"/> while it is not.</summary>
    private static string Near(double share, double line) => P(share) == P(line) && share != line ? P(share, 3) : P(share);
}
