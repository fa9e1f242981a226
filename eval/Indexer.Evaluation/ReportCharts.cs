using System.Diagnostics;
using Indexer.Search.Metrics;
using ScottPlot;

namespace Indexer.Evaluation;

/// <summary>The report's PNG plots, drawn with ScottPlot.</summary>
internal static class ReportCharts
{
    private const int Width = 900, Height = 560;

    /// <summary>The name the system's sans-serif font is registered under for the plots.</summary>
    private const string FontName = "report-sans";

    /// <summary>
    /// The SkiaSharp build the project uses (NativeAssets.Linux.NoDependencies) does not read fontconfig, so without a font
    /// file ScottPlot draws no text at all on Linux. The system's sans-serif font is found through fontconfig's
    /// <c>fc-match</c> and registered by file; where there is no fontconfig, ScottPlot's own lookup stays in place.
    /// </summary>
    static ReportCharts()
    {
        var regular = FontFile("sans-serif");
        if (regular is null) return;
        Fonts.AddFontFile(FontName, regular, bold: false, italic: false);
        if (FontFile("sans-serif:bold") is { } bold) Fonts.AddFontFile(FontName, bold, bold: true, italic: false);
        Fonts.Default = FontName;
    }

    /// <summary>The font file fontconfig picks for <paramref name="pattern"/>, or null when fontconfig is not there.</summary>
    private static string? FontFile(string pattern)
    {
        try
        {
            using var process = Process.Start(new ProcessStartInfo("fc-match", ["-f", "%{file}", pattern]) { RedirectStandardOutput = true, RedirectStandardError = true });
            if (process is null) return null;
            var path = process.StandardOutput.ReadToEnd().Trim();
            process.WaitForExit();
            return process.ExitCode == 0 && File.Exists(path) ? path : null;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return null; // no fc-match on this machine
        }
    }

    private static readonly (BackfillOrder Order, Color Color, string Name)[] Orders =
    [
        (BackfillOrder.Random, Colors.Gray, "random order"),
        (BackfillOrder.Predicted, Colors.RoyalBlue, "predicted (least compatible first)"),
        (BackfillOrder.Oracle, Colors.SeaGreen, "oracle ‖φ_new − h(φ_old)‖"),
    ];

    /// <summary>mAP against β for the three orderings, with old/old and new/new as lines and the lazy policy as a point.</summary>
    /// <remarks>With a system-mode run of the same upgrade, its measured points are drawn on the plot too (its galleries are the first of the offline run's).</remarks>
    public static void Backfill(UpgradeResult result, string path, SystemUpgradeResult? system = null, LazyPolicyResult? lazyPolicy = null)
    {
        var plot = new Plot();
        var values = new List<double>();
        foreach (var (order, color, name) in Orders)
        {
            var curve = result.Curves.Single(c => c.Order == order);
            var ys = curve.Points.Select(p => 100 * p.MeanAveragePrecision).ToArray();
            values.AddRange(ys);
            var line = plot.Add.Scatter(curve.Points.Select(p => 100 * p.Beta).ToArray(), ys, color);
            line.LegendText = $"{name}: area {Targets.P(curve.MeanAveragePrecision.AreaFraction)}% of full";
            line.LineWidth = order == BackfillOrder.Predicted ? 3 : 2;
            line.MarkerSize = 5;
        }

        var oldOld = 100 * result.CrossModel.OldOld.MeanAveragePrecision;
        var newNew = 100 * result.CrossModel.NewNew.MeanAveragePrecision;
        Reference(plot, oldOld, Colors.Crimson, $"old/old {Targets.F(oldOld, 1)}");
        Reference(plot, newNew, Colors.Black, $"new/new (full re-index) {Targets.F(newNew, 1)}");
        if (lazyPolicy is { Configured: var c })
        {
            var systemLazy = plot.Add.Marker(100 * c.ReEmbedded, 100 * c.Quality.MeanAveragePrecision, MarkerShape.FilledDiamond, 12, Colors.DarkOrange);
            systemLazy.LegendText = $"lazy policy (τ = {Targets.F(c.Threshold, 2)}): {Targets.P(c.ReEmbedded)}% re-embedded, calibration not kept (as the system)";
            values.Add(100 * c.Quality.MeanAveragePrecision);
        }

        var lazy = plot.Add.Marker(100 * result.Lazy.Beta, 100 * result.Lazy.MeanAveragePrecision, lazyPolicy is null ? MarkerShape.FilledDiamond : MarkerShape.OpenDiamond, 12, Colors.DarkOrange);
        lazy.LegendText = $"lazy policy (τ = {Targets.F(result.CompatibilityThreshold, 2)}): {Targets.P(result.Lazy.Beta)}% {(lazyPolicy is null ? "re-embedded" : "with the calibration sample kept")}";
        values.AddRange([oldOld, newNew, 100 * result.Lazy.MeanAveragePrecision]);
        if (system is { Points.Count: > 0 })
        {
            var xs = system.Points.Select(p => 100 * p.Beta).ToArray();
            var ys = system.Points.Select(p => 100 * p.System.MeanAveragePrecision).ToArray();
            var points = plot.Add.ScatterPoints(xs, ys, Colors.Magenta);
            points.MarkerShape = MarkerShape.FilledSquare;
            points.MarkerSize = 11;
            points.LegendText = $"running system, full backfill ({system.Offline.Galleries} of these galleries)";
            values.AddRange(ys);
        }

        Frame(plot, $"{result.Name}: mAP while backfilling ({Maps(result)})", "share of each gallery re-embedded, β (%)", "mAP (%)", values);
        plot.SavePng(path, Width, Height);
    }

