using Indexer.Galleries;
using Indexer.Models;
using Indexer.Search;
using Indexer.Search.Clustering;
using Indexer.Storage;
using Microsoft.Extensions.Logging;

namespace Indexer.Grains.Galleries;

/// <summary>
/// The gallery's clusters: one <see cref="GalleryClusters"/> in the serving plan's query version, kept current as items
/// are indexed, re-embedded and deleted, and persisted as one JSON document per gallery (<see cref="BlobClusterStore"/>).
/// </summary>
/// <remarks>
/// <para><b>Where vectors come from.</b> An item's vector is the one search uses for the query version: its own vector in
/// that version, or its old vector carried over by the index's route (compatible or mapped). Items with neither keep their
/// place without a vector.</para>
/// <para><b>Writes.</b> User actions are written before they are answered, and undone in memory when the write fails.
/// Automatic changes are written by <see cref="ClusterLoopAsync"/> at most once per <see cref="ClusteringOptions.SaveDelay"/>;
/// what a dying silo did not write is rebuilt from the gallery's items at the next activation
/// (<see cref="ReconcileClusters()"/>), so only automatic moves can be lost, never names or corrections.</para>
/// <para><b>Upgrades.</b> When the query version changes the clusters are rebased into it (ids, names, pins and membership
/// kept) and the clusters as they were are kept while the plan still embeds their version: a rollback restores them and
/// replays the user's actions since. The backfill's new vectors go through <see cref="GalleryClusters.Reembed"/>, whose
/// moves are recorded. The commit drops the kept copy.</para>
/// <para>Every hook called from the ingest, backfill and search paths catches its own failures: a clustering problem
/// never fails an upload or a search; the clusters are reloaded from storage and the index instead.</para>
/// </remarks>
public sealed partial class GalleryGrain
{
    private ClusteringOptions ClusterOptions => clusteringOptions.Value;

    /// <summary>A version's clustering parameters: configuration first, then the thresholds its rollout derived (in the plan).</summary>
    private ClusteringParameters ClusterParametersFor(string version) => ClusterOptions.For(version, _plan?.ClusteringOf(version));

    private GalleryClusters? _clusters;
    private bool _clustersLoaded;
    private Task? _clusterLoad;
    private string? _clusterETag;
    private bool _clustersDirty;
    private int _addedSinceRefine;
    private Task? _clusterLoop;
    private readonly SemaphoreSlim _clusterSaveLock = new(1, 1);

    /// <summary>The clusters as they were before the current upgrade, in the old version; null when no upgrade can be rolled back.</summary>
    private ClusteringSnapshot? _clusterRollback;

    /// <summary>User actions since <see cref="_clusterRollback"/> was taken, replayed over it by a rollback.</summary>
    private readonly List<ClusterUserAction> _clusterJournal = [];

    /// <summary>Moves the clustering made on its own, oldest first, at most <see cref="ClusteringOptions.MovesKept"/>.</summary>
    private readonly List<ClusterMoveRecord> _clusterMoves = [];
    private long _clusterMovesTotal;

    /// <summary>Open suggestions by item: moves out of named clusters the clustering left to the user (<see cref="NamedMemberPolicy.Suggest"/>).</summary>
    private readonly Dictionary<string, ClusterMoveRecord> _clusterSuggestions = new(StringComparer.Ordinal);

    public async Task<IReadOnlyList<ClusterInfo>> ListClustersAsync(int representatives = 3, bool includeHidden = false)
    {
        if (representatives is < 0 or > GalleryClusters.MaxRepresentatives)
        {
            throw new IndexerException(IndexerErrorCode.InvalidArgument, $"representatives must be between 0 and {GalleryClusters.MaxRepresentatives}; got {representatives}");
        }

        var clusters = await ReadyClustersAsync();
        return clusters is null ? [] : clusters.ListClusters(representatives, includeHidden).Select(ToInfo).ToList();
    }

    public async Task<ClusterPage> GetClusterItemsAsync(long clusterId, int offset, int limit)
    {
        var clusters = await ReadyClustersAsync() ?? throw NoCluster(clusterId);
        return ClusterCall(() =>
        {
            var page = clusters.ItemsOf(clusterId, offset, limit);
            return new ClusterPage(page.ClusterId, clusters.GetCluster(clusterId, 0).Name, page.Total, page.Offset, page.Items);
        });
    }

    public Task<ClusterInfo> NameClusterAsync(long clusterId, string name) =>
        UserActionAsync(new ClusterUserAction(ClusterUserActionKind.Name, ClusterId: clusterId, Name: name), clusters =>
        {
            clusters.Name(clusterId, name);
            return ToInfo(clusters.GetCluster(clusterId));
        }, () => NoCluster(clusterId));

