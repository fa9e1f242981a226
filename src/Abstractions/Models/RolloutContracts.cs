namespace Indexer.Models;

/// <summary>How a query embedded with one model version reaches items stored in another.</summary>
public enum RouteKind
{
    /// <summary>The item holds a vector in the query's version.</summary>
    SameVersion = 0,

    /// <summary>The stored version is verified compatible with the query's: vectors are compared directly.</summary>
    Compatible = 1,

    /// <summary>The stored vector is carried into the query's space by a fitted map first.</summary>
    Mapped = 2,

    /// <summary>The item cannot be compared with the query yet; it is counted, not searched, until it is backfilled.</summary>
    Excluded = 3,

    /// <summary>
    /// The query is also embedded with the stored version and the item is compared in its own space; scores are
    /// calibrated into the query version's scale before results are merged. Old items rank exactly as before the upgrade,
    /// so search never gets worse for them, at the price of a second embedding per query.
    /// </summary>
    OwnSpace = 4,
}

/// <summary>How a rollout serves the items that still hold only the old version.</summary>
public enum RoutePreference
{
    /// <summary>
    /// Compatible when verified, mapped otherwise; own-space when labeled evaluation data shows that the mapped old items
    /// would be found worse than the old model found them (M(new, h(old)) &lt; M(old, old)).
    /// </summary>
    Auto = 0,

    /// <summary>Compatible when verified, mapped otherwise (one embedding per query).</summary>
    Map = 1,

    /// <summary>Always own-space: the old model stays loaded and embeds every query a second time.</summary>
    OwnSpace = 2,
}

/// <summary>
/// Clustering thresholds for a version, derived when a rollout activated it: the old version's thresholds carried into
/// the new version's similarity scale by the rollout's score calibration (the same quantile of pair similarities), since
/// a cosine means something else in every model. A version's thresholds set in configuration take precedence.
/// </summary>
/// <param name="Version">The version they apply to.</param>
/// <param name="JoinThreshold">Smallest similarity for an item to join a cluster.</param>
/// <param name="MergeThreshold">Similarity at which two clusters merge.</param>
/// <param name="DerivedFrom">The version whose thresholds were carried over.</param>
[GenerateSerializer, Immutable, Alias("indexer.version-clustering")]
public sealed record VersionClustering(
    [property: Id(0)] string Version,
    [property: Id(1)] double JoinThreshold,
    [property: Id(2)] double MergeThreshold,
    [property: Id(3)] string DerivedFrom);

/// <summary>The route from items stored in <see cref="From"/> to queries embedded with <see cref="To"/>.</summary>
[GenerateSerializer, Immutable, Alias("indexer.version-route")]
public sealed record VersionRoute([property: Id(0)] string From, [property: Id(1)] string To, [property: Id(2)] RouteKind Kind);

/// <summary>
/// How the cluster serves right now: the version queries are embedded with, the versions new uploads are embedded with
/// (two while a rollout can still be rolled back, so that rolling back loses nothing), and the routes from every other
/// stored version to the query version. <see cref="Epoch"/> grows with every change, so a cached plan can be compared.
/// </summary>
/// <param name="Epoch">Grows with every change.</param>
/// <param name="QueryVersion">The version queries are embedded with; null before any model is current.</param>
/// <param name="EmbedVersions">The versions new uploads are embedded with, the query version last.</param>
/// <param name="Routes">How items stored in another version are served to queries in the query version.</param>
/// <param name="Clustering">Clustering thresholds derived for versions at their rollouts (see <see cref="VersionClustering"/>); null or empty when none was.</param>
[GenerateSerializer, Immutable, Alias("indexer.serving-plan")]
public sealed record ServingPlan(
    [property: Id(0)] long Epoch,
    [property: Id(1)] string? QueryVersion,
    [property: Id(2)] IReadOnlyList<string> EmbedVersions,
    [property: Id(3)] IReadOnlyList<VersionRoute> Routes,
    [property: Id(4)] IReadOnlyList<VersionClustering>? Clustering = null)
{
    /// <summary>The clustering thresholds derived for <paramref name="version"/> at its rollout, or null.</summary>
    public VersionClustering? ClusteringOf(string version) => Clustering?.FirstOrDefault(c => c.Version == version);

    /// <summary>
    /// The version queries were embedded with before the running rollout, while the plan still embeds uploads with it (so
    /// every item holds a vector in it until the commit), and while its items are served mapped or compatible: searches
    /// may re-rank their first results with its scores (the regression guard). Null otherwise; items served in their own
    /// space are already ranked by both models.
    /// </summary>
    public string? GuardVersion =>
        QueryVersion is { } query && EmbedVersions.Count > 1
            ? EmbedVersions.FirstOrDefault(v => v != query && RouteFrom(v) is RouteKind.Mapped or RouteKind.Compatible)
            : null;

    /// <summary>The route for items stored in <paramref name="from"/>: same version, the planned route, or excluded.</summary>
    public RouteKind RouteFrom(string from) =>
        from == QueryVersion ? RouteKind.SameVersion
        : Routes.FirstOrDefault(r => r.From == from && r.To == QueryVersion)?.Kind ?? RouteKind.Excluded;
}

