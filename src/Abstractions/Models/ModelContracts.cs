namespace Indexer.Models;

/// <summary>A registered model version as the registry knows it.</summary>
[GenerateSerializer, Immutable, Alias("indexer.model-version")]
public sealed record ModelVersionInfo(
    [property: Id(0)] string Version,
    [property: Id(1)] int Dimension,
    [property: Id(2)] int InputWidth,
    [property: Id(3)] int InputHeight,
    [property: Id(4)] string? Lineage,
    [property: Id(5)] string? Description,
    [property: Id(6)] DateTimeOffset RegisteredAt,
    [property: Id(7)] bool Retired);

/// <summary>The model registry: which versions exist and which one embeds new images and queries.</summary>
[Alias("indexer.model-registry")]
public interface IModelRegistryGrain : IGrainWithStringKey
{
    /// <summary>The registry's single key.</summary>
    const string Key = "default";

    /// <summary>
    /// Registers a version whose artifact and manifest are already in model storage. The artifact is loaded and run on
    /// a probe image first; a model that fails is not registered.
    /// </summary>
    [Alias("register")]
    Task<ModelVersionInfo> RegisterAsync(string version);

    [Alias("list")]
    Task<IReadOnlyList<ModelVersionInfo>> ListAsync();

    [Alias("get")]
    Task<ModelVersionInfo?> GetAsync(string version);

    /// <summary>The version new images and queries are embedded with; null before any model is made current.</summary>
    [Alias("get-current")]
    Task<string?> GetCurrentAsync();

    /// <summary>Makes <paramref name="version"/> the only version queries and uploads use, with no routes (first model, tests).</summary>
    [Alias("set-current")]
    Task SetCurrentAsync(string version);

    /// <summary>
    /// Retires a version: it can no longer be made current, rolled out or routed. Refused while the serving plan uses it
    /// (as the query or upload version, or as the source of a route), since items would become unreachable.
    /// </summary>
    [Alias("retire")]
    Task<ModelVersionInfo> RetireAsync(string version);

    /// <summary>How queries and uploads are served right now: the query version, the upload versions and the routes.</summary>
    [Alias("get-plan")]
    Task<ServingPlan> GetServingPlanAsync();

    /// <summary>
    /// Replaces the serving plan (the rollout grain's job): every version it names must be registered and not retired,
    /// the query version must be one of the upload versions. Returns the plan with its new epoch.
    /// </summary>
    [Alias("set-plan")]
    Task<ServingPlan> SetServingPlanAsync(string queryVersion, IReadOnlyList<string> embedVersions, IReadOnlyList<VersionRoute> routes);

    /// <summary>
    /// Moves the plan's epoch, so that every gallery loads the maps behind its routes again (a map was fitted again and
    /// stored in place), when the plan's query version is <paramref name="queryVersion"/>; otherwise changes nothing
    /// (the rollout that fitted the map was rolled back or committed meanwhile). True when the epoch moved.
    /// </summary>
    [Alias("refresh-routes")]
    Task<bool> RefreshRoutesAsync(string queryVersion);

    /// <summary>
    /// Records the clustering thresholds derived for a version (the rollout grain's job, before it activates the version);
    /// every plan carries them from then on. Unknown version: NotFound; thresholds that are not cosines: InvalidArgument.
    /// </summary>
    [Alias("set-clustering")]
    Task SetClusteringAsync(VersionClustering clustering);
}