    /// <summary>
    /// One upgrade through the running system: the measured points on the offline curves of the same galleries (the system's
    /// map and order; the offline mode's own calibration), with old/old and new/new of those galleries.
    /// </summary>
    public static void System(SystemUpgradeResult upgrade, SystemReport report, string path)
    {
        var plot = new Plot();
        var values = new List<double>();
        void Curve(BackfillCurve curve, Color color, string name, LinePattern pattern)
        {
            var ys = curve.Points.Select(p => 100 * p.MeanAveragePrecision).ToArray();
            values.AddRange(ys);
            var line = plot.Add.Scatter(curve.Points.Select(p => 100 * p.Beta).ToArray(), ys, color);
            line.LegendText = name;
            line.LineWidth = 2;
            line.LinePattern = pattern;
            line.MarkerSize = 4;
        }

        Curve(upgrade.OfflineSystemOrder, Colors.RoyalBlue, $"offline, system's map and predicted order: area {Targets.P(upgrade.OfflineSystemOrder.MeanAveragePrecision.AreaFraction)}% of full", LinePattern.Solid);
        Curve(upgrade.Offline.Predicted, Colors.SeaGreen, $"offline, own calibration, predicted order: area {Targets.P(upgrade.Offline.Predicted.MeanAveragePrecision.AreaFraction)}% of full", LinePattern.Dotted);
        var xs = upgrade.Points.Select(p => 100 * p.Beta).ToArray();
        var ys = upgrade.Points.Select(p => 100 * p.System.MeanAveragePrecision).ToArray();
        values.AddRange(ys);
        var measured = plot.Add.ScatterPoints(xs, ys, Colors.Magenta);
        measured.MarkerShape = MarkerShape.OpenSquare;
        measured.MarkerSize = 16;
        measured.MarkerLineWidth = 2;
        measured.LegendText = "measured through the system (paused backfill)";

        var oldOld = 100 * report.OldOld.MeanAveragePrecision;
        var newNew = 100 * upgrade.Offline.CrossModel.NewNew.MeanAveragePrecision;
        Reference(plot, oldOld, Colors.Crimson, $"old/old through the system {Targets.F(oldOld, 1)}");
        Reference(plot, newNew, Colors.Black, $"new/new offline {Targets.F(newNew, 1)}");
        values.AddRange([oldOld, newNew]);
        Frame(plot, $"{upgrade.Name} through the running system ({upgrade.Offline.Galleries} galleries, old items {upgrade.Route.ToLowerInvariant()})",
            "share of the items re-embedded, β (%)", "mAP (%)", values);
        plot.SavePng(path, Width, Height);
    }

    /// <summary>A curve's point at <paramref name="beta"/>, linear between its two neighbouring points.</summary>
    public static BackfillPoint Interpolate(BackfillCurve curve, double beta)
    {
        ArgumentNullException.ThrowIfNull(curve);
        var points = curve.Points;
        var upper = 1;
        while (upper < points.Count - 1 && points[upper].Beta < beta) upper++;
        var (a, b) = (points[upper - 1], points[upper]);
        var w = b.Beta == a.Beta ? 0 : Math.Clamp((beta - a.Beta) / (b.Beta - a.Beta), 0, 1);
        double Mix(Func<BackfillPoint, double> f) => (1 - w) * f(a) + w * f(b);
        return new BackfillPoint(beta, Mix(p => p.Cmc1), Mix(p => p.Cmc5), Mix(p => p.MeanAveragePrecision), Mix(p => p.NegativeFlipRate1));
    }

