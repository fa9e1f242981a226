using System.Diagnostics;
using Indexer.Compatibility;
using Indexer.Embedding;
using Indexer.Galleries;
using Indexer.Grains.Galleries;
using Indexer.Models;
using Indexer.Search.Maps;
using Indexer.Storage;
using Microsoft.Extensions.Logging;
using Orleans.Storage;

namespace Indexer.Grains.Compatibility;

[GenerateSerializer, Alias("indexer.compatibility-state")]
public sealed class CompatibilityState
{
    [Id(0)] public CalibrationReport? Report { get; set; }
}

/// <summary>
/// One upgrade (old version → new version). Calibration draws an equal share of its sample from every gallery through
/// the gallery directory, embeds it with the new version through the embedding workers, and fits the map and the
/// compatibility predictor off the grain's turn (a 512-d fit takes seconds). The report is grain state; the fitted map
/// (up to a megabyte of weights) is a blob next to the new version's artifact, for the scoring and backfill to load.
/// </summary>
public sealed partial class CompatibilityGrain(
    [PersistentState("compatibility", IndexerStorageNames.GrainStateProvider)] IPersistentState<CompatibilityState> state,
    BlobModelStore models,
    TimeProvider time,
    ILogger<CompatibilityGrain> logger) : Grain, ICompatibilityGrain
{
    /// <summary>Smallest calibration sample: below it the held-out split leaves too few items to judge a map.</summary>
    public const int MinSampleSize = 20;

    /// <summary>Largest calibration sample: its vectors are held in memory on one silo while the map is fitted.</summary>
    public const int MaxSampleSize = 50_000;

    /// <summary>Images per embedding-worker call during calibration.</summary>
    private const int EmbedBatch = 64;

    private readonly ILogger _logger = logger;

    public async Task<CalibrationReport> CalibrateAsync(int sampleSize)
    {
        if (sampleSize is < MinSampleSize or > MaxSampleSize)
        {
            throw new IndexerException(IndexerErrorCode.InvalidArgument, $"the calibration sample must hold {MinSampleSize} to {MaxSampleSize} items; got {sampleSize}");
        }

        var (from, to) = Versions();
        if (from == to) throw new IndexerException(IndexerErrorCode.InvalidArgument, "an upgrade needs two different model versions");
        var registry = GrainFactory.GetGrain<IModelRegistryGrain>(IModelRegistryGrain.Key);
        var target = await registry.GetAsync(to) ?? throw new IndexerException(IndexerErrorCode.NotFound, $"model version '{to}' is not registered");
        var source = await registry.GetAsync(from) ?? throw new IndexerException(IndexerErrorCode.NotFound, $"model version '{from}' is not registered");

        var started = Stopwatch.GetTimestamp();
        var (sample, galleries) = await DrawSampleAsync(from, sampleSize);
        if (sample.Count < MinSampleSize)
        {
            throw new IndexerException(IndexerErrorCode.Conflict, $"only {sample.Count} items are held in '{from}'; calibration needs at least {MinSampleSize}");
        }

        var worker = GrainFactory.GetGrain<IEmbeddingWorkerGrain>(0);
        var oldVectors = new List<float[]>(sample.Count);
        var newVectors = new List<float[]>(sample.Count);
        var failures = 0;
        foreach (var chunk in sample.Chunk(EmbedBatch))
        {
            var outcomes = await worker.EmbedStoredAsync(to, chunk.Select(c => c.ContentHash).ToList());
            for (var i = 0; i < chunk.Length; i++)
            {
                if (outcomes[i].Vector is { } vector && chunk[i].Vector.Length == source.Dimension)
                {
                    oldVectors.Add(chunk[i].Vector);
                    newVectors.Add(vector);
                }
                else
                {
                    failures++;
                }
            }
        }

        var upgrade = await Task.Run(() => UpgradeFit.Fit(
            oldVectors.SelectMany(v => v).ToArray(), newVectors.SelectMany(v => v).ToArray(), oldVectors.Count, source.Dimension, target.Dimension));
        var (fit, predictor) = (upgrade.Map, upgrade.MappedPredictor);
        // The map, predictors and score calibration first: a report in state always has them in storage.
        await models.PutMapAsync(from, to, EmbeddingMapCodec.Encode(fit.Best), CancellationToken.None);
        await models.PutPredictorAsync(from, to, CompatibilityPredictorCodec.Encode(predictor), CancellationToken.None);
        if (upgrade.DirectPredictor is { } direct) await models.PutDirectPredictorAsync(from, to, CompatibilityPredictorCodec.Encode(direct), CancellationToken.None);
        await models.PutScoreCalibrationAsync(from, to, ScoreCalibrationCodec.Encode(upgrade.Scores), CancellationToken.None);
        var report = new CalibrationReport(
            from, to, oldVectors.Count, galleries, failures, fit.Best.Kind.ToString(), fit.Best.Regularisation, ToStats(fit.HeldOut),
            fit.Candidates.Select(c => new MapCandidateSummary(c.Map.Kind.ToString(), c.Map.Regularisation, c.HeldOut.Mean, c.HeldOut.P05, c.Map.Correction?.Sharpness ?? 0)).ToList(),
            predictor.Kind.ToString(), predictor.HeldOutSpearman, time.GetUtcNow(), Stopwatch.GetElapsedTime(started),
            MapAnchors: fit.Best.Kind == MapKind.Kernel ? fit.Best.Correction!.Count : 0);
        await WriteReportAsync(report);
        LogCalibrated(from, to, report.SampleSize, report.MapKind, report.HeldOut.Mean, report.HeldOut.P05);
        return report;
    }

    public Task<CalibrationReport?> GetReportAsync() => Task.FromResult(state.State.Report);

    public async Task<MapRefitReport?> RefitMapAsync(IReadOnlyList<string> galleries, int maxAnchors)
    {
        ArgumentNullException.ThrowIfNull(galleries);
        if (maxAnchors < 1) throw new IndexerException(IndexerErrorCode.InvalidArgument, $"maxAnchors must be positive; got {maxAnchors}");
        var (from, to) = Versions();
        var started = Stopwatch.GetTimestamp();
        var map = EmbeddingMapCodec.Decode(await models.GetMapAsync(from, to, CancellationToken.None)
            ?? throw new IndexerException(IndexerErrorCode.Conflict, $"no map is stored for {from} -> {to}; calibrate first"));
        if (map.Kind != MapKind.Kernel || map.Correction!.Count >= maxAnchors) return null;
        var before = map.Correction.Count;

        // Each gallery's share of the room left, plus room for its calibration items, which are anchors already.
        var share = (int)Math.Min(100_000, Math.Ceiling((double)maxAnchors / Math.Max(1, galleries.Count)));
        var offers = new List<VersionPairs>();
        foreach (var gallery in galleries)
        {
            try
            {
                var offered = await GrainFactory.GetGrain<IGalleryGrain>(gallery).GetVersionPairsAsync(from, to, share);
                if (offered.Count > 0 && offered.OldDimension == map.InputDimension && offered.NewDimension == map.OutputDimension) offers.Add(offered);
            }
            catch (IndexerException ex) when (ex.Code == IndexerErrorCode.NotFound)
            {
                // listed but never created
            }
        }

        // Round-robin over the galleries, so that when the room runs out every gallery has had its turn.
        var oldVectors = new List<float>();
        var newVectors = new List<float>();
        var pairs = 0;
        for (var k = 0; offers.Any(o => o.Count > k); k++)
        {
            foreach (var offered in offers.Where(o => o.Count > k))
            {
                oldVectors.AddRange(offered.Old.AsSpan(k * offered.OldDimension, offered.OldDimension));
                newVectors.AddRange(offered.New.AsSpan(k * offered.NewDimension, offered.NewDimension));
                pairs++;
            }
        }

        var added = 0;
        var refitted = await Task.Run(() => map.Refined(oldVectors.ToArray(), newVectors.ToArray(), pairs, out added, maxAnchors - before)!);
        if (added == 0) return new MapRefitReport(before, before, pairs, Stopwatch.GetElapsedTime(started));
        await models.PutMapAsync(from, to, EmbeddingMapCodec.Encode(refitted), CancellationToken.None);
        var anchors = refitted.Correction!.Count;
        if (state.State.Report is { } report) await WriteReportAsync(report with { MapAnchors = anchors, MapRefits = report.MapRefits + 1 });
        var result = new MapRefitReport(before, anchors, pairs, Stopwatch.GetElapsedTime(started));
        LogRefitted(from, to, before, anchors, pairs, result.Duration.TotalSeconds);
        return result;
    }

    /// <summary>
    /// Stores <paramref name="report"/> as the upgrade's report. When the write finds the stored record is not the one
    /// this activation last wrote (a write that was stored but whose answer was lost, and which the client retried
    /// against the new ETag; or another activation's write), the record is read again and the report written once more:
    /// a calibration replaces whatever report was stored, and this one describes the map and predictors this call has
    /// just stored, so writing it again is right, and the caller keeps a calibration that took seconds to fit. Should
    /// that fail as well, this copy leaves, the caller gets the error, and the next call activates a copy that reads the
    /// stored record.
    /// </summary>
    private async Task WriteReportAsync(CalibrationReport report)
    {
        state.State.Report = report;
        try
        {
            await state.WriteStateAsync();
            return;
        }
        catch (InconsistentStateException ex)
        {
            LogStateReread(ex, report.From, report.To);
        }

        try
        {
            await state.ReadStateAsync();
            state.State.Report = report;
            await state.WriteStateAsync();
        }
        catch (Exception ex)
        {
            LogStateStale(ex, report.From, report.To);
            DeactivateOnIdle();
            throw;
        }
    }

    /// <summary>
    /// An even share from every gallery that holds the old version; a gallery with fewer items gives all it has and the
    /// larger ones make up the difference (<see cref="SampleAllocation"/>). Each gallery's sample is seeded by its key.
    /// </summary>
    private async Task<(List<CalibrationItem> Sample, int Galleries)> DrawSampleAsync(string from, int sampleSize)
    {
        var keys = await GalleryDirectory.ListAllAsync(GrainFactory);

        // How many items each gallery holds in the old version, then an even split of the sample across them.
        var holders = new List<(string Key, int Available)>();
        foreach (var key in keys)
        {
            try
            {
                var stats = await GrainFactory.GetGrain<IGalleryGrain>(key).GetStatsAsync();
                if (stats.ItemsByModelVersion.GetValueOrDefault(from) is var available and > 0) holders.Add((key, available));
            }
            catch (IndexerException ex) when (ex.Code == IndexerErrorCode.NotFound)
            {
                // Listed but never created (its creation failed after registering): nothing to sample.
            }
        }

        var allocation = SampleAllocation.Allocate(holders.Select(h => h.Available).ToList(), sampleSize);
        var sample = new List<CalibrationItem>(allocation.Sum());
        var galleries = 0;
        for (var g = 0; g < holders.Count; g++)
        {
            if (allocation[g] == 0) continue;
            var key = holders[g].Key;
            var seed = (int)(BitConverter.ToUInt32(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(key)), 0) & 0x7fffffff);
            sample.AddRange(await GrainFactory.GetGrain<IGalleryGrain>(key).SampleAsync(from, allocation[g], seed));
            galleries++;
        }

        return (sample, galleries);
    }

    /// <summary>The upgrade this grain is for: its key is "from/to" (<see cref="ICompatibilityGrain.KeyOf"/>).</summary>
    private (string From, string To) Versions()
    {
        var key = this.GetPrimaryKeyString();
        var slash = key.IndexOf('/');
        return (key[..slash], key[(slash + 1)..]);
    }

    private static AgreementStats ToStats(AgreementSummary s) => new(s.Count, s.Mean, s.Min, s.P05, s.Median, s.P95);

    [LoggerMessage(Level = LogLevel.Information, Message = "Calibrated {From} -> {To} on {Count} items: {Map} map, held-out agreement mean {Mean:F4}, p05 {P05:F4}")]
    private partial void LogCalibrated(string from, string to, int count, string map, double mean, double p05);

    [LoggerMessage(Level = LogLevel.Information, Message = "Map {From} -> {To} fitted again: {Before} -> {Anchors} anchors from {Pairs} pairs held in both versions, in {Seconds:F1} s")]
    private partial void LogRefitted(string from, string to, int before, int anchors, int pairs, double seconds);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Calibration {From} -> {To}: its stored record changed under this activation; it reads the record again and writes the report once more")]
    private partial void LogStateReread(Exception ex, string from, string to);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Calibration {From} -> {To}: the report could not be written after reading the record again; the activation deactivates and the next call reads the stored record")]
    private partial void LogStateStale(Exception ex, string from, string to);
}
