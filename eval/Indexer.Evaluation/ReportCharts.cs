using Indexer.Search.Metrics;
using ScottPlot;

namespace Indexer.Evaluation;

/// <summary>The report's PNG plots, drawn with ScottPlot.</summary>
internal static class ReportCharts
{
    private const int Width = 900, Height = 560;

    private static readonly (BackfillOrder Order, Color Color, string Name)[] Orders =
    [
        (BackfillOrder.Random, Colors.Gray, "random order"),
        (BackfillOrder.Predicted, Colors.RoyalBlue, "predicted (least compatible first)"),
        (BackfillOrder.Oracle, Colors.SeaGreen, "oracle ‖φ_new − h(φ_old)‖"),
    ];

    /// <summary>mAP against β for the three orderings, with old/old and new/new as lines and the lazy policy as a point.</summary>
    public static void Backfill(UpgradeResult result, string path)
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
        var lazy = plot.Add.Marker(100 * result.Lazy.Beta, 100 * result.Lazy.MeanAveragePrecision, MarkerShape.FilledDiamond, 12, Colors.DarkOrange);
        lazy.LegendText = $"lazy policy (τ = {Targets.F(result.CompatibilityThreshold, 2)}): {Targets.P(result.Lazy.Beta)}% re-embedded";
        values.AddRange([oldOld, newNew, 100 * result.Lazy.MeanAveragePrecision]);

        Frame(plot, $"{result.Name}: mAP while backfilling ({Maps(result)})", "share of each gallery re-embedded, β (%)", "mAP (%)", values);
        plot.SavePng(path, Width, Height);
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