    public Task<ClusterInfo> MergeClustersAsync(long intoClusterId, long fromClusterId) =>
        UserActionAsync(new ClusterUserAction(ClusterUserActionKind.Merge, ClusterId: intoClusterId, OtherClusterId: fromClusterId), clusters =>
            ToInfo(clusters.GetCluster(clusters.Merge(intoClusterId, fromClusterId))), () => NoCluster(intoClusterId));

    public Task<ClusterInfo> MoveItemAsync(string itemId, long toClusterId) =>
        UserActionAsync(new ClusterUserAction(ClusterUserActionKind.Move, itemId, toClusterId), clusters =>
        {
            RequireClusteredItem(clusters, itemId);
            clusters.Move(itemId, toClusterId);
            return ToInfo(clusters.GetCluster(toClusterId));
        }, () => NoItem(itemId));

    public Task MoveItemOutAsync(string itemId) =>
        UserActionAsync(new ClusterUserAction(ClusterUserActionKind.MoveOut, itemId), clusters =>
        {
            RequireClusteredItem(clusters, itemId);
            clusters.MoveOut(itemId);
            return true;
        }, () => NoItem(itemId));

    public async Task<IReadOnlyList<ClusterMoveRecord>> ListClusterSuggestionsAsync()
    {
        var clusters = await ReadyClustersAsync();
        if (clusters is null) return [];
        PruneSuggestions(clusters);
        return _clusterSuggestions.Values
            .Select(s => s with { FromName = NameOf(clusters, s.FromClusterId), ToName = NameOf(clusters, s.ToClusterId) })
            .OrderBy(s => s.FromSimilarity ?? double.NegativeInfinity).ThenByDescending(s => s.ToSimilarity).ThenBy(s => s.ItemId, StringComparer.Ordinal)
            .ToList();
    }

    public async Task<ClusterInfo> AcceptClusterSuggestionAsync(string itemId)
    {
        var suggestion = await OpenSuggestionAsync(itemId);
        return await UserActionAsync(new ClusterUserAction(ClusterUserActionKind.Move, itemId, suggestion.ToClusterId), clusters =>
        {
            clusters.Move(itemId, suggestion.ToClusterId);
            return ToInfo(clusters.GetCluster(suggestion.ToClusterId));
        }, () => NoSuggestion(itemId));
    }

    public async Task<ClusterInfo> DismissClusterSuggestionAsync(string itemId)
    {
        var suggestion = await OpenSuggestionAsync(itemId);
        return await UserActionAsync(new ClusterUserAction(ClusterUserActionKind.Move, itemId, suggestion.FromClusterId), clusters =>
        {
            clusters.Move(itemId, suggestion.FromClusterId); // pinned where the user saw it: never suggested again
            return ToInfo(clusters.GetCluster(suggestion.FromClusterId));
        }, () => NoSuggestion(itemId));
    }

    /// <summary>The item's open suggestion, still valid against the clusters as they are now; NotFound otherwise.</summary>
    private async Task<ClusterMoveRecord> OpenSuggestionAsync(string itemId)
    {
        if (string.IsNullOrEmpty(itemId)) throw new IndexerException(IndexerErrorCode.InvalidArgument, "say which item's suggestion: the item id is empty");
        var clusters = await ReadyClustersAsync() ?? throw NoSuggestion(itemId);
        PruneSuggestions(clusters);
        return _clusterSuggestions.GetValueOrDefault(itemId) ?? throw NoSuggestion(itemId);
    }

    /// <summary>
    /// Drops the suggestions the clusters no longer bear out: the item was deleted, moved or pinned by the user, left its
    /// cluster, or the suggested cluster is gone; and those made in another model version.
    /// </summary>
    private void PruneSuggestions(GalleryClusters clusters)
    {
        foreach (var (itemId, suggestion) in _clusterSuggestions.ToList())
        {
            var valid = suggestion.ModelVersion == clusters.ModelVersion
                && clusters.Contains(itemId) && clusters.ClusterOf(itemId) == suggestion.FromClusterId && clusters.PinOf(itemId) == ItemPin.None
                && NameOf(clusters, suggestion.FromClusterId) is not null && clusters.ContainsCluster(suggestion.ToClusterId);
            if (!valid) _clusterSuggestions.Remove(itemId);
        }
    }

    private static string? NameOf(GalleryClusters clusters, long clusterId) => clusters.ContainsCluster(clusterId) ? clusters.GetCluster(clusterId, 0).Name : null;

    /// <summary>Notes a suggestion, replacing the item's earlier one: the latest evidence is the one that counts.</summary>
    private void RecordSuggestion(ClusterMove move, ClusterMoveCause cause)
    {
        var clusters = _clusters!;
        _clusterSuggestions[move.ItemId] = new ClusterMoveRecord(move.ItemId, move.FromClusterId, move.FromName, move.ToClusterId, NameOf(clusters, move.ToClusterId),
            cause, clusters.ModelVersion, float.IsFinite(move.FromSimilarity) ? move.FromSimilarity : null, float.IsFinite(move.ToSimilarity) ? move.ToSimilarity : 0,
            time.GetUtcNow());
        LogClusterSuggestion(_key.ToString(), move.ItemId, move.FromClusterId, move.ToClusterId, cause);
    }

