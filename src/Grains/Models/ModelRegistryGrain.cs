using Indexer.Embedding;
using Indexer.Models;
using Microsoft.Extensions.Logging;
using Orleans.Storage;

namespace Indexer.Grains.Models;

[GenerateSerializer, Alias("indexer.model-registry-state")]
public sealed class ModelRegistryState
{
    [Id(0)] public Dictionary<string, ModelVersionInfo> Versions { get; set; } = new(StringComparer.Ordinal);

    [Id(1)] public string? Current { get; set; }

    [Id(2)] public long Epoch { get; set; }

    [Id(3)] public List<string> EmbedVersions { get; set; } = [];

    [Id(4)] public List<VersionRoute> Routes { get; set; } = [];

    [Id(5)] public Dictionary<string, VersionClustering> Clustering { get; set; } = new(StringComparer.Ordinal);
}

/// <summary>
/// The cluster's list of model versions and the current one. A version is registered only after an embedding worker
/// has loaded its artifact and run it on a probe image, so a broken model never becomes visible.
/// </summary>
public sealed partial class ModelRegistryGrain(
    [PersistentState("models", IndexerStorageNames.GrainStateProvider)] IPersistentState<ModelRegistryState> state,
    TimeProvider time,
    ILogger<ModelRegistryGrain> logger) : Grain, IModelRegistryGrain
{
    private readonly ILogger _logger = logger;

    public async Task<ModelVersionInfo> RegisterAsync(string version)
    {
        Ids.Require(version, "model version");
        if (state.State.Versions.TryGetValue(version, out var existing)) return existing;

        var validated = await GrainFactory.GetGrain<IEmbeddingWorkerGrain>(0).ValidateModelAsync(version);
        var info = validated with { RegisteredAt = time.GetUtcNow() };
        if (await ChangeAsync(() => state.State.Versions.TryAdd(version, info))) LogRegistered(version, info.Dimension);
        return state.State.Versions[version];
    }

    public Task<IReadOnlyList<ModelVersionInfo>> ListAsync() =>
        Task.FromResult<IReadOnlyList<ModelVersionInfo>>(state.State.Versions.Values.OrderBy(v => v.RegisteredAt).ToList());

    public Task<ModelVersionInfo?> GetAsync(string version) =>
        Task.FromResult(state.State.Versions.GetValueOrDefault(version));

    public Task<string?> GetCurrentAsync() => Task.FromResult(state.State.Current);

    public async Task SetCurrentAsync(string version)
    {
        if (!state.State.Versions.TryGetValue(version, out var info))
        {
            throw new IndexerException(IndexerErrorCode.NotFound, $"model version '{version}' is not registered");
        }

        if (info.Retired)
        {
            throw new IndexerException(IndexerErrorCode.Conflict, $"model version '{version}' is retired");
        }

        if (state.State.Current == version && state.State.Routes.Count == 0 && state.State.EmbedVersions.SequenceEqual([version])) return;
        await SetServingPlanAsync(version, [version], []);
    }

    public async Task<ModelVersionInfo> RetireAsync(string version)
    {
        var retired = await ChangeAsync(() =>
        {
            if (!state.State.Versions.TryGetValue(version, out var info))
            {
                throw new IndexerException(IndexerErrorCode.NotFound, $"model version '{version}' is not registered");
            }

            var plan = Plan();
            if (plan.QueryVersion == version || plan.EmbedVersions.Contains(version) || plan.Routes.Any(r => r.From == version || r.To == version))
            {
                throw new IndexerException(IndexerErrorCode.Conflict,
                    $"model version '{version}' is in use: queries, uploads or a route serve it; roll out and commit another version first");
            }

            if (info.Retired) return false;
            state.State.Versions[version] = info with { Retired = true };
            return true;
        });
        if (retired) LogRetired(version);
        return state.State.Versions[version];
    }

    public Task<ServingPlan> GetServingPlanAsync() => Task.FromResult(Plan());

    public async Task<ServingPlan> SetServingPlanAsync(string queryVersion, IReadOnlyList<string> embedVersions, IReadOnlyList<VersionRoute> routes)
    {
        ArgumentNullException.ThrowIfNull(embedVersions);
        ArgumentNullException.ThrowIfNull(routes);
        if (!embedVersions.Contains(queryVersion))
        {
            throw new IndexerException(IndexerErrorCode.InvalidArgument, $"uploads must be embedded with the query version '{queryVersion}' too");
        }

        await ChangeAsync(() =>
        {
            foreach (var version in embedVersions.Append(queryVersion).Concat(routes.Select(r => r.From)))
            {
                if (!state.State.Versions.TryGetValue(version, out var info)) throw new IndexerException(IndexerErrorCode.NotFound, $"model version '{version}' is not registered");
                if (info.Retired) throw new IndexerException(IndexerErrorCode.Conflict, $"model version '{version}' is retired");
            }

            state.State.Current = queryVersion;
            state.State.EmbedVersions = embedVersions.Where(v => v != queryVersion).Distinct().Append(queryVersion).ToList(); // query version last: it becomes each new item's primary
            state.State.Routes = routes.ToList();
            state.State.Epoch++;
            return true;
        });
        LogPlan(queryVersion, string.Join(",", state.State.EmbedVersions), string.Join(",", routes.Select(r => $"{r.From}->{r.To}:{r.Kind}")));
        return Plan();
    }

    public async Task<bool> RefreshRoutesAsync(string queryVersion)
    {
        ArgumentNullException.ThrowIfNull(queryVersion);
        return await ChangeAsync(() =>
        {
            if (state.State.Current != queryVersion) return false;
            state.State.Epoch++;
            return true;
        });
    }

    public async Task SetClusteringAsync(VersionClustering clustering)
    {
        ArgumentNullException.ThrowIfNull(clustering);
        await ChangeAsync(() =>
        {
            if (!state.State.Versions.ContainsKey(clustering.Version)) throw new IndexerException(IndexerErrorCode.NotFound, $"model version '{clustering.Version}' is not registered");
            if (clustering.JoinThreshold is not (>= -1 and <= 1) || clustering.MergeThreshold is not (>= -1 and <= 1) || clustering.MergeThreshold < clustering.JoinThreshold)
            {
                throw new IndexerException(IndexerErrorCode.InvalidArgument,
                    $"clustering thresholds must be cosines with merge >= join; got join {clustering.JoinThreshold}, merge {clustering.MergeThreshold}");
            }

            (state.State.Clustering ??= new(StringComparer.Ordinal))[clustering.Version] = clustering;
            state.State.Epoch++;
            return true;
        });
        LogClustering(clustering.Version, clustering.JoinThreshold, clustering.MergeThreshold, clustering.DerivedFrom);
    }

    /// <summary>
    /// Applies <paramref name="change"/> to the state and writes it; false when the change found nothing to do. The
    /// change checks the state (throwing <see cref="IndexerException"/> before it changes anything), changes it, and
    /// says whether there is anything to write.
    /// </summary>
    /// <remarks>
    /// When the write finds the stored record is not the one this activation last wrote (a write that was stored but
    /// whose answer was lost, and which the client retried against the new ETag; or another activation's write), the
    /// record is read again and the change applied once more, checks included. That is safe for every change here: each
    /// sets whole values under their keys (a version, its retirement, its clustering, the serving plan), so applying it
    /// twice is applying it once; when the lost write did land, a second registration or retirement finds nothing to do,
    /// and a plan or clustering is stored again under one more epoch, which only makes the galleries re-read the same
    /// plan. Should that fail as well, this copy may hold a change storage does not: it leaves, the caller gets the
    /// error, and the next call activates a copy that reads the stored record.
    /// </remarks>
    private async Task<bool> ChangeAsync(Func<bool> change)
    {
        if (!change()) return false;
        try
        {
            await state.WriteStateAsync();
            return true;
        }
        catch (InconsistentStateException ex)
        {
            LogStateReread(ex);
        }

        try
        {
            await state.ReadStateAsync();
            if (!change()) return false;
            await state.WriteStateAsync();
            return true;
        }
        catch (Exception ex) when (ex is not IndexerException)
        {
            LogStateStale(ex);
            DeactivateOnIdle();
            throw;
        }
    }

    private ServingPlan Plan() => new(
        state.State.Epoch, state.State.Current,
        state.State.EmbedVersions.Count > 0 ? state.State.EmbedVersions.ToList() : state.State.Current is { } current ? [current] : [],
        state.State.Routes.ToList(),
        state.State.Clustering?.Values.OrderBy(c => c.Version, StringComparer.Ordinal).ToList() ?? []);

    [LoggerMessage(Level = LogLevel.Information, Message = "Model version {Version} registered ({Dimension}-d)")]
    private partial void LogRegistered(string version, int dimension);

    [LoggerMessage(Level = LogLevel.Information, Message = "Model version {Version} retired")]
    private partial void LogRetired(string version);

    [LoggerMessage(Level = LogLevel.Information, Message = "Clustering thresholds of {Version}: join {Join:F3}, merge {Merge:F3} (carried over from {From})")]
    private partial void LogClustering(string version, double join, double merge, string from);

    [LoggerMessage(Level = LogLevel.Information, Message = "Serving plan: queries in {Version}, uploads in {EmbedVersions}, routes {Routes}")]
    private partial void LogPlan(string version, string embedVersions, string routes);

    [LoggerMessage(Level = LogLevel.Warning, Message = "The model registry's stored record changed under this activation; it reads the record again and applies the change once more")]
    private partial void LogStateReread(Exception ex);

    [LoggerMessage(Level = LogLevel.Warning, Message = "The model registry could not write its record after reading it again; it deactivates and the next call reads the stored record")]
    private partial void LogStateStale(Exception ex);
}
