using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Indexer.Search.Maps;
using Indexer.Search.Metrics;
using static Indexer.Evaluation.Targets;

namespace Indexer.Evaluation;

/// <summary>What one report covers: its upgrades and how they were produced.</summary>
/// <param name="Title">The report's heading.</param>
/// <param name="Command">The command that produced it, so a reader can run it again.</param>
/// <param name="Upgrades">The measured upgrades, in the order the tables list them.</param>
/// <param name="Notes">Free lines for the "Notes" section: what the data is, why a target was missed.</param>
public sealed record EvaluationReport(string Title, string Command, IReadOnlyList<UpgradeResult> Upgrades, IReadOnlyList<string> Notes);

/// <summary>
/// Writes a report a person can read in a minute: <c>README.md</c> (protocol, targets met or not and by how much, the
/// cross-model table, the backfill figures per ordering, the lazy policy and the offline costs), PNG plots (backfilling
/// curves and NFR@1 curves per upgrade, the cross-model grid) and <c>results.json</c> with every number.
/// </summary>
public static class ReportWriter
{
    /// <summary>The markdown summary's file name.</summary>
    public const string MarkdownFile = "README.md";
    /// <summary>The file holding every number of the report.</summary>
    public const string JsonFile = "results.json";
    /// <summary>The cross-model grid's file name.</summary>
    public const string CrossModelPlot = "cross-model.png";

