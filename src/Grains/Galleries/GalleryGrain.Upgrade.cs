using Indexer.Embedding;
using Indexer.Galleries;
using Indexer.Grains.Diagnostics;
using Indexer.Models;
using Indexer.Search;
using Indexer.Search.Maps;
using Indexer.Storage;
using Microsoft.Extensions.Logging;

namespace Indexer.Grains.Galleries;

/// <summary>The gallery's part in model upgrades: routes for mixed-version search, the backfill, the commit.</summary>
public sealed partial class GalleryGrain
{
    /// <summary>Items per backfill worker call: the embedding pipeline's micro-batch.</summary>
    internal const int BackfillBatch = 16;

    /// <summary>How long a gallery trusts its copy of the serving plan before asking the registry again.</summary>
    private static readonly TimeSpan PlanLifetime = TimeSpan.FromSeconds(2);

    private ServingPlan? _plan;
    private long _planFetchedAt;
    private long _routedEpoch = -1;
    private BackfillQueue? _backfillQueue;
    private int _backfillCredit;
    private int _backfillInFlight;
    private Task? _backfillLoop;
    private Task? _routing;

    private async Task<ServingPlan> GetPlanAsync(bool refresh = false)
    {
        if (_plan is null || refresh || time.GetElapsedTime(_planFetchedAt) > PlanLifetime)
        {
            _plan = await GrainFactory.GetGrain<IModelRegistryGrain>(IModelRegistryGrain.Key).GetServingPlanAsync();
            _planFetchedAt = time.GetTimestamp();
        }

        return _plan;
    }

    /// <summary>
    /// Makes the index serve <paramref name="queryVersion"/> with the plan's routes: loads the fitted maps and carries
    /// old-only items into the query's space. Queries of another version than the plan's are served over their own
    /// version only (a client that embedded before a switch still gets answers).
    /// </summary>
    private Task EnsureRoutesAsync(string queryVersion)
    {
        // One routing at a time: searches by image interleave with other calls and may ask while another is routing.
        if (_routing is { IsCompleted: false } running) return AfterAsync(running, queryVersion);
        return _routing = RouteAsync(queryVersion);

        async Task AfterAsync(Task earlier, string version)
        {
            try
            {
                await earlier;
            }
            catch (Exception)
            {
                // the earlier caller gets its own error; route again for this one
            }

            await EnsureRoutesAsync(version);
        }
    }

    private async Task RouteAsync(string queryVersion)
    {
        var plan = await GetPlanAsync(refresh: _index.RoutedVersion != queryVersion && _plan?.QueryVersion != queryVersion);
        if (plan.QueryVersion != queryVersion || (_index.RoutedVersion == queryVersion && _routedEpoch == plan.Epoch)) return;
        var routes = new List<IndexRoute>();
        foreach (var route in plan.Routes.Where(r => r.To == queryVersion))
        {
            var sample = _index.CountsByVersion().ContainsKey(route.From) ? _index.Sample(route.From, 1, 0) : [];
            if (sample.Count == 0) continue;
            var dimension = sample[0].Vector.Length;
            try
            {
                switch (route.Kind)
                {
                    case RouteKind.Compatible:
                        routes.Add(new IndexRoute(route.From, route.Kind, EmbeddingMap.Identity(dimension)));
                        break;
                    case RouteKind.Mapped:
                        var map = await maps.GetAsync(route.From, route.To, CancellationToken.None)
                            ?? throw new InvalidOperationException($"the serving plan maps {route.From} to {route.To}, but no map is stored");
                        routes.Add(new IndexRoute(route.From, route.Kind, map));
                        break;
                    case RouteKind.OwnSpace:
                        var scores = await models.GetScoreCalibrationAsync(route.From, route.To, CancellationToken.None)
                            ?? throw new InvalidOperationException($"the serving plan serves {route.From} in its own space, but no score calibration into {route.To} is stored");
                        // The map too, when the upgrade has one: clusters need the old items in the new space.
                        var carry = await maps.GetAsync(route.From, route.To, CancellationToken.None);
                        routes.Add(new IndexRoute(route.From, route.Kind, EmbeddingMap.Identity(dimension), ScoreCalibrationCodec.Decode(scores), carry));
                        break;
                }
            }
            catch (Exception ex) when (ex is InvalidDataException or InvalidOperationException or ArgumentException)
            {
                // A damaged or missing map must not take the gallery's search down: its items are reported excluded
                // (every search says how many) until a new calibration stores a good one; the error says which blob.
                LogRouteUnusable(ex, _key.ToString(), route.From, route.To, route.Kind);
                telemetry.RoutesUnusable.Add(1, new KeyValuePair<string, object?>("route", GalleryIndex.RouteName(route.Kind)));
            }
        }

        _index.SetRoutes(queryVersion, routes);
        _index.SetGuard(plan.GuardVersion, await GuardAsync(plan.GuardVersion, queryVersion));
        _routedEpoch = plan.Epoch;
        OnRoutesChanged(plan);
        LogRouted(_key.ToString(), queryVersion, string.Join(", ", _index.RouteCounts().Select(c => $"{GalleryIndex.RouteName(c.Key)} {c.Value}")));
    }

