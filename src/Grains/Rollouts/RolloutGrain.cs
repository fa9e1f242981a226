using Indexer.Compatibility;
using Indexer.Embedding;
using Indexer.Galleries;
using Indexer.Grains.Diagnostics;
using Indexer.Grains.Compatibility;
using Indexer.Grains.Galleries;
using Indexer.Models;
using Indexer.Search.Maps;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Orleans.Storage;

namespace Indexer.Grains.Rollouts;

[GenerateSerializer, Alias("indexer.rollout-state")]
public sealed class RolloutState
{
    [Id(0)] public RolloutRecord? Current { get; set; }

    /// <summary>
    /// Labeled verifications already measured, by upgrade and gallery, with a fingerprint of what they were measured on
    /// (the sampled items and the calibration's map): a rollout started again on the same data reuses its table.
    /// </summary>
    [Id(1)] public Dictionary<string, CachedEvaluation> Evaluations { get; set; } = new(StringComparer.Ordinal);
}

/// <summary>A labeled verification and the fingerprint of its inputs.</summary>
[GenerateSerializer, Immutable, Alias("indexer.cached-evaluation")]
public sealed record CachedEvaluation([property: Id(0)] string Fingerprint, [property: Id(1)] LabeledEvaluation Evaluation);

/// <summary>The persisted rollout; <see cref="Galleries"/> holds each gallery's last reported backfill progress.</summary>
[GenerateSerializer, Alias("indexer.rollout-record")]
public sealed class RolloutRecord
{
    [Id(0)] public string Id { get; set; } = "";
    [Id(1)] public string From { get; set; } = "";
    [Id(2)] public string To { get; set; } = "";
    [Id(3)] public RolloutPhase Phase { get; set; }
    [Id(4)] public RolloutRequest Request { get; set; } = new("");
    [Id(5)] public RouteKind Route { get; set; } = RouteKind.Excluded;
    [Id(6)] public string? Claim { get; set; }
    [Id(7)] public bool? ClaimVerified { get; set; }
    [Id(8)] public CalibrationReport? Calibration { get; set; }
    [Id(9)] public DateTimeOffset StartedAt { get; set; }
    [Id(10)] public DateTimeOffset? ActivatedAt { get; set; }
    [Id(11)] public DateTimeOffset? FinishedAt { get; set; }
    [Id(12)] public string? Message { get; set; }
    [Id(13)] public Dictionary<string, GalleryBackfillProgress> Galleries { get; set; } = new(StringComparer.Ordinal);
    [Id(14)] public List<string>? GalleryKeys { get; set; }
    [Id(15)] public LabeledEvaluation? Evaluation { get; set; }

    /// <summary>The routes served before the rollout, restored by a rollback.</summary>
    [Id(16)] public List<VersionRoute> PreviousRoutes { get; set; } = [];

    /// <summary>Routes of versions older than <see cref="From"/> carried on to <see cref="To"/> by chaining maps.</summary>
    [Id(17)] public List<VersionRoute> ChainedRoutes { get; set; } = [];

    /// <summary>Resumes that asked the galleries to try their unreadable items again (<see cref="BackfillOrder.RetryRound"/>).</summary>
    [Id(18)] public int RetryRound { get; set; }

    /// <summary>The operator cancelled the backfill: a resume may not start it again.</summary>
    [Id(19)] public bool Cancelled { get; set; }

    public bool IsActive => Phase is RolloutPhase.Calibrating or RolloutPhase.Backfilling or RolloutPhase.Paused or RolloutPhase.Backfilled;
}

