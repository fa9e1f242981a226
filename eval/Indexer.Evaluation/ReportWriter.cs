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
public sealed record EvaluationReport(string Title, string Command, IReadOnlyList<UpgradeResult> Upgrades, IReadOnlyList<string> Notes)
{
    /// <summary>The users and images of the offline run, when they came from <see cref="UserProtocol"/>.</summary>
    public UserProtocol? Protocol { get; init; }

    /// <summary>The lazy policy per upgrade as the running system counts it, with a sweep over the threshold.</summary>
    public IReadOnlyList<LazyPolicyResult>? Lazy { get; init; }

    /// <summary>The same upgrades driven through the running system, when that was done.</summary>
    public SystemReport? System { get; init; }

}

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
            ReportCharts.Backfill(
                upgrade,
                backfill,
                report.System?.Upgrades.FirstOrDefault(u => u.NewModel == upgrade.NewModel && u.OldModel == upgrade.OldModel),
                report.Lazy?.FirstOrDefault(l => l.NewModel == upgrade.NewModel));
            var flips = Path.Combine(directory, FlipsPlot(upgrade));
            ReportCharts.NegativeFlips(upgrade, flips, targets.NegativeFlipSlack);
            written.AddRange([backfill, flips]);
        }

        foreach (var upgrade in report.System?.Upgrades ?? [])
        {
            var path = Path.Combine(directory, SystemPlot(upgrade));
            ReportCharts.System(upgrade, report.System!, path);
            written.Add(path);
        }

        var grid = Path.Combine(directory, CrossModelPlot);
        ReportCharts.CrossModel(report.Upgrades, grid);
        written.Add(grid);

        var markdown = Path.Combine(directory, MarkdownFile);
        File.WriteAllText(markdown, Markdown(report, Targets.Check(report, targets)));
        written.Add(markdown);

        var json = Path.Combine(directory, JsonFile);
        File.WriteAllText(json, JsonSerializer.Serialize(report, Json));
        written.Add(json);
        return written;
    }

    /// <summary>Reads a report back from its <c>results.json</c>.</summary>
    public static EvaluationReport Read(string directory)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        var path = Path.Combine(directory, JsonFile);
        return JsonSerializer.Deserialize<EvaluationReport>(File.ReadAllText(path), Json) ?? throw new InvalidDataException($"{path} holds no report");
    }

    /// <summary>The report as <c>results.json</c> holds it.</summary>
    public static string ToJson(EvaluationReport report) => JsonSerializer.Serialize(report, Json);

    /// <summary>A report from <see cref="ToJson"/>.</summary>
    public static EvaluationReport FromJson(string json) => JsonSerializer.Deserialize<EvaluationReport>(json, Json) ?? throw new InvalidDataException("no report");

    /// <summary>The markdown summary, without touching the disk.</summary>
    public static string Markdown(EvaluationReport report, IReadOnlyList<TargetCheck> checks)
    {
        ArgumentNullException.ThrowIfNull(report);
        ArgumentNullException.ThrowIfNull(checks);
        var first = report.Upgrades[0];
        var md = new StringBuilder();
        md.AppendLine($"# {report.Title}").AppendLine();
        md.AppendLine($"**Data:** {first.Description}.").AppendLine();
        if (report.Protocol is { } protocol) md.AppendLine($"**Users:** {protocol.Describe()}.").AppendLine();
        md.AppendLine($"**Protocol:** {first.Galleries} simulated users, {first.Items / Math.Max(1, first.Galleries)} gallery images each on average ({first.Items} in all), " +
            $"{first.Queries + first.SkippedQueries} held-out queries ({first.SkippedQueries} skipped without a positive); queries embedded by the new model; " +
            $"calibration: {first.CalibrationItems} items drawn evenly across users, re-embedded by the new model to fit the map and the compatibility predictor; " +
            $"backfill points β = i/20, i = 0..20; every figure is a macro average over users; seed {first.Options.Seed}. " +
            "Definitions: `shared/docs/METRICS.md`.");
        md.AppendLine().AppendLine($"Produced by `{report.Command}`" + (report.System is { } run && run.Command != report.Command ? $" and `{run.Command}`" : string.Empty) +
            (report.Protocol is null ? "." : report.System?.Source is not null
                ? " (`indexer-eval render` redraws this page from results.json)."
                : " (`scripts/evaluate.sh` runs both; `indexer-eval render` redraws this page from results.json).")).AppendLine();

        md.AppendLine("## Targets").AppendLine();
        if (checks.Count > 0 && checks.All(c => c.Met is null))
        {
            // A report on other data or versions (indexer-eval folder): a list of targets that all say "not in this report" is noise.
            md.AppendLine("No target is evaluated: the targets name upgrades of the model zoo (v2-bct, v2-independent), and none of them is in this report.");
        }
        else
        {
            foreach (var check in checks)
            {
                var status = check.Met switch { true => "**met**", false => "**not met**", null => "*not evaluated*" };
                md.AppendLine($"- {status}: {check.Target}. {check.Detail}.");
            }
        }

        var why = Targets.Why(report);
        if (why.Count > 0)
        {
            md.AppendLine().AppendLine("### Why the missed targets were missed").AppendLine();
            md.AppendLine("Measured on this run (the figures come from the tables below and from a split of items and queries by the classes v1 was trained on).").AppendLine();
            foreach (var line in why) md.AppendLine($"- {line}");
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
        var refitted = report.Upgrades.Where(u => u.MapRefits.Count > 0).ToList();
        if (refitted.Count > 0)
        {
            // The system fits a kernel map again as its backfill re-embeds items (MapRefitPolicy); every curve here does the same.
            md.AppendLine("Where the map is a kernel map, every curve is served as the system serves it: the map is fitted again, with its width and " +
                "penalty, each time the items re-embedded so far reach its anchors, on its anchors plus those items' old and new vectors, " +
                $"up to {Search.Maps.MapRefitPolicy.MaxAnchorsPerCalibrationItem} anchors per calibration item (every gallery taken to be at the same β). " +
                "Fits along the predicted order: " + string.Join("; ", refitted.Select(u =>
                    $"{u.Name} at β = {string.Join(", ", u.MapRefits.Select(f => F(f.Beta, 3)))} ({string.Join(" → ", new[] { u.CalibrationItems }.Concat(u.MapRefits.Select(f => f.Anchors)))} anchors)")) +
                ". docs/results/orders.md shows the predicted order without them.").AppendLine();
        }

        var guards = report.Upgrades.Select(u => u.Options.GuardDepth).Distinct().ToList();
        if (guards.Any(d => d > 0))
        {
            // The system orders the first results of every search by both models until the commit (RegressionGuard).
            md.AppendLine($"Every point before the commit is ranked as the system ranks it: the first {string.Join(" / ", guards)} results of each query by the mean of the new " +
                "score and the old model's score (query and item embedded by the old model, all held until the commit) carried into the new scale by the " +
                "calibration's quantile-matched score map (the regression guard). Everything below the first results keeps the new order. " +
                "\"NFR@1 full re-index\" is new/new after the commit, unguarded; docs/results/orders.md has the predicted order without the guard.").AppendLine();
        }

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

        if (report.Lazy is { Count: > 0 } lazy)
        {
            md.AppendLine().AppendLine("### The lazy policy as the running system counts it").AppendLine();
            md.AppendLine("The table above counts the calibration sample as re-embedded, as the offline evaluation does (its new vectors serve as items). " +
                "The running system does not keep calibration vectors as item vectors: its lazy backfill re-embeds the items predicted below τ, " +
                "and the calibration sample is a separate cost paid before activation. **This accounting is the one the targets use.** " +
                "Quality is that of the gallery after the backfill: items predicted below τ hold φ_new, every other item is served through the map.").AppendLine();
            md.AppendLine("| upgrade | τ | re-embedded by the backfill | true agreement below τ | calibration passes | total backbone passes | mAP | top-1 | NFR@1 |");
            md.AppendLine("|---|---|---|---|---|---|---|---|---|");
            foreach (var l in lazy)
            {
                var c = l.Configured;
                md.AppendLine($"| {l.Upgrade} | {F(c.Threshold, 2)} | {P(c.ReEmbedded)}% | {P(c.TrueBelow)}% | {P(c.CalibrationPasses)}% | {P(c.TotalPasses)}% | {P(c.Quality.MeanAveragePrecision)} | {P(c.Quality.Cmc1)} | {P(c.Quality.NegativeFlipRate1)}% |");
            }

            md.AppendLine().AppendLine("Sweep over τ (same accounting): share re-embedded / mAP reached.").AppendLine();
            var thresholds = lazy[0].Sweep.Select(p => p.Threshold).ToArray();
            md.AppendLine("| upgrade | " + string.Join(" | ", thresholds.Select(t => $"τ = {F(t, 2)}")) + " |");
            md.AppendLine("|---|" + string.Concat(thresholds.Select(_ => "---|")));
            foreach (var l in lazy)
            {
                md.AppendLine($"| {l.Upgrade} | " + string.Join(" | ", l.Sweep.Select(p => $"{P(p.ReEmbedded)}% / {P(p.Quality.MeanAveragePrecision)}")) + " |");
            }
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
            md.AppendLine($"| {u.Name} | map only | {F(k.MapOnlyPassesPerItem, 3)} | {macs} | {k.NewBytesPerItem} (map: {k.MapBytes.ToString("N0", CultureInfo.InvariantCulture)} B once) | {P((u.CrossModel.NewMapped ?? u.CrossModel.NewOld).MeanAveragePrecision)} |");
            md.AppendLine($"| {u.Name} | lazy, τ = {F(u.CompatibilityThreshold, 2)} | {F(k.LazyPassesPerItem, 3)} (with calibration: {F(k.LazyTotalPassesPerItem, 3)}) | {macs} on the rest | {k.NewBytesPerItem} | {P(u.Lazy.MeanAveragePrecision)} |");
            md.AppendLine($"| {u.Name} | full re-index | {F(k.FullBackfillPassesPerItem, 3)} | 0 | {k.NewBytesPerItem} | {P(u.CrossModel.NewNew.MeanAveragePrecision)} |");
        }

        if (report.System is { } system) SystemSection(md, report, system);

        md.AppendLine().AppendLine("## Plots").AppendLine();
        md.AppendLine($"![cross-model mAP]({CrossModelPlot})").AppendLine();
        foreach (var u in report.Upgrades)
        {
            md.AppendLine($"![{u.Name}: backfilling curves]({BackfillPlot(u)})").AppendLine();
            md.AppendLine($"![{u.Name}: NFR@1]({FlipsPlot(u)})").AppendLine();
        }

        var notes = report.Notes.Concat(report.System is { } ran ? SystemNotes(ran) : []).ToList();
        if (notes.Count > 0)
        {
            md.AppendLine("## Notes").AppendLine();
            foreach (var note in notes) md.AppendLine($"- {note}");
            md.AppendLine();
        }

        md.AppendLine(Invariant($"Evaluation time: {report.Upgrades.Sum(u => u.Elapsed.TotalSeconds):F1} s for {report.Upgrades.Count} upgrade(s)."));
        return md.ToString();
    }

    /// <summary>Notes on the system-mode run, from its own figures.</summary>
    public static IReadOnlyList<string> SystemNotes(SystemReport system) =>
    [
        (system.Source is null
            ? Invariant($"System mode ran {system.Protocol.Galleries} users, the offline run's first {system.Protocol.Galleries} (`--galleries`; fewer make a shorter run): every upgrade costs the system ")
            : Invariant($"System mode ran {system.Protocol.Galleries} users: every upgrade costs the system ")) +
        Invariant($"a calibration ({system.Options.SampleSize} images embedded by the new version), a labeled verification in each of its two rollouts ") +
        Invariant($"({(system.Options.VerifyOnLabeledGallery ? system.Protocol.GallerySize : 0)} images each) and a paced backfill of all {system.Protocol.Galleries * system.Protocol.GallerySize} items. The whole run took {system.TotalSeconds / 60:F1} min."),
        "Backfill wall times are paced by the budget (a rollout's MaxItemsPerSecond), set well below the embedding rate so that a pause stops the backfill within " +
        "about a second (credit a gallery was granted before the pause is still spent); the rate column is items per unpaused second, i.e. about the budget, not the system's capacity. " +
        "Start → first query includes calibration in the first rollout (the sample is embedded by the new version) and the labeled verification in both.",
        Throughput(system),
        Invariant($"The harness waits {SystemEvaluation.AfterRollback.TotalSeconds:F0} s after a rollback before the next rollout. ") +
        "Second rollouts reuse the upgrade's calibration and its labeled verification (both cached per upgrade), so their start → first query is the activation alone; " +
        "before the verification was cached it re-embedded the evaluation gallery each time (about 10 s), and before a rollout started right after a rollback was chained " +
        "after the old one's loop, it waited for the resume reminder (70-79 s).",
    ];

    /// <summary>The ingest rate against the calibrations' embedding rate, both measured in the run.</summary>
    private static string Throughput(SystemReport system)
    {
        var calibrations = system.Upgrades.Select(u => u.Calibration).Where(c => c.Duration > TimeSpan.Zero).ToList();
        if (calibrations.Count == 0) return Invariant($"Ingest ran at {system.IngestRate:F1} images/s.");
        var rate = calibrations.Sum(c => c.SampleSize) / calibrations.Sum(c => c.Duration.TotalSeconds);
        return Invariant($"Embedding rates by path in this run: the calibrations embedded {calibrations.Sum(c => c.SampleSize)} stored images at {rate:F0} images/s, ") +
            Invariant($"the ingest of the {system.Protocol.Galleries} galleries at once reached {system.IngestRate:F1} images/s. All wall times depend on what else the machine ran.");
    }

    /// <summary>The "Through the running system" section.</summary>
    private static void SystemSection(StringBuilder md, EvaluationReport report, SystemReport system)
    {
        var o = system.Options;
        var protocol = system.Protocol;
        md.AppendLine().AppendLine("## Through the running system").AppendLine();
        var old = system.Upgrades.Count > 0 ? system.Upgrades[0].FromVersion : $"{o.VersionPrefix}v1";
        md.AppendLine((system.Source is { } source
            ? $"A silo in the harness's process (Orleans, Kestrel, Azure Blob storage in Azurite, the embedding workers on ONNX Runtime) with the model directories registered " +
              $"through the HTTP API under their manifests' versions prefixed with `{o.VersionPrefix}` ({string.Join(", ", new[] { old }.Concat(system.Upgrades.Select(u => u.ToVersion)).Distinct().Select(v => $"`{v}`"))}). " +
              $"The images: {source.Data}. {protocol.Describe()}, one gallery each under user `{o.User}`, every file uploaded over HTTP as it is, with its label folder's name as `label` metadata, and indexed by `{old}` "
            : Invariant($"A silo in the harness's process (Orleans, Kestrel, Azure Blob storage in Azurite, the embedding workers on ONNX Runtime) with the zoo's versions registered ") +
              Invariant($"through the HTTP API as `{o.VersionPrefix}v1`, `{o.VersionPrefix}v2-…` (the built-in ResNet18 holds the name `v1`). {protocol.Describe()}: the first {protocol.Galleries} users of the offline run, ") +
              Invariant($"one gallery each under user `{o.User}`, uploaded over HTTP with their class as `label` metadata and indexed by `{o.VersionPrefix}v1` ")) +
            Invariant($"({system.IngestSeconds:F0} s, {system.IngestRate:F1} images/s). Queries are embedded by the system's workers, by the old version too during a rollout (the regression guard's, as a search by image is); search is the galleries' `SearchManyAsync` with k = the gallery's size; ") +
            "the rankings are scored with the project's metric code. Per new version, two rollouts: (1) policy lazy with a budget that grants nothing, so β = 0 and the lazy " +
            "selection are the system's own, then rollback; (2) policy full, calibration reused, " +
            (double.IsNaN(system.Budget) ? "budget half the rate at which the upgrade's calibration embedded images" : Invariant($"budget {system.Budget:F0} items/s")) +
            Invariant($", paused near each β to measure, then rollback (the next rollout starts {SystemEvaluation.AfterRollback.TotalSeconds:F0} s after a rollback). Calibration sample {o.SampleSize}, τ = {F(o.Threshold, 2)}, ") +
            (o.VerifyOnLabeledGallery ? $"claims verified on the labeled gallery `{o.User}/{UserProtocol.UserName(0)}`." : "claims verified without labeled data.") +
            Invariant($" old/old through the system: mAP {P(system.OldOld.MeanAveragePrecision)}, top-1 {P(system.OldOld.Cmc1)}. Whole run: {system.TotalSeconds / 60:F1} min.")).AppendLine();

        md.AppendLine("| upgrade | route of old items | claim | verified at rollout (labeled gallery: new/old vs old/old mAP) | calibration: map (held-out agreement), predictor (Spearman) | lazy selects (system, τ) | start → activation / first query, with calibration | same, calibration reused | backfill: items, wall, of which paused, rate |");
        md.AppendLine("|---|---|---|---|---|---|---|---|---|");
        foreach (var u in system.Upgrades)
        {
            var t = u.Timings;
            var e = u.Evaluation;
            var c = u.Calibration;
            md.AppendLine($"| {u.Name} | {u.Route.ToLowerInvariant()} | {u.Claim ?? "–"} | {(u.ClaimVerified switch { true => "yes", false => "**no**", null => "nothing claimed" })}" +
                (e is null ? string.Empty : $" ({P(e.NewOldMap)} vs {P(e.OldOldMap)})") + " | " +
                Invariant($"{c.MapKind.ToLowerInvariant()} ({F(c.HeldOut.Mean, 3)}) on {c.SampleSize} items") +
                (c.MapRefits > 0 ? Invariant($", fitted again {c.MapRefits} times during the backfill, to {c.MapAnchors} anchors") : string.Empty) +
                Invariant($", {c.PredictorKind.ToLowerInvariant()} ({F(c.PredictorHeldOutSpearman, 3)}) | ") +
                Invariant($"{u.LazySelected}/{u.Scored} = {P(u.LazyFraction)}% | {t.FirstToActivation:F1} s / {t.FirstToFirstQuery:F1} s (calibration {t.CalibrationSeconds:F1} s) | ") +
                Invariant($"{t.SecondToActivation:F1} s / {t.SecondToFirstQuery:F1} s | {t.BackfillItems}, {t.BackfillWall:F0} s, {t.BackfillPaused:F0} s, {t.BackfillRate:F1} items/s (budget {t.Budget:F0}) |"));
        }

        md.AppendLine().AppendLine("Measured points. *system*: through the system's search. *offline*: the offline computation (`BackfillEvaluation`) on the same galleries, with " +
            (system.Source?.Reference ?? "the zoo heads' vectors of the cached backbone features (the offline mode's input)") + ", the map the system served that point through (a kernel map is fitted again as the backfill goes; the map is read at each pause) and the system's actual re-embedded set. " +
            "*curve*: the offline predicted-order curve of these galleries with their own seeded calibration, read at the same β (linear between its points). mAP / top-1 / top-5 / NFR@1 in %.").AppendLine();
        md.AppendLine("| upgrade | β asked | β measured (per gallery) | system | offline, same set | largest difference | curve, own calibration | re-embedded = start of the predicted order |");
        md.AppendLine("|---|---|---|---|---|---|---|---|");
        foreach (var u in system.Upgrades)
        {
            foreach (var p in u.Points)
            {
                md.AppendLine(Invariant($"| {u.Name} | {P(p.Requested, 0)}% | {P(p.Beta)}% ({P(p.MinGalleryBeta)}–{P(p.MaxGalleryBeta)}) | {Quad(p.System)} | {Quad(p.OfflineHeads)} | {p.MaxDifferenceHeads:0.0e0} | ") +
                    $"{Quad(ReportCharts.Interpolate(u.Offline.Predicted, p.Beta))} | {(p.PredictedPrefix ? "yes" : "no")} |");
            }
        }

        var all = system.Upgrades.SelectMany(u => u.Points).ToList();
        if (all.Count > 0)
        {
            var heads = all.Max(p => p.MaxDifferenceHeads);
            var stored = all.Max(p => p.MaxDifferenceStored);
            var vectors = system.Upgrades.Max(u => u.MaxVectorDifference);
            md.AppendLine().AppendLine(Invariant($"**Agreement.** Over {all.Count} measured points and the four measures, the system and the offline computation differ by at most {heads:0.0e0} ") +
                Invariant($"(on the vectors the system stored and embedded: {stored:0.0e0}). The system's vectors and {(system.Source is { } s ? s.ReferenceShort : "the zoo heads'")} differ by at most {vectors:0.0e0} per coordinate. ") +
                "The offline curve with its own calibration differs from the system by the calibration sample alone (another draw, so another map and predictor); the last column " +
                $"{(all.All(p => p.PredictedPrefix) ? "confirms" : "does **not** confirm")} that the full backfill walked each gallery in the predicted order. " +
                $"After each rollback every query's whole ranking was {(system.Upgrades.All(u => u.RollbackRestoredAnswers) ? "identical to" : "**not** identical to")} the one before the upgrade.");
        }

        md.AppendLine();
        foreach (var u in system.Upgrades) md.AppendLine($"![{u.Name} through the system]({SystemPlot(u)})").AppendLine();
        if (system.Upgrades.Any(u => u.Clusters is not null)) ClusterSection(md, system);
    }

    /// <summary>The users' clusters through each upgrade (issue 5): quality against the labels, names, corrections and negative flips.</summary>
    private static void ClusterSection(StringBuilder md, SystemReport system)
    {
        md.AppendLine("### The users' clusters through each upgrade").AppendLine();
        md.AppendLine("Each gallery clusters its items as they are indexed; once the ingest is done the harness asks every gallery for a refinement (`POST …/clusters/refine`, as a user may). " +
            "Before each upgrade the simulated user names every shown cluster that has no name yet after its majority label and a number (\"Trouser 2\"; the system never sees the labels) " +
            "and makes two corrections through the API: the first item of another label in the largest named cluster holding one is taken out of every cluster, and the first item that sits in a named cluster of another label " +
            "is moved into the largest named cluster of its own label. Rollbacks keep names and corrections, so they accumulate over the upgrades. " +
            "Quality is ARI / NMI / purity against the labels over the items in a shown cluster, averaged over the galleries; chance is the largest class's share of those items (the purity of one cluster holding them all). " +
            "Flips are METRICS.md's cluster negative flips, counted against the named membership right after the user's actions and pooled over the galleries: a named item flips when it is no longer in its named cluster, " +
            "having left for an unnamed cluster or none, or moved to another named cluster. Corrections in force count every correction made so far. " +
            "Members of named clusters are not moved by the clustering on its own (`Indexer:Clustering:NamedMembers=Suggest`, the default): where the new model's evidence places one elsewhere the move waits as a suggestion, " +
            "counted here with how the labels judge it (corrective: from a cluster whose majority label is not the item's to one whose majority is; harmful: the opposite); the harness accepts none.").AppendLine();
        md.AppendLine(ClusterParameters(system)).AppendLine();

        var upgrades = system.Upgrades.Where(u => u.Clusters is not null).ToList();
        foreach (var u in upgrades)
        {
            var c = u.Clusters!;
            if (u != upgrades[0]) md.AppendLine();
            md.AppendLine(Invariant($"**{u.Name}** (old items served {u.Route.ToLowerInvariant()}): {c.NamedClusters} named clusters, {c.NewlyNamed} of them named just before this upgrade; {c.Corrections.Count} new corrections before it") +
                (c.Corrections.Count == 0 ? "." : ": " + string.Join("; ", c.Corrections.Select(Correction)) + ".")).AppendLine();
            md.AppendLine("| point | β | clusters in | ARI | NMI | purity (chance) | shown clusters / items in them | named items flipped (left + to another named) | suggestions (corrective / harmful) | corrections in force |");
            md.AppendLine("|---|---|---|---|---|---|---|---|---|---|");
            foreach (var p in c.Points)
            {
                var q = p.Quality;
                var f = p.Flips;
                var flips = p.Stage == ClusterStage.Clustered ? "–" : Invariant($"{f.Flips} / {f.NamedItems} = {P(f.Fraction, 2)}% ({f.Left} + {f.MovedToOtherNamed})");
                var corrections = p.Stage == ClusterStage.Clustered ? Invariant($"{p.Corrections} before") : Invariant($"{p.CorrectionsKept} / {p.Corrections}");
                md.AppendLine(Invariant($"| {ClusterPointName(p)} | {P(p.Beta)}% | {p.ModelVersions} | {F(q.AdjustedRandIndex, 3)} | {F(q.NormalizedMutualInformation, 3)} | {F(q.Purity, 3)} ({F(q.ChancePurity, 3)}) | ") +
                    Invariant($"{q.ShownClusters} / {q.Items} ({P(q.Coverage)}%) | {flips} | {p.Suggestions} ({p.CorrectiveSuggestions} / {p.HarmfulSuggestions}) | {corrections} |"));
            }
        }
    }

    /// <summary>Which join thresholds the run's versions used, and how they were chosen.</summary>
    private static string ClusterParameters(SystemReport system)
    {
        var o = system.Options;
        if (system.ClusterCalibration is { Count: > 0 } calibration)
        {
            var first = calibration[0];
            return Invariant($"Clustering parameters: the system's defaults except the join threshold, set per version (`Indexer:Clustering:Versions:{o.VersionPrefix}<version>:JoinThreshold`) ") +
                Invariant($"to the best of a sweep over {F(first.Sweep[0].JoinThreshold, 2)}–{F(first.Sweep[^1].JoinThreshold, 2)} on {first.Galleries} galleries of {first.Items} {(system.Source is null ? "test images" : "images of the folder")} that no user holds ") +
                "(highest ARI over all their items, an item outside every shown cluster counting as a cluster of its own; the system's default of 0.85 was picked on raw ResNet18 features and leaves most of these versions' items unclustered): " +
                string.Join(", ", calibration.Select(r =>
                {
                    var best = r.Sweep.First(p => p.JoinThreshold == r.JoinThreshold);
                    return Invariant($"{r.Version} {F(r.JoinThreshold, 2)} (ARI {F(best.AdjustedRandIndex, 3)}, purity {F(best.Purity, 3)}, {P(best.Coverage)}% in shown clusters)");
                })) + ".";
        }

        return o.ClusterJoinThresholds is { Count: > 0 } joins
            ? "Clustering parameters: the system's defaults except the join threshold: " + string.Join(", ", joins.Select(j => Invariant($"{j.Key} {F(j.Value, 2)}"))) + "."
            : "Clustering parameters: the system's defaults for every version.";
    }

    private static string ClusterPointName(ClusterPoint p) => p.Stage switch
    {
        ClusterStage.Clustered => "as clustered",
        ClusterStage.BeforeRollout => "named and corrected",
        ClusterStage.Activated => "activated (lazy rollout)",
        ClusterStage.Paused => $"paused (asked {P(p.Requested, 0)}%)",
        ClusterStage.Backfilled => "backfilled",
        ClusterStage.RolledBack => "rolled back",
        _ => p.Stage.ToString(),
    };

    private static string Correction(ClusterCorrection c) => c.Kind == ClusterCorrectionKind.MoveOut
        ? $"{c.Gallery} `{c.ItemId}` ({c.Label}) out of '{c.FromName}'"
        : $"{c.Gallery} `{c.ItemId}` ({c.Label}) from {(c.FromName is null ? (c.FromClusterId is null ? "no cluster" : "an unnamed cluster") : $"'{c.FromName}'")} into '{c.ToName}'";

    /// <summary>File name of an upgrade's system-mode plot.</summary>
    public static string SystemPlot(SystemUpgradeResult upgrade) =>
        $"system-{new string($"{upgrade.OldModel}-to-{upgrade.NewModel}".ToLowerInvariant().Select(ch => char.IsAsciiLetterOrDigit(ch) || ch is '-' or '.' ? ch : '_').ToArray())}.png";

    private static string Quad(BackfillPoint p) => $"{P(p.MeanAveragePrecision)} / {P(p.Cmc1)} / {P(p.Cmc5)} / {P(p.NegativeFlipRate1)}";

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