    /// <summary>
    /// The regression guard of searches in <paramref name="queryVersion"/> by the scores of <paramref name="version"/>,
    /// with the upgrade's score calibration; null when there is no guard version, the guard is configured off, or no
    /// calibration is stored (the two scales cannot be averaged without one).
    /// </summary>
    private async Task<RegressionGuard?> GuardAsync(string? version, string queryVersion)
    {
        if (version is null || options.Value.RegressionGuardDepth == 0) return null;
        try
        {
            return await models.GetScoreCalibrationAsync(version, queryVersion, CancellationToken.None) is { } bytes
                ? new RegressionGuard(ScoreCalibrationCodec.Decode(bytes), options.Value.RegressionGuardDepth)
                : null;
        }
        catch (Exception ex) when (ex is InvalidDataException or ArgumentException)
        {
            LogGuardUnusable(ex, _key.ToString(), version, queryVersion);
            return null;
        }
    }

    /// <summary>Counts a search's results towards promoting items the backfill has still to re-embed (<see cref="BackfillQueue"/>).</summary>
    private void NoteSearched(SearchResult result)
    {
        if (_backfillQueue is not { Count: > 0 } queue) return;
        var promoted = queue.NoteSearched(result.Matches.Select(m => m.ItemId));
        if (promoted > 0) telemetry.ItemsPromoted.Add(promoted);
    }

    private void CountRoutes(SearchResult result)
    {
        foreach (var (route, items) in result.Routes ?? new Dictionary<string, int>())
        {
            telemetry.SearchItemsScanned.Add(items, new KeyValuePair<string, object?>("route", route));
        }

        if (result.Excluded > 0) telemetry.SearchItemsScanned.Add(result.Excluded, new KeyValuePair<string, object?>("route", "excluded"));
        if (result.GuardedBy is not null) telemetry.SearchesGuarded.Add(1);
    }

    public async Task<GalleryBackfillProgress> BackfillAsync(BackfillOrder order)
    {
        RequireExists();
        ArgumentNullException.ThrowIfNull(order);
        if (order.Credit < 0) throw new IndexerException(IndexerErrorCode.InvalidArgument, "backfill credit must not be negative");
        await PrepareClustersForBackfillAsync(order.To);
        if (Manifest.Backfill?.RolloutId != order.RolloutId)
        {
            await StartBackfillAsync(order);
        }
        else if (_backfillQueue is null)
        {
            var left = await SelectAsync(order, Manifest.Backfill.FailedIds.ToHashSet(StringComparer.Ordinal), Manifest.Backfill.Selected - Manifest.Backfill.Done - Manifest.Backfill.FailedIds.Count);
            _backfillQueue = new BackfillQueue(left, order.PromoteAfterHits);
        }

        if (order.RetryRound > Manifest.Backfill!.RetryRound) await RetryUnreadableAsync(order.RetryRound);
        _backfillCredit += order.Credit;
        if (_backfillLoop is not { IsCompleted: false } && _backfillCredit > 0 && _backfillQueue!.Count > 0 && !_deactivating.IsCancellationRequested)
        {
            _backfillLoop = BackfillLoopAsync(order.To);
        }

        return Progress();
    }

