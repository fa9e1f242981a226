using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using Indexer.Client;
using Indexer.Compatibility;
using Indexer.Embedding;
using Indexer.Galleries;
using Indexer.Models;
using Indexer.Grains;
using Indexer.Search;
using Indexer.Search.Maps;
using Indexer.Search.Metrics;
using Indexer.Storage;
using Indexer.Testing;
using Indexer.Training;
using Microsoft.Extensions.DependencyInjection;

namespace Indexer.Evaluation;

/// <summary>
/// Measures upgrades through the running system (issue 4, "it drives the real system"): a silo in this process with
/// Azurite and the real backbone, the zoo's versions registered like any user model, the users' images uploaded over
/// HTTP and indexed by the old version, then per new version two rollouts:
/// <list type="number">
/// <item>policy lazy with a budget that grants nothing: the system calibrates, verifies any claim, activates and scores
/// every item, so the search measured is β = 0 (every old item served through its route) and the lazy selection is the
/// system's own; then rolled back.</item>
/// <item>policy full, calibration reused, with a budget: the backfill re-embeds every item least compatible first and is
/// paused near each requested β, where search is measured and the re-embedded set recorded; at the end β = 1; then
/// rolled back, and every answer is checked to be what it was before.</item>
/// </list>
/// Search is the system's own: query images embedded by its workers, <c>SearchManyAsync</c> over each gallery with
/// k = the gallery's size, scored with the project's metric code. Each measured point is recomputed offline on the
/// same galleries, with the system's map and the system's re-embedded set: once on the vectors the system stored and
/// once on the source's reference vectors (for the zoo, the heads' vectors of the cached backbone features, the offline
/// mode's input; for a folder, the models' own output on the files). The images and models come from a
/// <see cref="SystemSource"/>: the zoo's (<see cref="ZooSystemSource"/>) or a labeled folder's (<see cref="FolderSystemSource"/>).
/// </summary>
public static class SystemEvaluation
{
    /// <summary>How often the first-query probe searches while a rollout activates.</summary>
    public static readonly TimeSpan ProbeInterval = TimeSpan.FromMilliseconds(250);

    /// <summary>
    /// The default backfill budget as a share of the rate at which the upgrade's calibration embedded stored images (the
    /// backfill's own path): well below it, so that granted credit is spent within about a round and a pause takes effect at once.
    /// </summary>
    public const double DefaultBudgetShare = 0.5;

    /// <summary>
    /// How long the run waits after a rollback before starting the next rollout. The rollout grain's loop of the rolled-back
    /// rollout ends at its next round (one second); a rollout started before that is not run until the grain's resume
    /// reminder fires, up to a minute later (RolloutGrain.EnsureRunning sees the old loop still running).
    /// </summary>
    public static readonly TimeSpan AfterRollback = TimeSpan.FromSeconds(3);

    /// <summary>
    /// Tries of one user correction that timed out: a grain call times out after 30 s, so three tries wait for the
    /// gallery about a minute and a half before the run stops.
    /// </summary>
    public const int CorrectionAttempts = 3;

    /// <summary>Pause before a correction is asked again: the gallery is busy, and the try that timed out may still be running.</summary>
    public static readonly TimeSpan CorrectionRetryDelay = TimeSpan.FromSeconds(2);

    /// <summary>Most images per upload request.</summary>
    public const int UploadBatchItems = 100;

    /// <summary>Most image bytes per upload request (a batch holds at least one image, however large).</summary>
    public const long UploadBatchBytes = 16L << 20;

    /// <summary>A budget so small that no round grants an item: the lazy rollout scores and selects, and re-embeds nothing.</summary>
    private const double NoBudget = 1e-6;

    /// <summary>
    /// Runs the upgrades <paramref name="oldName"/> → each of <paramref name="newNames"/> (zoo names) and measures them;
    /// <paramref name="completed"/> gets the report so far after each upgrade.
    /// </summary>
    public static Task<SystemReport> RunAsync(
        string zooDirectory, string oldName, IReadOnlyList<string> newNames, ImagePool pool, UserProtocol protocol, SystemOptions options,
        UpgradeEvaluationOptions offlineOptions, string command, TextWriter log, Action<SystemReport>? completed = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(zooDirectory);
        ArgumentNullException.ThrowIfNull(pool);
        return RunAsync(new ZooSystemSource(zooDirectory, pool), oldName, newNames, protocol, options, offlineOptions, command, log, completed);
    }

    /// <summary>
    /// Runs the upgrades <paramref name="oldName"/> → each of <paramref name="newNames"/> (the source's model names) on the
    /// images of <paramref name="source"/> and measures them; <paramref name="completed"/> gets the report so far after each upgrade.
    /// </summary>
    public static async Task<SystemReport> RunAsync(
        SystemSource source, string oldName, IReadOnlyList<string> newNames, UserProtocol protocol, SystemOptions options,
        UpgradeEvaluationOptions offlineOptions, string command, TextWriter log, Action<SystemReport>? completed = null)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentException.ThrowIfNullOrEmpty(oldName);
        ArgumentNullException.ThrowIfNull(newNames);
        ArgumentNullException.ThrowIfNull(protocol);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(offlineOptions);
        ArgumentNullException.ThrowIfNull(log);
        options.Validate();
        var users = protocol.Deal(source.Count);
        var total = Stopwatch.StartNew();

