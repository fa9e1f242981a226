using System.ComponentModel.DataAnnotations;
using Indexer.Search.Clustering;

namespace Indexer.Grains;

/// <summary>Where Indexer keeps images, vector segments, model artifacts and grain state. Section <c>Indexer:Storage</c>.</summary>
public sealed class StorageOptions
{
    public const string Section = "Indexer:Storage";

    /// <summary>Azure Storage connection string; <c>UseDevelopmentStorage=true</c> means Azurite on its default ports.</summary>
    [Required(AllowEmptyStrings = false)]
    public string ConnectionString { get; set; } = "UseDevelopmentStorage=true";

    /// <summary>Prefix of every container name, so several deployments (or test runs) can share one account.</summary>
    [RegularExpression("^([a-z][a-z0-9]{0,19})?$", ErrorMessage = "Indexer:Storage:ContainerPrefix must be empty or a lowercase letter followed by at most 19 lowercase letters or digits (it also prefixes a table name).")]
    public string ContainerPrefix { get; set; } = "";
}

/// <summary>How embedding workers run models. Section <c>Indexer:Embedding</c>.</summary>
public sealed class EmbeddingOptions
{
    public const string Section = "Indexer:Embedding";

    /// <summary>Try the CUDA execution provider first; the CPU provider is used when CUDA does not load.</summary>
    public bool PreferGpu { get; set; } = true;

    [Range(0, 64)]
    public int GpuDeviceId { get; set; }

    /// <summary>Images per inference call. 16 reaches the CPU's throughput plateau for ResNet18 at 224² on two cores.</summary>
    [Range(1, 256)]
    public int MaxBatchSize { get; set; } = 16;

    /// <summary>
    /// On the CPU, a batch runs as inference calls of at most this many images, and a search query waiting in the
    /// interactive lane runs between two of them: a query waits for one slice, not a whole batch. 0 (the default) picks 1
    /// for single-threaded sessions, where calls of 1 embed as fast as calls of 16, and 4 otherwise, where a session on
    /// two cores embeds as fast in calls of 4 as of 16 but not of 1 (docs/benchmarks.md).
    /// </summary>
    [Range(0, 256)]
    public int BulkSliceSize { get; set; }

    /// <summary>The slice size for sessions of <paramref name="intraOpThreads"/> threads (0: several).</summary>
    public int EffectiveBulkSliceSize(int intraOpThreads) => BulkSliceSize > 0 ? BulkSliceSize : intraOpThreads == 1 ? 1 : 4;

    /// <summary>
    /// On the CPU, for this long after a search query arrives, bulk work runs one image per inference call, so the next
    /// query waits for one image's inference rather than a slice's; without queries bulk work keeps its
    /// <see cref="BulkSliceSize"/>. 0 turns this off.
    /// </summary>
    public int InteractiveHoldMilliseconds { get; set; } = 2000;

    /// <summary>How long a partly filled batch waits for more images before it runs.</summary>
    [Range(0, 1000)]
    public int BatchDeadlineMilliseconds { get; set; } = 4;

    /// <summary>
    /// ONNX Runtime sessions per model version on the CPU, each with its own inference thread over the shared queue and
    /// its own copy of the weights (a GPU always gets one). One session on every core answers a single query fastest; one
    /// single-threaded session per core (batch parallelism) does not stall when other work preempts one of its threads,
    /// but each query then runs on one core. On two cores (docs/benchmarks.md): ingest 43.5 against 42.0 images/s, an idle
    /// search by image p50 51 against about 30 ms; hence 1 by default.
    /// </summary>
    [Range(1, 64)]
    public int Sessions { get; set; } = 1;

    /// <summary>Threads ONNX Runtime uses inside one inference call; 0 means the provider's choice for one session, else the cores divided among the sessions.</summary>
    [Range(0, 256)]
    public int IntraOpThreads { get; set; }

    /// <summary>The sessions and intra-op threads per session (0: the provider's choice) on the CPU of a machine with <paramref name="cores"/> cores.</summary>
    public (int Sessions, int IntraOpThreads) CpuSessions(int cores)
    {
        var threads = IntraOpThreads > 0 ? IntraOpThreads : Sessions == 1 ? 0 : Math.Max(1, cores / Sessions);
        return (Sessions, threads);
    }

    /// <summary>
    /// Let ONNX Runtime's threads busy-wait between operators. Off by default: on a silo the spinning threads compete
    /// with decoding, storage I/O and Orleans' own work for the same cores.
    /// </summary>
    public bool AllowSpinning { get; set; }