    /// <summary>Puts the items given up as unreadable back in the queue: the operator asked to try them again.</summary>
    private async Task RetryUnreadableAsync(int round)
    {
        var backfill = Manifest.Backfill!;
        var ids = backfill.Unreadable.Keys.Order(StringComparer.Ordinal).ToList();
        await _writeLock.WaitAsync();
        try
        {
            backfill.FailedIds.RemoveAll(backfill.Unreadable.ContainsKey);
            backfill.Unreadable.Clear();
            backfill.RetryRound = round;
            await WriteOrReloadAsync();
        }
        finally
        {
            _writeLock.Release();
        }

        _backfillQueue!.PutBack(ids.Select(id => (id, false)));
    }

    public Task WithdrawBackfillCreditAsync(string rolloutId)
    {
        if (Manifest.Backfill?.RolloutId == rolloutId) _backfillCredit = 0;
        return Task.CompletedTask;
    }

    private GalleryBackfillProgress Progress()
    {
        var b = Manifest.Backfill!;
        return new GalleryBackfillProgress(b.Scored, b.Selected, b.Done, b.FailedIds.Count, (_backfillQueue?.Count ?? 0) + _backfillInFlight, b.Promoted, b.Unreadable.Count);
    }

    private async Task StartBackfillAsync(BackfillOrder order)
    {
        var (queue, scored) = await ScoreAsync(order, [], int.MaxValue);
        _backfillQueue = new BackfillQueue(queue, order.PromoteAfterHits);
        _backfillCredit = 0;
        await _writeLock.WaitAsync();
        try
        {
            Manifest.Backfill = new BackfillState { RolloutId = order.RolloutId, From = order.From, To = order.To, Scored = scored, Selected = queue.Count };
            await WriteOrReloadAsync();
        }
        finally
        {
            _writeLock.Release();
        }

        LogBackfillPlanned(_key.ToString(), order.From, order.To, scored, queue.Count);
    }

    private async Task<List<string>> SelectAsync(BackfillOrder order, HashSet<string> failed, int remaining) =>
        (await ScoreAsync(order, failed, Math.Max(0, remaining))).Queue;

    /// <summary>
    /// Predicts the compatibility of every item held in the old version only, from its old vector, and returns the ones
    /// the policy selects, least compatible first (ties by id, so a recomputation after a restart gives the same queue),
    /// at most <paramref name="limit"/> of them and at most the policy's fraction of the gallery.
    /// </summary>
    private async Task<(List<string> Queue, int Scored)> ScoreAsync(BackfillOrder order, HashSet<string> skip, int limit)
    {
        var (ids, _, vectors, dimension) = _index.Unconverted(order.From, order.To);
        if (ids.Length == 0 || order.Policy == BackfillPolicy.None) return ([], ids.Length);
        // Items served as stored are ranked by how well their stored vector agrees with the new one; otherwise by their mapped vector.
        var bytes = (order.Route == RouteKind.Compatible ? await models.GetDirectPredictorAsync(order.From, order.To, CancellationToken.None) : null)
            ?? await models.GetPredictorAsync(order.From, order.To, CancellationToken.None)
            ?? throw new IndexerException(IndexerErrorCode.Conflict, $"no compatibility predictor is stored for {order.From} -> {order.To}; calibrate first");
        var predictor = CompatibilityPredictorCodec.Decode(bytes);
        var scores = await Task.Run(() =>
        {
            var result = new double[ids.Length];
            for (var i = 0; i < ids.Length; i++) result[i] = predictor.Predict(vectors.AsSpan(i * dimension, dimension));
            return result;
        });

        var cap = order.MaxFraction is { } fraction ? (int)Math.Floor(fraction * _index.Count) : int.MaxValue;
        var selected = Enumerable.Range(0, ids.Length)
            .Where(i => !skip.Contains(ids[i]) && (order.Policy == BackfillPolicy.Full || scores[i] < order.Threshold))
            .OrderBy(i => scores[i]).ThenBy(i => ids[i], StringComparer.Ordinal)
            .Take(Math.Min(cap, limit))
            .Select(i => ids[i]);
        return ([.. selected], ids.Length);
    }