/// <summary>
/// Runs the cluster's model rollout (one at a time): calibrate, verify the compatibility claim, activate the new version
/// with a route for old items, then drive the backfill: every second it grants each unfinished gallery a share of the
/// item budget and collects their progress. Galleries do the re-embedding themselves and persist their progress with
/// their vectors, so this grain only keeps a summary; after a silo restart a reminder reactivates it and the backfill
/// continues where the galleries' manifests say it stopped.
/// </summary>
public sealed partial class RolloutGrain(
    [PersistentState("rollout", IndexerStorageNames.GrainStateProvider)] IPersistentState<RolloutState> state,
    IndexerTelemetry telemetry,
    TimeProvider time,
    ILogger<RolloutGrain> logger) : Grain, IRolloutGrain, IRemindable
{
    /// <summary>Keeps an active rollout's grain coming back after a silo failure.</summary>
    public const string ResumeReminder = "resume-rollout";

    /// <summary>
    /// Smallest mean held-out agreement cos(old, new) with no map at which a claim of compatibility is accepted without
    /// labeled data. Unrelated models agree near 0; a model trained against the old one's classifier lands well above.
    /// </summary>
    public const double MinCompatibleAgreement = 0.5;

    /// <summary>Items granted per gallery per round when the request sets no budget: enough to keep the workers busy.</summary>
    private const int UnlimitedCredit = 256;

    private static readonly TimeSpan Round = TimeSpan.FromSeconds(1);

    private readonly ILogger _logger = logger;
    private readonly CancellationTokenSource _deactivating = new();
    private Task? _loop;
    private RolloutRecord? _loopFor;
    private Task _refitting = Task.CompletedTask;
    private string? _noRefitFor;

    private RolloutRecord? Current => state.State.Current;

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        EnsureRunning();
        return Task.CompletedTask;
    }

    public override async Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        _deactivating.Cancel();
        if (_loop is { } loop)
        {
            try
            {
                await loop.WaitAsync(cancellationToken);
            }
            catch (Exception)
            {
                // The reminder brings the rollout back; its progress is in the galleries.
            }
        }
    }

    public async Task<RolloutStatus> StartAsync(RolloutRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        Validate(request);
        var registry = GrainFactory.GetGrain<IModelRegistryGrain>(IModelRegistryGrain.Key);
        var target = await registry.GetAsync(request.To) ?? throw new IndexerException(IndexerErrorCode.NotFound, $"model version '{request.To}' is not registered");
        if (target.Retired) throw new IndexerException(IndexerErrorCode.Conflict, $"model version '{request.To}' is retired");
        if (Current is { IsActive: true } active)
        {
            throw new IndexerException(IndexerErrorCode.Conflict, $"rollout {active.Id} ({active.From} -> {active.To}) is {active.Phase}; commit or roll it back first");
        }

        var plan = await registry.GetServingPlanAsync();
        var from = plan.QueryVersion ?? throw new IndexerException(IndexerErrorCode.Conflict, "no model version is current yet");
        if (from == request.To) throw new IndexerException(IndexerErrorCode.InvalidArgument, $"'{request.To}' is already the current version");

        var now = time.GetUtcNow();
        state.State.Current = new RolloutRecord
        {
            Id = $"{from}-to-{request.To}-{now:yyyyMMddHHmmss}",
            From = from,
            To = request.To,
            Phase = RolloutPhase.Calibrating,
            Request = request,
            Claim = target.Lineage,
            StartedAt = now,
            PreviousRoutes = plan.Routes.ToList(),
        };
        await this.RegisterOrUpdateReminder(ResumeReminder, TimeSpan.FromMinutes(1), TimeSpan.FromMinutes(1));
        await state.WriteStateAsync();
        LogStarted(Current!.Id, request.Policy, request.Threshold);
        EnsureRunning();
        return Status(Current!);
    }

    private static void Validate(RolloutRequest request)
    {
        Ids.Require(request.To, "model version");
        if (!Enum.IsDefined(request.Policy)) throw new IndexerException(IndexerErrorCode.InvalidArgument, $"unknown backfill policy {request.Policy}");
        if (!Enum.IsDefined(request.OnFailedClaim)) throw new IndexerException(IndexerErrorCode.InvalidArgument, $"unknown failed-claim action {request.OnFailedClaim}");
        if (double.IsNaN(request.Threshold) || request.Threshold is < 0 or > 1)
        {
            throw new IndexerException(IndexerErrorCode.InvalidArgument, $"the threshold is a compatibility between 0 and 1; got {request.Threshold}");
        }

        if (request.MaxItemsPerSecond is { } rate && (double.IsNaN(rate) || rate <= 0))
        {
            throw new IndexerException(IndexerErrorCode.InvalidArgument, $"the backfill budget must be a positive number of items per second; got {rate}");
        }

        if (request.MaxFraction is { } fraction && (double.IsNaN(fraction) || fraction is <= 0 or > 1))
        {
            throw new IndexerException(IndexerErrorCode.InvalidArgument, $"the backfill fraction must be in (0, 1]; got {fraction}");
        }

        if (request.PromoteAfterHits < 0)
        {
            throw new IndexerException(IndexerErrorCode.InvalidArgument, $"promoteAfterHits is a number of searches (0: never promote); got {request.PromoteAfterHits}");
        }

        if (request.EvaluationGallery is { } evaluation) GalleryKey.Parse(evaluation); // throws InvalidArgument naming the key

        if (request.SampleSize is < CompatibilityGrain.MinSampleSize or > CompatibilityGrain.MaxSampleSize)
        {
            throw new IndexerException(IndexerErrorCode.InvalidArgument,
                $"the calibration sample must hold {CompatibilityGrain.MinSampleSize} to {CompatibilityGrain.MaxSampleSize} items; got {request.SampleSize}");
        }
    }

    public Task<RolloutStatus?> GetStatusAsync() => Task.FromResult(Current is { } r ? Status(r) : null);

    public async Task<RolloutStatus> PauseAsync()
    {
        await _refitting; // a map being fitted again lands before the rollout changes (it never throws)
        var rollout = RequireActive();
        if (rollout.Phase != RolloutPhase.Backfilling) throw new IndexerException(IndexerErrorCode.Conflict, $"only a backfilling rollout can be paused; {rollout.Id} is {rollout.Phase}");
        rollout.Phase = RolloutPhase.Paused;
        await state.WriteStateAsync();
        await WithdrawCreditAsync(rollout);
        return Status(rollout);
    }

    public async Task<RolloutStatus> ResumeAsync()
    {
        var rollout = RequireActive();
        var unreadable = rollout.Galleries.Where(g => g.Value.Unreadable > 0).ToList();
        if (rollout.Phase == RolloutPhase.Backfilled && !rollout.Cancelled && unreadable.Count > 0)
        {
            // Each such gallery counts as unfinished until it reports again, with its unreadable items queued.
            rollout.RetryRound++;
            foreach (var (key, progress) in unreadable) rollout.Galleries[key] = progress with { Queued = progress.Queued + progress.Unreadable };
            rollout.FinishedAt = null;
        }
        else if (rollout.Phase != RolloutPhase.Paused)
        {
            throw new IndexerException(IndexerErrorCode.Conflict,
                $"only a paused rollout, or a finished backfill with unreadable items, can be resumed; {rollout.Id} is {rollout.Phase}{(rollout.Cancelled ? " (cancelled)" : "")}");
        }

        rollout.Phase = RolloutPhase.Backfilling;
        await state.WriteStateAsync();
        EnsureRunning();
        return Status(rollout);
    }

    public async Task<RolloutStatus> CancelAsync()
    {
        await _refitting; // a map being fitted again lands before the rollout changes (it never throws)
        var rollout = RequireActive();
        if (rollout.Phase is not (RolloutPhase.Backfilling or RolloutPhase.Paused))
        {
            throw new IndexerException(IndexerErrorCode.Conflict, $"only a backfill can be cancelled; {rollout.Id} is {rollout.Phase}");
        }

        rollout.Phase = RolloutPhase.Backfilled;
        rollout.Cancelled = true;
        rollout.Message = "backfill cancelled by the operator; items not re-embedded keep being served through their route";
        rollout.FinishedAt = time.GetUtcNow();
        await state.WriteStateAsync();
        await WithdrawCreditAsync(rollout);
        return Status(rollout);
    }

    public async Task<RolloutStatus> RollbackAsync()
    {
        await _refitting; // a map being fitted again lands before the rollout changes (it never throws)
        var rollout = RequireActive();
        var previous = rollout.Phase;
        rollout.Phase = RolloutPhase.RolledBack; // the loop stops at its next check
        if (previous != RolloutPhase.Calibrating)
        {
            await GrainFactory.GetGrain<IModelRegistryGrain>(IModelRegistryGrain.Key).SetServingPlanAsync(rollout.From, [rollout.From], rollout.PreviousRoutes);
        }

        rollout.FinishedAt = time.GetUtcNow();
        rollout.Message = $"rolled back: queries and uploads use {rollout.From} again";
        await state.WriteStateAsync();
        await DropReminderAsync();
        await WithdrawCreditAsync(rollout);
        LogFinished(rollout.Id, rollout.Phase);
        return Status(rollout);
    }

    public async Task<RolloutStatus> CommitAsync()
    {
        await _refitting; // a map being fitted again lands before the rollout changes (it never throws)
        var rollout = RequireActive();
        if (rollout.Phase == RolloutPhase.Calibrating) throw new IndexerException(IndexerErrorCode.Conflict, $"rollout {rollout.Id} is not active yet");
        // Stop the backfill first: no gallery may write new-version vectors while their old ones are being dropped.
        var before = rollout.Phase;
        rollout.Phase = RolloutPhase.Backfilled;
        await state.WriteStateAsync();
        await WithdrawCreditAsync(rollout);
        try
        {
            var dropped = 0L;
            foreach (var key in rollout.GalleryKeys ?? await GalleryDirectory.ListAllAsync(GrainFactory))
            {
                try
                {
                    dropped += await GrainFactory.GetGrain<IGalleryGrain>(key).CommitUpgradeAsync(rollout.From, rollout.To);
                }
                catch (IndexerException ex) when (ex.Code == IndexerErrorCode.NotFound)
                {
                    // listed but never created
                }
            }

            await GrainFactory.GetGrain<IModelRegistryGrain>(IModelRegistryGrain.Key).SetServingPlanAsync(rollout.To, [rollout.To], Routes(rollout));
            rollout.Message = $"committed: {dropped} old vectors of re-embedded items dropped; the rest are served {GalleryIndex.RouteName(rollout.Route)}";
        }
        catch
        {
            rollout.Phase = before;
            await state.WriteStateAsync();
            EnsureRunning();
            throw;
        }

        rollout.Phase = RolloutPhase.Committed;
        rollout.FinishedAt = time.GetUtcNow();
        await state.WriteStateAsync();
        await DropReminderAsync();
        LogFinished(rollout.Id, rollout.Phase);
        return Status(rollout);
    }

    public Task ReceiveReminder(string reminderName, TickStatus status)
    {
        if (reminderName != ResumeReminder) return Task.CompletedTask;
        if (Current is not { IsActive: true }) return DropReminderAsync();
        EnsureRunning();
        return Task.CompletedTask;
    }

    private async Task DropReminderAsync()
    {
        if (await this.GetReminder(ResumeReminder) is { } reminder) await this.UnregisterReminder(reminder);
    }

    /// <summary>
    /// Takes back from every gallery of <paramref name="rollout"/> the credit it has not spent, so that a pause, cancel,
    /// rollback or commit stops the backfill within the batches in flight. Grants run ahead of the workers whenever the
    /// budget exceeds what they embed (without a budget, every round grants each gallery <see cref="UnlimitedCredit"/>).
    /// A gallery that cannot be reached is logged; its credit runs out or is withdrawn by the next action.
    /// </summary>
    private async Task WithdrawCreditAsync(RolloutRecord rollout)
    {
        foreach (var key in rollout.Galleries.Keys.ToList())
        {
            try
            {
                await GrainFactory.GetGrain<IGalleryGrain>(key).WithdrawBackfillCreditAsync(rollout.Id);
            }
            catch (Exception ex) when (ex is not ObjectDisposedException)
            {
                LogGalleryFailed(ex, rollout.Id, key);
            }
        }
    }

    private RolloutRecord RequireActive() =>
        Current is { IsActive: true } rollout ? rollout : throw new IndexerException(IndexerErrorCode.Conflict, "no rollout is in progress");

    /// <summary>
    /// Runs the current rollout's background work unless it already runs. A loop still finishing an earlier rollout
    /// (one rolled back a moment ago) is awaited first rather than taken for this rollout's loop.
    /// </summary>
    private void EnsureRunning()
    {
        if (_deactivating.IsCancellationRequested) return;
        if (Current is not { Phase: RolloutPhase.Calibrating or RolloutPhase.Backfilling } rollout) return;
        if (_loop is { IsCompleted: false } running)
        {
            if (ReferenceEquals(_loopFor, rollout)) return;
            _loopFor = rollout;
            _loop = RunAfterAsync(running, rollout);
            return;
        }

        _loopFor = rollout;
        _loop = RunAsync(rollout);
    }

    private async Task RunAfterAsync(Task previous, RolloutRecord rollout)
    {
        try
        {
            await previous;
        }
        catch (Exception)
        {
            // the earlier rollout's failure is its own; it was logged there
        }

        if (ReferenceEquals(rollout, Current)) await RunAsync(rollout);
    }

    private async Task RunAsync(RolloutRecord rollout)
    {
        try
        {
            if (rollout.Phase == RolloutPhase.Calibrating) await ActivateAsync(rollout);
            if (rollout.Phase == RolloutPhase.Backfilling) await BackfillAsync(rollout);
        }
        catch (InconsistentStateException ex) when (!_deactivating.IsCancellationRequested)
        {
            // The stored record is not the one this activation last wrote: a write was stored but its answer lost (the
            // client retried it against the new ETag), or another activation wrote. This copy is stale, and every later
            // write would fail the same way, for ever. Leave: the next call (or the reminder) activates a copy that reads
            // the stored record and carries on from it; the galleries keep their own progress.
            LogStateStale(ex, rollout.Id);
            DeactivateOnIdle();
        }
        catch (Exception ex) when (!_deactivating.IsCancellationRequested)
        {
            // A failure before activation leaves queries where they were; after it, the reminder retries the backfill.
            LogRunFailed(ex, rollout.Id, rollout.Phase);
            if (rollout.Phase == RolloutPhase.Calibrating && ex is IndexerException)
            {
                rollout.Phase = RolloutPhase.Failed;
                rollout.Message = ex.Message;
                rollout.FinishedAt = time.GetUtcNow();
                await state.WriteStateAsync();
                await DropReminderAsync();
            }
        }
    }

    /// <summary>
    /// Calibrates (or reuses the upgrade's latest calibration), decides the route of old items and switches queries and
    /// uploads to the new version. The new model is loaded on a worker first, so the first query does not pay for it.
    /// </summary>
    private async Task ActivateAsync(RolloutRecord rollout)
    {
        var compatibility = GrainFactory.GetGrain<ICompatibilityGrain>(ICompatibilityGrain.KeyOf(rollout.From, rollout.To));
        var report = await compatibility.GetReportAsync() ?? await compatibility.CalibrateAsync(rollout.Request.SampleSize);
        if (!IsActivePhase(rollout, RolloutPhase.Calibrating)) return;
        rollout.Calibration = report;
        var identity = report.Candidates.FirstOrDefault(c => c.Kind == nameof(Search.Maps.MapKind.Identity));
        if (rollout.Request.EvaluationGallery is { } labeled)
        {
            rollout.Evaluation = await EvaluateAsync(rollout, labeled);
            if (!IsActivePhase(rollout, RolloutPhase.Calibrating)) return;
        }

        // With labeled data the claim must pass the empirical criterion; without, the agreement without a map.
        var claimed = Claims(rollout.Claim, rollout.From);
        var evidence = rollout.Evaluation is { } e
            ? $"on {e.Items} labeled items of {e.Gallery}, mAP new/old {e.NewOldMap:P1} vs old/old {e.OldOldMap:P1}"
            : $"agreement without a map {identity?.HeldOutMean:F3} (at least {MinCompatibleAgreement} needed)";
        if (claimed)
        {
            rollout.ClaimVerified = rollout.Evaluation?.CriterionHolds ?? (identity is not null && identity.HeldOutMean >= MinCompatibleAgreement);
        }

        if (claimed && rollout.ClaimVerified == false && rollout.Request.OnFailedClaim == FailedClaimAction.Stop)
        {
            throw new IndexerException(IndexerErrorCode.Conflict,
                $"{rollout.To} claims compatibility with {rollout.From} ('{rollout.Claim}') but verification rejected it: {evidence}");
        }

        // A verified claim is served directly unless labeled data shows the map serving better.
        var compatible = rollout.ClaimVerified == true && (rollout.Evaluation is not { } m || m.NewOldMap >= m.NewMappedMap);
        var direct = compatible || report.MapKind == nameof(Search.Maps.MapKind.Identity) ? RouteKind.Compatible : RouteKind.Mapped;
        rollout.Route = ChooseRoute(rollout.Request.Route, direct, rollout.Evaluation, out var why);
        rollout.Message = string.Join("; ", new[]
        {
            claimed
                ? rollout.ClaimVerified == true
                    ? $"compatibility claim verified: {evidence}"
                    : $"the compatibility claim failed verification ({evidence})"
                : null,
            why,
        }.Where(part => part is not null));
        if (rollout.Message.Length == 0) rollout.Message = null;

        if (rollout.Route == RouteKind.OwnSpace)
        {
            // Calibrations from before score calibrations were fitted lack one: calibrate again rather than merge blindly.
            var models = ServiceProvider.GetRequiredService<Storage.BlobModelStore>();
            if (await models.GetScoreCalibrationAsync(rollout.From, rollout.To, CancellationToken.None) is null)
            {
                rollout.Calibration = await compatibility.CalibrateAsync(rollout.Request.SampleSize);
                if (!IsActivePhase(rollout, RolloutPhase.Calibrating)) return;
            }

            // The old model embeds every query from now on: load it before queries need it.
            await GrainFactory.GetGrain<IEmbeddingWorkerGrain>(0).ValidateModelAsync(rollout.From);
        }

        rollout.ChainedRoutes = await ChainRoutesAsync(rollout);
        await GrainFactory.GetGrain<IEmbeddingWorkerGrain>(0).ValidateModelAsync(rollout.To);
        await DeriveClusteringAsync(rollout);
        await GrainFactory.GetGrain<IModelRegistryGrain>(IModelRegistryGrain.Key).SetServingPlanAsync(rollout.To, [rollout.From, rollout.To], Routes(rollout));
        rollout.ActivatedAt = time.GetUtcNow();
        rollout.GalleryKeys = await GalleryDirectory.ListAllAsync(GrainFactory);
        rollout.Phase = rollout.Request.Policy == BackfillPolicy.None ? RolloutPhase.Backfilled : RolloutPhase.Backfilling;
        if (rollout.Phase == RolloutPhase.Backfilled) rollout.FinishedAt = rollout.ActivatedAt;
        await state.WriteStateAsync();
        LogActivated(rollout.Id, rollout.Route, report.HeldOut.Mean);
    }

    /// <summary>
    /// Embeds up to <see cref="RolloutRequest.MaxEvaluationItems"/> labeled items of <paramref name="galleryKey"/> with the
    /// new version and measures the cross-model table on them (leave-one-out), the map included.
    /// </summary>
    private async Task<LabeledEvaluation> EvaluateAsync(RolloutRecord rollout, string galleryKey)
    {
        var items = (await GrainFactory.GetGrain<IGalleryGrain>(galleryKey).SampleAsync(rollout.From, RolloutRequest.MaxEvaluationItems, seed: 0))
            .Where(i => i.Metadata?.GetValueOrDefault("label") is { Length: > 0 })
            .ToList();
        if (items.Count < CompatibilityGrain.MinSampleSize)
        {
            throw new IndexerException(IndexerErrorCode.InvalidArgument,
                $"gallery {galleryKey} holds {items.Count} labeled items in {rollout.From}; verifying a claim needs at least {CompatibilityGrain.MinSampleSize}");
        }

        // The same items (ids and contents) under the same calibration and map give the same table: reuse it.
        var report = await GrainFactory.GetGrain<ICompatibilityGrain>(ICompatibilityGrain.KeyOf(rollout.From, rollout.To)).GetReportAsync();
        var cacheKey = $"{rollout.From}/{rollout.To}/{galleryKey}";
        var fingerprint = Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(
            string.Join('\n', items.Select(i => i.ItemId + " " + i.ContentHash + " " + i.Metadata!["label"]).Order(StringComparer.Ordinal))
            + "\n" + report?.CalibratedAt.ToString("O", System.Globalization.CultureInfo.InvariantCulture) + " " + report?.MapAnchors)));
        if (state.State.Evaluations.TryGetValue(cacheKey, out var cached) && cached.Fingerprint == fingerprint) return cached.Evaluation;

        var worker = GrainFactory.GetGrain<IEmbeddingWorkerGrain>(0);
        var kept = new List<(CalibrationItem Item, float[] New)>();
        foreach (var chunk in items.Chunk(64))
        {
            var outcomes = await worker.EmbedStoredAsync(rollout.To, chunk.Select(c => c.ContentHash).ToList());
            for (var i = 0; i < chunk.Length; i++)
            {
                if (outcomes[i].Vector is { } vector) kept.Add((chunk[i], vector));
            }
        }

        var mapBytes = report is not null
            ? await ServiceProvider.GetRequiredService<Storage.BlobModelStore>().GetMapAsync(rollout.From, rollout.To, CancellationToken.None)
            : null;
        var map = mapBytes is null ? null : Search.Maps.EmbeddingMapCodec.Decode(mapBytes);
        var labelIds = kept.Select(k => k.Item.Metadata!["label"]).Distinct(StringComparer.Ordinal).Select((label, i) => (label, i)).ToDictionary(p => p.label, p => p.i, StringComparer.Ordinal);
        var labels = kept.Select(k => labelIds[k.Item.Metadata!["label"]]).ToArray();
        var oldDimension = kept[0].Item.Vector.Length;
        var newDimension = kept[0].New.Length;
        var table = await Task.Run(() => Search.Metrics.CrossModelEvaluation.Evaluate(
            kept.SelectMany(k => k.Item.Vector).ToArray(), kept.SelectMany(k => k.New).ToArray(), labels, oldDimension, newDimension, map));
        var mapped = table.NewMapped ?? table.NewOld;
        var evaluation = new LabeledEvaluation(galleryKey, kept.Count, labelIds.Count,
            table.OldOld.MeanAveragePrecision, table.NewNew.MeanAveragePrecision, table.NewOld.MeanAveragePrecision, mapped.MeanAveragePrecision,
            table.OldOld.CmcAt(1), table.NewNew.CmcAt(1), table.NewOld.CmcAt(1), mapped.CmcAt(1));
        if (kept.Count == items.Count) state.State.Evaluations[cacheKey] = new CachedEvaluation(fingerprint, evaluation); // written with the rollout
        return evaluation;
    }

    /// <summary>
    /// The route of old items: the operator's preference, or for <see cref="RoutePreference.Auto"/> the direct route
    /// (compatible or mapped) unless labeled data shows it finding old items worse than the old model did, which is what
    /// the own-space route is for. <paramref name="why"/> says why own-space was chosen, for the operator.
    /// </summary>
    public static RouteKind ChooseRoute(RoutePreference preference, RouteKind direct, LabeledEvaluation? evaluation, out string? why)
    {
        why = null;
        switch (preference)
        {
            case RoutePreference.OwnSpace:
                why = "old items are served in their own space, as requested: queries are embedded with both versions";
                return RouteKind.OwnSpace;
            case RoutePreference.Map:
                return direct;
        }

        if (evaluation is null) return direct;
        var served = direct == RouteKind.Compatible ? evaluation.NewOldMap : evaluation.NewMappedMap;
        if (served >= evaluation.OldOldMap) return direct;
        why = $"old items are served in their own space: served {GalleryIndex.RouteName(direct)} they would be found worse than before "
            + $"(mAP {served:P1} against {evaluation.OldOldMap:P1} with the old model, on {evaluation.Items} labeled items)";
        return RouteKind.OwnSpace;
    }

    private static List<VersionRoute> Routes(RolloutRecord rollout) =>
        [new VersionRoute(rollout.From, rollout.To, rollout.Route), .. rollout.ChainedRoutes];

    /// <summary>
    /// Items still held in a version older than the old one (served through a route when this rollout started) keep
    /// being served. Into the new version, a compatible or mapped route becomes the composition of its map with this
    /// upgrade's; an own-space route stays own-space, its score calibration followed by this upgrade's. When this
    /// upgrade serves old items in their own space, the older items move to their own space too.
    /// </summary>
    private async Task<List<VersionRoute>> ChainRoutesAsync(RolloutRecord rollout)
    {
        var models = ServiceProvider.GetRequiredService<Storage.BlobModelStore>();
        var chained = new List<VersionRoute>();
        var last = rollout.Route == RouteKind.Mapped
            ? await MapAsync(models, rollout.From, rollout.To) ?? throw new InvalidOperationException($"no map is stored for {rollout.From} -> {rollout.To}")
            : null;
        foreach (var route in rollout.PreviousRoutes.Where(r => r.To == rollout.From && r.From != rollout.To && r.Kind is RouteKind.Compatible or RouteKind.Mapped or RouteKind.OwnSpace))
        {
            if (route.Kind == RouteKind.OwnSpace || rollout.Route == RouteKind.OwnSpace)
            {
                var scores = (await ScoresAsync(models, route.From, rollout.From)).Then(await ScoresAsync(models, rollout.From, rollout.To));
                await models.PutScoreCalibrationAsync(route.From, rollout.To, Search.Maps.ScoreCalibrationCodec.Encode(scores), CancellationToken.None);

                // Search needs no map on this route, clusters do: the maps of both steps composed, where both are known.
                var firstMap = route.Kind == RouteKind.Compatible ? null : await MapAsync(models, route.From, rollout.From);
                var secondMap = rollout.Route == RouteKind.Compatible ? null : await MapAsync(models, rollout.From, rollout.To);
                var known = (route.Kind == RouteKind.Compatible || firstMap is not null) && (rollout.Route == RouteKind.Compatible || secondMap is not null);
                if (known && (firstMap ?? secondMap) is not null)
                {
                    var carry = firstMap is null ? secondMap! : secondMap is null ? firstMap : firstMap.Then(secondMap);
                    await models.PutMapAsync(route.From, rollout.To, Search.Maps.EmbeddingMapCodec.Encode(carry), CancellationToken.None);
                }

                await GrainFactory.GetGrain<IEmbeddingWorkerGrain>(0).ValidateModelAsync(route.From);
                chained.Add(new VersionRoute(route.From, rollout.To, RouteKind.OwnSpace));
                continue;
            }

            if (route.Kind == RouteKind.Compatible && last is null)
            {
                chained.Add(new VersionRoute(route.From, rollout.To, RouteKind.Compatible));
                continue;
            }

            var first = route.Kind == RouteKind.Mapped
                ? await MapAsync(models, route.From, rollout.From) ?? throw new InvalidOperationException($"no map is stored for {route.From} -> {rollout.From}")
                : null;
            var composed = first is null ? last! : last is null ? first : first.Then(last);
            await models.PutMapAsync(route.From, rollout.To, Search.Maps.EmbeddingMapCodec.Encode(composed), CancellationToken.None);
            chained.Add(new VersionRoute(route.From, rollout.To, RouteKind.Mapped));
        }

        return chained;
    }

    private static async Task<Search.Maps.EmbeddingMap?> MapAsync(Storage.BlobModelStore models, string from, string to) =>
        await models.GetMapAsync(from, to, CancellationToken.None) is { } bytes ? Search.Maps.EmbeddingMapCodec.Decode(bytes) : null;

    /// <summary>
    /// Gives the new version clustering thresholds before it serves: the old version's, carried into the new version's
    /// similarity scale by the upgrade's score calibration (identity when none was fitted), unless configuration sets the
    /// new version's join threshold. A failure here only leaves the defaults: it is logged and the activation goes on.
    /// </summary>
    private async Task DeriveClusteringAsync(RolloutRecord rollout)
    {
        try
        {
            var options = ServiceProvider.GetRequiredService<Microsoft.Extensions.Options.IOptions<ClusteringOptions>>().Value;
            if (options.Versions.GetValueOrDefault(rollout.To)?.JoinThreshold is not null) return;
            var registry = GrainFactory.GetGrain<IModelRegistryGrain>(IModelRegistryGrain.Key);
            var plan = await registry.GetServingPlanAsync();
            var scores = await ScoresAsync(ServiceProvider.GetRequiredService<Storage.BlobModelStore>(), rollout.From, rollout.To);
            var carried = options.For(rollout.From, plan.ClusteringOf(rollout.From)).CarriedOver(scores);
            await registry.SetClusteringAsync(new VersionClustering(rollout.To, carried.JoinThreshold, carried.MergeThreshold, rollout.From));
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            LogClusteringNotDerived(ex, rollout.To);
        }
    }

    /// <summary>The stored score calibration of an upgrade; the identity when none was fitted (calibrations before they were).</summary>
    private static async Task<Search.Maps.ScoreCalibration> ScoresAsync(Storage.BlobModelStore models, string from, string to) =>
        await models.GetScoreCalibrationAsync(from, to, CancellationToken.None) is { } bytes
            ? Search.Maps.ScoreCalibrationCodec.Decode(bytes)
            : Search.Maps.ScoreCalibration.Identity;

    /// <summary>True when the new version's lineage names the old one as what it is compatible with.</summary>
    private static bool Claims(string? lineage, string from) =>
        lineage is not null && lineage.Contains("compatible", StringComparison.OrdinalIgnoreCase)
        && lineage.Split([':', ' ', ',', ';', '='], StringSplitOptions.RemoveEmptyEntries).Contains(from, StringComparer.Ordinal);

    private bool IsActivePhase(RolloutRecord rollout, RolloutPhase phase) =>
        !_deactivating.IsCancellationRequested && ReferenceEquals(rollout, Current) && rollout.Phase == phase;

    /// <summary>
    /// Every round: unfinished galleries get an even share of the round's budget (round-robin for the remainder) and
    /// report their progress. A gallery is finished when its queue is empty. Paused rounds grant nothing.
    /// </summary>
    private async Task BackfillAsync(RolloutRecord rollout)
    {
        var keys = rollout.GalleryKeys ?? [];
        var budget = new BackfillBudget(GalleryGrain.BackfillBatch);
        while (!_deactivating.IsCancellationRequested && ReferenceEquals(rollout, Current) && rollout.Phase is RolloutPhase.Backfilling or RolloutPhase.Paused)
        {
            DelayDeactivation(TimeSpan.FromMinutes(2));
            var unfinished = keys.Where(k => !rollout.Galleries.TryGetValue(k, out var p) || p.Queued > 0).ToList();
            if (unfinished.Count == 0)
            {
                rollout.Phase = RolloutPhase.Backfilled;
                rollout.FinishedAt = time.GetUtcNow();
                await state.WriteStateAsync();
                LogBackfilled(rollout.Id, rollout.Galleries.Values.Sum(p => (long)p.Done));
                break;
            }

            var credits = Credits(rollout, unfinished.Count, budget);
            var changed = false;
            for (var i = 0; i < unfinished.Count; i++)
            {
                var key = unfinished[i];
                try
                {
                    // A pause or cancel that arrived during this round (at an await) grants nothing more.
                    var credit = rollout.Phase == RolloutPhase.Backfilling ? credits[i] : 0;
                    var order = new BackfillOrder(rollout.Id, rollout.From, rollout.To, rollout.Request.Policy, rollout.Request.Threshold, rollout.Request.MaxFraction, credit, rollout.Route, rollout.Request.PromoteAfterHits, rollout.RetryRound);
                    var progress = await GrainFactory.GetGrain<IGalleryGrain>(key).BackfillAsync(order);
                    changed |= !rollout.Galleries.TryGetValue(key, out var before) || before != progress;
                    rollout.Galleries[key] = progress;
                }
                catch (IndexerException ex) when (ex.Code == IndexerErrorCode.NotFound)
                {
                    rollout.Galleries[key] = new GalleryBackfillProgress(0, 0, 0, 0, 0);
                    changed = true;
                }
                catch (Exception ex) when (!_deactivating.IsCancellationRequested)
                {
                    LogGalleryFailed(ex, rollout.Id, key); // its silo may be going away: the next round asks again
                }
            }

            if (changed) await state.WriteStateAsync();
            Observe(rollout);
            if (RefitDue(rollout)) await (_refitting = RefitMapAsync(rollout));
            try
            {
                await Task.Delay(Round, time, _deactivating.Token);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }
    }

    /// <summary>
    /// True when the kernel map serving old items should be fitted again with the items the backfill has re-embedded
    /// (<see cref="MapRefitPolicy.IsDue"/>): as many as it has anchors, below its cap.
    /// </summary>
    private bool RefitDue(RolloutRecord rollout) =>
        rollout.Phase == RolloutPhase.Backfilling && rollout.Route == RouteKind.Mapped && _noRefitFor != rollout.Id
        && rollout.Calibration is { MapAnchors: > 0 } calibration
        && MapRefitPolicy.IsDue(rollout.Galleries.Values.Sum(p => (long)p.Done), calibration.MapAnchors, calibration.SampleSize);

    /// <summary>
    /// Fits the map again on the pairs the galleries hold (<see cref="ICompatibilityGrain.RefitMapAsync"/>) and moves the
    /// plan's epoch so that they serve through it. Never throws: a failure is logged and the rollout keeps the map it
    /// has, and stops fitting for this activation.
    /// </summary>
    private async Task RefitMapAsync(RolloutRecord rollout)
    {
        try
        {
            var calibration = rollout.Calibration!;
            var compatibility = GrainFactory.GetGrain<ICompatibilityGrain>(ICompatibilityGrain.KeyOf(rollout.From, rollout.To));
            var refit = await compatibility.RefitMapAsync(rollout.GalleryKeys ?? [], MapRefitPolicy.MaxAnchors(calibration.SampleSize));
            if (refit is null || refit.Anchors == refit.AnchorsBefore)
            {
                _noRefitFor = rollout.Id;
                return;
            }

            rollout.Calibration = calibration with { MapAnchors = refit.Anchors, MapRefits = calibration.MapRefits + 1 };
            await state.WriteStateAsync();
            await GrainFactory.GetGrain<IModelRegistryGrain>(IModelRegistryGrain.Key).RefreshRoutesAsync(rollout.To);
            LogMapRefitted(rollout.Id, refit.AnchorsBefore, refit.Anchors, rollout.Galleries.Values.Sum(p => (long)p.Done), refit.Duration.TotalSeconds);
        }
        catch (Exception ex) when (ex is not ObjectDisposedException)
        {
            _noRefitFor = rollout.Id;
            LogMapRefitFailed(ex, rollout.Id);
        }
    }

    /// <summary>This round's item grants, one per unfinished gallery: the budget in whole batches (<see cref="BackfillBudget"/>).</summary>
    private static int[] Credits(RolloutRecord rollout, int galleries, BackfillBudget budget)
    {
        var credits = new int[galleries];
        if (rollout.Phase == RolloutPhase.Paused) return credits;
        if (rollout.Request.MaxItemsPerSecond is not { } rate)
        {
            Array.Fill(credits, UnlimitedCredit);
            return credits;
        }

        return budget.Grant(rate, Round, galleries);
    }

    private void Observe(RolloutRecord rollout)
    {
        var progress = rollout.Galleries.Values;
        telemetry.RolloutProgress.Record(progress.Sum(p => (long)p.Scored), new KeyValuePair<string, object?>("state", "scored"));
        telemetry.RolloutProgress.Record(progress.Sum(p => (long)p.Selected), new KeyValuePair<string, object?>("state", "selected"));
        telemetry.RolloutProgress.Record(progress.Sum(p => (long)p.Done), new KeyValuePair<string, object?>("state", "done"));
        telemetry.RolloutProgress.Record(progress.Sum(p => (long)p.Failed), new KeyValuePair<string, object?>("state", "failed"));
    }

    private static RolloutStatus Status(RolloutRecord r)
    {
        var progress = r.Galleries.Values;
        return new RolloutStatus(
            r.Id, r.From, r.To, r.Phase, r.Request, r.Route, r.Claim, r.ClaimVerified, r.Calibration,
            r.GalleryKeys?.Count ?? 0, r.Galleries.Count(g => g.Value.Queued == 0),
            progress.Sum(p => (long)p.Scored), progress.Sum(p => (long)p.Selected), progress.Sum(p => (long)p.Done), progress.Sum(p => (long)p.Failed),
            r.StartedAt, r.ActivatedAt, r.FinishedAt, r.Message, r.Evaluation, progress.Sum(p => (long)p.Promoted), progress.Sum(p => (long)p.Unreadable));
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Rollout {Id} started: policy {Policy}, threshold {Threshold}")]
    private partial void LogStarted(string id, BackfillPolicy policy, double threshold);

    [LoggerMessage(Level = LogLevel.Information, Message = "Rollout {Id} activated: old items served {Route}, held-out agreement {Agreement:F4}")]
    private partial void LogActivated(string id, RouteKind route, double agreement);

    [LoggerMessage(Level = LogLevel.Information, Message = "Rollout {Id}: backfill finished, {Done} items re-embedded")]
    private partial void LogBackfilled(string id, long done);

    [LoggerMessage(Level = LogLevel.Information, Message = "Rollout {Id}: map fitted again, {Before} -> {Anchors} anchors, after {Done} items re-embedded ({Seconds:F1} s)")]
    private partial void LogMapRefitted(string id, int before, int anchors, long done, double seconds);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Rollout {Id}: fitting the map again failed; old items keep the map they have")]
    private partial void LogMapRefitFailed(Exception ex, string id);

    [LoggerMessage(Level = LogLevel.Information, Message = "Rollout {Id} is {Phase}")]
    private partial void LogFinished(string id, RolloutPhase phase);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Rollout {Id} failed while {Phase}")]
    private partial void LogRunFailed(Exception ex, string id, RolloutPhase phase);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Rollout {RolloutId}: its stored record changed under this activation; it deactivates and the next one reads the record and carries on")]
    private partial void LogStateStale(Exception ex, string rolloutId);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Clustering thresholds for {Version} were not derived; it clusters with the configured ones")]
    private partial void LogClusteringNotDerived(Exception ex, string version);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Rollout {Id}: gallery {Gallery} did not answer; asking again next round")]
    private partial void LogGalleryFailed(Exception ex, string id, string gallery);
}