    /// <summary>Images decoded and preprocessed at once on a silo; 0 means one per core.</summary>
    [Range(0, 256)]
    public int MaxConcurrentDecodes { get; set; }

    /// <summary>Preprocessed images that may wait for inference before callers are made to wait.</summary>
    [Range(1, 100_000)]
    public int QueueCapacity { get; set; } = 512;

    /// <summary>
    /// Minutes a model version's session may go unused before the silo unloads it (its memory, and its GPU memory, go
    /// back); 0 keeps sessions for the silo's lifetime. A committed upgrade's old version stops being used, so it goes.
    /// </summary>
    [Range(0, 7 * 24 * 60)]
    public double UnloadIdleAfterMinutes { get; set; } = 30;
}

/// <summary>How galleries ingest and store. Section <c>Indexer:Galleries</c>.</summary>
public sealed class GalleryOptions
{
    public const string Section = "Indexer:Galleries";

    /// <summary>Items a gallery sends to an embedding worker at once, and so the most items one segment write holds.</summary>
    [Range(1, 4096)]
    public int IngestBatchSize { get; set; } = 64;

    /// <summary>
    /// Accepted-but-not-indexed items a gallery holds in its manifest. Beyond it <c>AddImagesAsync</c> answers Busy, which
    /// keeps the grain state small and pushes back on a client that uploads faster than the workers embed.
    /// </summary>
    [Range(1, 100_000)]
    public int MaxPending { get; set; } = 4096;

    /// <summary>
    /// How soon, and how often, a gallery with pending items is woken if nothing else calls it (after a silo failure).
    /// Orleans reminders tick at most once a minute unless the silo lowers <c>ReminderOptions.MinimumReminderPeriod</c>.
    /// </summary>
    public TimeSpan ResumeReminderPeriod { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>Largest k a search may ask for.</summary>
    [Range(1, 10_000)]
    public int MaxResults { get; set; } = 1000;

    /// <summary>
    /// Results at the head of a search that the old model helps order while a rollout holds both vectors of every item
    /// (<see cref="Search.RegressionGuard"/>); 0 turns the guard off. Each guarded search by image embeds the query with
    /// the old model too.
    /// </summary>
    [Range(0, 100)]
    public int RegressionGuardDepth { get; set; } = Search.RegressionGuard.DefaultDepth;
}

/// <summary>
/// How galleries cluster their items. Section <c>Indexer:Clustering</c>. Similarities are cosines in one model version's
/// space and their scale differs from one model to the next, so the thresholds can be overridden per version
/// (<see cref="Versions"/>); the top-level values apply to every version without an override.
/// </summary>
public sealed class ClusteringOptions : IValidatableObject
{
    public const string Section = "Indexer:Clustering";

    /// <summary>Smallest cosine between an item and a cluster's centre for the item to join it (0.85: ResNet18 features; 0.80 merges everything).</summary>
    public float JoinThreshold { get; set; } = 0.85f;

    /// <summary>Clusters whose centres are at least this similar merge; at least <see cref="JoinThreshold"/>.</summary>
    public float MergeThreshold { get; set; } = 0.95f;

    /// <summary>Unnamed clusters smaller than this are not listed (named ones always are).</summary>
    public int MinimumSizeShown { get; set; } = 3;

    /// <summary>Reassignment passes of a refinement at most.</summary>
    public int RefineIterations { get; set; } = 10;

    /// <summary>Evidence needed before an item leaves a named cluster or a re-embedded item moves (see <c>ClusteringParameters.StayMargin</c>).</summary>
    public float StayMargin { get; set; } = 0.05f;

    /// <summary>Evidence needed before an item leaves a named cluster or a re-embedded item moves (see <c>ClusteringParameters.MoveMargin</c>).</summary>
    public float MoveMargin { get; set; } = 0.05f;

    /// <summary>
    /// What the clustering does on its own with a member of a named cluster that the evidence places elsewhere (after an
    /// upgrade's re-embedding or in a refinement): <c>Suggest</c> (the default) leaves it and offers the move to the user;
    /// <c>Move</c> moves it and records the move. Named clusters are the user's: an upgrade should not change them unasked.
    /// </summary>
    public NamedMemberPolicy NamedMembers { get; set; } = NamedMemberPolicy.Suggest;

    /// <summary>Overrides by model version (<c>Indexer:Clustering:Versions:v2:JoinThreshold</c>); a value left out takes the top-level one.</summary>
    public Dictionary<string, ClusteringVersionOptions> Versions { get; set; } = new(StringComparer.Ordinal);