    /// <summary>
    /// Re-embeds queued items with the new version while credit lasts, one batch at a time, yielding to uploads (a batch
    /// waits while the gallery has pending items). Each batch is one segment plus one manifest write that also moves the
    /// backfill counters, so a crash at any point leaves counts that match the stored vectors.
    /// </summary>
    private async Task BackfillLoopAsync(string to)
    {
        var worker = GrainFactory.GetGrain<IEmbeddingWorkerGrain>(0);
        var delay = TimeSpan.FromMilliseconds(250);
        // As for ingest, BatchesInFlight worker calls at once, so that inference never waits for a segment write.
        var inFlight = new Queue<(List<(string Id, string Hash, bool Promoted)> Batch, Task<IReadOnlyList<EmbedOutcome>> Work)>();
        while (!_deactivating.IsCancellationRequested)
        {
            DelayDeactivation(TimeSpan.FromMinutes(2));
            var queue = _backfillQueue!;
            while (inFlight.Count < BatchesInFlight && _pendingById.Count == 0 && _backfillCredit - _backfillInFlight > 0)
            {
                var batch = new List<(string Id, string Hash, bool Promoted)>();
                while (batch.Count < Math.Min(BackfillBatch, _backfillCredit - _backfillInFlight) && queue.TryDequeue(out var id, out var promoted))
                {
                    if (_index.TryGet(id, out var item) && !_index.HasVersion(id, to)) batch.Add((id, item.ContentHash, promoted));
                }

                if (batch.Count == 0) break;
                _backfillInFlight += batch.Count; // counted as queued until written, so nobody takes the gallery for finished early
                inFlight.Enqueue((batch, worker.EmbedStoredAsync(to, batch.Select(b => b.Hash).ToList())));
            }

            if (inFlight.Count == 0)
            {
                // Uploads go first: wait while the gallery has pending items, stop when the credit or the queue is spent.
                if (_pendingById.Count == 0 || queue.Count == 0 || _backfillCredit <= 0) break;
                if (!await DelayOrStopAsync(TimeSpan.FromMilliseconds(100))) return;
                continue;
            }

            var (done, work) = inFlight.Peek();
            try
            {
                var outcomes = await work;
                inFlight.Dequeue();
                var retry = await WriteBackfilledAsync(done, outcomes, to);
                _backfillCredit = Math.Max(0, _backfillCredit - done.Count); // 0 already if the credit was withdrawn meanwhile
                _backfillInFlight -= done.Count;
                queue.PutBack(retry); // read again in the next batch, beside items that do read
                delay = TimeSpan.FromMilliseconds(250);
                await MergeSegmentsAsync();
            }
            catch (Exception ex) when (ex is not ObjectDisposedException)
            {
                // Nothing still in flight was written (or its write was rolled back): back to the front of the queue.
                var unwritten = inFlight.SelectMany(f => f.Batch).Select(b => (b.Id, b.Promoted)).ToList();
                foreach (var (_, pending) in inFlight)
                {
                    try
                    {
                        await pending;
                    }
                    catch (Exception)
                    {
                        // already failing; these items are queued again below
                    }
                }

                inFlight.Clear();
                _backfillInFlight = 0;
                queue.PutBack(unwritten);
                LogBackfillRetry(ex, _key.ToString(), unwritten.Count, delay);
                if (!await DelayOrStopAsync(delay)) return;
                delay = TimeSpan.FromTicks(Math.Min(MaxRetryDelay.Ticks, delay.Ticks * 2));
            }
        }
    }

