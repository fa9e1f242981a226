namespace Indexer.Compatibility;

/// <summary>Distribution of the agreement cos(h(old), new) over items, as a calibration reports it.</summary>
[GenerateSerializer, Immutable, Alias("indexer.agreement-stats")]
public sealed record AgreementStats(
    [property: Id(0)] int Count,
    [property: Id(1)] double Mean,
    [property: Id(2)] double Min,
    [property: Id(3)] double P05,
    [property: Id(4)] double Median,
    [property: Id(5)] double P95);

/// <summary>
/// One fitted map candidate and its held-out agreement. Regularisation is a ridge map's λ or a kernel map's μ; Sharpness
/// is the width s of a kernel map's (or a local correction's) weights, 0 for a linear map.
/// </summary>
[GenerateSerializer, Immutable, Alias("indexer.map-candidate")]
public sealed record MapCandidateSummary(
    [property: Id(0)] string Kind,
    [property: Id(1)] double Regularisation,
    [property: Id(2)] double HeldOutMean,
    [property: Id(3)] double HeldOutP05,
    [property: Id(4)] double Sharpness = 0);

/// <summary>
/// What calibrating an upgrade from one model version to another found: on a sample of stored items (stratified by
/// gallery) embedded by both, the chosen map from old to new space, how well it agrees on held-out items, every
/// candidate tried, and how well per-item compatibility can be predicted from old vectors alone. A kernel map's anchors
/// (<see cref="MapAnchors"/>, 0 for other kinds) grow as a rollout fits it again with the items its backfill re-embeds
/// (<see cref="MapRefits"/> times); the held-out figures stay those of the calibration's fit.
/// </summary>
[GenerateSerializer, Immutable, Alias("indexer.calibration-report")]
public sealed record CalibrationReport(
    [property: Id(0)] string From,
    [property: Id(1)] string To,
    [property: Id(2)] int SampleSize,
    [property: Id(3)] int Galleries,
    [property: Id(4)] int EmbeddingFailures,
    [property: Id(5)] string MapKind,
    [property: Id(6)] double MapRegularisation,
    [property: Id(7)] AgreementStats HeldOut,
    [property: Id(8)] IReadOnlyList<MapCandidateSummary> Candidates,
    [property: Id(9)] string PredictorKind,
    [property: Id(10)] double PredictorHeldOutSpearman,
    [property: Id(11)] DateTimeOffset CalibratedAt,
    [property: Id(12)] TimeSpan Duration,
    [property: Id(13)] int MapAnchors = 0,
    [property: Id(14)] int MapRefits = 0);

/// <summary>Items held in two versions: their stored vectors in each, row-major, in the same item order.</summary>
[GenerateSerializer, Immutable, Alias("indexer.version-pairs")]
public sealed record VersionPairs(
    [property: Id(0)] int Count,
    [property: Id(1)] int OldDimension,
    [property: Id(2)] int NewDimension,
    [property: Id(3)] float[] Old,
    [property: Id(4)] float[] New)
{
    public static VersionPairs Empty { get; } = new(0, 0, 0, [], []);
}

/// <summary>A kernel map fitted again during a backfill with the items it has re-embedded.</summary>
/// <param name="AnchorsBefore">The map's anchors before.</param>
/// <param name="Anchors">The map's anchors now.</param>
/// <param name="Pairs">Pairs the galleries offered (those already anchors are not counted twice).</param>
/// <param name="Duration">Gathering the pairs, fitting and storing the map.</param>
[GenerateSerializer, Immutable, Alias("indexer.map-refit")]
public sealed record MapRefitReport(
    [property: Id(0)] int AnchorsBefore,
    [property: Id(1)] int Anchors,
    [property: Id(2)] int Pairs,
    [property: Id(3)] TimeSpan Duration);

/// <summary>A stored item offered for calibration: its content (to embed with the new model), its old vector, its metadata.</summary>
[GenerateSerializer, Immutable, Alias("indexer.calibration-item")]
public sealed record CalibrationItem(
    [property: Id(0)] string ItemId,
    [property: Id(1)] string ContentHash,
    [property: Id(2)] float[] Vector,
    [property: Id(3)] IReadOnlyDictionary<string, string>? Metadata = null);

/// <summary>
/// The cross-model table of METRICS.md measured on a labeled gallery (items' <c>label</c> metadata, leave-one-out):
/// mAP and top-1 of old queries on the old gallery, new on new, new on old as stored, and new on old through the map.
/// </summary>
[GenerateSerializer, Immutable, Alias("indexer.labeled-evaluation")]
public sealed record LabeledEvaluation(
    [property: Id(0)] string Gallery,
    [property: Id(1)] int Items,
    [property: Id(2)] int Labels,
    [property: Id(3)] double OldOldMap,
    [property: Id(4)] double NewNewMap,
    [property: Id(5)] double NewOldMap,
    [property: Id(6)] double NewMappedMap,
    [property: Id(7)] double OldOldTop1,
    [property: Id(8)] double NewNewTop1,
    [property: Id(9)] double NewOldTop1,
    [property: Id(10)] double NewMappedTop1)
{
    /// <summary>BCT's empirical criterion: new queries on the old gallery beat old on old (mAP).</summary>
    public bool CriterionHolds => NewOldMap > OldOldMap;
}

/// <summary>The compatibility of one upgrade, from one model version to another. Keyed by <see cref="KeyOf"/>.</summary>
[Alias("indexer.compatibility")]
public interface ICompatibilityGrain : IGrainWithStringKey
{
    static string KeyOf(string from, string to) => $"{from}/{to}";

    /// <summary>
    /// Samples up to <paramref name="sampleSize"/> items held in the old version across all galleries (an equal share
    /// from each), embeds them with the new version, fits the map and the compatibility predictor, and keeps the report.
    /// </summary>
    /// <remarks>Embedding the sample takes about a second per 40 items on a small CPU silo, hence the long timeout.</remarks>
    [Alias("calibrate"), ResponseTimeout("00:30:00")]
    Task<CalibrationReport> CalibrateAsync(int sampleSize);

    /// <summary>The latest calibration's report, or null before the first.</summary>
    [Alias("get-report")]
    Task<CalibrationReport?> GetReportAsync();

    /// <summary>
    /// Fits the stored kernel map again, with its width and penalty, on its own training pairs plus the items held in both
    /// versions across <paramref name="galleries"/>, up to <paramref name="maxAnchors"/> anchors, and stores it in place of
    /// the old one. Null, and nothing changed, when the map is not a kernel map (no other kind carries its training pairs)
    /// or already has <paramref name="maxAnchors"/> anchors.
    /// </summary>
    [Alias("refit-map"), ResponseTimeout("00:10:00")]
    Task<MapRefitReport?> RefitMapAsync(IReadOnlyList<string> galleries, int maxAnchors);
}