    /// <summary>
    /// How long automatic changes (items indexed, re-embedded, deleted) may wait before the gallery's cluster document is
    /// written: one write for many batches. User actions are written before they are answered. Changes not yet written
    /// when a silo dies are rebuilt from the gallery's items at the next activation (names and corrections are never among them).
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00", "01:00:00")]
    public TimeSpan SaveDelay { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// A refinement runs by itself once the gallery's ingest is idle and at least this many items were added since the
    /// last one (and at least <see cref="AutoRefineMinFraction"/> of the gallery, so that its cost per item stays bounded
    /// as the gallery grows); 0 turns automatic refinement off.
    /// </summary>
    [Range(0, int.MaxValue)]
    public int AutoRefineMinAdded { get; set; } = 100;

    /// <summary>See <see cref="AutoRefineMinAdded"/>: 0.1 refines after every 10% of growth.</summary>
    [Range(0.0, 100.0)]
    public double AutoRefineMinFraction { get; set; } = 0.1;

    /// <summary>
    /// Items added to a gallery's clusters per grain turn when many are missing at once (a gallery indexed before it had
    /// clusters, or whose cluster document was lost): between two chunks the gallery's other calls, searches among them,
    /// get their turns. Adding in chunks gives the same clusters as adding all at once (items go in id order either way).
    /// </summary>
    [Range(1, 1_000_000)]
    public int ReconcileChunk { get; set; } = 2000;

    /// <summary>Moves the clustering made on its own kept per gallery for reports; older ones are only counted.</summary>
    [Range(1, 100_000)]
    public int MovesKept { get; set; } = 1000;

    /// <summary>
    /// The clustering parameters of <paramref name="modelVersion"/>: its overrides in configuration, else the thresholds
    /// <paramref name="derived"/> at its rollout, else the top-level values.
    /// </summary>
    public ClusteringParameters For(string modelVersion, global::Indexer.Models.VersionClustering? derived = null)
    {
        ArgumentNullException.ThrowIfNull(modelVersion);
        var o = Versions.GetValueOrDefault(modelVersion);
        // Derived thresholds come as a pair: a version whose join threshold is configured ignores them.
        var useDerived = derived is not null && o?.JoinThreshold is null;
        var join = o?.JoinThreshold ?? (useDerived ? (float)derived!.JoinThreshold : JoinThreshold);
        var merge = o?.MergeThreshold ?? (useDerived ? (float)derived!.MergeThreshold : MergeThreshold);
        if (useDerived) merge = Math.Max(join, merge); // a derived join never passes a configured merge
        return new ClusteringParameters
        {
            JoinThreshold = join,
            MergeThreshold = merge,
            MinimumSizeShown = o?.MinimumSizeShown ?? MinimumSizeShown,
            RefineIterations = o?.RefineIterations ?? RefineIterations,
            StayMargin = o?.StayMargin ?? StayMargin,
            MoveMargin = o?.MoveMargin ?? MoveMargin,
            NamedMembers = NamedMembers,
        };
    }

    /// <summary>Checks the top-level parameters and every version's, naming the setting that is wrong.</summary>
    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        var problems = new List<ValidationResult>();
        void Check(string name, Func<ClusteringParameters> parameters)
        {
            try
            {
                parameters().Validate();
            }
            catch (ArgumentException ex)
            {
                problems.Add(new ValidationResult($"{name}: {ex.Message}"));
            }
        }

        Check(Section, () => For(""));
        foreach (var version in (Versions ?? []).Keys) Check($"{Section}:Versions:{version}", () => For(version));
        return problems;
    }
}

/// <summary>One model version's overrides of <see cref="ClusteringOptions"/>; null keeps the top-level value.</summary>
public sealed class ClusteringVersionOptions
{
    /// <summary>Overrides <see cref="ClusteringOptions.JoinThreshold"/>.</summary>
    public float? JoinThreshold { get; set; }

    /// <summary>Overrides <see cref="ClusteringOptions.MergeThreshold"/>.</summary>
    public float? MergeThreshold { get; set; }

    /// <summary>Overrides <see cref="ClusteringOptions.MinimumSizeShown"/>.</summary>
    public int? MinimumSizeShown { get; set; }

    /// <summary>Overrides <see cref="ClusteringOptions.RefineIterations"/>.</summary>
    public int? RefineIterations { get; set; }

    /// <summary>Overrides <see cref="ClusteringOptions.StayMargin"/>.</summary>
    public float? StayMargin { get; set; }

    /// <summary>Overrides <see cref="ClusteringOptions.MoveMargin"/>.</summary>
    public float? MoveMargin { get; set; }
}