    public async Task<ClusterRefineSummary> RefineClustersAsync()
    {
        var clusters = await ReadyClustersAsync();
        if (clusters is null) return new ClusterRefineSummary(0, 0, 0, 0, 0, 0, 0);
        var result = Refine(clusters);
        try
        {
            _clustersDirty = true;
            await SaveClustersAsync();
        }
        catch
        {
            ScheduleClusterSave(); // the refined clusters are kept: the loop writes them when storage answers again
            throw;
        }

        return new ClusterRefineSummary(result.Iterations, result.Reassignments, result.ClustersCreated, result.ClustersMerged, result.ClustersEmptied,
            result.NamedMoves.Count, clusters.ClusterCount);
    }

    public async Task<ClusterReport> GetClusterMovesAsync()
    {
        var clusters = await ReadyClustersAsync();
        var all = clusters?.ListClusters(0, includeHidden: true) ?? [];
        var items = clusters?.ItemCount ?? 0;
        if (clusters is not null) PruneSuggestions(clusters);
        return new ClusterReport(clusters?.ModelVersion, items, all.Count, clusters?.ListClusters(0).Count ?? 0, all.Count(c => c.Name is not null),
            items - all.Sum(c => c.Size), clusters?.ItemsWithoutVector ?? 0, _clusterRollback is not null, _clusterMovesTotal,
            Enumerable.Reverse(_clusterMoves).ToList(), _clusterSuggestions.Count, clusters?.Parameters.JoinThreshold);
    }

    /// <summary>
    /// Runs a user action: checks and applies it (the clustering changes nothing when it refuses), notes it for a rollback's
    /// replay, writes the clusters and answers only then. When the write fails the action is undone in memory too.
    /// </summary>
    private async Task<T> UserActionAsync<T>(ClusterUserAction action, Func<GalleryClusters, T> apply, Func<IndexerException> whenEmpty)
    {
        var clusters = await ReadyClustersAsync() ?? throw whenEmpty();
        var before = clusters.ToSnapshot();
        var result = ClusterCall(() => apply(clusters));
        var journaled = _clusterRollback is not null;
        if (journaled) _clusterJournal.Add(action);
        _clustersDirty = true;
        try
        {
            await SaveClustersAsync();
        }
        catch (Exception ex)
        {
            LogClusterActionUndone(ex, _key.ToString(), action.Kind);
            if (journaled && _clusterJournal.Count > 0) _clusterJournal.RemoveAt(_clusterJournal.Count - 1);
            if (ReferenceEquals(_clusters, clusters) && clusters.ModelVersion == before.ModelVersion)
            {
                _clusters = Rebuild(before, before.ModelVersion);
                ReconcileClusters(); // items indexed while the write was under way
            }

            ScheduleClusterSave();
            throw;
        }

        return result;
    }

    /// <summary>The clusters, loaded and in the plan's query version; null when the gallery has no indexed item yet.</summary>
    private async Task<GalleryClusters?> ReadyClustersAsync()
    {
        RequireExists();
        await EnsureClustersAsync();
        return _clusters;
    }

    /// <summary>
    /// Loads the clusters if needed and aligns them with the serving plan: routes for the query version first (setting them
    /// calls <see cref="OnRoutesChanged"/>), then a rebase, a rollback's restore or a commit's clean-up if the plan asks for one.
    /// </summary>
    /// <param name="expectedQueryVersion">A version the caller knows to be the query version (a backfill's target): the plan is re-read if this gallery's copy says otherwise.</param>
    private async Task EnsureClustersAsync(string? expectedQueryVersion = null)
    {
        if (!_clustersLoaded)
        {
            if (_clusterLoad is not { IsFaulted: false, IsCanceled: false }) _clusterLoad = LoadClustersAsync();
            await _clusterLoad;
        }

        var plan = await GetPlanAsync(refresh: expectedQueryVersion is not null && _plan?.QueryVersion != expectedQueryVersion);
        if (plan.QueryVersion is { } version) await EnsureRoutesAsync(version);
        AlignClusters(plan, routesChanged: false);
    }

    /// <summary>Hook for the backfill: the clusters move into the new version before its first re-embedded vector arrives.</summary>
    private async Task PrepareClustersForBackfillAsync(string to)
    {
        try
        {
            await EnsureClustersAsync(to);
        }
        catch (Exception ex) when (ex is not ObjectDisposedException)
        {
            LogClustersFailed(ex, _key.ToString()); // the backfill goes on; the next cluster call retries
        }
    }

