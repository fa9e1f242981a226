using Indexer.Compatibility;
using Indexer.Search.Metrics;

namespace Indexer.Evaluation;

/// <summary>How the system-mode run drives the real system.</summary>
public sealed record SystemOptions
{
    /// <summary>The silo's HTTP port; its cluster ports follow it and Azurite takes the ports from +10.</summary>
    public int BasePort { get; init; } = 5680;

    /// <summary>Prepended to the zoo's version names when registering (the silo's built-in ResNet18 is already "v1").</summary>
    public string VersionPrefix { get; init; } = "fm-";

    /// <summary>The user whose galleries hold the simulated users' images (one gallery per simulated user).</summary>
    public string User { get; init; } = "alice";

    /// <summary>Shares of the gallery at which the backfill is paused and search is measured; 0 and 1 included if wanted.</summary>
    public IReadOnlyList<double> Points { get; init; } = [0, 0.25, 0.5, 0.75, 1];

    /// <summary>
    /// The backfill budget; null picks, per upgrade, <see cref="SystemEvaluation.DefaultBudgetShare"/> of the rate at which its
    /// calibration embedded images, so that pausing stops the backfill promptly.
    /// </summary>
    public double? MaxItemsPerSecond { get; init; }

    /// <summary>Calibration sample of every rollout (the system's default).</summary>
    public int SampleSize { get; init; } = Models.RolloutRequest.DefaultSampleSize;

    /// <summary>Threshold of the lazy policy (the system's default).</summary>
    public double Threshold { get; init; } = Models.RolloutRequest.DefaultThreshold;

    /// <summary>Verify compatibility claims on the first user's labeled gallery (the rollout's evaluation gallery).</summary>
    public bool VerifyOnLabeledGallery { get; init; } = true;

    /// <summary>Longest wait for any one step (ingest, activation, backfill) before the run gives up.</summary>
    public TimeSpan StepTimeout { get; init; } = TimeSpan.FromMinutes(30);

    /// <summary>
    /// The clustering's join threshold per zoo version (e.g. "v1" → 0.5), set as the silo's per-version clustering
    /// configuration (<c>Indexer:Clustering:Versions:&lt;registered name&gt;:JoinThreshold</c>); versions left out, or all
    /// when null, keep the system's default.
    /// </summary>
    public IReadOnlyDictionary<string, double>? ClusterJoinThresholds { get; init; }

    /// <summary>Throws when an option is out of range.</summary>
    public void Validate()
    {
        if (Points.Count == 0 || Points.Any(p => double.IsNaN(p) || p is < 0 or > 1)) throw new ArgumentException("every point must lie in [0, 1]", nameof(Points));
        if (MaxItemsPerSecond is { } rate && !(rate > 0)) throw new ArgumentOutOfRangeException(nameof(MaxItemsPerSecond), rate, "must be positive");
        if (!(Threshold is >= 0 and <= 1)) throw new ArgumentOutOfRangeException(nameof(Threshold), Threshold, "must lie in [0, 1]");
        ArgumentException.ThrowIfNullOrEmpty(VersionPrefix);
        ArgumentException.ThrowIfNullOrEmpty(User);
        foreach (var (version, join) in ClusterJoinThresholds ?? new Dictionary<string, double>())
        {
            // At most the default merge threshold: the clustering requires merge >= join.
            if (!(join is >= -1 and <= 0.95)) throw new ArgumentOutOfRangeException(nameof(ClusterJoinThresholds), join, $"{version}: a join threshold must lie in [-1, 0.95]");
        }
    }
}

