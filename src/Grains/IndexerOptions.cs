using System.ComponentModel.DataAnnotations;

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

    /// <summary>How long a partly filled batch waits for more images before it runs.</summary>
    [Range(0, 1000)]
    public int BatchDeadlineMilliseconds { get; set; } = 4;

    /// <summary>Threads ONNX Runtime uses inside one inference call; 0 means one per core.</summary>
    [Range(0, 256)]
    public int IntraOpThreads { get; set; }

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
}