    /// <summary>
    /// One segment of re-embedded vectors plus the manifest write that moves the backfill's counters with it. Returns the
    /// items to try again: those whose image could not be read while storage answered, until <see cref="ReadStrikes"/>
    /// gives one up; it is then failed and listed as unreadable, for a resume to try again.
    /// </summary>
    private async Task<List<(string Id, bool Promoted)>> WriteBackfilledAsync(List<(string Id, string Hash, bool Promoted)> batch, IReadOnlyList<EmbedOutcome> outcomes, string to)
    {
        var records = new List<SegmentRecord>();
        var failed = new List<string>();
        var unreadable = new Dictionary<string, string>(StringComparer.Ordinal);
        var retry = new List<(string Id, bool Promoted)>();
        var promoted = 0;
        for (var i = 0; i < batch.Count; i++)
        {
            // Deleted while it was being embedded: nothing to write.
            if (!_index.TryGet(batch[i].Id, out var item)) continue;
            if (outcomes[i].Vector is { } vector)
            {
                _readStrikes.Forget(item.ItemId);
                records.Add(new SegmentRecord(item.ItemId, item.ContentHash, to, item.AddedAt.ToUnixTimeMilliseconds(), item.Metadata, vector));
                if (batch[i].Promoted) promoted++;
            }
            else if (outcomes[i].Retryable && !_readStrikes.Strike(item.ItemId))
            {
                retry.Add((item.ItemId, batch[i].Promoted));
            }
            else
            {
                failed.Add(item.ItemId);
                if (outcomes[i].Retryable) unreadable[item.ItemId] = outcomes[i].Error ?? "image could not be read";
            }
        }

        if (records.Count == 0 && failed.Count == 0) return retry;

        void Count()
        {
            Manifest.Backfill!.Done += records.Count;
            Manifest.Backfill.Promoted += promoted;
            Manifest.Backfill.FailedIds.AddRange(failed);
            foreach (var (id, error) in unreadable) Manifest.Backfill.Unreadable[id] = error;
        }

        await PersistRecordsAsync(records, Count);

        telemetry.ItemsBackfilled.Add(records.Count);
        foreach (var (id, error) in unreadable) LogBackfillItemUnreadable(_key.ToString(), id, _readStrikes.Limit, error);
        return retry;
    }

    private async Task<bool> DelayOrStopAsync(TimeSpan delay)
    {
        try
        {
            await Task.Delay(delay, time, _deactivating.Token);
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    public async Task<int> CommitUpgradeAsync(string from, string to)
    {
        RequireExists();
        // Every other vector of an item that holds the new one goes: the old version's, and any left by an earlier
        // rollout that was rolled back. Items held only in old versions keep them; their route serves them.
        var items = _index.HeldWithOthers(to);
        var now = time.GetUtcNow().ToUnixTimeMilliseconds();
        var records = items.SelectMany(i => i.ModelVersions!.Where(v => v != to).Select(v => new SegmentRecord(i.ItemId, i.ContentHash, v, now, i.Metadata, null))).ToList();
        if (records.Count > 0)
        {
            await AppendSegmentAsync(records, () =>
            {
                foreach (var record in records) _index.Apply(record);
            });
            await MergeSegmentsAsync();
        }

        LogCommitted(_key.ToString(), from, to, records.Count);
        return records.Count;
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Gallery {Gallery} serves {Version} queries: {Routes}")]
    private partial void LogRouted(string gallery, string version, string routes);

    [LoggerMessage(Level = LogLevel.Information, Message = "Gallery {Gallery}: backfill {From} -> {To} scored {Scored} items, selected {Selected}")]
    private partial void LogBackfillPlanned(string gallery, string from, string to, int scored, int selected);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Gallery {Gallery}: backfill gave up item {ItemId} after {Tries} failed reads while storage answered (a resume of the rollout tries it again): {Error}")]
    private partial void LogBackfillItemUnreadable(string gallery, string itemId, int tries, string error);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Gallery {Gallery}: re-embedding a backfill batch of {Count} failed; retrying in {Delay}")]
    private partial void LogBackfillRetry(Exception ex, string gallery, int count, TimeSpan delay);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Gallery {Gallery}: the score calibration from {From} to {To} cannot be read, so searches are not guarded against negative flips")]
    private partial void LogGuardUnusable(Exception ex, string gallery, string from, string to);

    [LoggerMessage(Level = LogLevel.Error, Message = "Gallery {Gallery}: the {Kind} route from {From} to {To} cannot be used, its items are excluded from search until it is stored again")]
    private partial void LogRouteUnusable(Exception ex, string gallery, string from, string to, RouteKind kind);

    [LoggerMessage(Level = LogLevel.Information, Message = "Gallery {Gallery}: committed {From} -> {To}, dropped {Count} superseded vectors")]
    private partial void LogCommitted(string gallery, string from, string to, int count);
}
