using Indexer.Client;
using Indexer.Galleries;
using Spectre.Console;

namespace Indexer.Cli;

internal static class Output
{
    public static void Results(SearchResult result)
    {
        var table = new Table().AddColumns("#", "item", "score", "label", "model");
        var rank = 1;
        foreach (var match in result.Matches)
        {
            table.AddRow((rank++).ToString(), Markup.Escape(match.ItemId), match.Score.ToString("F3"),
                Markup.Escape(match.Metadata.GetValueOrDefault("label") ?? ""), Markup.Escape(match.ModelVersion));
        }

        AnsiConsole.Write(table);
        AnsiConsole.MarkupLineInterpolated($"query model {result.QueryModelVersion}: {result.Searched} items searched, {result.Excluded} excluded");
        if (result.GuardedBy is { } guard) AnsiConsole.MarkupLineInterpolated($"the first matches ordered with {guard}'s scores too (regression guard)");
    }

    public static void Stats(GalleryStats stats)
    {
        var table = new Table().HideHeaders().AddColumns("", "");
        table.AddRow("gallery", Markup.Escape($"{stats.UserId}/{stats.GalleryId}"));
        table.AddRow("items", stats.Items.ToString());
        table.AddRow("pending", stats.Pending.ToString());
        table.AddRow("failed", stats.Failed.ToString());
        table.AddRow("by model", Markup.Escape(string.Join(", ", stats.ItemsByModelVersion.Select(v => $"{v.Key}: {v.Value}"))));
        table.AddRow("segments", $"{stats.Segments} ({stats.SegmentBytes / 1024.0:F0} KiB)");
        table.AddRow("created", stats.CreatedAt.ToString("u"));
        AnsiConsole.Write(table);
        foreach (var failure in stats.RecentFailures) AnsiConsole.MarkupLineInterpolated($"  [red]failed[/] {failure.ItemId}: {failure.Reason}");
    }

    public static void Items(ItemPage page)
    {
        var table = new Table().AddColumns("item", "model", "added", "label");
        foreach (var item in page.Items)
        {
            table.AddRow(Markup.Escape(item.ItemId), Markup.Escape(item.ModelVersion), item.AddedAt.ToString("u"), Markup.Escape(item.Metadata.GetValueOrDefault("label") ?? ""));
        }

        AnsiConsole.Write(table);
        if (page.Next is not null) AnsiConsole.MarkupLineInterpolated($"more: --after \"{page.Next}\"");
    }

    public static void Clusters(IReadOnlyList<ClusterInfo> clusters)
    {
        var table = new Table().AddColumns("cluster", "name", "size", "pinned", "representatives");
        foreach (var c in clusters)
        {
            table.AddRow(c.Id.ToString(), Markup.Escape(c.Name ?? ""), c.Size.ToString(), c.PinnedCount.ToString(), Markup.Escape(string.Join(", ", c.Representatives)));
        }

        AnsiConsole.Write(table);
        AnsiConsole.MarkupLineInterpolated($"{clusters.Count} clusters, {clusters.Sum(c => c.Size)} items");
    }

    public static void Cluster(string what, ClusterInfo cluster) =>
        AnsiConsole.MarkupLineInterpolated($"{what} cluster [bold]{cluster.Id}[/]{(cluster.Name is null ? "" : $" '{cluster.Name}'")}: {cluster.Size} items");

    public static void ClusterItems(ClusterPage page)
    {
        AnsiConsole.MarkupLineInterpolated($"cluster [bold]{page.ClusterId}[/]{(page.Name is null ? "" : $" '{page.Name}'")}: items {page.Offset + 1}-{page.Offset + page.Items.Count} of {page.Total}");
        foreach (var item in page.Items) AnsiConsole.MarkupLineInterpolated($"  {item}");
        if (page.Offset + page.Items.Count < page.Total) AnsiConsole.MarkupLineInterpolated($"more: --offset {page.Offset + page.Items.Count}");
    }

    public static void Refined(ClusterRefineSummary r) =>
        AnsiConsole.MarkupLineInterpolated($"refined in {r.Iterations} passes: {r.Reassignments} items reassigned, {r.ClustersCreated} clusters started, {r.ClustersMerged} merged, {r.ClustersEmptied} emptied, {r.NamedMoves} moves out of named clusters; {r.Clusters} clusters");