/// <summary>Search quality measured at one pause of the backfill, through the system and offline on the same galleries.</summary>
/// <param name="Requested">The β the run aimed to pause at.</param>
/// <param name="Beta">The share of all items holding the new version when search was measured (from the search results' routes).</param>
/// <param name="MinGalleryBeta">The smallest per-gallery share.</param>
/// <param name="MaxGalleryBeta">The largest per-gallery share.</param>
/// <param name="System">Measured through the system: new-version queries embedded by its workers, searched by the galleries.</param>
/// <param name="OfflineStored">The offline computation on the vectors the system stored and embedded, its map, its re-embedded set.</param>
/// <param name="OfflineHeads">
/// The offline computation on the source's reference vectors (the zoo heads' vectors of the cached backbone features, or a
/// folder's models' own output on its files: <see cref="SystemReport.Source"/>), the system's map and re-embedded set.
/// </param>
/// <param name="PredictedPrefix">True when every gallery's re-embedded items are exactly the first ones of its predicted order.</param>
/// <param name="Routes">Items per route over all galleries, as the search results reported them.</param>
/// <param name="MapAnchors">Anchors of the kernel map the point was served through (the backfill fits it again as it goes); 0 for other maps.</param>
public sealed record SystemPoint(
    double Requested,
    double Beta,
    double MinGalleryBeta,
    double MaxGalleryBeta,
    BackfillPoint System,
    BackfillPoint OfflineStored,
    BackfillPoint OfflineHeads,
    bool PredictedPrefix,
    IReadOnlyDictionary<string, int> Routes,
    int MapAnchors = 0)
{
    /// <summary>The largest difference between system and offline-on-head-vectors over CMC@1, CMC@5, mAP and NFR@1.</summary>
    public double MaxDifferenceHeads => MaxDifference(System, OfflineHeads);

    /// <summary>The largest difference between system and offline-on-stored-vectors.</summary>
    public double MaxDifferenceStored => MaxDifference(System, OfflineStored);

    /// <summary>The largest absolute difference of two points over CMC@1, CMC@5, mAP and NFR@1.</summary>
    public static double MaxDifference(BackfillPoint a, BackfillPoint b)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        return new[] { a.Cmc1 - b.Cmc1, a.Cmc5 - b.Cmc5, a.MeanAveragePrecision - b.MeanAveragePrecision, a.NegativeFlipRate1 - b.NegativeFlipRate1 }.Max(Math.Abs);
    }
}

/// <summary>Wall times of one upgrade on the running system, in seconds.</summary>
/// <param name="FirstToActivation">First rollout (calibration and claim verification included): start → activation (server clock).</param>
/// <param name="FirstToFirstQuery">First rollout: start → first search answered with the new version (client clock, polled every <see cref="SystemEvaluation.ProbeInterval"/>).</param>
/// <param name="SecondToActivation">Second rollout, calibration reused: start → activation.</param>
/// <param name="SecondToFirstQuery">Second rollout: start → first search answered with the new version.</param>
/// <param name="CalibrationSeconds">How long the calibration itself took (the calibration report's duration).</param>
/// <param name="BackfillWall">Second rollout: activation → backfill finished (server clock), pauses for measurement included.</param>
/// <param name="BackfillPaused">Time the backfill spent paused while search was measured.</param>
/// <param name="BackfillItems">Items the backfill re-embedded.</param>
/// <param name="Budget">The backfill budget, items per second.</param>
public sealed record SystemTimings(
    double FirstToActivation,
    double FirstToFirstQuery,
    double SecondToActivation,
    double SecondToFirstQuery,
    double CalibrationSeconds,
    double BackfillWall,
    double BackfillPaused,
    long BackfillItems,
    double Budget)
{
    /// <summary>Backfill time without the pauses.</summary>
    public double BackfillNet => BackfillWall - BackfillPaused;

    /// <summary>Items re-embedded per second of unpaused backfill.</summary>
    public double BackfillRate => BackfillNet > 0 ? BackfillItems / BackfillNet : double.NaN;
}

/// <summary>One upgrade driven through the running system.</summary>
public sealed record SystemUpgradeResult
{
    /// <summary>The zoo's name of the old version ("v1").</summary>
    public required string OldModel { get; init; }

    /// <summary>The zoo's name of the new version ("v2-bct").</summary>
    public required string NewModel { get; init; }

    /// <summary>The registered old version ("fm-v1").</summary>
    public required string FromVersion { get; init; }

    /// <summary>The registered new version.</summary>
    public required string ToVersion { get; init; }

    /// <summary>How the system served old items: "Compatible" (as stored) or "Mapped" (through the fitted map).</summary>
    public required string Route { get; init; }