    private static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping, // a file, not HTML: keep "→" and "β" readable
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals, // NaN marks figures that are undefined
        Converters = { new JsonStringEnumConverter() },
    };

    /// <summary>Writes the report into <paramref name="directory"/> (created if missing); returns the paths written.</summary>
    public static IReadOnlyList<string> Write(EvaluationReport report, string directory, TargetOptions? targets = null)
    {
        ArgumentNullException.ThrowIfNull(report);
        ArgumentException.ThrowIfNullOrEmpty(directory);
        if (report.Upgrades.Count == 0) throw new ArgumentException("a report needs at least one upgrade", nameof(report));
        targets ??= new TargetOptions();
        Directory.CreateDirectory(directory);
        var written = new List<string>();

        foreach (var upgrade in report.Upgrades)
        {
            var backfill = Path.Combine(directory, BackfillPlot(upgrade));
            ReportCharts.Backfill(upgrade, backfill);
            var flips = Path.Combine(directory, FlipsPlot(upgrade));
            ReportCharts.NegativeFlips(upgrade, flips, targets.NegativeFlipSlack);
            written.AddRange([backfill, flips]);
        }

        var grid = Path.Combine(directory, CrossModelPlot);
        ReportCharts.CrossModel(report.Upgrades, grid);
        written.Add(grid);

        var markdown = Path.Combine(directory, MarkdownFile);
        File.WriteAllText(markdown, Markdown(report, Targets.Check(report.Upgrades, targets)));
        written.Add(markdown);

        var json = Path.Combine(directory, JsonFile);
        File.WriteAllText(json, JsonSerializer.Serialize(report, Json));
        written.Add(json);
        return written;
    }

    /// <summary>The markdown summary, without touching the disk.</summary>
    public static string Markdown(EvaluationReport report, IReadOnlyList<TargetCheck> checks)
    {
        ArgumentNullException.ThrowIfNull(report);
        ArgumentNullException.ThrowIfNull(checks);
        var first = report.Upgrades[0];
        var md = new StringBuilder();
        md.AppendLine($"# {report.Title}").AppendLine();
        md.AppendLine($"**Data:** {first.Description}.").AppendLine();
        md.AppendLine($"**Protocol:** {first.Galleries} simulated users, {first.Items / Math.Max(1, first.Galleries)} gallery images each on average ({first.Items} in all), " +
            $"{first.Queries + first.SkippedQueries} held-out queries ({first.SkippedQueries} skipped without a positive); queries embedded by the new model; " +
            $"calibration: {first.CalibrationItems} items drawn evenly across users, re-embedded by the new model to fit the map and the compatibility predictor; " +
            $"backfill points β = i/20, i = 0..20; every figure is a macro average over users; seed {first.Options.Seed}. " +
            "Definitions: `shared/docs/METRICS.md`.");
        md.AppendLine().AppendLine($"Produced by `{report.Command}`.").AppendLine();

        md.AppendLine("## Targets").AppendLine();
        foreach (var check in checks)
        {
            var status = check.Met switch { true => "**met**", false => "**not met**", null => "*not evaluated*" };
            md.AppendLine($"- {status}: {check.Target}. {check.Detail}.");
        }

        md.AppendLine().AppendLine("## Cross-model table").AppendLine();
        md.AppendLine("mAP and top-1 (CMC@1), in %. new/old compares new queries with the old gallery as stored; new/h(old) with the old gallery through the fitted map.").AppendLine();
        md.AppendLine("| upgrade | old/old | new/new | new/old | new/h(old) | criterion new/old > old/old | update gain | map h (held-out agreement) |");
        md.AppendLine("|---|---|---|---|---|---|---|---|");
        foreach (var u in report.Upgrades)
        {
            var t = u.CrossModel;
            var comparable = u.OldDimension == u.NewDimension;
            md.AppendLine($"| {u.Name} | {Cell(t.OldOld)} | {Cell(t.NewNew)} | {(comparable ? Cell(t.NewOld) : "n/a (dimensions differ)")} | " +
                $"{(t.NewMapped is null ? "–" : Cell(t.NewMapped))} | {(comparable ? (t.CriterionHolds ? "holds" : "fails") : "n/a")} | " +
                $"{(comparable ? F(t.UpdateGain, 2) : "n/a")} (mapped: {F(t.MappedGain, 2)}) | {MapCell(u)} |");
        }

        md.AppendLine().AppendLine("## Backfilling curves").AppendLine();
        md.AppendLine("Per ordering, on mAP unless said otherwise: area M̃ = mean of the 21 points; its share of full backfill M̃ / M(new,new); " +
            "β*(1%) = smallest β within 1% of full backfill; regret = max_β (M(old,old) − M(β))⁺ in points; the largest NFR@1 along the way.").AppendLine();
        md.AppendLine("| upgrade | order | area | area / full | β*(1%) | regret | top-1 area / full | top-1 regret | max NFR@1 | NFR@1 full re-index |");
        md.AppendLine("|---|---|---|---|---|---|---|---|---|---|");
        foreach (var u in report.Upgrades)
        {
            foreach (var c in u.Curves)
            {
                var m = c.MeanAveragePrecision;
                md.AppendLine($"| {u.Name} | {c.Order.ToString().ToLowerInvariant()} | {P(m.Area)} | {P(m.AreaFraction)}% | {P(m.BetaStar, 0)}% | {P(m.Regret, 2)} | " +
                    $"{P(c.Cmc1.AreaFraction)}% | {P(c.Cmc1.Regret, 2)} | {P(c.MaxNegativeFlipRate1)}% | {P(u.FullReindexNegativeFlipRate1)}% |");
            }
        }

        md.AppendLine().AppendLine("## Compatibility predictor and lazy policy").AppendLine();
        md.AppendLine("The predictor scores each item from its stored old vector alone (no new-model pass); Spearman against the true agreement cos(h(old), new) " +
            "on calibration items it was not fitted on, and on every gallery item outside the calibration sample. " +
            "The lazy policy re-embeds the calibration sample and every item predicted below τ.").AppendLine();
        md.AppendLine("| upgrade | predictor | Spearman held-out | Spearman gallery | true agreement mean / p05 | below τ predicted | below τ true | lazy re-embeds | lazy mAP | lazy top-1 |");
        md.AppendLine("|---|---|---|---|---|---|---|---|---|---|");
        foreach (var u in report.Upgrades)
        {
            md.AppendLine($"| {u.Name} | {u.PredictorKind.ToString().ToLowerInvariant()} | {F(u.PredictorHeldOutSpearman, 3)} | {F(u.PredictorGallerySpearman, 3)} | " +
                $"{F(u.Agreement.Mean, 3)} / {F(u.Agreement.P05, 3)} | {P(u.FractionBelowThreshold)}% (τ = {F(u.CompatibilityThreshold, 2)}) | {P(u.TrueFractionBelowThreshold)}% | " +
                $"{P(u.Costs.LazyTotalPassesPerItem)}% | {P(u.Lazy.MeanAveragePrecision)} | {P(u.Lazy.Cmc1)} |");
        }

        md.AppendLine().AppendLine("## Cost").AppendLine();
        md.AppendLine("Backbone passes per gallery item (a full re-index is 1.00), beyond the calibration sample unless said; " +
            "transform multiply-adds to serve one old vector; bytes stored per served vector (float32); queries take one new-model pass each. " +
            "Wall times (to the first query served by the new model, to the end of the backfill) need the running system and are not measured offline.").AppendLine();
        md.AppendLine("| upgrade | policy | backbone passes / item | transform multiply-adds / item | bytes / item | mAP reached |");
        md.AppendLine("|---|---|---|---|---|---|");
        foreach (var u in report.Upgrades)
        {
            var k = u.Costs;
            var macs = k.MapMultiplyAddsPerItem.ToString("N0", CultureInfo.InvariantCulture);
            md.AppendLine($"| {u.Name} | calibration sample | {F(k.CalibrationPassesPerItem, 3)} | – | – | – |");
            md.AppendLine($"| {u.Name} | map only | {F(k.MapOnlyPassesPerItem, 3)} | {macs} | {k.NewBytesPerItem} (map weights: {k.MapBytes.ToString("N0", CultureInfo.InvariantCulture)} B once) | {P((u.CrossModel.NewMapped ?? u.CrossModel.NewOld).MeanAveragePrecision)} |");
            md.AppendLine($"| {u.Name} | lazy, τ = {F(u.CompatibilityThreshold, 2)} | {F(k.LazyPassesPerItem, 3)} (with calibration: {F(k.LazyTotalPassesPerItem, 3)}) | {macs} on the rest | {k.NewBytesPerItem} | {P(u.Lazy.MeanAveragePrecision)} |");
            md.AppendLine($"| {u.Name} | full re-index | {F(k.FullBackfillPassesPerItem, 3)} | 0 | {k.NewBytesPerItem} | {P(u.CrossModel.NewNew.MeanAveragePrecision)} |");
        }

        md.AppendLine().AppendLine("## Plots").AppendLine();
        md.AppendLine($"![cross-model mAP]({CrossModelPlot})").AppendLine();
        foreach (var u in report.Upgrades)
        {
            md.AppendLine($"![{u.Name}: backfilling curves]({BackfillPlot(u)})").AppendLine();
            md.AppendLine($"![{u.Name}: NFR@1]({FlipsPlot(u)})").AppendLine();
        }

        if (report.Notes.Count > 0)
        {
            md.AppendLine("## Notes").AppendLine();
            foreach (var note in report.Notes) md.AppendLine($"- {note}");
            md.AppendLine();
        }

        md.AppendLine(Invariant($"Evaluation time: {report.Upgrades.Sum(u => u.Elapsed.TotalSeconds):F1} s for {report.Upgrades.Count} upgrade(s)."));
        return md.ToString();
    }

    /// <summary>File name of an upgrade's backfilling-curve plot.</summary>
    public static string BackfillPlot(UpgradeResult upgrade) => $"backfill-{Slug(upgrade)}.png";

    /// <summary>File name of an upgrade's NFR@1 plot.</summary>
    public static string FlipsPlot(UpgradeResult upgrade) => $"nfr-{Slug(upgrade)}.png";

    private static string Slug(UpgradeResult upgrade)
    {
        var text = $"{upgrade.OldModel}-to-{upgrade.NewModel}".ToLowerInvariant();
        return new string(text.Select(ch => char.IsAsciiLetterOrDigit(ch) || ch is '-' or '.' ? ch : '_').ToArray());
    }

    private static string Cell(RetrievalReport report) => $"{P(report.MeanAveragePrecision)} / {P(report.CmcAt(1))}";

    private static string MapCell(UpgradeResult u) => u.MapHeldOut is null
        ? "none (served as stored)"
        : $"{u.MapKind.ToString().ToLowerInvariant()}{(u.MapKind == MapKind.Identity ? string.Empty : $" {u.OldDimension}→{u.NewDimension}")} ({F(u.MapHeldOut.Mean, 3)})";

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
