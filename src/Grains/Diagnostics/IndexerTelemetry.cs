using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace Indexer.Grains.Diagnostics;

/// <summary>
/// The project's own ActivitySource and Meter. Hosts add <see cref="SourceName"/> to tracing and <see cref="MeterName"/>
/// to metrics next to Orleans' own.
/// </summary>
public sealed class IndexerTelemetry : IDisposable
{
    public const string SourceName = "Indexer";
    public const string MeterName = "Indexer";

    public static readonly ActivitySource Source = new(SourceName);

    private readonly Meter _meter;
    private readonly Dictionary<(string Version, string Provider), int> _providers = [];
    private readonly Lock _providersLock = new();

    public IndexerTelemetry(IMeterFactory meterFactory)
    {
        _meter = meterFactory.Create(MeterName);
        ImagesEmbedded = _meter.CreateCounter<long>("indexer.embedding.images", "{image}", "Images embedded, by model version and outcome.");
        EmbeddingBatchSize = _meter.CreateHistogram<int>("indexer.embedding.batch_size", "{image}", "Images per inference call.",
            advice: new InstrumentAdvice<int> { HistogramBucketBoundaries = [1, 2, 4, 8, 16, 32, 64] });
        InferenceDuration = _meter.CreateHistogram<double>("indexer.embedding.inference.duration", "s", "Wall time of one inference call.");
        EmbeddingQueueDepth = _meter.CreateUpDownCounter<int>("indexer.embedding.queue_depth", "{image}", "Preprocessed images waiting for inference.");
        ItemsAccepted = _meter.CreateCounter<long>("indexer.ingest.accepted", "{item}", "Items accepted for indexing.");
        ItemsIndexed = _meter.CreateCounter<long>("indexer.ingest.indexed", "{item}", "Items embedded and stored.");
        ItemsFailed = _meter.CreateCounter<long>("indexer.ingest.failed", "{item}", "Items that could not be indexed (bad image, missing blob).");
        PendingItems = _meter.CreateUpDownCounter<long>("indexer.ingest.pending", "{item}", "Items accepted and not yet indexed, over the galleries active on this silo.");
        SearchDuration = _meter.CreateHistogram<double>("indexer.search.duration", "s", "Time to search one gallery (the scan only, no embedding).");
        SearchItemsScanned = _meter.CreateCounter<long>("indexer.search.items_scanned", "{item}", "Items compared with queries, by route.");
        RoutesUnusable = _meter.CreateCounter<long>("indexer.search.routes_unusable", "{route}", "Routes a gallery could not load (a damaged or missing map or score calibration): their items are excluded.");
        ItemsBackfilled = _meter.CreateCounter<long>("indexer.backfill.items", "{item}", "Items re-embedded with the new version by an upgrade's backfill.");
        SearchesGuarded = _meter.CreateCounter<long>("indexer.search.guarded", "{search}", "Searches whose first matches the old model helped order during a rollout (the regression guard).");
        ItemsPromoted = _meter.CreateCounter<long>("indexer.backfill.promoted", "{item}", "Items moved to the front of a backfill because searches kept finding them.");
        RolloutProgress = _meter.CreateGauge<long>("indexer.rollout.items", "{item}", "The rollout's item counts, by state (scored, selected, done, failed).");
        StorageRequestDuration = _meter.CreateHistogram<double>("indexer.storage.request.duration", "s", "Wall time of one try of a blob storage request, by method and outcome (status code or exception).");
        _meter.CreateObservableGauge("indexer.embedding.execution_provider", ObserveProviders,
            description: "1 for each (model version, execution provider) loaded on this silo: CUDA or CPU.");
    }

    public Counter<long> ImagesEmbedded { get; }
    public Histogram<int> EmbeddingBatchSize { get; }
    public Histogram<double> InferenceDuration { get; }
    public UpDownCounter<int> EmbeddingQueueDepth { get; }
    public Counter<long> ItemsAccepted { get; }
    public Counter<long> ItemsIndexed { get; }
    public Counter<long> ItemsFailed { get; }
    public UpDownCounter<long> PendingItems { get; }
    public Histogram<double> SearchDuration { get; }
    public Counter<long> SearchItemsScanned { get; }

    /// <summary>Routes a gallery could not load, by route kind.</summary>
    public Counter<long> RoutesUnusable { get; }
    public Counter<long> ItemsBackfilled { get; }

    public Counter<long> ItemsPromoted { get; }
    public Counter<long> SearchesGuarded { get; }
    public Gauge<long> RolloutProgress { get; }

    /// <summary>One try of a blob storage request (<see cref="StorageRequestTimer"/>).</summary>
    public Histogram<double> StorageRequestDuration { get; }

    public void ModelLoaded(string version, string provider)
    {
        lock (_providersLock) _providers[(version, provider)] = 1;
    }

    public void ModelUnloaded(string version)
    {
        lock (_providersLock)
        {
            foreach (var key in _providers.Keys.Where(k => k.Version == version).ToList()) _providers.Remove(key);
        }
    }

    private IEnumerable<Measurement<int>> ObserveProviders()
    {
        lock (_providersLock)
        {
            return _providers.Select(p => new Measurement<int>(p.Value,
                new KeyValuePair<string, object?>("model.version", p.Key.Version),
                new KeyValuePair<string, object?>("provider", p.Key.Provider))).ToList();
        }
    }

    public void Dispose() => _meter.Dispose();
}