    /// <summary>The new version's lineage (its claim).</summary>
    public string? Claim { get; init; }

    /// <summary>Whether the system verified a compatibility claim (null: nothing was claimed).</summary>
    public bool? ClaimVerified { get; init; }

    /// <summary>The rollout's message.</summary>
    public string? Message { get; init; }

    /// <summary>The system's cross-model table on the labeled evaluation gallery.</summary>
    public LabeledEvaluation? Evaluation { get; init; }

    /// <summary>The calibration: map kind, held-out agreement, sample, predictor.</summary>
    public required CalibrationReport Calibration { get; init; }

    /// <summary>Items the lazy rollout scored.</summary>
    public required long Scored { get; init; }

    /// <summary>Items the system's lazy policy selected at the threshold (first rollout, whose budget let nothing through).</summary>
    public required long LazySelected { get; init; }

    /// <summary>The threshold of the lazy policy.</summary>
    public required double Threshold { get; init; }

    /// <summary>Results at the head of every search the regression guard ordered during the rollout; 0 when searches were not guarded.</summary>
    public int GuardDepth { get; init; }

    /// <summary>Wall times.</summary>
    public required SystemTimings Timings { get; init; }

    /// <summary>The points measured, by ascending β.</summary>
    public required IReadOnlyList<SystemPoint> Points { get; init; }

    /// <summary>After the rollback, every query's whole ranking equals the one before the upgrade (ids and scores).</summary>
    public required bool RollbackRestoredAnswers { get; init; }

    /// <summary>Largest |stored vector − zoo head vector| over every item and query, new and old versions.</summary>
    public required double MaxVectorDifference { get; init; }

    /// <summary>The offline backfilling curve on the zoo heads' vectors with the system's map and the system's predicted order.</summary>
    public required BackfillCurve OfflineSystemOrder { get; init; }

    /// <summary>The offline evaluation of the same galleries (zoo heads' vectors) with its own seeded calibration.</summary>
    public required UpgradeResult Offline { get; init; }

    /// <summary>The users' clusters through the upgrade: quality against the labels, names, corrections, negative flips.</summary>
    public SystemClusterResult? Clusters { get; init; }

    /// <summary>"old → new".</summary>
    public string Name => $"{OldModel} → {NewModel}";

    /// <summary>Share of the items the system's lazy policy selected.</summary>
    public double LazyFraction => Scored == 0 ? double.NaN : (double)LazySelected / Scored;
}

/// <summary>The system-mode part of a report.</summary>
public sealed record SystemReport
{
    /// <summary>The command that produced it.</summary>
    public required string Command { get; init; }

    /// <summary>The users and their images.</summary>
    public required UserProtocol Protocol { get; init; }

    /// <summary>The options the run used.</summary>
    public required SystemOptions Options { get; init; }

    /// <summary>The backfill budget asked for, items per second; NaN when each upgrade derived its own (see <see cref="SystemTimings.Budget"/>).</summary>
    public required double Budget { get; init; }

    /// <summary>Uploading every gallery image over HTTP until all were indexed, seconds.</summary>
    public required double IngestSeconds { get; init; }

    /// <summary>Images indexed per second during the ingest.</summary>
    public required double IngestRate { get; init; }

    /// <summary>old/old through the system before any upgrade: old-version queries on the old galleries.</summary>
    public required BackfillPoint OldOld { get; init; }

    /// <summary>Every upgrade driven.</summary>
    public required IReadOnlyList<SystemUpgradeResult> Upgrades { get; init; }

    /// <summary>The whole run, seconds.</summary>
    public required double TotalSeconds { get; init; }

    /// <summary>How the clustering's join threshold of each version was chosen, when the harness calibrated it.</summary>
    public IReadOnlyList<ClusterCalibrationResult>? ClusterCalibration { get; init; }

    /// <summary>
    /// What the images and the reference vectors were when they were not the model zoo's (a labeled folder); null for the
    /// zoo, whose Fashion-MNIST images and heads' vectors the report describes by default.
    /// </summary>
    public SystemSourceInfo? Source { get; init; }
}