        log.WriteLine($"system: starting a silo on port {options.BasePort} with Azurite on {options.BasePort + 10}");
        var host = await SiloHost.StartAsync(options.BasePort, ClusterSettings(options));
        using var stop = StopOnSignal(host, log);
        try
        {
            return await RunAsync(host, source, oldName, newNames, users, protocol, options, offlineOptions, command, log, total, completed);
        }
        finally
        {
            try
            {
                await host.DisposeAsync();
            }
            catch (Exception ex) when (ex is InvalidOperationException or IOException or System.ComponentModel.Win32Exception)
            {
                // The measurements are done; a silo or Azurite that does not stop cleanly must not lose them.
                log.WriteLine($"system: warning: stopping the silo and Azurite failed: {ex.Message}");
            }
        }
    }

    /// <summary>
    /// Makes one user correction; an answer the silo did not give in time (504, or the HTTP client's own timeout) is
    /// asked again, up to <see cref="CorrectionAttempts"/> times. Asking again is safe because both corrections are
    /// idempotent: moving an item out leaves it out and pinned, moving it into a cluster it already sits in only pins
    /// it (<c>GalleryClusters.MoveOut</c>, <c>GalleryClusters.Move</c>), and the clustering never moves a pinned item in
    /// between. The attempt that timed out may still complete in the gallery; the retry then changes nothing.
    /// </summary>
    internal static async Task CorrectWithRetryAsync(IndexerHttpClient client, string gallery, ClusterCorrection correction, TextWriter log, TimeSpan retryDelay)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                if (correction.Kind == ClusterCorrectionKind.MoveOut) await client.MoveItemOutOfClusterAsync(gallery, correction.ItemId);
                else await client.MoveItemToClusterAsync(gallery, correction.ItemId, correction.ToClusterId!.Value);
                return;
            }
            catch (Exception ex) when (attempt < CorrectionAttempts && IsTimeout(ex))
            {
                log.WriteLine($"system:   {gallery}: moving {correction.ItemId} ({correction.Kind}) timed out ({ex.Message}); asking again");
                await Task.Delay(retryDelay);
            }
        }
    }

    /// <summary>The silo answered that the grain call timed out, or the HTTP client gave up waiting.</summary>
    private static bool IsTimeout(Exception ex) =>
        ex is IndexerApiException { StatusCode: System.Net.HttpStatusCode.GatewayTimeout }
        || (ex is TaskCanceledException && ex.InnerException is TimeoutException);

    /// <summary>
    /// SIGTERM or Ctrl-C stops the silo and its Azurite before the process ends (the default would leave Azurite running
    /// on its port); the report keeps every upgrade finished before the signal (it is written after each one).
    /// </summary>
    private static CompositeDisposable StopOnSignal(SiloHost host, TextWriter log)
    {
        var stopping = 0;
        void Stop(PosixSignalContext context)
        {
            context.Cancel = true;
            if (Interlocked.Exchange(ref stopping, 1) == 1) return;
            log.WriteLine($"system: {context.Signal}: stopping the silo and Azurite; the report keeps the upgrades finished so far");
            try
            {
                // A silo whose stop hangs (storage that stopped answering) must not leave Azurite running on its port.
                if (!host.DisposeAsync().AsTask().Wait(TimeSpan.FromSeconds(30)))
                {
                    log.WriteLine("system: the silo did not stop within 30 s; stopping Azurite alone");
                    host.StopStorageAsync().Wait(TimeSpan.FromSeconds(15));
                }
            }
            catch (Exception ex) when (ex is AggregateException or InvalidOperationException or IOException)
            {
                log.WriteLine($"system: warning: stopping the silo and Azurite failed: {ex.Message}");
            }

            Environment.Exit(128 + (context.Signal == PosixSignal.SIGINT ? 2 : 15));
        }

        return new CompositeDisposable([PosixSignalRegistration.Create(PosixSignal.SIGTERM, Stop), PosixSignalRegistration.Create(PosixSignal.SIGINT, Stop)]);
    }

    private sealed class CompositeDisposable(IReadOnlyList<IDisposable> parts) : IDisposable
    {
        public void Dispose()
        {
            foreach (var part in parts) part.Dispose();
        }
    }

    private static async Task<SystemReport> RunAsync(
        SiloHost host, SystemSource source, string oldName, IReadOnlyList<string> newNames, IReadOnlyList<SimulatedUser> users, UserProtocol protocol,
        SystemOptions options, UpgradeEvaluationOptions offlineOptions, string command, TextWriter log, Stopwatch total, Action<SystemReport>? completed)
    {
        var run = new Run(host, source, users, protocol, options, log);

        var from = options.VersionPrefix + oldName;
        foreach (var name in new[] { oldName }.Concat(newNames)) await run.RegisterAsync(name);
        await host.Services.GetRequiredService<IGrainFactory>().GetGrain<IModelRegistryGrain>(IModelRegistryGrain.Key).SetCurrentAsync(from);
        log.WriteLine($"system: {from} is current");

        var (ingestSeconds, ingestRate) = await run.IngestAsync();
        log.WriteLine(Invariant($"system: ingested {users.Count * protocol.GallerySize} images in {ingestSeconds:F1} s ({ingestRate:F1} img/s)"));

        var oldQueries = await run.EmbedQueriesAsync(from);
        var baseline = await run.SearchAsync(from, oldQueries);
        var baselineTop1 = baseline.Scores.Select(s => s.Top1).ToArray();
        var oldOld = SearchScoring.Average(baseline.Scores, double.NaN);
        log.WriteLine($"system: old/old through the system: mAP {Targets.P(oldOld.MeanAveragePrecision)}, top-1 {Targets.P(oldOld.Cmc1)}");

        var upgrades = new List<SystemUpgradeResult>();
        SystemReport Report() => new()
        {
            Command = command,
            Protocol = protocol,
            Options = options,
            Budget = options.MaxItemsPerSecond ?? double.NaN,
            IngestSeconds = ingestSeconds,
            IngestRate = ingestRate,
            OldOld = oldOld,
            Upgrades = upgrades.ToList(),
            TotalSeconds = total.Elapsed.TotalSeconds,
            Source = source.Info,
        };

        foreach (var newName in newNames)
        {
            upgrades.Add(await run.UpgradeAsync(oldName, newName, oldQueries, baseline, baselineTop1, offlineOptions));
            completed?.Invoke(Report()); // a long run keeps what it measured if it is stopped later
        }

        return Report();
    }

    /// <summary>The silo's per-version clustering configuration for <see cref="SystemOptions.ClusterJoinThresholds"/>, under the registered names.</summary>
    public static IReadOnlyDictionary<string, string?> ClusterSettings(SystemOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        return (options.ClusterJoinThresholds ?? new Dictionary<string, double>()).ToDictionary(
            t => $"Indexer:Clustering:Versions:{options.VersionPrefix}{t.Key}:JoinThreshold",
            t => (string?)t.Value.ToString("R", CultureInfo.InvariantCulture),
            StringComparer.Ordinal);
    }

    /// <summary>"kind:v1" → "kind:fm-v1": a lineage naming the source's versions, renamed with the prefix.</summary>
    public static string? PrefixLineage(string? lineage, string prefix)
    {
        ArgumentNullException.ThrowIfNull(prefix);
        if (lineage is null) return null;
        var colon = lineage.IndexOf(':', StringComparison.Ordinal);
        return colon < 0 ? lineage : lineage[..(colon + 1)] + prefix + lineage[(colon + 1)..];
    }

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);

    /// <summary>Every query's results per gallery, and their scores against the baseline.</summary>
    private sealed record Searches(IReadOnlyList<IReadOnlyList<SearchResult>> Results, IReadOnlyList<GalleryScore> Scores);

    /// <summary>The state of one run: the host, the users and helpers over them.</summary>
    private sealed class Run(SiloHost host, SystemSource source, IReadOnlyList<SimulatedUser> users, UserProtocol protocol, SystemOptions options, TextWriter log)
    {
        private readonly IGrainFactory _grains = host.Services.GetRequiredService<IGrainFactory>();

        // One HTTP client each for the run: SiloHost's properties create a new one on every access.
        private IndexerHttpClient Ops { get; } = host.Operator;

        private IndexerHttpClient UserClient { get; } = host.HttpAs(options.User, options.User == "bob" ? SiloHost.BobKey : SiloHost.AliceKey);

        private int TotalItems => users.Count * protocol.GallerySize;

        /// <summary>Every gallery item's label name (what the simulated users know about their images).</summary>
        private readonly Dictionary<string, string> _labels = users.SelectMany(u => u.Items).ToDictionary(source.ItemId, source.LabelName, StringComparer.Ordinal);

        /// <summary>Every correction the users made so far, in order; rollbacks restore them, so they accumulate across upgrades.</summary>
        private readonly List<ClusterCorrection> _corrections = [];

        /// <summary>True once the users' galleries were refined after the ingest (done once, before the first upgrade).</summary>
        private bool _clustersRefined;

        private string LabelOf(string itemId) => _labels[itemId];

        public async Task RegisterAsync(string name)
        {
            var model = source.Model(name);
            var manifest = model.Manifest with
            {
                Version = options.VersionPrefix + name,
                Lineage = PrefixLineage(model.Manifest.Lineage, options.VersionPrefix),
            };
            var clock = Stopwatch.StartNew();
            var info = await Ops.RegisterModelAsync(model.Onnx, manifest.ToJson());
            log.WriteLine(Invariant($"system: registered {info.Version} ({info.Dimension}-d, lineage '{info.Lineage}') in {clock.Elapsed.TotalSeconds:F1} s"));
        }

        public async Task<(double Seconds, double Rate)> IngestAsync()
        {
            var clock = Stopwatch.StartNew();
            var client = UserClient;
            foreach (var user in users)
            {
                foreach (var batch in Batches(user.Items))
                {
                    var result = await UploadWithRetryAsync(client, user.Name, batch);
                    if (result.Rejected.Count > 0)
                    {
                        throw new InvalidOperationException($"{user.Name}: {result.Rejected.Count} uploads rejected: " +
                            string.Join("; ", result.Rejected.Take(12).Select(r => $"{r.ItemId} ({r.Reason})")) + (result.Rejected.Count > 12 ? "; …" : string.Empty));
                    }
                }
            }

            var deadline = DateTime.UtcNow + options.StepTimeout;
            foreach (var user in users)
            {
                while (true)
                {
                    var stats = await client.GetStatsAsync(user.Name);
                    if (stats.Pending == 0)
                    {
                        if (stats.Items != protocol.GallerySize || stats.Failed != 0)
                        {
                            throw new InvalidOperationException($"{user.Name}: {stats.Items} items indexed, {stats.Failed} failed; {protocol.GallerySize} expected");
                        }

                        break;
                    }

                    if (DateTime.UtcNow > deadline) throw new TimeoutException($"{user.Name}: {stats.Pending} items still pending");
                    await Task.Delay(200);
                }
            }

            var seconds = clock.Elapsed.TotalSeconds;
            return (seconds, TotalItems / seconds);
        }

        /// <summary>
        /// A gallery's uploads in batches of at most <see cref="UploadBatchItems"/> images and <see cref="UploadBatchBytes"/> bytes
        /// (a folder's photos can be large; the zoo's PNGs make batches of 100).
        /// </summary>
        private IEnumerable<List<ImageUpload>> Batches(IReadOnlyList<int> items)
        {
            var batch = new List<ImageUpload>();
            long bytes = 0;
            foreach (var i in items)
            {
                var image = source.ImageBytes(i);
                if (batch.Count > 0 && (batch.Count == UploadBatchItems || bytes + image.Length > UploadBatchBytes))
                {
                    yield return batch;
                    batch = [];
                    bytes = 0;
                }

                batch.Add(new ImageUpload(source.ItemId(i), image, new Dictionary<string, string> { [SearchScoring.LabelKey] = source.LabelName(i) }));
                bytes += image.Length;
            }

            if (batch.Count > 0) yield return batch;
        }

        /// <summary>A gallery with a full ingest queue answers 503 (as <c>indexer ingest</c> does, waits and sends the same batch again).</summary>
        private static async Task<AddImagesResult> UploadWithRetryAsync(IndexerHttpClient client, string gallery, List<ImageUpload> uploads)
        {
            for (var attempt = 0; ; attempt++)
            {
                try
                {
                    return await client.UploadAsync(gallery, uploads);
                }
                catch (IndexerApiException ex) when (ex.StatusCode == System.Net.HttpStatusCode.ServiceUnavailable && attempt < 120)
                {
                    await Task.Delay(TimeSpan.FromSeconds(1));
                }
            }
        }

        /// <summary>Every user's query images embedded by the system's workers with <paramref name="version"/>.</summary>
        public async Task<float[][][]> EmbedQueriesAsync(string version)
        {
            var clock = Stopwatch.StartNew();
            var worker = _grains.GetGrain<IEmbeddingWorkerGrain>(0);
            var vectors = new float[users.Count][][];
            for (var g = 0; g < users.Count; g++)
            {
                var user = users[g];
                vectors[g] = new float[user.Queries.Count][];
                // A few at a time: the silo micro-batches concurrent requests.
                foreach (var chunk in Enumerable.Range(0, user.Queries.Count).Chunk(16))
                {
                    var embedded = await Task.WhenAll(chunk.Select(q => worker.EmbedBytesAsync(version, source.ImageBytes(user.Queries[q]))));
                    for (var k = 0; k < chunk.Length; k++) vectors[g][chunk[k]] = embedded[k];
                }
            }

            log.WriteLine(Invariant($"system: embedded {users.Sum(u => u.Queries.Count)} queries with {version} in {clock.Elapsed.TotalSeconds:F1} s"));
            return vectors;
        }

        /// <summary>
        /// Searches every gallery with its users' queries (all in <paramref name="version"/>), the whole gallery ranked.
        /// <paramref name="companion"/> gives each query its embedding in another version too, as a search by image carries
        /// during a rollout (the regression guard's old version).
        /// </summary>
        public async Task<Searches> SearchAsync(string version, float[][][] queries, IReadOnlyList<bool[]>? baselineTop1 = null, Companion? companion = null)
        {
            var results = new List<IReadOnlyList<SearchResult>>(users.Count);
            var scores = new List<GalleryScore>(users.Count);
            for (var g = 0; g < users.Count; g++)
            {
                var user = users[g];
                var embeddings = queries[g].Select((v, q) => new QueryEmbedding(version, v, companion is { } c
                    ? new Dictionary<string, float[]>(StringComparer.Ordinal) { [c.Version] = c.Queries[g][q] }
                    : null)).ToList();
                var answer = await host.Client.Gallery(options.User, user.Name).SearchManyAsync(embeddings, protocol.GallerySize);
                if (answer.Any(r => r.QueryModelVersion != version)) throw new InvalidOperationException($"{user.Name}: a query of {version} was answered in another version");
                results.Add(answer);
                scores.Add(SearchScoring.Score(answer, user.Queries.Select(source.LabelName).ToArray(), baselineTop1?[g], protocol.GallerySize, GuardDepth));
            }

            return new Searches(results, scores);
        }

        public async Task<SystemUpgradeResult> UpgradeAsync(
            string oldName, string newName, float[][][] oldQueries, Searches baseline, bool[][] baselineTop1,
            UpgradeEvaluationOptions offlineOptions)
        {
            var from = options.VersionPrefix + oldName;
            var to = options.VersionPrefix + newName;
            var evaluationGallery = options.VerifyOnLabeledGallery ? GalleryKey.Create(options.User, users[0].Name).ToString() : null;
            log.WriteLine($"system: {from} -> {to}");
            var newQueries = await EmbedQueriesAsync(to);
            var companion = new Companion(from, oldQueries);
            var clusters = await PrepareClustersAsync();

            // 1. Lazy, nothing granted: β = 0, the system's lazy selection, start-to-first-query with calibration.
            var first = await StartAsync(new RolloutRequest(to, BackfillPolicy.Lazy, options.Threshold, NoBudget, null, options.SampleSize, FailedClaimAction.UseMap, evaluationGallery, PromoteAfterHits: 0));
            var scoredStatus = await WaitAsync(s => s.Phase is RolloutPhase.Backfilling or RolloutPhase.Backfilled && s.Scored >= TotalItems, "the lazy rollout to score every item");
            var zero = await MeasureAsync(to, newQueries, baselineTop1, companion);
            var models = host.Services.GetRequiredService<BlobModelStore>();
            var zeroMap = await models.GetMapAsync(from, to, CancellationToken.None); // the calibration's; the backfill may fit it again
            if (zero.Beta != 0) throw new InvalidOperationException($"the lazy rollout re-embedded items although its budget grants none (β = {zero.Beta})");
            log.WriteLine(Invariant($"system:   rollout 1 (lazy, no budget): route {scoredStatus.Route}, activated after {first.ToActivation:F1} s, first {to} answer after {first.ToFirstQuery:F1} s; lazy selects {scoredStatus.Selected}/{scoredStatus.Scored}; β=0 mAP {Targets.P(zero.Point.MeanAveragePrecision)}"));
            var clusterPoints = clusters.Points.ToList();
            clusterPoints.Add(await MeasureClustersAsync(ClusterStage.Activated, double.NaN, zero.Beta, clusters.Baseline));
            await Ops.RolloutActionAsync("rollback");
            await Task.Delay(AfterRollback);

            // 2. Full, budgeted: pause near each β, measure, resume; β = 1 at the end. The harness's own queries must not
            // reorder the backfill (PromoteAfterHits: 0): the points measure the predicted order.
            var calibration = scoredStatus.Calibration!;
            var budget = options.MaxItemsPerSecond ?? Math.Max(2, Math.Round(DefaultBudgetShare * calibration.SampleSize / Math.Max(1e-3, calibration.Duration.TotalSeconds)));
            log.WriteLine(Invariant($"system:   backfill budget {budget:F0} items/s (the calibration embedded {calibration.SampleSize} images in {calibration.Duration.TotalSeconds:F1} s)"));
            var second = await StartAsync(new RolloutRequest(to, BackfillPolicy.Full, options.Threshold, budget, null, options.SampleSize, FailedClaimAction.UseMap, evaluationGallery, PromoteAfterHits: 0));
            log.WriteLine(Invariant($"system:   rollout 2 (full, calibration reused): activated after {second.ToActivation:F1} s, first {to} answer after {second.ToFirstQuery:F1} s"));
            // Each point with the map the galleries served it through: the backfill fits a kernel map again as it goes.
            var measured = new List<(double Requested, Measured Measured, byte[]? Map)>();
            if (options.Points.Contains(0)) measured.Add((0, zero, zeroMap));
            var paused = TimeSpan.Zero;
            RolloutStatus status;
            foreach (var point in options.Points.Where(p => p is > 0 and < 1).Distinct().Order())
            {
                var target = point * TotalItems;
                status = await WaitAsync(s => s.Done >= target - budget || s.Phase == RolloutPhase.Backfilled, $"the backfill to reach β = {point}");
                if (status.Phase == RolloutPhase.Backfilled)
                {
                    log.WriteLine($"system:   the backfill ended before β = {point}; no pause there");
                    break;
                }

                var pausedAt = Stopwatch.StartNew();
                try
                {
                    await Ops.RolloutActionAsync("pause");
                }
                catch (IndexerApiException)
                {
                    if ((await Ops.GetRolloutAsync())?.Phase != RolloutPhase.Backfilled) throw;
                    log.WriteLine($"system:   the backfill ended just before β = {point}; no pause there");
                    break;
                }

                // The pause waits for a map being fitted again to land; the settling outlasts the galleries' copy of the plan.
                var mapAt = await models.GetMapAsync(from, to, CancellationToken.None);
                var at = await MeasureSettledAsync(to, newQueries, baselineTop1, companion);
                if (!(await models.GetMapAsync(from, to, CancellationToken.None) ?? []).AsSpan().SequenceEqual(mapAt)) throw new InvalidOperationException($"the map changed while β = {point} was measured, although the backfill was paused");
                clusterPoints.Add(await MeasureClustersAsync(ClusterStage.Paused, point, at.Beta, clusters.Baseline));
                await Ops.RolloutActionAsync("resume");
                paused += pausedAt.Elapsed;
                measured.Add((point, at, mapAt));
                log.WriteLine(Invariant($"system:   paused at β = {at.Beta:F3} (asked {point:F2}): mAP {Targets.P(at.Point.MeanAveragePrecision)}, top-1 {Targets.P(at.Point.Cmc1)}, NFR@1 {Targets.P(at.Point.NegativeFlipRate1)}"));
            }

            status = await WaitAsync(s => s.Phase == RolloutPhase.Backfilled, "the backfill to finish");
            if (status.Failed > 0) throw new InvalidOperationException($"{status.Failed} items failed to re-embed");
            var end = await MeasureAsync(to, newQueries, baselineTop1, companion);
            if (options.Points.Contains(1)) measured.Add((1, end, null));
            clusterPoints.Add(await MeasureClustersAsync(ClusterStage.Backfilled, 1, end.Beta, clusters.Baseline));
            log.WriteLine(Invariant($"system:   backfilled {status.Done} items; β=1 mAP {Targets.P(end.Point.MeanAveragePrecision)}, top-1 {Targets.P(end.Point.Cmc1)}; map {status.Calibration!.MapKind} on {status.Calibration.MapAnchors} anchors after {status.Calibration.MapRefits} fit(s) during the backfill"));

            // What the offline computation needs from the system: its maps, predictor and stored vectors.
            var route = status.Route;
            var map = route == RouteKind.Mapped
                ? EmbeddingMapCodec.Decode(zeroMap ?? throw new InvalidOperationException($"no map stored for {from} -> {to}"))
                : null;
            // The predictor the galleries ordered the backfill by (GalleryGrain.ScoreAsync): for old items served as stored, the
            // direct one (stored vector against new) when the calibration fitted it; otherwise the one of the mapped vector.
            var predictorBytes = (route == RouteKind.Compatible ? await models.GetDirectPredictorAsync(from, to, CancellationToken.None) : null)
                ?? await models.GetPredictorAsync(from, to, CancellationToken.None)
                ?? throw new InvalidOperationException($"no predictor stored for {from} -> {to}");
            var predictor = CompatibilityPredictorCodec.Decode(predictorBytes);
            // The guard the galleries ranked with, when they did: the upgrade's score calibration at the silo's depth.
            var guarded = measured.Count(m => m.Measured.Guarded);
            if (guarded != 0 && guarded != measured.Count) throw new InvalidOperationException($"{guarded} of {measured.Count} points were guarded; the plan changed between them");
            var guard = guarded == 0 ? null : new RegressionGuard(
                ScoreCalibrationCodec.Decode(await models.GetScoreCalibrationAsync(from, to, CancellationToken.None) ?? throw new InvalidOperationException($"searches were guarded, but no score calibration is stored for {from} -> {to}")),
                GuardDepth);
            var storedOld = await StoredVectorsAsync(from);
            var storedNew = await StoredVectorsAsync(to);

            await Ops.RolloutActionAsync("rollback");
            await Task.Delay(AfterRollback);
            var again = await SearchAsync(from, oldQueries);
            var restored = SameAnswers(baseline.Results, again.Results);
            log.WriteLine($"system:   rolled back; every answer as before: {restored}");
            clusterPoints.Add(await MeasureClustersAsync(ClusterStage.RolledBack, double.NaN, 0, clusters.Baseline));

            var comparison = Compare(oldName, newName, storedOld, storedNew, oldQueries, newQueries, map, guard, predictor, measured, offlineOptions);
            return new SystemUpgradeResult
            {
                OldModel = oldName,
                NewModel = newName,
                FromVersion = from,
                ToVersion = to,
                Route = route.ToString(),
                Claim = status.Claim,
                ClaimVerified = status.ClaimVerified,
                Message = status.Message,
                Evaluation = status.Evaluation,
                Calibration = status.Calibration!,
                Scored = scoredStatus.Scored,
                LazySelected = scoredStatus.Selected,
                Threshold = options.Threshold,
                GuardDepth = guard?.Depth ?? 0,
                Timings = new SystemTimings(
                    first.ToActivation, first.ToFirstQuery, second.ToActivation, second.ToFirstQuery, status.Calibration!.Duration.TotalSeconds,
                    ((status.FinishedAt ?? DateTimeOffset.UtcNow) - status.ActivatedAt!.Value).TotalSeconds, paused.TotalSeconds, status.Done, budget),
                Points = comparison.Points,
                RollbackRestoredAnswers = restored,
                MaxVectorDifference = comparison.MaxVectorDifference,
                OfflineSystemOrder = comparison.SystemOrder,
                Offline = comparison.Offline,
                Clusters = clusters.Result with { Points = clusterPoints },
            };
        }

        /// <summary>What an upgrade's cluster measurements start from: the result so far and each gallery's named membership before the rollout.</summary>
        private sealed record ClusterBaseline(SystemClusterResult Result, IReadOnlyList<ClusterPoint> Points, IReadOnlyList<IReadOnlyDictionary<string, long>> Baseline);

        /// <summary>
        /// The users' part before a rollout: once, after the ingest, a refinement of every gallery (as a user may ask for);
        /// then in each gallery the clusters as they are, a name for every shown cluster without one, two corrections, and
        /// the named membership that the upgrade's flips are counted against.
        /// </summary>
        private async Task<ClusterBaseline> PrepareClustersAsync()
        {
            var client = UserClient;
            if (!_clustersRefined)
            {
                var deadline = DateTime.UtcNow + options.StepTimeout;
                foreach (var user in users)
                {
                    // The clusters follow the indexed items within the clustering's save delay; refine once all are in.
                    while (await client.GetClusterReportAsync(user.Name) is var r && (r.Items < protocol.GallerySize || r.WithoutVector > 0))
                    {
                        if (DateTime.UtcNow > deadline) throw new TimeoutException($"{user.Name}: {r.Items} of {protocol.GallerySize} items clustered");
                        await Task.Delay(200);
                    }

                    var refined = await client.RefineClustersAsync(user.Name);
                    log.WriteLine(Invariant($"system:   {user.Name}: clusters refined ({refined.Iterations} passes, {refined.Reassignments} moves): {refined.Clusters} clusters"));
                }

                _clustersRefined = true;
            }

            var clustered = new List<GalleryClusterMeasure>(users.Count);
            var before = new List<GalleryClusterMeasure>(users.Count);
            var baseline = new List<IReadOnlyDictionary<string, long>>(users.Count);
            var corrections = new List<ClusterCorrection>();
            int named = 0, newlyNamed = 0;
            foreach (var user in users)
            {
                var view = await ReadClustersAsync(user);
                var mine = _corrections.Where(c => c.Gallery == user.Name).ToList();
                clustered.Add(ClusterEvaluation.Measure(user.Name, view, LabelOf, view.NamedMembership(), mine));

                var names = ClusterEvaluation.NameClusters(view, LabelOf);
                foreach (var (id, name) in names) await client.NameClusterAsync(user.Name, id, name);
                newlyNamed += names.Count;
                if (names.Count > 0) view = await ReadClustersAsync(user);

                var exclude = mine.Select(c => c.ItemId).ToHashSet(StringComparer.Ordinal);
                var planned = ClusterEvaluation.PlanCorrections(user.Name, view, LabelOf, exclude);
                foreach (var correction in planned) await CorrectWithRetryAsync(client, user.Name, correction, log, CorrectionRetryDelay);

                corrections.AddRange(planned);
                _corrections.AddRange(planned);
                mine.AddRange(planned);
                if (planned.Count > 0) view = await ReadClustersAsync(user);

                var namedMembership = view.NamedMembership();
                baseline.Add(namedMembership);
                named += view.NamedClusters().Count;
                before.Add(ClusterEvaluation.Measure(user.Name, view, LabelOf, namedMembership, mine));
            }

            var points = new List<ClusterPoint> { new(ClusterStage.Clustered, double.NaN, 0, clustered), new(ClusterStage.BeforeRollout, double.NaN, 0, before) };
            var q = points[0].Quality;
            log.WriteLine(Invariant($"system:   clusters: ARI {q.AdjustedRandIndex:F3}, NMI {q.NormalizedMutualInformation:F3}, purity {q.Purity:F3} (chance {q.ChancePurity:F3}) over {Targets.P(q.Coverage)}% of the items; ") +
                Invariant($"{newlyNamed} clusters named ({named} in all), {corrections.Count} corrections; {points[1].Flips.NamedItems} named items"));
            var result = new SystemClusterResult { NamedClusters = named, NewlyNamed = newlyNamed, Corrections = corrections, Points = points };
            return new ClusterBaseline(result, points, baseline);
        }

        /// <summary>Every gallery's clusters measured against the named membership before the rollout.</summary>
        private async Task<ClusterPoint> MeasureClustersAsync(ClusterStage stage, double requested, double beta, IReadOnlyList<IReadOnlyDictionary<string, long>> baseline)
        {
            var galleries = new List<GalleryClusterMeasure>(users.Count);
            for (var g = 0; g < users.Count; g++)
            {
                var view = await ReadClustersAsync(users[g]);
                var suggestions = (await UserClient.ListClusterSuggestionsAsync(users[g].Name)).Select(s => (s.ItemId, s.FromClusterId, s.ToClusterId)).ToList();
                galleries.Add(ClusterEvaluation.Measure(users[g].Name, view, LabelOf, baseline[g], _corrections.Where(c => c.Gallery == users[g].Name).ToList(), suggestions));
            }

            var point = new ClusterPoint(stage, requested, beta, galleries);
            var f = point.Flips;
            log.WriteLine(Invariant($"system:   clusters {stage} (β {beta:F3}, {point.ModelVersions}): {f.Flips}/{f.NamedItems} named items flipped ({f.Left} left, {f.MovedToOtherNamed} to another named cluster); ") +
                Invariant($"corrections in force {point.CorrectionsKept}/{point.Corrections}; purity {point.Quality.Purity:F3}; ") +
                Invariant($"suggestions {point.Suggestions} ({point.CorrectiveSuggestions} corrective, {point.HarmfulSuggestions} harmful by label)"));
            return point;
        }

        /// <summary>A gallery's clusters through the user's API: every cluster (hidden ones too), which are shown, and every member.</summary>
        private async Task<ClusterView> ReadClustersAsync(SimulatedUser user)
        {
            var client = UserClient;
            var report = await client.GetClusterReportAsync(user.Name);
            var all = await client.ListClustersAsync(user.Name, representatives: 0, includeHidden: true);
            var shown = (await client.ListClustersAsync(user.Name, representatives: 0)).Select(c => c.Id).ToHashSet();
            var membership = user.Items.Select(source.ItemId).ToDictionary(id => id, _ => (long?)null, StringComparer.Ordinal);
            foreach (var cluster in all)
            {
                for (var offset = 0; offset < cluster.Size;)
                {
                    var page = await client.GetClusterItemsAsync(user.Name, cluster.Id, offset, Search.Clustering.GalleryClusters.MaxPageSize);
                    if (page.Items.Count == 0) break;
                    foreach (var item in page.Items)
                    {
                        if (!membership.ContainsKey(item)) throw new InvalidOperationException($"{user.Name}: cluster {cluster.Id} holds '{item}', which the user never uploaded");
                        membership[item] = cluster.Id;
                    }

                    offset += page.Items.Count;
                }
            }

            return new ClusterView(report.ModelVersion, membership, all.ToDictionary(c => c.Id, c => c.Name), shown);
        }

        private sealed record Started(double ToActivation, double ToFirstQuery);

        /// <summary>Starts a rollout and times it: to activation (server clock) and to the first search answered in the new version.</summary>
        private async Task<Started> StartAsync(RolloutRequest request)
        {
            var probe = source.ImageBytes(users[0].Queries[0]);
            var client = UserClient;
            var clock = Stopwatch.StartNew();
            var started = await Ops.StartRolloutAsync(request);
            var deadline = DateTime.UtcNow + options.StepTimeout;
            while (true)
            {
                var answer = await client.SearchByImageAsync(users[0].Name, probe, 10);
                if (answer.QueryModelVersion == request.To) break;
                var status = await Ops.GetRolloutAsync();
                if (status?.Phase == RolloutPhase.Failed) throw new InvalidOperationException($"rollout to {request.To} failed: {status.Message}");
                if (DateTime.UtcNow > deadline) throw new TimeoutException($"no search answered with {request.To} after {options.StepTimeout}");
                await Task.Delay(ProbeInterval);
            }

            var toFirstQuery = clock.Elapsed.TotalSeconds;
            var activated = await WaitAsync(s => s.ActivatedAt is not null, "activation");
            return new Started((activated.ActivatedAt!.Value - started.StartedAt).TotalSeconds, toFirstQuery);
        }

        private async Task<RolloutStatus> WaitAsync(Func<RolloutStatus, bool> done, string what)
        {
            var deadline = DateTime.UtcNow + options.StepTimeout;
            while (true)
            {
                var status = await Ops.GetRolloutAsync() ?? throw new InvalidOperationException("no rollout");
                if (done(status)) return status;
                if (status.Phase is RolloutPhase.Failed or RolloutPhase.RolledBack) throw new InvalidOperationException($"rollout {status.Id} is {status.Phase}: {status.Message}");
                if (DateTime.UtcNow > deadline) throw new TimeoutException($"waited {options.StepTimeout} for {what}; rollout {status.Phase}, {status.Done}/{status.Selected} done");
                await Task.Delay(150);
            }
        }

        /// <summary>The silo's regression guard depth (<see cref="GalleryOptions.RegressionGuardDepth"/>).</summary>
        private int GuardDepth => host.Services.GetRequiredService<Microsoft.Extensions.Options.IOptions<GalleryOptions>>().Value.RegressionGuardDepth;

        /// <summary>The queries embedded in another version than the one searched.</summary>
        public sealed record Companion(string Version, float[][][] Queries);

        /// <summary>
        /// One measurement: the point, each gallery's re-embedded items, the routes reported, and whether every search was
        /// ordered by the regression guard.
        /// </summary>
        public sealed record Measured(double Beta, double MinBeta, double MaxBeta, BackfillPoint Point, IReadOnlyList<HashSet<string>> ReEmbedded, IReadOnlyDictionary<string, int> Routes, bool Guarded);

        /// <summary>
        /// After a pause: waits until no gallery's count of new-version items has moved for a few seconds (credit already
        /// granted drains first), then measures; measures again if anything moved meanwhile.
        /// </summary>
        private async Task<Measured> MeasureSettledAsync(string to, float[][][] queries, bool[][] baselineTop1, Companion companion)
        {
            var deadline = DateTime.UtcNow + options.StepTimeout;
            while (true)
            {
                var before = await CountsAsync(to);
                var quiet = Stopwatch.StartNew();
                while (quiet.Elapsed < TimeSpan.FromSeconds(3))
                {
                    await Task.Delay(500);
                    var now = await CountsAsync(to);
                    if (!now.SequenceEqual(before))
                    {
                        before = now;
                        quiet.Restart();
                    }

                    if (DateTime.UtcNow > deadline) throw new TimeoutException("the backfill did not settle after a pause");
                }

                var measured = await MeasureAsync(to, queries, baselineTop1, companion);
                var after = await CountsAsync(to);
                if (after.SequenceEqual(before) && measured.ReEmbedded.Select(s => s.Count).SequenceEqual(after)) return measured;
            }
        }

        private async Task<int[]> CountsAsync(string version)
        {
            var client = UserClient;
            var counts = new int[users.Count];
            for (var g = 0; g < users.Count; g++) counts[g] = (await client.GetStatsAsync(users[g].Name)).ItemsByModelVersion.GetValueOrDefault(version);
            return counts;
        }

        /// <summary>Searches with the new version's queries and records which items hold the new version.</summary>
        private async Task<Measured> MeasureAsync(string to, float[][][] queries, bool[][] baselineTop1, Companion companion)
        {
            var searches = await SearchAsync(to, queries, baselineTop1, companion);
            var guarded = searches.Results.SelectMany(r => r).Count(r => r.GuardedBy == companion.Version);
            if (guarded != 0 && guarded != searches.Results.Sum(r => r.Count)) throw new InvalidOperationException($"{guarded} of the searches were guarded by {companion.Version}, not all: the plan moved during the measurement");
            var reEmbedded = new List<HashSet<string>>(users.Count);
            var fractions = new double[users.Count];
            var routes = new Dictionary<string, int>(StringComparer.Ordinal);
            for (var g = 0; g < users.Count; g++)
            {
                var held = new HashSet<string>(StringComparer.Ordinal);
                string? after = null;
                do
                {
                    var page = await host.Client.Gallery(options.User, users[g].Name).ListAsync(after, 1000);
                    foreach (var item in page.Items.Where(i => i.ModelVersions?.Contains(to) == true)) held.Add(item.ItemId);
                    after = page.Next;
                }
                while (after is not null);

                var served = searches.Results[g][0].Routes ?? new Dictionary<string, int>();
                var same = served.GetValueOrDefault("same-version");
                if (same != held.Count) throw new InvalidOperationException($"{users[g].Name}: search served {same} items in {to}, the gallery lists {held.Count}; the backfill moved during the measurement");
                foreach (var (route, items) in served) routes[route] = routes.GetValueOrDefault(route) + items;
                reEmbedded.Add(held);
                fractions[g] = (double)held.Count / protocol.GallerySize;
            }

            var beta = reEmbedded.Sum(s => s.Count) / (double)TotalItems;
            return new Measured(beta, fractions.Min(), fractions.Max(), SearchScoring.Average(searches.Scores, beta), reEmbedded, routes, guarded > 0);
        }

        /// <summary>Every item's stored vector in <paramref name="version"/>, per gallery, by item id.</summary>
        private async Task<IReadOnlyList<Dictionary<string, float[]>>> StoredVectorsAsync(string version)
        {
            var result = new List<Dictionary<string, float[]>>(users.Count);
            foreach (var user in users)
            {
                var items = await _grains.GetGrain<IGalleryGrain>(GalleryKey.Create(options.User, user.Name).ToString()).SampleAsync(version, protocol.GallerySize, 0);
                if (items.Count != protocol.GallerySize) throw new InvalidOperationException($"{user.Name}: {items.Count} items hold {version}; {protocol.GallerySize} expected");
                result.Add(items.ToDictionary(i => i.ItemId, i => i.Vector, StringComparer.Ordinal));
            }

            return result;
        }

        private static bool SameAnswers(IReadOnlyList<IReadOnlyList<SearchResult>> before, IReadOnlyList<IReadOnlyList<SearchResult>> after) =>
            before.Count == after.Count && before.Zip(after).All(g => g.First.Count == g.Second.Count && g.First.Zip(g.Second).All(q =>
                q.First.Matches.Select(m => (m.ItemId, m.Score)).SequenceEqual(q.Second.Matches.Select(m => (m.ItemId, m.Score)))));

        private sealed record Comparison(IReadOnlyList<SystemPoint> Points, double MaxVectorDifference, BackfillCurve SystemOrder, UpgradeResult Offline);

        /// <summary>The offline computations on the same galleries: stored vectors and the source's reference vectors, the system's map and sets.</summary>
        private Comparison Compare(
            string oldName, string newName,
            IReadOnlyList<Dictionary<string, float[]>> storedOld, IReadOnlyList<Dictionary<string, float[]>> storedNew,
            float[][][] oldQueries, float[][][] newQueries, EmbeddingMap? map, RegressionGuard? guard, CompatibilityPredictor predictor,
            IReadOnlyList<(double Requested, Measured Measured, byte[]? Map)> measured, UpgradeEvaluationOptions offlineOptions)
        {
            var heads = source.Reference(oldName, newName, users);
            var stored = new EvaluationDataset(oldName, newName, heads.Description + " (vectors as the system stored them)", users.Select((user, g) =>
            {
                var ids = user.Items.Select(source.ItemId).ToArray();
                return new EvaluationGallery(
                    user.Name, ids, user.Items.Select(source.Label).ToArray(),
                    ids.SelectMany(id => storedOld[g][id]).ToArray(), ids.SelectMany(id => storedNew[g][id]).ToArray(),
                    user.Queries.Select(source.Label).ToArray(), oldQueries[g].SelectMany(v => v).ToArray(), newQueries[g].SelectMany(v => v).ToArray(),
                    heads.OldDimension, heads.NewDimension);
            }).ToArray());

            var maxDifference = 0.0;
            for (var g = 0; g < users.Count; g++)
            {
                maxDifference = Math.Max(maxDifference, MaxDifference(stored.Galleries[g].OldVectors.Span, heads.Galleries[g].OldVectors.Span));
                maxDifference = Math.Max(maxDifference, MaxDifference(stored.Galleries[g].NewVectors.Span, heads.Galleries[g].NewVectors.Span));
                maxDifference = Math.Max(maxDifference, MaxDifference(stored.Galleries[g].QueryOldVectors.Span, heads.Galleries[g].QueryOldVectors.Span));
                maxDifference = Math.Max(maxDifference, MaxDifference(stored.Galleries[g].QueryNewVectors.Span, heads.Galleries[g].QueryNewVectors.Span));
            }

            var onStored = new BackfillEvaluation(stored, map, guard);
            var onHeads = new BackfillEvaluation(heads, map, guard);

            // A point measured through a map fitted again is recomputed through that map.
            var byMap = new Dictionary<string, (BackfillEvaluation Stored, BackfillEvaluation Heads, int Anchors)>(StringComparer.Ordinal);
            (BackfillEvaluation Stored, BackfillEvaluation Heads, int Anchors) At(byte[]? bytes)
            {
                if (map is null || bytes is null) return (onStored, onHeads, map?.Correction?.Count ?? 0);
                var key = Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(bytes));
                if (!byMap.TryGetValue(key, out var at))
                {
                    var decoded = EmbeddingMapCodec.Decode(bytes);
                    byMap[key] = at = (new BackfillEvaluation(stored, decoded, guard), new BackfillEvaluation(heads, decoded, guard), decoded.Correction?.Count ?? 0);
                }

                return at;
            }

            // The system's order: ascending predicted compatibility of the stored old vector, ties by item id (GalleryGrain.ScoreAsync).
            var systemOrder = stored.Galleries.Select(g =>
            {
                var d = g.OldDimension;
                var scores = Enumerable.Range(0, g.Count).Select(i => predictor.Predict(g.OldVectors.Span.Slice(i * d, d))).ToArray();
                return Enumerable.Range(0, g.Count).OrderBy(i => scores[i]).ThenBy(i => g.ItemIds[i], StringComparer.Ordinal).ToArray();
            }).ToArray();

            var points = new List<SystemPoint>(measured.Count);
            foreach (var (requested, m, mapBytes) in measured)
            {
                var (atStored, atHeads, anchors) = At(mapBytes);
                var masks = users.Select((user, g) => (IReadOnlyList<bool>)user.Items.Select(i => m.ReEmbedded[g].Contains(source.ItemId(i))).ToArray()).ToArray();
                var prefix = Enumerable.Range(0, users.Count).All(g =>
                    systemOrder[g].Take(m.ReEmbedded[g].Count).All(i => masks[g][i]));
                points.Add(new SystemPoint(requested, m.Beta, m.MinBeta, m.MaxBeta, m.Point, atStored.Measure(masks, m.Beta), atHeads.Measure(masks, m.Beta), prefix, m.Routes, anchors));
            }

            // The system's order offline, with the map fitted again as the system does (every gallery at the same β).
            var curve = offlineOptions.RefineMap && map is { Kind: MapKind.Kernel }
                ? MapRefinement.Curve(heads, map, options.SampleSize, onHeads, Search.Metrics.BackfillOrder.Predicted, systemOrder, offlineOptions.Epsilon).Curve
                : onHeads.Curve(Search.Metrics.BackfillOrder.Predicted, systemOrder, offlineOptions.Epsilon);
            var offline = UpgradeEvaluation.Evaluate(heads, offlineOptions with { CalibrationSize = options.SampleSize, CompatibilityThreshold = options.Threshold });
            return new Comparison(points, maxDifference, curve, offline);
        }

        private static double MaxDifference(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
        {
            var max = 0.0;
            for (var i = 0; i < a.Length; i++) max = Math.Max(max, Math.Abs(a[i] - b[i]));
            return max;
        }
    }
}