    /// <summary>
    /// Reads the stored document and builds the clusters from it and the index's vectors, then catches up with the items
    /// indexed or deleted since it was written. From reading the document to marking the clusters loaded everything runs
    /// in one turn, so no record applied meanwhile is missed; the catching up then adds at most
    /// <see cref="ClusteringOptions.ReconcileChunk"/> items per turn, while records applied in between reach the clusters directly.
    /// </summary>
    private async Task LoadClustersAsync()
    {
        var plan = await GetPlanAsync();
        if (plan.QueryVersion is { } queryVersion) await EnsureRoutesAsync(queryVersion);
        var stored = await clusterStore.ReadAsync<ClusterDocument>(_key.ToString(), CancellationToken.None);

        var document = stored?.Document;
        if (document is not null && document.Format != ClusterDocument.CurrentFormat)
        {
            throw new InvalidDataException($"gallery {_key}: the cluster document has format {document.Format}; this silo reads {ClusterDocument.CurrentFormat}");
        }

        _clusterETag = stored?.ETag;
        _clusterRollback = document?.Rollback;
        _clusterJournal.Clear();
        _clusterJournal.AddRange(document?.Journal ?? []);
        _clusterMoves.Clear();
        _clusterMoves.AddRange(document?.Moves ?? []);
        _clusterMovesTotal = document?.MovesTotal ?? 0;
        _clusterSuggestions.Clear();
        foreach (var suggestion in document?.Suggestions ?? []) _clusterSuggestions[suggestion.ItemId] = suggestion;
        _addedSinceRefine = document?.AddedSinceRefine ?? 0;
        _clusters = document is null ? null : Rebuild(document.Current, document.Current.ModelVersion);
        _clustersLoaded = true;
        AlignClusters(plan, routesChanged: false);
        var changed = ReconcileClusters(ClusterOptions.ReconcileChunk, out var more);
        while (more && _clustersLoaded)
        {
            // Many items to cluster (a gallery that had no cluster document): the gallery's other calls get turns
            // between chunks. Reconciling is idempotent, and items indexed meanwhile are added by OnRecordsApplied.
            await Task.Yield();
            changed |= ReconcileClusters(ClusterOptions.ReconcileChunk, out more);
        }

        if (changed) ScheduleClusterSave();
        LogClustersLoaded(_key.ToString(), _clusters?.ModelVersion ?? "-", _clusters?.ItemCount ?? 0, _clusters?.ClusterCount ?? 0, _clusterRollback is not null);
    }

    /// <summary>Forgets the in-memory clusters after a failure; the next call or the loop reloads them from storage and the index.</summary>
    private void InvalidateClusters()
    {
        _clusters = null;
        _clustersLoaded = false;
        _clusterLoad = null;
        ScheduleClusterSave();
    }

    /// <summary>Hook: records were applied to the index (indexed, re-embedded, deleted or dropped vectors).</summary>
    private void OnRecordsApplied(IReadOnlyList<SegmentRecord> records)
    {
        if (!_clustersLoaded)
        {
            if (records.Count > 0) ScheduleClusterSave(); // the loop loads the clusters and catches up with these
            return;
        }

        try
        {
            var version = _clusters?.ModelVersion ?? _plan?.QueryVersion ?? records.FirstOrDefault(r => r.Vector is not null)?.ModelVersion;
            if (version is null) return;
            var changed = false;
            foreach (var item in records.GroupBy(r => r.ItemId, StringComparer.Ordinal))
            {
                if (!_index.Contains(item.Key))
                {
                    changed |= _clusters?.Remove(item.Key) == true;
                    continue;
                }

                if (VectorIn(version, item.Key) is not { } vector) continue;
                _clusters ??= new GalleryClusters(version, vector.Length, ClusterParametersFor(version));
                if (vector.Length != _clusters.Dimension) AdoptDimension(vector.Length);
                if (!_clusters.Contains(item.Key))
                {
                    _clusters.Add(item.Key, vector);
                    _addedSinceRefine++;
                    changed = true;
                }
                else if (item.Any(r => r.ModelVersion == version && r.Vector is not null))
                {
                    // Re-embedded in the clusters' version (the backfill): it stays unless the evidence against it is strong,
                    // and a member of a named cluster stays anyway unless the deployment lets the clustering move it.
                    var move = _clusters.Reembed(item.Key, vector);
                    if (move is { Suggested: true }) RecordSuggestion(move, ClusterMoveCause.Reembedded);
                    else _clusterSuggestions.Remove(item.Key); // moved, or the new evidence no longer speaks against it
                    if (move is { Suggested: false }) RecordMove(move, ClusterMoveCause.Reembedded);
                    changed = true;
                }
            }

            if (changed) ScheduleClusterSave();
        }
        catch (Exception ex)
        {
            LogClustersFailed(ex, _key.ToString());
            InvalidateClusters();
        }
    }

    /// <summary>Hook: the index now serves <paramref name="plan"/>'s query version with new routes.</summary>
    private void OnRoutesChanged(ServingPlan plan)
    {
        try
        {
            AlignClusters(plan, routesChanged: true);
        }
        catch (Exception ex)
        {
            LogClustersFailed(ex, _key.ToString());
            InvalidateClusters();
        }
    }

