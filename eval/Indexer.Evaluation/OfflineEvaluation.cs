using Indexer.Search.Metrics;

namespace Indexer.Evaluation;

/// <summary>
/// The offline pipeline shared by every source of feature matrices: evaluate each upgrade with
/// <see cref="UpgradeEvaluation"/>, then write one report. A new source (the model zoo's exported features) only has to
/// build <see cref="EvaluationDataset"/>s and call <see cref="Run"/>.
/// </summary>
public static class OfflineEvaluation
{
    /// <summary>Evaluates every upgrade and writes the report into <paramref name="outputDirectory"/>.</summary>
    /// <param name="datasets">One dataset per upgrade (old → new pair).</param>
    /// <param name="options">Calibration, map and threshold settings, the same for every upgrade.</param>
    /// <param name="outputDirectory">Where README.md, the plots and results.json go.</param>
    /// <param name="title">The report's heading.</param>
    /// <param name="command">The command line that produced the report, recorded in it.</param>
    /// <param name="notes">Lines for the report's "Notes" section.</param>
    /// <param name="log">Progress lines; null for none.</param>
    /// <param name="protocol">How the users were dealt, for the report; null when the data did not come from a <see cref="UserProtocol"/>.</param>
    /// <param name="oldClasses">The labels the old version trained on, for the class split of the "why" notes; null to skip it.</param>
    public static EvaluationReport Run(
        IReadOnlyList<EvaluationDataset> datasets,
        UpgradeEvaluationOptions options,
        string outputDirectory,
        string title,
        string command,
        IReadOnlyList<string> notes,
        TextWriter? log = null,
        UserProtocol? protocol = null,
        IReadOnlyCollection<int>? oldClasses = null)
    {
        ArgumentNullException.ThrowIfNull(datasets);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        var results = new List<UpgradeResult>(datasets.Count);
        var lazy = new List<LazyPolicyResult>(datasets.Count);
        foreach (var dataset in datasets)
        {
            log?.WriteLine($"evaluating {dataset.Name}: {dataset.Galleries.Count} galleries, {dataset.ItemCount} items, {dataset.QueryCount} queries");
            var result = UpgradeEvaluation.Evaluate(dataset, options);
            log?.WriteLine($"  done in {result.Elapsed.TotalSeconds:F1} s: old/old mAP {Targets.P(result.CrossModel.OldOld.MeanAveragePrecision)}, new/new {Targets.P(result.CrossModel.NewNew.MeanAveragePrecision)}, predicted-order area {Targets.P(result.Predicted.MeanAveragePrecision.AreaFraction)}% of full");
            results.Add(result);
            var policy = LazyPolicy.Measure(dataset, options, result, oldClasses);
            log?.WriteLine($"  lazy policy (system accounting): re-embeds {Targets.P(policy.Configured.ReEmbedded)}% at τ = {Targets.F(policy.Configured.Threshold, 2)}, mAP {Targets.P(policy.Configured.Quality.MeanAveragePrecision)}");
            lazy.Add(policy);
        }

        var report = new EvaluationReport(title, command, results, notes) { Protocol = protocol, Lazy = lazy };
        foreach (var path in ReportWriter.Write(report, outputDirectory)) log?.WriteLine($"wrote {path}");
        return report;
    }
}
