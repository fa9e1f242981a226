using System.Globalization;
using Indexer.Search.Metrics;

namespace Indexer.Evaluation;

/// <summary>What <see cref="FolderSystemEvaluation.RunAsync"/> measured, and on what.</summary>
/// <param name="Report">The report, as written.</param>
/// <param name="Source">The folder's readable images, their item ids and every model's vectors of them.</param>
/// <param name="Users">The simulated users, as pool indices.</param>
/// <param name="Written">The files written into the output directory.</param>
public sealed record FolderSystemResult(EvaluationReport Report, FolderSystemSource Source, IReadOnlyList<SimulatedUser> Users, IReadOnlyList<string> Written);

/// <summary>
/// The system mode on any labeled image folder and any registrable models: the inputs are checked and the folder is
/// embedded by every model as <c>indexer-eval folder</c> does (<see cref="FolderEvaluation.Embed"/>: the files that cannot
/// be decoded are skipped and listed, so that every upload is accepted), then <see cref="SystemEvaluation"/> registers the
/// model directories over HTTP, uploads the files into the simulated users' galleries and runs the same rollouts and
/// measurements as for the model zoo. Each measured point is recomputed offline on the vectors the system stored and on
/// the folder pool's vectors (the models' own output on the files, in the harness's process).
/// </summary>
public static class FolderSystemEvaluation
{
    /// <summary>
    /// Checks and embeds the folder, drives the system through old → each new model and writes the report (README.md, the
    /// plots, results.json) into <paramref name="outputDirectory"/>, after every upgrade and at the end.
    /// </summary>
    /// <param name="imagesDirectory">The labeled images, one sub-folder per label.</param>
    /// <param name="oldModelDirectory">The old model's directory: registered, made current, and indexing the uploads.</param>
    /// <param name="newModelDirectories">The new models' directories, one upgrade each.</param>
    /// <param name="protocol">How the folder's readable images are dealt to simulated users.</param>
    /// <param name="options">How the system is driven; <see cref="SystemOptions.ClusterJoinThresholds"/> are keyed by the manifests' versions.</param>
    /// <param name="offlineOptions">The offline evaluation of the same galleries.</param>
    /// <param name="outputDirectory">Where README.md, the plots and results.json go.</param>
    /// <param name="command">The command line, recorded in the report.</param>
    /// <param name="log">Progress and figures.</param>
    /// <param name="calibrateClusterJoin">
    /// When <paramref name="options"/> sets no join thresholds: choose each version's with <see cref="ClusterCalibration"/> on
    /// the folder's images that no user holds, in galleries of the users' size, when there are enough for one; otherwise
    /// (or when false) the silo's default is used.
    /// </param>
    /// <exception cref="ArgumentException">Bad input, as for <see cref="FolderEvaluation.Embed"/>, or an option out of range.</exception>
    public static async Task<FolderSystemResult> RunAsync(
        string imagesDirectory,
        string oldModelDirectory,
        IReadOnlyList<string> newModelDirectories,
        UserProtocol protocol,
        SystemOptions options,
        UpgradeEvaluationOptions offlineOptions,
        string outputDirectory,
        string command,
        TextWriter log,
        bool calibrateClusterJoin = false)
    {
        ArgumentNullException.ThrowIfNull(newModelDirectories);
        ArgumentNullException.ThrowIfNull(protocol);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(offlineOptions);
        ArgumentException.ThrowIfNullOrEmpty(outputDirectory);
        ArgumentNullException.ThrowIfNull(log);
        options.Validate();
        offlineOptions.Validate();

        // The system picks the route (as stored, mapped or own space) whatever the dimensions: no equal-dimension check.
        var pool = FolderEvaluation.Embed(imagesDirectory, oldModelDirectory, newModelDirectories, protocol, equalDimensions: false, log);
        var source = new FolderSystemSource(pool, [oldModelDirectory, .. newModelDirectories]);
        var users = protocol.Deal(source.Count);
        var names = pool.Models.Select(m => m.Version).ToArray();
        IReadOnlyList<ClusterCalibrationResult>? sweeps = null;
        if (calibrateClusterJoin && options.ClusterJoinThresholds is null)
        {
            sweeps = CalibrateClusterJoin(pool, users, protocol.GallerySize, log);
            if (sweeps is not null) options = options with { ClusterJoinThresholds = sweeps.ToDictionary(r => r.Version, r => r.JoinThreshold, StringComparer.Ordinal) };
        }

        var title = $"Model upgrades on the image folder '{source.FolderName}' through the running system";
        var renamed = Enumerable.Range(0, source.Count).Count(i => source.ItemId(i) != source.RelativePath(i));
        var notes = FolderEvaluation.Notes(pool, protocol).Concat(
        [
            Invariant($"Item ids: each file's path under the folder with every character the gallery API does not allow in an id turned into '_' (as `indexer ingest` does), e.g. `{source.RelativePath(0)}` → `{source.ItemId(0)}`; ") +
            Invariant($"{renamed} of {source.Count} paths changed this way."),
            "The offline column recomputes each point on " + source.Info.Reference + "; the vectors the system stored are compared with them coordinate by coordinate.",
        ]).ToList();

        EvaluationReport Report(SystemReport run) =>
            new(title, command, run.Upgrades.Select(u => u.Offline).ToList(), notes) { Protocol = protocol, System = run with { ClusterCalibration = sweeps } };

        var system = await SystemEvaluation.RunAsync(source, names[0], names[1..], protocol, options, offlineOptions, command, log,
            partial => log.WriteLine($"system: report written with {partial.Upgrades.Count} upgrade(s) ({ReportWriter.Write(Report(partial), outputDirectory).Count} files)"));
        var report = Report(system);
        var written = ReportWriter.Write(report, outputDirectory);
        foreach (var path in written) log.WriteLine($"wrote {path}");
        return new FolderSystemResult(report, source, users, written);
    }

    /// <summary>
    /// Each model's join threshold chosen on the pool's images that no user holds, split into galleries of
    /// <paramref name="gallerySize"/>; null (logged) when they do not fill one gallery.
    /// </summary>
    private static IReadOnlyList<ClusterCalibrationResult>? CalibrateClusterJoin(FolderPool pool, IReadOnlyList<SimulatedUser> users, int gallerySize, TextWriter log)
    {
        var dealt = users.SelectMany(u => u.Items.Concat(u.Queries)).ToHashSet();
        var held = Enumerable.Range(0, pool.Count).Where(i => !dealt.Contains(i)).ToArray();
        var galleries = held.Chunk(gallerySize).Where(c => c.Length == gallerySize).ToList();
        if (galleries.Count == 0)
        {
            log.WriteLine(Invariant($"clusters: only {held.Length} images are held by no user, fewer than a gallery of {gallerySize}: the silo's default join threshold is used for every version (--cluster-join sets one)"));
            return null;
        }

        return pool.Models.Select((model, k) =>
        {
            var input = galleries.Select(g => (pool.Rows(k, g), g.Select(pool.Label).ToArray())).ToList();
            var result = ClusterCalibration.Choose(model.Version, input, model.OutputDimension);
            var best = result.Sweep.First(p => p.JoinThreshold == result.JoinThreshold);
            log.WriteLine(Invariant($"clusters: {model.Version}: join threshold {result.JoinThreshold:F2} (ARI {best.AdjustedRandIndex:F3}, purity {best.Purity:F3}, coverage {best.Coverage:F3}) on {galleries.Count} galleries of {gallerySize} held-out images"));
            return result;
        }).ToList();
    }

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