    /// <summary>
    /// Puts the clusters in the plan's query version: restores the kept clusters when the plan returns to their version (a
    /// rollback), otherwise rebases them (keeping a copy while the plan still embeds the old version, so that a rollback
    /// finds it). With <paramref name="routesChanged"/> and no version change, refreshes the routed items' vectors. Drops
    /// the kept copy once the plan no longer embeds its version (a commit). Synchronous: the index's routes must be set.
    /// </summary>
    private void AlignClusters(ServingPlan plan, bool routesChanged)
    {
        if (!_clustersLoaded || plan.QueryVersion is not { } version) return;
        var changed = false;
        if (_clusters is null)
        {
            changed = ReconcileClusters();
        }
        else if (_clusters.ModelVersion != version)
        {
            var from = _clusters.ModelVersion;
            if (_clusterRollback is { } kept && kept.ModelVersion == version)
            {
                var restored = Rebuild(kept with { NextClusterId = Math.Max(kept.NextClusterId, _clusters.NextClusterId) }, version);
                var replayed = _clusterJournal.Count(action => Replay(restored, action));
                LogClustersRestored(_key.ToString(), from, version, replayed, _clusterJournal.Count);
                _clusters = restored;
                _clusterRollback = null;
                _clusterJournal.Clear();
            }
            else
            {
                _clusterRollback = plan.EmbedVersions.Contains(from) ? _clusters.ToSnapshot() : null;
                _clusterJournal.Clear();
                var result = _clusters.Rebase(version, DimensionIn(version) ?? _clusters.Dimension, ClusterParametersFor(version), id => VectorIn(version, id));
                LogClustersRebased(_key.ToString(), from, version, result.WithVector, result.WithoutVector);
            }

            ReconcileClusters();
            changed = true;
        }
        else if (routesChanged)
        {
            // Same version, other routes (a new map, or a commit's dropped vectors): new vectors, same membership.
            var parameters = ClusterParametersFor(version);
            changed = parameters != _clusters.Parameters;
            _clusters.Rebase(version, DimensionIn(version) ?? _clusters.Dimension, parameters, id => VectorIn(version, id));
        }

        if (_clusterRollback is { } held && held.ModelVersion != version && !plan.EmbedVersions.Contains(held.ModelVersion))
        {
            // Committed: the old version is no longer embedded, so queries never return to it.
            _clusterRollback = null;
            _clusterJournal.Clear();
            changed = true;
        }

        if (changed) ScheduleClusterSave();
    }

    /// <summary>Replays a user action over restored clusters; false when it no longer applies (its cluster was created by the upgrade).</summary>
    private static bool Replay(GalleryClusters clusters, ClusterUserAction action)
    {
        try
        {
            switch (action.Kind)
            {
                case ClusterUserActionKind.Name:
                    clusters.Name(action.ClusterId, action.Name!);
                    break;
                case ClusterUserActionKind.Merge:
                    clusters.Merge(action.ClusterId, action.OtherClusterId);
                    break;
                case ClusterUserActionKind.Move:
                    clusters.Move(action.ItemId!, action.ClusterId);
                    break;
                case ClusterUserActionKind.MoveOut:
                    clusters.MoveOut(action.ItemId!);
                    break;
            }

            return true;
        }
        catch (Exception ex) when (ex is KeyNotFoundException or ArgumentException)
        {
            return false;
        }
    }

    /// <summary>
    /// Brings the clusters in line with the index: forgets items deleted from the gallery and adds, in id order, the items
    /// with a vector in the clusters' version that they do not hold yet. Creates the clusters for a gallery's first items.
    /// </summary>
    /// <returns>True when anything changed.</returns>
    private bool ReconcileClusters() => ReconcileClusters(int.MaxValue, out _);

    /// <summary>As <see cref="ReconcileClusters()"/>, adding at most <paramref name="limit"/> items; <paramref name="more"/> says whether items are left.</summary>
    private bool ReconcileClusters(int limit, out bool more)
    {
        more = false;
        var version = _clusters?.ModelVersion ?? _plan?.QueryVersion;
        if (version is null) return false;
        var changed = false;
        if (_clusters is not null)
        {
            var snapshot = _clusters.ToSnapshot();
            foreach (var id in snapshot.Clusters.SelectMany(c => c.Members).Concat(snapshot.MovedOutItems))
            {
                if (!_index.Contains(id)) changed |= _clusters.Remove(id);
            }
        }

        var added = new List<KeyValuePair<string, float[]>>();
        foreach (var item in _index.Page(null, Math.Max(1, _index.Count)).Items)
        {
            if (_clusters?.Contains(item.ItemId) == true || VectorIn(version, item.ItemId) is not { } vector) continue;
            if (added.Count == limit)
            {
                more = true;
                break;
            }

            added.Add(new(item.ItemId, vector));
        }

        if (added.Count == 0) return changed;
        _clusters ??= new GalleryClusters(version, added[0].Value.Length, ClusterParametersFor(version));
        if (added[0].Value.Length != _clusters.Dimension) AdoptDimension(added[0].Value.Length);
        _clusters.AddMany(added);
        _addedSinceRefine += added.Count;
        return true;
    }

