using System.Diagnostics;
using Indexer.Embedding;
using Indexer.Galleries;
using Indexer.Grains.Diagnostics;
using Indexer.Models;
using Indexer.Storage;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Storage;

namespace Indexer.Grains.Galleries;

/// <summary>
/// One user's gallery. Accepted uploads are recorded in the manifest first, then embedded in the background by the
/// embedding workers and appended as a new segment; deletes append tombstones; small segments are merged in tiers.
/// All writes (segment blobs and the manifest) go through <see cref="_writeLock"/>, because the background ingest loop
/// interleaves with requests at every await.
/// </summary>
public sealed partial class GalleryGrain(
    [PersistentState("gallery", IndexerStorageNames.GrainStateProvider)] IPersistentState<GalleryManifest> state,
    BlobSegmentStore segments,
    BlobModelStore models,
    Models.MapCache maps,
    BlobClusterStore clusterStore,
    IOptions<GalleryOptions> options,
    IOptions<ClusteringOptions> clusteringOptions,
    IndexerTelemetry telemetry,
    TimeProvider time,
    ILogger<GalleryGrain> logger) : Grain, IGalleryGrain, IRemindable
{
    /// <summary>
    /// Registered while items are pending, so that a gallery whose silo died with work in its manifest is reactivated
    /// and finishes that work even if no client calls it again.
    /// </summary>
    public const string ResumeReminder = "resume-ingest";

    /// <summary>Failures kept for <see cref="GalleryStats.RecentFailures"/>; older ones are only counted.</summary>
    public const int RecentFailureLimit = 50;

    /// <summary>Items one AddImagesAsync call may carry: large enough for efficient uploads, small enough for one message.</summary>
    public const int MaxBatchSize = 1024;

    /// <summary>Metadata entries per item, and the longest key and value: item metadata is for labels and captions, not payloads.</summary>
    public const int MaxMetadataEntries = 32, MaxMetadataKeyLength = 64, MaxMetadataValueLength = 1024;

    /// <summary>Worker calls a gallery keeps going at once: two, so one batch is embedded while the previous one is written.</summary>
    public const int BatchesInFlight = 2;

    private static readonly TimeSpan MaxRetryDelay = TimeSpan.FromSeconds(30);

    /// <summary>Taken sequence numbers skipped before giving up: each one is a blob left by a crashed or stale writer.</summary>
    private const int MaxSequenceProbes = 100;

    private readonly GalleryOptions _options = options.Value;
    private readonly GalleryIndex _index = new();
    private readonly Dictionary<string, PendingItem> _pendingById = new(StringComparer.Ordinal);
    private readonly ReadStrikes _readStrikes = new();
    private readonly SemaphoreSlim _writeLock = new(1, 1);
    private GalleryKey _key;
    private readonly CancellationTokenSource _deactivating = new();
    private Task? _ingestLoop;
    private IGrainReminder? _resumeReminder;

    private GalleryManifest Manifest => state.State;

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        _key = GalleryKey.Parse(this.GetPrimaryKeyString());
        foreach (var entry in Manifest.Segments)
        {
            foreach (var record in await segments.ReadAsync(entry.Name, cancellationToken))
            {
                _index.Apply(record);
            }
        }

        SyncPending();
        _resumeReminder = await this.GetReminder(ResumeReminder);
        if (Manifest.Segments.Count > 0 || Manifest.Pending.Count > 0)
        {
            LogActivated(_key.ToString(), _index.Count, Manifest.Segments.Count, Manifest.Pending.Count);
        }

        EnsureIngesting();
    }

    /// <summary>Stops the ingest loop after the batch it is completing, so no write outlives the activation.</summary>
    public override async Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        _deactivating.Cancel();
        foreach (var loop in new[] { _ingestLoop, _backfillLoop, _clusterLoop }.OfType<Task>())
        {
            try
            {
                await loop.WaitAsync(cancellationToken);
            }
            catch (Exception ex)
            {
                LogStopWait(ex, _key.ToString());
            }
        }

        telemetry.PendingItems.Add(-_pendingById.Count);
    }

    public async Task<GalleryStats> CreateAsync()
    {
        if (Manifest.CreatedAt is null)
        {
            await RegisterInDirectoryAsync();
            Manifest.CreatedAt = time.GetUtcNow();
            await PersistAsync();
        }

        return Stats();
    }

    /// <summary>
    /// Lists the gallery in the directory before its creation is persisted: a gallery that exists is always listed
    /// (operations across galleries rely on it); a listed key whose creation then failed is harmless.
    /// </summary>
    private Task RegisterInDirectoryAsync()
    {
        var key = _key.ToString();
        return GrainFactory.GetGrain<IGalleryDirectoryGrain>(IGalleryDirectoryGrain.ShardOf(key)).RegisterAsync(key);
    }

    public async Task<AddImagesResult> AddImagesAsync(IReadOnlyList<ImageToAdd> images)
    {
        ArgumentNullException.ThrowIfNull(images);
        if (images.Count > MaxBatchSize)
        {
            throw new IndexerException(IndexerErrorCode.InvalidArgument, $"a batch holds at most {MaxBatchSize} images; this one has {images.Count}");
        }

        var accepted = new List<PendingItem>();
        var acceptedIds = new List<string>();
        var alreadyPresent = new List<string>();
        var rejected = new List<ItemError>();
        var now = time.GetUtcNow().ToUnixTimeMilliseconds();
        var inBatch = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var image in images)
        {
            if (Validate(image) is { } problem)
            {
                rejected.Add(new ItemError(image?.ItemId ?? "", problem));
                continue;
            }

            var existingHash = _index.TryGet(image.ItemId, out var item) ? item.ContentHash
                : _pendingById.TryGetValue(image.ItemId, out var pending) ? pending.ContentHash
                : inBatch.GetValueOrDefault(image.ItemId);
            if (existingHash is null)
            {
                inBatch[image.ItemId] = image.ContentHash;
                accepted.Add(new PendingItem(image.ItemId, image.ContentHash, image.Metadata, now));
                acceptedIds.Add(image.ItemId);
            }
            else if (existingHash == image.ContentHash)
            {
                alreadyPresent.Add(image.ItemId);
            }
            else
            {
                rejected.Add(new ItemError(image.ItemId, "the gallery already holds a different image under this item id; delete it first to replace it"));
            }
        }

        if (_pendingById.Count + accepted.Count > _options.MaxPending)
        {
            throw new IndexerException(IndexerErrorCode.Busy,
                $"gallery {_key} has {_pendingById.Count} images waiting to be indexed (limit {_options.MaxPending}); retry when fewer are pending");
        }

        if (accepted.Count > 0 || Manifest.CreatedAt is null)
        {
            // The reminder first: a crash after the manifest write must not leave pending work that nothing resumes.
            if (accepted.Count > 0) await EnsureResumeReminderAsync();
            if (Manifest.CreatedAt is null) await RegisterInDirectoryAsync();
            Manifest.CreatedAt ??= time.GetUtcNow();
            Manifest.Pending.AddRange(accepted);
            await PersistAsync();
            telemetry.ItemsAccepted.Add(accepted.Count);
            EnsureIngesting();
        }

        return new AddImagesResult(acceptedIds, alreadyPresent, rejected);
    }

    public async Task<SearchResult> SearchAsync(QueryEmbedding query, int k)
    {
        RequireExists();
        ArgumentNullException.ThrowIfNull(query);
        RequireK(k);
        if (query.Vector is null || query.Vector.Length == 0 || !Search.VectorMath.IsFinite(query.Vector))
        {
            throw new IndexerException(IndexerErrorCode.InvalidArgument, "the query vector is empty or not finite");
        }

        await EnsureRoutesAsync(query.ModelVersion);
        return TimedSearch(query, k, excludeId: null);
    }

    public async Task<IReadOnlyList<SearchResult>> SearchManyAsync(IReadOnlyList<QueryEmbedding> queries, int k)
    {
        RequireExists();
        ArgumentNullException.ThrowIfNull(queries);
        RequireK(k);
        if (queries.Count > MaxBatchSize)
        {
            throw new IndexerException(IndexerErrorCode.InvalidArgument, $"at most {MaxBatchSize} queries per call; got {queries.Count}");
        }

        if (queries.Any(q => q?.Vector is null || q.Vector.Length == 0 || !Search.VectorMath.IsFinite(q.Vector)))
        {
            throw new IndexerException(IndexerErrorCode.InvalidArgument, "every query needs a finite, non-empty vector");
        }

        foreach (var version in queries.Select(q => q.ModelVersion).Distinct()) await EnsureRoutesAsync(version);
        using var activity = IndexerTelemetry.Source.StartActivity("gallery search many");
        var started = Stopwatch.GetTimestamp();
        var results = _index.SearchMany(queries, k);
        telemetry.SearchDuration.Record(Stopwatch.GetElapsedTime(started).TotalSeconds);
        foreach (var result in results)
        {
            CountRoutes(result);
            NoteSearched(result);
        }

        activity?.SetTag("indexer.search.queries", queries.Count);
        return results;
    }

    public async Task<SearchResult> SearchByImageAsync(byte[] image, int k)
    {
        // Interleaves (see the contract): the index is only read here, and routing (EnsureRoutesAsync) replaces the routes
        // in one synchronous step, so an interleaving turn sees either the old routes or the new ones; the search itself
        // is an ordinary call to this grain.
        RequireExists();
        ArgumentNullException.ThrowIfNull(image);
        RequireK(k);
        // The registry's plan as of now, not the gallery's cached copy: a query right after a switch or a rollback is
        // embedded with the version that serves from then on.
        var plan = await GetPlanAsync(refresh: true);
        var version = plan.QueryVersion ?? throw new IndexerException(IndexerErrorCode.Busy, "no model version is current yet");
        await EnsureRoutesAsync(version);
        var worker = GrainFactory.GetGrain<IEmbeddingWorkerGrain>(0);
        var others = _index.RoutedVersion == version ? _index.CompanionVersions() : [];
        var embeddings = await Task.WhenAll(new[] { version }.Concat(others).Select(v => worker.EmbedBytesAsync(v, image)));
        var query = new QueryEmbedding(version, embeddings[0],
            others.Count == 0 ? null : others.Select((v, i) => (v, embeddings[i + 1])).ToDictionary(p => p.v, p => p.Item2, StringComparer.Ordinal));
        return await GrainFactory.GetGrain<IGalleryGrain>(this.GetPrimaryKeyString()).SearchAsync(query, k);
    }

    public async Task<SearchResult> SearchByItemAsync(string itemId, int k)
    {
        RequireExists();
        RequireK(k);
        var plan = await GetPlanAsync();
        if (plan.QueryVersion is { } version) await EnsureRoutesAsync(version);
        if (!_index.TryGetVector(itemId, plan.QueryVersion, out var query))
        {
            throw new IndexerException(IndexerErrorCode.NotFound,
                _pendingById.ContainsKey(itemId) ? $"item '{itemId}' is not indexed yet" : $"gallery {_key} has no item '{itemId}'");
        }

        if (plan.QueryVersion is { } queryVersion && _index.RoutedVersion == queryVersion
            && (query.ModelVersion != queryVersion || _index.CompanionVersions().Count > 0))
        {
            query = await OwnSpaceQueryAsync(itemId, queryVersion, query);
        }

        return TimedSearch(query, k, excludeId: itemId);
    }

    /// <summary>
    /// The item as a query of <paramref name="queryVersion"/> with an embedding in every companion version (own-space
    /// routes, the regression guard): its own vectors where it holds them, its stored image embedded where it does not (an
    /// item served in its own space has no vector of the query version yet). A version that cannot be had leaves that
    /// route's items excluded from this search, or the search unguarded.
    /// </summary>
    private async Task<QueryEmbedding> OwnSpaceQueryAsync(string itemId, string queryVersion, QueryEmbedding fallback)
    {
        _index.TryGet(itemId, out var item);
        var worker = GrainFactory.GetGrain<IEmbeddingWorkerGrain>(0);
        async Task<float[]?> VectorAsync(string version)
        {
            if (_index.OwnVector(itemId, version) is { } own) return own;
            if (version == fallback.ModelVersion) return fallback.Vector;
            var outcome = (await worker.EmbedStoredAsync(version, [item.ContentHash]))[0];
            if (outcome.Vector is null) LogQueryEmbeddingFailed(_key.ToString(), itemId, version, outcome.Error);
            return outcome.Vector;
        }

        var primary = await VectorAsync(queryVersion);
        if (primary is null) return fallback;
        var others = new Dictionary<string, float[]>(StringComparer.Ordinal);
        foreach (var version in _index.CompanionVersions())
        {
            if (await VectorAsync(version) is { } vector) others[version] = vector;
        }

        return new QueryEmbedding(queryVersion, primary, others);
    }

    public async Task<bool> DeleteItemAsync(string itemId)
    {
        RequireExists();
        if (_pendingById.ContainsKey(itemId))
        {
            Manifest.Pending.RemoveAll(p => p.ItemId == itemId);
            await PersistAsync();
            return true;
        }

        if (!_index.TryGet(itemId, out var item)) return false;
        var tombstone = new SegmentRecord(itemId, item.ContentHash, SegmentRecord.AllVersions, time.GetUtcNow().ToUnixTimeMilliseconds(),
            new Dictionary<string, string>(), null);
        await AppendSegmentAsync([tombstone], () => _index.Remove(itemId));
        await MergeSegmentsAsync();
        return true;
    }

    public Task<GalleryItem?> GetItemAsync(string itemId)
    {
        RequireExists();
        return Task.FromResult(_index.TryGet(itemId, out var item) ? item : null);
    }

    public Task<ItemPage> ListItemsAsync(string? after, int limit)
    {
        RequireExists();
        if (limit is < 1 or > 1000)
        {
            throw new IndexerException(IndexerErrorCode.InvalidArgument, $"limit must be between 1 and 1000; got {limit}");
        }

        return Task.FromResult(_index.Page(after, limit));
    }

    public Task<GalleryStats> GetStatsAsync()
    {
        RequireExists();
        return Task.FromResult(Stats());
    }

    public Task<IReadOnlyList<Indexer.Compatibility.CalibrationItem>> SampleAsync(string modelVersion, int count, int seed)
    {
        RequireExists();
        if (count is < 1 or > 100_000) throw new IndexerException(IndexerErrorCode.InvalidArgument, $"count must be between 1 and 100000; got {count}");
        return Task.FromResult(_index.Sample(modelVersion, count, seed));
    }

    public Task<Indexer.Compatibility.VersionPairs> GetVersionPairsAsync(string from, string to, int max)
    {
        RequireExists();
        ArgumentNullException.ThrowIfNull(from);
        ArgumentNullException.ThrowIfNull(to);
        if (max is < 0 or > 100_000) throw new IndexerException(IndexerErrorCode.InvalidArgument, $"max must be between 0 and 100000; got {max}");
        return Task.FromResult(_index.Pairs(from, to, max));
    }

    private GalleryStats Stats() => new(
        _key.UserId, _key.GalleryId, _index.Count, _pendingById.Count, (int)Math.Min(int.MaxValue, Manifest.FailedCount),
        _index.CountsByVersion(), Manifest.Segments.Count, Manifest.Segments.Sum(s => s.Bytes), Manifest.RecentFailures.ToList(),
        Manifest.CreatedAt ?? default);

    private SearchResult TimedSearch(QueryEmbedding query, int k, string? excludeId)
    {
        using var activity = IndexerTelemetry.Source.StartActivity("gallery search");
        var started = Stopwatch.GetTimestamp();
        var result = _index.Search(query, k, excludeId);
        telemetry.SearchDuration.Record(Stopwatch.GetElapsedTime(started).TotalSeconds);
        CountRoutes(result);
        NoteSearched(result);
        activity?.SetTag("indexer.gallery.searched", result.Searched);
        activity?.SetTag("indexer.gallery.excluded", result.Excluded);
        return result;
    }

    public async Task ReceiveReminder(string reminderName, TickStatus status)
    {
        if (reminderName != ResumeReminder) return;
        if (Manifest.Pending.Count == 0 && (_ingestLoop is null || _ingestLoop.IsCompleted))
        {
            await DropResumeReminderAsync();
            return;
        }

        EnsureIngesting();
    }

    private async Task EnsureResumeReminderAsync()
    {
        if (_resumeReminder is not null) return;
        var period = _options.ResumeReminderPeriod;
        _resumeReminder = await this.RegisterOrUpdateReminder(ResumeReminder, period, period);
    }

    private async Task DropResumeReminderAsync()
    {
        var reminder = _resumeReminder ?? await this.GetReminder(ResumeReminder);
        if (reminder is null) return;
        await this.UnregisterReminder(reminder);
        _resumeReminder = null;
    }

    private void EnsureIngesting()
    {
        if (_ingestLoop is { IsCompleted: false } || _pendingById.Count == 0 || _deactivating.IsCancellationRequested) return;
        _ingestLoop = IngestAsync();
    }

    /// <summary>
    /// Background loop on the grain's scheduler: embeds pending items batch by batch until none are left, keeping
    /// <see cref="BatchesInFlight"/> worker calls going so that inference never waits for a segment write. Batches are
    /// completed in the order they were sent. A failed worker call (no model yet, a silo going away) is retried with
    /// exponential backoff; its items stay pending.
    /// </summary>
    private async Task IngestAsync()
    {
        var registry = GrainFactory.GetGrain<IModelRegistryGrain>(IModelRegistryGrain.Key);
        var worker = GrainFactory.GetGrain<IEmbeddingWorkerGrain>(0);
        var delay = TimeSpan.FromMilliseconds(250);
        var inFlight = new Queue<(List<PendingItem> Batch, IReadOnlyList<string> Versions, Task<IReadOnlyList<EmbedOutcome>[]> Work)>();
        var taken = new HashSet<PendingItem>(ReferenceEqualityComparer.Instance);
        while (!_deactivating.IsCancellationRequested)
        {
            // Keep the activation alive while work is queued: nothing else calls an idle gallery to drive its backlog.
            DelayDeactivation(TimeSpan.FromMinutes(2));
            try
            {
                while (inFlight.Count < BatchesInFlight)
                {
                    var batch = Manifest.Pending.Where(p => !taken.Contains(p)).Take(_options.IngestBatchSize).ToList();
                    if (batch.Count == 0) break;
                    // Every upload version of the plan: while a rollout can be rolled back, new items get the old vector too.
                    var versions = (await registry.GetServingPlanAsync()).EmbedVersions;
                    if (versions.Count == 0) throw new IndexerException(IndexerErrorCode.Busy, "no model version is current yet");
                    taken.UnionWith(batch);
                    var hashes = batch.Select(p => p.ContentHash).ToList();
                    inFlight.Enqueue((batch, versions, Task.WhenAll(versions.Select(v => worker.EmbedStoredAsync(v, hashes)))));
                }

                if (inFlight.Count == 0)
                {
                    if (Manifest.Pending.Count == 0) await DropResumeReminderAsync();
                    break;
                }

                var (done, doneVersions, work) = inFlight.Peek();
                var outcomes = await work;
                inFlight.Dequeue();
                taken.ExceptWith(done);
                await CompleteBatchAsync(done, outcomes, doneVersions);
                delay = TimeSpan.FromMilliseconds(250);
            }
            catch (Exception ex) when (ex is not ObjectDisposedException)
            {
                // Start over from the manifest: let the calls still running finish, forget what they were doing.
                foreach (var (_, _, work) in inFlight)
                {
                    try
                    {
                        await work;
                    }
                    catch (Exception)
                    {
                        // already failing; the retry below covers these items too
                    }
                }

                inFlight.Clear();
                taken.Clear();
                SyncPending();
                LogIngestRetry(ex, _key.ToString(), Manifest.Pending.Count, delay);
                try
                {
                    await Task.Delay(delay, time, _deactivating.Token);
                }
                catch (OperationCanceledException)
                {
                    return;
                }

                delay = TimeSpan.FromTicks(Math.Min(MaxRetryDelay.Ticks, delay.Ticks * 2));
            }
        }
    }

    /// <summary>
    /// Writes a completed batch: an item is indexed when every version embedded it (a version that cannot read an image
    /// fails it as a whole, so a rollback never finds an upload without its old vector), failed otherwise. An item whose
    /// image could not be read while storage answered stays pending for the next batch, until <see cref="ReadStrikes"/>
    /// gives it up.
    /// </summary>
    private async Task CompleteBatchAsync(List<PendingItem> batch, IReadOnlyList<EmbedOutcome>[] outcomes, IReadOnlyList<string> versions)
    {
        var records = new List<SegmentRecord>(batch.Count * versions.Count);
        var failures = new List<ItemError>();
        var retried = new HashSet<PendingItem>(ReferenceEqualityComparer.Instance);
        for (var i = 0; i < batch.Count; i++)
        {
            var item = batch[i];
            if (!_pendingById.TryGetValue(item.ItemId, out var current) || !ReferenceEquals(current, item)) continue; // deleted or reloaded meanwhile
            var failed = outcomes.Select(o => o[i]).FirstOrDefault(o => o.Vector is null);
            if (failed is { Retryable: true } && !_readStrikes.Strike(item.ItemId))
            {
                retried.Add(item);
                continue;
            }

            if (failed is not null)
            {
                var reason = failed.Error ?? "embedding failed";
                failures.Add(new ItemError(item.ItemId, failed.Retryable ? $"{reason} (given up after {_readStrikes.Limit} tries)" : reason));
                continue;
            }

            _readStrikes.Forget(item.ItemId);

            // The query version last, so that it is the item's primary version.
            for (var v = 0; v < versions.Count; v++)
            {
                records.Add(new SegmentRecord(item.ItemId, item.ContentHash, versions[v], item.AcceptedAtUnixMs, item.Metadata, outcomes[v][i].Vector));
            }
        }

        void Commit()
        {
            Manifest.Pending.RemoveAll(p => !retried.Contains(p) && batch.Any(b => ReferenceEquals(b, p)));
            Manifest.FailedCount += failures.Count;
            Manifest.RecentFailures.AddRange(failures);
            if (Manifest.RecentFailures.Count > RecentFailureLimit)
            {
                Manifest.RecentFailures.RemoveRange(0, Manifest.RecentFailures.Count - RecentFailureLimit);
            }
        }

        if (retried.Count == batch.Count) return; // nothing to write: every item goes round again
        await PersistRecordsAsync(records, Commit);

        SyncPending();
        telemetry.ItemsIndexed.Add(records.Count / versions.Count);
        if (failures.Count > 0)
        {
            telemetry.ItemsFailed.Add(failures.Count);
            foreach (var failure in failures) LogItemFailed(_key.ToString(), failure.ItemId, failure.Reason);
        }

        await MergeSegmentsAsync();
    }

    /// <summary>
    /// Stores a batch's outcome: its records as a segment with the manifest change <paramref name="updateManifest"/>
    /// makes, or, when nothing produced a record (every item failed), that manifest change alone.
    /// </summary>
    private async Task PersistRecordsAsync(IReadOnlyList<SegmentRecord> records, Action updateManifest)
    {
        if (records.Count > 0)
        {
            await AppendSegmentAsync(records, () =>
            {
                foreach (var record in records) _index.Apply(record);
            }, updateManifest);
            return;
        }

        await _writeLock.WaitAsync();
        try
        {
            updateManifest();
            await WriteOrReloadAsync();
        }
        finally
        {
            _writeLock.Release();
        }
    }

    /// <summary>
    /// Writes records as a new segment, then the manifest that lists it; only then applies them in memory. A crash
    /// between the two writes leaves an unlisted blob, which nothing reads; the retried batch writes a new one.
    /// </summary>
    private async Task AppendSegmentAsync(IReadOnlyList<SegmentRecord> records, Action applyInMemory, Action? updateManifest = null)
    {
        await _writeLock.WaitAsync();
        try
        {
            Manifest.Segments.Add(await CreateSegmentAsync(records));
            updateManifest?.Invoke();
            // On failure the manifest is reloaded: storage does not list the segment, so memory must not either.
            await WriteOrReloadAsync();
            applyInMemory();
            OnRecordsApplied(records);
        }
        finally
        {
            _writeLock.Release();
            SyncPending();
        }
    }

    /// <summary>Merges the newest segments while <see cref="SegmentMergePlanner"/> asks for it.</summary>
    private async Task MergeSegmentsAsync()
    {
        await _writeLock.WaitAsync();
        try
        {
            int count;
            while ((count = SegmentMergePlanner.NewestToMerge(Manifest.Segments.Select(s => s.RecordCount).ToList())) > 0)
            {
                var inputs = Manifest.Segments.GetRange(Manifest.Segments.Count - count, count);
                var contents = new List<IReadOnlyList<SegmentRecord>>(count);
                foreach (var input in inputs) contents.Add(await segments.ReadAsync(input.Name, CancellationToken.None));
                var merged = SegmentMergePlanner.Fold(contents, includesOldest: count == Manifest.Segments.Count);

                var output = merged.Count > 0 ? await CreateSegmentAsync(merged) : null;
                Manifest.Segments.RemoveRange(Manifest.Segments.Count - count, count);
                if (output is not null) Manifest.Segments.Add(output);

                await WriteOrReloadAsync();
                foreach (var input in inputs)
                {
                    try
                    {
                        await segments.DeleteAsync(input.Name, CancellationToken.None);
                    }
                    catch (Exception ex)
                    {
                        LogOrphanedSegment(ex, input.Name); // harmless: no manifest lists it any more
                    }
                }
            }
        }
        catch (Exception ex)
        {
            // Merging is an optimisation: the next write tries again.
            LogMergeFailed(ex, _key.ToString());
        }
        finally
        {
            _writeLock.Release();
        }
    }

    private async Task PersistAsync()
    {
        await _writeLock.WaitAsync();
        try
        {
            await WriteOrReloadAsync();
        }
        finally
        {
            _writeLock.Release();
            SyncPending();
        }
    }

    /// <summary>
    /// Writes records under the first free sequence number from <see cref="GalleryManifest.NextSequence"/> on (a number
    /// is taken when a crashed or stale writer left a blob under it) and moves the manifest's counter past it.
    /// </summary>
    private async Task<SegmentEntry> CreateSegmentAsync(IReadOnlyList<SegmentRecord> records)
    {
        for (var probe = 0; probe < MaxSequenceProbes; probe++)
        {
            var sequence = Manifest.NextSequence++;
            if (await segments.TryCreateAsync(_key.ToString(), sequence, records, CancellationToken.None) is { } info)
            {
                return new SegmentEntry(info.Name, sequence, info.RecordCount, info.Bytes);
            }

            LogSequenceTaken(_key.ToString(), sequence);
        }

        throw new InvalidOperationException($"gallery {_key}: {MaxSequenceProbes} segment numbers in a row were taken");
    }

    /// <summary>
    /// Writes the manifest; if that fails, reloads it, so that memory never holds a change storage does not, and rethrows.
    /// Callers hold <see cref="_writeLock"/>.
    /// </summary>
    private async Task WriteOrReloadAsync()
    {
        try
        {
            await state.WriteStateAsync();
        }
        catch (InconsistentStateException ex)
        {
            // Someone else wrote this gallery's manifest: another activation owns it (this one outlived a silo it was
            // declared dead with, or a partition). Stop writing and leave; the next call reaches the owner.
            LogLostOwnership(ex, _key.ToString());
            _deactivating.Cancel();
            DeactivateOnIdle();
            throw;
        }
        catch
        {
            await state.ReadStateAsync();
            throw;
        }
    }

    /// <summary>Rebuilds the pending lookup from the manifest, the one source of truth, and moves the pending gauge by the difference.</summary>
    private void SyncPending()
    {
        var before = _pendingById.Count;
        _pendingById.Clear();
        foreach (var pending in Manifest.Pending) _pendingById[pending.ItemId] = pending;
        telemetry.PendingItems.Add(_pendingById.Count - before);
    }

    private static string? Validate(ImageToAdd? image)
    {
        if (image is null) return "missing image";
        if (!Ids.IsValid(image.ItemId)) return $"item id '{image.ItemId}' is not valid: use 1 to {Ids.MaxLength} letters, digits, '.', '_', '-' or spaces";
        if (image.ContentHash is not { Length: 64 } || !image.ContentHash.All(char.IsAsciiHexDigitLower)) return "content hash must be 64 lowercase hex digits (SHA-256)";
        if (image.Metadata is null) return "metadata must not be null";
        if (image.Metadata.Count > MaxMetadataEntries) return $"at most {MaxMetadataEntries} metadata entries";
        foreach (var (key, value) in image.Metadata)
        {
            if (string.IsNullOrWhiteSpace(key) || key.Length > MaxMetadataKeyLength) return $"metadata keys must be 1 to {MaxMetadataKeyLength} characters";
            if (value is null || value.Length > MaxMetadataValueLength) return $"metadata values must be at most {MaxMetadataValueLength} characters";
        }

        return null;
    }

    private void RequireExists()
    {
        if (Manifest.CreatedAt is null)
        {
            throw new IndexerException(IndexerErrorCode.NotFound, $"user '{_key.UserId}' has no gallery '{_key.GalleryId}'");
        }
    }

    private void RequireK(int k)
    {
        if (k < 1 || k > _options.MaxResults)
        {
            throw new IndexerException(IndexerErrorCode.InvalidArgument, $"k must be between 1 and {_options.MaxResults}; got {k}");
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Gallery {Gallery} activated: {Items} items in {Segments} segments, {Pending} pending")]
    private partial void LogActivated(string gallery, int items, int segments, int pending);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Gallery {Gallery}: embedding a batch of {Count} failed; retrying in {Delay}")]
    private partial void LogIngestRetry(Exception ex, string gallery, int count, TimeSpan delay);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Gallery {Gallery}: item {ItemId} could not be embedded with {Version} as a query: {Reason}")]
    private partial void LogQueryEmbeddingFailed(string gallery, string itemId, string version, string? reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Gallery {Gallery}: item {ItemId} could not be indexed: {Reason}")]
    private partial void LogItemFailed(string gallery, string itemId, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "Gallery {Gallery}: stopped waiting for the ingest loop at deactivation; pending items resume at the next activation")]
    private partial void LogStopWait(Exception ex, string gallery);

    [LoggerMessage(Level = LogLevel.Information, Message = "Gallery {Gallery}: segment number {Sequence} is taken by an unlisted blob; using the next")]
    private partial void LogSequenceTaken(string gallery, long sequence);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Gallery {Gallery}: the manifest was written by another activation; this one stops and deactivates")]
    private partial void LogLostOwnership(Exception ex, string gallery);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Segment {Segment} was merged but could not be deleted")]
    private partial void LogOrphanedSegment(Exception ex, string segment);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Gallery {Gallery}: merging segments failed; will retry on the next write")]
    private partial void LogMergeFailed(Exception ex, string gallery);
}