/// <summary>Which items an upgrade's backfill re-embeds with the new version.</summary>
public enum BackfillPolicy
{
    /// <summary>None: old items are served through their route for good.</summary>
    None = 0,

    /// <summary>Only items whose predicted compatibility is below the threshold, least compatible first, within the budget.</summary>
    Lazy = 1,

    /// <summary>Every old item, least compatible first, within the budget: a full re-index that serves throughout.</summary>
    Full = 2,
}

/// <summary>What a rollout does when the new version's compatibility claim fails verification.</summary>
public enum FailedClaimAction
{
    /// <summary>Serve old items through the fitted map instead.</summary>
    UseMap = 0,

    /// <summary>Stop the rollout before activation; nothing changes for queries.</summary>
    Stop = 1,
}

/// <summary>Where a rollout is.</summary>
public enum RolloutPhase
{
    /// <summary>Sampling items and fitting the map and predictor; queries still use the old version.</summary>
    Calibrating = 0,

    /// <summary>Active: queries and uploads use the new version; the backfill re-embeds what its policy selects.</summary>
    Backfilling = 1,

    /// <summary>Active, backfill paused by the operator.</summary>
    Paused = 2,

    /// <summary>Active, backfill finished (or cancelled): waiting for commit or rollback.</summary>
    Backfilled = 3,

    /// <summary>Done: old vectors of re-embedded items dropped; the rest keep being served through their route.</summary>
    Committed = 4,

    /// <summary>Queries and uploads back on the old version; nothing was lost.</summary>
    RolledBack = 5,

    /// <summary>Stopped before activation (calibration failed or a claim failed with <see cref="FailedClaimAction.Stop"/>).</summary>
    Failed = 6,
}

/// <summary>An operator's request to upgrade from the current model version to <see cref="To"/>.</summary>
/// <param name="To">The registered version to roll out.</param>
/// <param name="Policy">Which old items the backfill re-embeds.</param>
/// <param name="Threshold">Predicted compatibility (cosine agreement, 0..1) below which an item is backfilled by the lazy policy.</param>
/// <param name="MaxItemsPerSecond">Backfill budget across the cluster; null for as fast as the workers allow.</param>
/// <param name="MaxFraction">Most of each gallery the lazy policy may re-embed (0..1]; null for no cap.</param>
/// <param name="SampleSize">Calibration sample size, drawn evenly across galleries.</param>
/// <param name="OnFailedClaim">What to do when the new version claims compatibility and verification rejects it.</param>
/// <param name="EvaluationGallery">
/// A labeled gallery (<c>user/gallery</c>, items carrying a <c>label</c> metadata entry) on which to measure the
/// cross-model table and verify a compatibility claim by the empirical criterion M(new, old) &gt; M(old, old).
/// </param>
/// <param name="Route">How items still held only in the old version are served until they are backfilled.</param>
/// <param name="PromoteAfterHits">
/// Searches after which an item the backfill has selected but not re-embedded yet goes to the front of its gallery's
/// queue (it was among the first 10 results of that many searches); 0 keeps the policy's order.
/// </param>
[GenerateSerializer, Immutable, Alias("indexer.rollout-request")]
public sealed record RolloutRequest(
    [property: Id(0)] string To,
    [property: Id(1)] BackfillPolicy Policy = BackfillPolicy.Lazy,
    [property: Id(2)] double Threshold = RolloutRequest.DefaultThreshold,
    [property: Id(3)] double? MaxItemsPerSecond = null,
    [property: Id(4)] double? MaxFraction = null,
    [property: Id(5)] int SampleSize = RolloutRequest.DefaultSampleSize,
    [property: Id(6)] FailedClaimAction OnFailedClaim = FailedClaimAction.UseMap,
    [property: Id(7)] string? EvaluationGallery = null,
    [property: Id(8)] RoutePreference Route = RoutePreference.Auto,
    [property: Id(9)] int PromoteAfterHits = RolloutRequest.DefaultPromoteAfterHits)
{
    /// <summary>
    /// Default for <see cref="PromoteAfterHits"/>: an item still waiting for the backfill that has been among the first
    /// results of this many searches is re-embedded next (0 keeps the policy's order).
    /// </summary>
    public const int DefaultPromoteAfterHits = 3;

    /// <summary>Most labeled items embedded with the new version to verify a claim: leave-one-out over them is quadratic.</summary>
    public const int MaxEvaluationItems = 2000;

    /// <summary>Default threshold: items whose mapped vector is predicted to agree with the new one less than this are re-embedded.</summary>
    public const double DefaultThreshold = 0.8;

    /// <summary>Default calibration sample: enough for a 512-d ridge map to generalise (held-out agreement within 0.01 of the fit).</summary>
    public const int DefaultSampleSize = 800;
}