    /// <summary>
    /// The clusters' version turned out to have vectors of another length than assumed (a rebase into a version no item held
    /// yet): rebase in place onto the right length. Every vector of one version has one length (the index enforces it).
    /// </summary>
    private void AdoptDimension(int dimension)
    {
        var version = _clusters!.ModelVersion;
        _clusters.Rebase(version, dimension, _clusters.Parameters, id => VectorIn(version, id));
    }

    /// <summary>Clusters from a snapshot, computed in <paramref name="version"/> with that version's parameters and vectors.</summary>
    private GalleryClusters Rebuild(ClusteringSnapshot snapshot, string version) =>
        GalleryClusters.FromSnapshot(
            snapshot with { ModelVersion = version, Dimension = DimensionIn(version) ?? snapshot.Dimension, Parameters = ClusterParametersFor(version) },
            id => VectorIn(version, id));

    /// <summary>
    /// An item's vector in <paramref name="version"/> as search sees it: its own, or its old one carried over by the route
    /// the index holds for that version; null when it has neither (or only an unusable one).
    /// </summary>
    private float[]? VectorIn(string version, string itemId) =>
        _index.TryGetVector(itemId, version, out var embedding) && embedding.ModelVersion == version
        && VectorMath.IsFinite(embedding.Vector) && embedding.Vector.AsSpan().ContainsAnyExcept(0f)
            ? embedding.Vector
            : null;

    /// <summary>The length of <paramref name="version"/>'s vectors in this gallery (own or routed); null when no item has one.</summary>
    private int? DimensionIn(string version)
    {
        string? after = null;
        while (true)
        {
            var page = _index.Page(after, 256);
            foreach (var item in page.Items)
            {
                if (VectorIn(version, item.ItemId) is { } vector) return vector.Length;
            }

            if (page.Next is null) return null;
            after = page.Next;
        }
    }

    /// <summary>Refines on the grain's turn (the scoring is parallel) and records the moves out of named clusters.</summary>
    private RefineResult Refine(GalleryClusters clusters)
    {
        var result = clusters.Refine(Environment.ProcessorCount);
        foreach (var move in result.NamedMoves) RecordMove(move, ClusterMoveCause.Refined);
        foreach (var suggestion in result.Suggestions) RecordSuggestion(suggestion, ClusterMoveCause.Refined);
        _addedSinceRefine = 0;
        LogClustersRefined(_key.ToString(), result.Iterations, result.Reassignments, clusters.ClusterCount, result.NamedMoves.Count);
        return result;
    }

    /// <summary>Refines once the ingest is idle and the gallery grew enough since the last refinement (see <see cref="ClusteringOptions.AutoRefineMinAdded"/>).</summary>
    private void AutoRefineIfDue()
    {
        var options = ClusterOptions;
        if (_clusters is null || options.AutoRefineMinAdded == 0 || _pendingById.Count > 0) return;
        if (_addedSinceRefine < options.AutoRefineMinAdded || _addedSinceRefine < options.AutoRefineMinFraction * _clusters.ItemCount) return;
        Refine(_clusters);
        _clustersDirty = true;
    }

    private void RecordMove(ClusterMove move, ClusterMoveCause cause)
    {
        string? toName = null;
        try
        {
            toName = _clusters?.GetCluster(move.ToClusterId, 0).Name;
        }
        catch (KeyNotFoundException)
        {
            // merged away by the same step
        }

        _clusterMoves.Add(new ClusterMoveRecord(move.ItemId, move.FromClusterId, move.FromName, move.ToClusterId, toName, cause, _clusters?.ModelVersion ?? "",
            float.IsFinite(move.FromSimilarity) ? move.FromSimilarity : null, float.IsFinite(move.ToSimilarity) ? move.ToSimilarity : 0, time.GetUtcNow()));
        _clusterMovesTotal++;
        if (_clusterMoves.Count > ClusterOptions.MovesKept) _clusterMoves.RemoveRange(0, _clusterMoves.Count - ClusterOptions.MovesKept);
        LogClusterMove(_key.ToString(), move.ItemId, move.FromClusterId, move.ToClusterId, cause);
    }

    /// <summary>Marks the clusters changed and makes sure the background loop will write them.</summary>
    private void ScheduleClusterSave()
    {
        _clustersDirty = true;
        if (_clusterLoop is { IsCompleted: false } || _deactivating.IsCancellationRequested) return;
        _clusterLoop = ClusterLoopAsync();
    }