    public static void ClusterReport(ClusterReport r)
    {
        AnsiConsole.MarkupLineInterpolated($"clusters in [bold]{r.ModelVersion ?? "-"}[/] (join threshold {r.JoinThreshold?.ToString("F3") ?? "-"}): {r.Items} items, {r.Clusters} clusters ({r.Shown} shown, {r.Named} named), {r.MovedOut} moved out, {r.WithoutVector} without a vector yet");
        if (r.RollbackHeld) AnsiConsole.MarkupLine("an upgrade is under way: the clusters as they were before it come back with a rollback");
        AnsiConsole.MarkupLineInterpolated($"{r.MovesTotal} moves made by the clustering on its own; latest:");
        var table = new Table().AddColumns("when", "item", "from", "to", "cause", "model", "sim. before", "sim. after");
        foreach (var m in r.RecentMoves)
        {
            table.AddRow(m.At.ToString("u"), Markup.Escape(m.ItemId), Markup.Escape($"{m.FromClusterId} {m.FromName}".Trim()), Markup.Escape($"{m.ToClusterId} {m.ToName}".Trim()),
                m.Cause.ToString(), Markup.Escape(m.ModelVersion), m.FromSimilarity?.ToString("F3") ?? "-", m.ToSimilarity.ToString("F3"));
        }

        AnsiConsole.Write(table);
        if (r.OpenSuggestions > 0) AnsiConsole.MarkupLineInterpolated($"{r.OpenSuggestions} suggestions wait for you: indexer clusters suggestions");
    }

    public static void ClusterSuggestions(IReadOnlyList<ClusterMoveRecord> suggestions)
    {
        AnsiConsole.MarkupLineInterpolated($"{suggestions.Count} members of named clusters look like another cluster (accept or dismiss each):");
        var table = new Table().AddColumns("item", "in", "looks like", "cause", "model", "sim. to its own", "sim. to the other");
        foreach (var s in suggestions)
        {
            table.AddRow(Markup.Escape(s.ItemId), Markup.Escape($"{s.FromClusterId} {s.FromName}".Trim()), Markup.Escape($"{s.ToClusterId} {s.ToName}".Trim()),
                s.Cause.ToString(), Markup.Escape(s.ModelVersion), s.FromSimilarity?.ToString("F3") ?? "-", s.ToSimilarity.ToString("F3"));
        }

        AnsiConsole.Write(table);
    }

    public static void Models(ModelList models)
    {
        var table = new Table().AddColumns("version", "dim", "input", "lineage", "registered", "");
        foreach (var m in models.Versions)
        {
            table.AddRow(Markup.Escape(m.Version), m.Dimension.ToString(), $"{m.InputWidth}x{m.InputHeight}", Markup.Escape(m.Lineage ?? ""),
                m.RegisteredAt.ToString("u"), m.Version == models.Current ? "[green]current[/]" : m.Retired ? "[grey]retired[/]" : "");
        }

        AnsiConsole.Write(table);
    }

    public static void Model(Indexer.Models.ModelVersionInfo m)
    {
        AnsiConsole.MarkupLineInterpolated($"model [bold]{m.Version}[/]{(m.Retired ? " (retired)" : "")}: {m.Dimension}-d, input {m.InputWidth}x{m.InputHeight}, registered {m.RegisteredAt:u}");
        if (m.Lineage is { } lineage) AnsiConsole.MarkupLineInterpolated($"lineage: {lineage}");
        if (m.Description is { } description) AnsiConsole.MarkupLineInterpolated($"{description}");
    }

    public static void Calibration(Compatibility.CalibrationReport report)
    {
        AnsiConsole.MarkupLineInterpolated($"[bold]{report.From} -> {report.To}[/]: {report.SampleSize} items from {report.Galleries} galleries ({report.EmbeddingFailures} could not be embedded), {report.Duration.TotalSeconds:F1} s");
        AnsiConsole.MarkupLineInterpolated($"map: [bold]{report.MapKind}[/]; held-out agreement mean {report.HeldOut.Mean:F4}, min {report.HeldOut.Min:F4}, p05 {report.HeldOut.P05:F4}, median {report.HeldOut.Median:F4}");
        if (report.MapRefits > 0) AnsiConsole.MarkupLineInterpolated($"map fitted again {report.MapRefits} time(s) with re-embedded items: now {report.MapAnchors} anchors");
        var table = new Table().AddColumns("candidate", "penalty", "width s", "held-out mean", "held-out p05");
        foreach (var c in report.Candidates)
        {
            table.AddRow(c.Kind, c.Regularisation.ToString("G3"), c.Sharpness == 0 ? "" : c.Sharpness.ToString("G3"), c.HeldOutMean.ToString("F4"), c.HeldOutP05.ToString("F4"));
        }
        AnsiConsole.Write(table);
        AnsiConsole.MarkupLineInterpolated($"compatibility predictor: {report.PredictorKind}, held-out Spearman {report.PredictorHeldOutSpearman:F3}");
    }