/// <summary>Backfill progress of one gallery, as the gallery reports it.</summary>
/// <param name="Scored">Old items whose compatibility was predicted.</param>
/// <param name="Selected">Items the policy selected for re-embedding (after the fraction cap).</param>
/// <param name="Done">Selected items re-embedded so far.</param>
/// <param name="Failed">Selected items whose re-embedding failed (their old vector keeps serving).</param>
/// <param name="Queued">Selected items still waiting (items deleted meanwhile drop out of the queue).</param>
/// <param name="Promoted">Of <paramref name="Done"/>, items re-embedded ahead of the policy's order because searches kept finding them.</param>
/// <param name="Unreadable">
/// Of <paramref name="Failed"/>, items given up because their image could not be read although storage answered; a
/// resume of the finished rollout tries them again.
/// </param>
[GenerateSerializer, Immutable, Alias("indexer.gallery-backfill")]
public sealed record GalleryBackfillProgress(
    [property: Id(0)] int Scored,
    [property: Id(1)] int Selected,
    [property: Id(2)] int Done,
    [property: Id(3)] int Failed,
    [property: Id(4)] int Queued,
    [property: Id(5)] int Promoted = 0,
    [property: Id(6)] int Unreadable = 0);

/// <summary>A rollout as the operator sees it.</summary>
[GenerateSerializer, Immutable, Alias("indexer.rollout-status")]
public sealed record RolloutStatus(
    [property: Id(0)] string Id,
    [property: Id(1)] string From,
    [property: Id(2)] string To,
    [property: Id(3)] RolloutPhase Phase,
    [property: Id(4)] RolloutRequest Request,
    [property: Id(5)] RouteKind Route,
    [property: Id(6)] string? Claim,
    [property: Id(7)] bool? ClaimVerified,
    [property: Id(8)] Compatibility.CalibrationReport? Calibration,
    [property: Id(9)] int Galleries,
    [property: Id(10)] int GalleriesDone,
    [property: Id(11)] long Scored,
    [property: Id(12)] long Selected,
    [property: Id(13)] long Done,
    [property: Id(14)] long Failed,
    [property: Id(15)] DateTimeOffset StartedAt,
    [property: Id(16)] DateTimeOffset? ActivatedAt,
    [property: Id(17)] DateTimeOffset? FinishedAt,
    [property: Id(18)] string? Message,
    [property: Id(19)] Compatibility.LabeledEvaluation? Evaluation = null,
    [property: Id(20)] long Promoted = 0,
    [property: Id(21)] long Unreadable = 0);

/// <summary>
/// The cluster's model rollout: one at a time, from the current version to a new one. Keyed by <see cref="Key"/>.
/// Start calibrates (or reuses a calibration), verifies any compatibility claim, activates the new version with a route
/// for old items, and runs the backfill in the background, resumable after any silo restart.
/// </summary>
[Alias("indexer.rollout")]
public interface IRolloutGrain : IGrainWithStringKey
{
    /// <summary>The single key.</summary>
    const string Key = "default";

    /// <summary>Validates the request and starts the rollout; returns once it is recorded (calibration runs in the background).</summary>
    [Alias("start")]
    Task<RolloutStatus> StartAsync(RolloutRequest request);

    /// <summary>The latest rollout, or null if there never was one.</summary>
    [Alias("status")]
    Task<RolloutStatus?> GetStatusAsync();

    [Alias("pause")]
    Task<RolloutStatus> PauseAsync();

    /// <summary>
    /// Resumes a paused backfill; or, when the backfill finished with items given up as unreadable (and was not
    /// cancelled), runs it again over those items only.
    /// </summary>
    [Alias("resume")]
    Task<RolloutStatus> ResumeAsync();

    /// <summary>Stops the backfill for good; queries stay on the new version until commit or rollback.</summary>
    [Alias("cancel")]
    Task<RolloutStatus> CancelAsync();

    /// <summary>Returns queries and uploads to the old version. Old vectors were kept, so nothing is lost.</summary>
    [Alias("rollback")]
    Task<RolloutStatus> RollbackAsync();

    /// <summary>Ends the rollout: old vectors of re-embedded items are dropped and rollback is no longer possible.</summary>
    [Alias("commit")]
    Task<RolloutStatus> CommitAsync();
}