    /// <summary>NFR@1 against β for the three orderings, with a full re-index's NFR@1 and the 0.5-point budget above it.</summary>
    public static void NegativeFlips(UpgradeResult result, string path, double slack)
    {
        var plot = new Plot();
        var values = new List<double>();
        foreach (var (order, color, name) in Orders)
        {
            var curve = result.Curves.Single(c => c.Order == order);
            var ys = curve.Points.Select(p => 100 * p.NegativeFlipRate1).ToArray();
            values.AddRange(ys);
            var line = plot.Add.Scatter(curve.Points.Select(p => 100 * p.Beta).ToArray(), ys, color);
            line.LegendText = $"{name}: max {Targets.F(ys.Max(), 1)}%";
            line.LineWidth = order == BackfillOrder.Predicted ? 3 : 2;
            line.MarkerSize = 5;
        }

        var full = 100 * result.FullReindexNegativeFlipRate1;
        Reference(plot, full, Colors.Black, $"full re-index {Targets.F(full, 1)}%");
        Reference(plot, full + 100 * slack, Colors.Crimson, $"budget: full + {Targets.F(100 * slack, 1)} points");
        values.AddRange([0, full + 100 * slack]);

        Frame(plot, $"{result.Name}: negative flips NFR@1 (vs old/old top-1)", "share of each gallery re-embedded, β (%)", "NFR@1 (% of queries)", values, floor: 0);
        plot.SavePng(path, Width, Height);
    }

    /// <summary>The cross-model table as an annotated grid: one row per upgrade, one column per (query, gallery) pair of models.</summary>
    public static void CrossModel(IReadOnlyList<UpgradeResult> results, string path)
    {
        string[] columns = ["old / old", "new / old", "new / h(old)", "new / new"];
        var cells = new double[results.Count, columns.Length];
        for (var r = 0; r < results.Count; r++)
        {
            var table = results[r].CrossModel;
            cells[r, 0] = table.OldOld.MeanAveragePrecision;
            cells[r, 1] = results[r].OldDimension == results[r].NewDimension ? table.NewOld.MeanAveragePrecision : double.NaN;
            cells[r, 2] = table.NewMapped?.MeanAveragePrecision ?? double.NaN;
            cells[r, 3] = table.NewNew.MeanAveragePrecision;
        }

        var plot = new Plot();
        var heatmap = plot.Add.Heatmap(Scale(cells, 100));
        heatmap.Colormap = new ScottPlot.Colormaps.Viridis();
        heatmap.NaNCellColor = Colors.LightGray;
        heatmap.Extent = new CoordinateRect(0, columns.Length, 0, results.Count);
        for (var r = 0; r < results.Count; r++)
        {
            for (var c = 0; c < columns.Length; c++)
            {
                // Rows are drawn top to bottom in list order: row r sits at y = count − r − ½.
                var text = plot.Add.Text(double.IsNaN(cells[r, c]) ? "n/a" : Targets.P(cells[r, c]), c + 0.5, results.Count - r - 0.5);
                text.LabelAlignment = Alignment.MiddleCenter;
                text.LabelFontSize = 22;
                text.LabelBold = true;
                text.LabelFontColor = Colors.White;
                text.LabelBackgroundColor = Colors.Black.WithAlpha(0.45);
                text.LabelPadding = 4;
            }
        }

        plot.Add.ColorBar(heatmap).Label = "mAP (%)";
        plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericManual(
            Enumerable.Range(0, columns.Length).Select(c => c + 0.5).ToArray(), columns);
        plot.Axes.Left.TickGenerator = new ScottPlot.TickGenerators.NumericManual(
            Enumerable.Range(0, results.Count).Select(r => results.Count - r - 0.5).ToArray(), results.Select(u => u.Name).ToArray());
        plot.Axes.Bottom.TickLabelStyle.FontSize = 16;
        plot.Axes.Left.TickLabelStyle.FontSize = 16;
        plot.Axes.SetLimits(0, columns.Length, 0, results.Count);
        plot.HideGrid();
        plot.Title("Cross-model mAP (%): query model / gallery model");
        plot.XLabel("queries / gallery");
        plot.SavePng(path, Width, Math.Max(320, 150 + 110 * results.Count));
    }

    private static string Maps(UpgradeResult result) => result.MapKind == Search.Maps.MapKind.Identity ? "served as stored" : $"served through a {result.MapKind.ToString().ToLowerInvariant()} map";

    private static void Reference(Plot plot, double y, Color color, string label)
    {
        var line = plot.Add.HorizontalLine(y, 2, color, LinePattern.Dashed);
        line.LegendText = label;
    }

    private static void Frame(Plot plot, string title, string xLabel, string yLabel, List<double> values, double floor = double.NegativeInfinity)
    {
        plot.Title(title, 16);
        plot.XLabel(xLabel, 14);
        plot.YLabel(yLabel, 14);
        var low = values.Where(v => !double.IsNaN(v)).Min();
        var high = values.Where(v => !double.IsNaN(v)).Max();
        var pad = Math.Max(0.5, 0.08 * (high - low));
        plot.Axes.SetLimits(-2, 102, Math.Max(floor, low - pad), high + 2.5 * pad);
        plot.ShowLegend(Alignment.LowerRight);
        plot.Legend.FontSize = 12;
    }

    private static double[,] Scale(double[,] cells, double factor)
    {
        var scaled = new double[cells.GetLength(0), cells.GetLength(1)];
        for (var r = 0; r < cells.GetLength(0); r++)
        {
            for (var c = 0; c < cells.GetLength(1); c++) scaled[r, c] = factor * cells[r, c];
        }

        return scaled;
    }
}