    public static void Rollout(Indexer.Models.RolloutStatus r)
    {
        AnsiConsole.MarkupLineInterpolated($"rollout [bold]{r.Id}[/]: {r.From} -> {r.To}, [bold]{r.Phase}[/], policy {r.Request.Policy}, threshold {r.Request.Threshold:F2}");
        if (r.ActivatedAt is { } activated)
        {
            AnsiConsole.MarkupLineInterpolated($"active since {activated:u} ({(activated - r.StartedAt).TotalSeconds:F1} s after start); old items served [bold]{r.Route}[/]");
        }

        if (r.Claim is not null) AnsiConsole.MarkupLineInterpolated($"claim: '{r.Claim}', verified: {(r.ClaimVerified is null ? "n/a" : r.ClaimVerified.Value ? "yes" : "no")}");
        if (r.Calibration is { } c)
        {
            AnsiConsole.MarkupLineInterpolated($"calibration: {c.SampleSize} items, map {c.MapKind}, held-out agreement mean {c.HeldOut.Mean:F4} p05 {c.HeldOut.P05:F4}; predictor {c.PredictorKind}, Spearman {c.PredictorHeldOutSpearman:F3}");
            if (c.MapRefits > 0) AnsiConsole.MarkupLineInterpolated($"map fitted again {c.MapRefits} time(s) during the backfill: {c.MapAnchors} anchors");
        }

        if (r.Evaluation is { } e)
        {
            AnsiConsole.MarkupLineInterpolated($"on {e.Items} labeled items of {e.Gallery} ({e.Labels} labels), mAP old/old {e.OldOldMap:P1}, new/new {e.NewNewMap:P1}, new/old {e.NewOldMap:P1}, new/h(old) {e.NewMappedMap:P1}; criterion new/old > old/old {(e.CriterionHolds ? "holds" : "fails")}");
        }

        AnsiConsole.MarkupLineInterpolated($"backfill: {r.GalleriesDone}/{r.Galleries} galleries done; {r.Scored} old items scored, {r.Selected} selected, {r.Done} re-embedded ({r.Promoted} moved forward by searches), {r.Failed} failed");
        if (r.Unreadable > 0) AnsiConsole.MarkupLineInterpolated($"[yellow]{r.Unreadable} of the failed items could not be read from image storage[/]: `rollout resume` tries them again");
        if (r.Message is not null) AnsiConsole.MarkupLineInterpolated($"{r.Message}");
    }

    /// <summary>Shows a progress bar of the backfill until the rollout leaves its active, backfilling phases.</summary>
    public static async Task<Indexer.Models.RolloutStatus> WatchRolloutAsync(Client.IndexerHttpClient client, CancellationToken ct)
    {
        Indexer.Models.RolloutStatus? last = null;
        await AnsiConsole.Progress().AutoClear(false).StartAsync(async context =>
        {
            var task = context.AddTask("backfill", maxValue: 1);
            while (true)
            {
                last = await client.GetRolloutAsync(ct) ?? throw new UsageException("there is no rollout to watch");
                task.Description = $"{last.Phase}: {last.Done}/{last.Selected} re-embedded";
                task.MaxValue = Math.Max(1, last.Selected);
                task.Value = last.Done + last.Failed;
                if (last.Phase is not (Indexer.Models.RolloutPhase.Calibrating or Indexer.Models.RolloutPhase.Backfilling or Indexer.Models.RolloutPhase.Paused)) break;
                await Task.Delay(TimeSpan.FromMilliseconds(500), ct);
            }

            task.Value = task.MaxValue;
        });
        return last!;
    }
}