    /// <summary>
    /// Background loop on the grain's scheduler: waits <see cref="ClusteringOptions.SaveDelay"/> (so one write covers many
    /// batches), loads and aligns the clusters if needed, refines when due, and writes them; retries with backoff. At
    /// deactivation the wait ends at once and the last changes are written.
    /// </summary>
    private async Task ClusterLoopAsync()
    {
        var delay = ClusterOptions.SaveDelay;
        while (_clustersDirty)
        {
            var stopping = !await DelayOrStopAsync(delay);
            if (stopping && !_clustersLoaded) return;
            try
            {
                await EnsureClustersAsync();
                if (!stopping) AutoRefineIfDue();
                await SaveClustersAsync();
                delay = ClusterOptions.SaveDelay;
            }
            catch (InvalidDataException ex)
            {
                // A damaged document is not overwritten: the names in it are the user's. Cluster calls report it.
                LogClustersDamaged(ex, _key.ToString());
                _clustersDirty = false;
                return;
            }
            catch (IndexerException ex) when (ex.Code == IndexerErrorCode.Conflict)
            {
                return; // another activation owns the clusters (SaveClustersAsync said so); this one is leaving
            }
            catch (Exception ex) when (ex is not ObjectDisposedException)
            {
                LogClusterSaveRetry(ex, _key.ToString(), delay);
                _clustersDirty = true;
                delay = TimeSpan.FromTicks(Math.Clamp(delay.Ticks * 2, TimeSpan.FromMilliseconds(250).Ticks, MaxRetryDelay.Ticks));
            }

            if (stopping) return;
        }
    }

    /// <summary>
    /// Writes the clusters if they changed, over the version this activation last read or wrote. A write refused because
    /// the document changed meanwhile means another activation owns the gallery: this one stops, as for its manifest.
    /// </summary>
    private async Task SaveClustersAsync()
    {
        await _clusterSaveLock.WaitAsync();
        try
        {
            if (!_clustersDirty) return;
            _clustersDirty = false;
            if (_clusters is null) return;
            PruneSuggestions(_clusters);
            var document = new ClusterDocument(ClusterDocument.CurrentFormat, _clusters.ToSnapshot(), _clusterRollback, [.. _clusterJournal],
                [.. _clusterMoves], _clusterMovesTotal, _addedSinceRefine, [.. _clusterSuggestions.Values]);
            string? etag;
            try
            {
                etag = await clusterStore.TryWriteAsync(_key.ToString(), document, _clusterETag, CancellationToken.None);
            }
            catch
            {
                _clustersDirty = true;
                throw;
            }

            if (etag is null)
            {
                LogClustersLost(_key.ToString());
                _deactivating.Cancel();
                DeactivateOnIdle();
                throw new IndexerException(IndexerErrorCode.Conflict, $"gallery {_key}: its clusters were written by another activation; retry");
            }

            _clusterETag = etag;
        }
        finally
        {
            _clusterSaveLock.Release();
        }
    }

    private void RequireClusteredItem(GalleryClusters clusters, string itemId)
    {
        if (itemId is null || clusters.Contains(itemId)) return;
        throw !_index.Contains(itemId) ? NoItem(itemId)
            : new IndexerException(IndexerErrorCode.NotFound, $"item '{itemId}' has no vector in {clusters.ModelVersion} yet, so it is in no cluster");
    }

    private IndexerException NoItem(string itemId) => new(IndexerErrorCode.NotFound,
        _pendingById.ContainsKey(itemId ?? "") ? $"item '{itemId}' is not indexed yet" : $"gallery {_key} has no item '{itemId}'");

    private IndexerException NoCluster(long clusterId) => new(IndexerErrorCode.NotFound, $"gallery {_key} has no cluster {clusterId}");

    private IndexerException NoSuggestion(string itemId) => new(IndexerErrorCode.NotFound, $"gallery {_key} has no open cluster suggestion for item '{itemId}'");

    /// <summary>Runs a clustering call, turning its errors into the caller's: unknown item or cluster, NotFound; bad input, InvalidArgument.</summary>
    private static T ClusterCall<T>(Func<T> call)
    {
        try
        {
            return call();
        }
        catch (KeyNotFoundException ex)
        {
            throw new IndexerException(IndexerErrorCode.NotFound, ex.Message);
        }
        catch (ArgumentException ex)
        {
            var message = ex.ParamName is null ? ex.Message : ex.Message.Replace($" (Parameter '{ex.ParamName}')", "", StringComparison.Ordinal);
            throw new IndexerException(IndexerErrorCode.InvalidArgument, message);
        }
    }

    private static ClusterInfo ToInfo(ClusterSummary summary) => new(summary.Id, summary.Name, summary.Size, summary.PinnedCount, summary.Representatives);

