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

    public static void Models(ModelList models)
    {
        var table = new Table().AddColumns("version", "dim", "input", "lineage", "registered", "");
        foreach (var m in models.Versions)
        {
            table.AddRow(Markup.Escape(m.Version), m.Dimension.ToString(), $"{m.InputWidth}x{m.InputHeight}", Markup.Escape(m.Lineage ?? ""),
                m.RegisteredAt.ToString("u"), m.Version == models.Current ? "[green]current[/]" : "");
        }

        AnsiConsole.Write(table);
    }

    public static void Calibration(Compatibility.CalibrationReport report)
    {
        AnsiConsole.MarkupLineInterpolated($"[bold]{report.From} -> {report.To}[/]: {report.SampleSize} items from {report.Galleries} galleries ({report.EmbeddingFailures} could not be embedded), {report.Duration.TotalSeconds:F1} s");
        AnsiConsole.MarkupLineInterpolated($"map: [bold]{report.MapKind}[/]; held-out agreement mean {report.HeldOut.Mean:F4}, min {report.HeldOut.Min:F4}, p05 {report.HeldOut.P05:F4}, median {report.HeldOut.Median:F4}");
        var table = new Table().AddColumns("candidate", "ridge λ", "held-out mean", "held-out p05");
        foreach (var c in report.Candidates) table.AddRow(c.Kind, c.Regularisation.ToString("G3"), c.HeldOutMean.ToString("F4"), c.HeldOutP05.ToString("F4"));
        AnsiConsole.Write(table);
        AnsiConsole.MarkupLineInterpolated($"compatibility predictor: {report.PredictorKind}, held-out Spearman {report.PredictorHeldOutSpearman:F3}");
    }
}