    [LoggerMessage(Level = LogLevel.Information, Message = "Gallery {Gallery}: clusters loaded in {Version}: {Items} items in {Clusters} clusters (pre-upgrade copy kept: {RollbackHeld})")]
    private partial void LogClustersLoaded(string gallery, string version, int items, int clusters, bool rollbackHeld);

    [LoggerMessage(Level = LogLevel.Information, Message = "Gallery {Gallery}: clusters rebased from {From} to {To}: {WithVector} items with a vector, {WithoutVector} without")]
    private partial void LogClustersRebased(string gallery, string from, string to, int withVector, int withoutVector);

    [LoggerMessage(Level = LogLevel.Information, Message = "Gallery {Gallery}: clusters of {From} dropped, the ones kept for {To} restored; {Replayed} of {Actions} user actions since replayed")]
    private partial void LogClustersRestored(string gallery, string from, string to, int replayed, int actions);

    [LoggerMessage(Level = LogLevel.Information, Message = "Gallery {Gallery}: clusters refined in {Iterations} passes, {Reassignments} reassignments, {Clusters} clusters, {NamedMoves} moves out of named clusters")]
    private partial void LogClustersRefined(string gallery, int iterations, int reassignments, int clusters, int namedMoves);

    [LoggerMessage(Level = LogLevel.Information, Message = "Gallery {Gallery}: item {ItemId} moved from cluster {From} to {To} ({Cause})")]
    private partial void LogClusterMove(string gallery, string itemId, long from, long to, ClusterMoveCause cause);

    [LoggerMessage(Level = LogLevel.Information, Message = "Gallery {Gallery}: item {ItemId} of named cluster {From} looks like cluster {To}; suggested, not moved ({Cause})")]
    private partial void LogClusterSuggestion(string gallery, string itemId, long from, long to, ClusterMoveCause cause);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Gallery {Gallery}: the clusters failed; they are reloaded from storage and the items")]
    private partial void LogClustersFailed(Exception ex, string gallery);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Gallery {Gallery}: writing the clusters failed; retrying in {Delay}")]
    private partial void LogClusterSaveRetry(Exception ex, string gallery, TimeSpan delay);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Gallery {Gallery}: writing the clusters failed, so the user's {Action} was undone")]
    private partial void LogClusterActionUndone(Exception ex, string gallery, ClusterUserActionKind action);

    [LoggerMessage(Level = LogLevel.Error, Message = "Gallery {Gallery}: the stored clusters are damaged; they are left as they are and cluster calls fail until an operator looks")]
    private partial void LogClustersDamaged(Exception ex, string gallery);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Gallery {Gallery}: the clusters were written by another activation; this one stops and deactivates")]
    private partial void LogClustersLost(string gallery);
}

/// <summary>
/// The stored form of a gallery's clusters (<see cref="BlobClusterStore"/>, JSON): membership, names and pins, no vectors
/// (they come back from the gallery's segments), plus what an upgrade needs to be rolled back and reported.
/// </summary>
/// <param name="Format">Layout version of this document.</param>
/// <param name="Current">The clusters in the query version.</param>
/// <param name="Rollback">The clusters as they were before the current upgrade, in its old version; null when no upgrade can be rolled back.</param>
/// <param name="Journal">User actions since <paramref name="Rollback"/> was taken, replayed over it by a rollback.</param>
/// <param name="Moves">The latest moves the clustering made on its own, oldest first.</param>
/// <param name="MovesTotal">Every such move since the gallery was created.</param>
/// <param name="AddedSinceRefine">Items added since the last refinement (for the automatic one).</param>
/// <param name="Suggestions">Open suggestions (moves out of named clusters left to the user); null in documents written before they existed.</param>
internal sealed record ClusterDocument(
    int Format,
    ClusteringSnapshot Current,
    ClusteringSnapshot? Rollback,
    IReadOnlyList<ClusterUserAction> Journal,
    IReadOnlyList<ClusterMoveRecord> Moves,
    long MovesTotal,
    int AddedSinceRefine,
    IReadOnlyList<ClusterMoveRecord>? Suggestions = null)
{
    /// <summary>The layout this code writes and reads.</summary>
    public const int CurrentFormat = 1;
}

/// <summary>A user action on clusters, as a rollback replays it.</summary>
internal enum ClusterUserActionKind
{
    Name = 0,
    Merge = 1,
    Move = 2,
    MoveOut = 3,
}

/// <summary>One user action: which fields it uses depends on <paramref name="Kind"/>.</summary>
/// <param name="Kind">What the user did.</param>
/// <param name="ItemId">The item moved (Move, MoveOut).</param>
/// <param name="ClusterId">The cluster named, merged into, or moved to.</param>
/// <param name="OtherClusterId">The cluster merged away (Merge).</param>
/// <param name="Name">The name given (Name).</param>
internal sealed record ClusterUserAction(ClusterUserActionKind Kind, string? ItemId = null, long ClusterId = 0, long OtherClusterId = 0, string? Name = null);
