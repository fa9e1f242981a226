using System.Collections.Concurrent;
using Indexer.Grains.Diagnostics;
using Indexer.Storage;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Indexer.Grains.Embedding;

using Indexer.Embedding;

/// <summary>
/// The silo's embedding machinery, shared by every embedding-worker activation on the silo: one <see cref="ModelRunner"/>
/// (one ONNX Runtime session) per model version, loaded from model storage on first use and unloaded when no call has
/// used it for <see cref="EmbeddingOptions.UnloadIdleAfterMinutes"/> (after an upgrade is committed, the old version's
/// session goes by itself on every silo).
/// </summary>
public sealed partial class EmbeddingPipeline : IDisposable
{
    private readonly ConcurrentDictionary<string, Lazy<Task<ModelRunner>>> _runners = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, Usage> _usage = new(StringComparer.Ordinal);
    private readonly BlobImageStore images;
    private readonly BlobModelStore models;
    private readonly IOptions<EmbeddingOptions> options;
    private readonly IndexerTelemetry telemetry;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly ITimer? _unloadTimer;

    public EmbeddingPipeline(BlobImageStore images, BlobModelStore models, IOptions<EmbeddingOptions> options, IndexerTelemetry telemetry,
        TimeProvider time, ILogger<EmbeddingPipeline> logger)
    {
        this.images = images;
        this.models = models;
        this.options = options;
        this.telemetry = telemetry;
        _time = time;
        _logger = logger;
        if (options.Value.UnloadIdleAfterMinutes > 0)
        {
            var period = TimeSpan.FromMinutes(Math.Max(1, options.Value.UnloadIdleAfterMinutes / 4.0));
            _unloadTimer = time.CreateTimer(_ => UnloadIdle(), null, period, period);
        }
    }

    /// <summary>Versions whose session is loaded on this silo now.</summary>
    public IReadOnlyList<string> LoadedVersions =>
        _runners.Where(r => r.Value.IsValueCreated && r.Value.Value.IsCompletedSuccessfully).Select(r => r.Key).Order(StringComparer.Ordinal).ToList();

    /// <summary>Calls in progress and the last use of one version's runner; guarded by its own lock.</summary>
    private sealed class Usage
    {
        public int InUse;
        public long LastUsed;
    }

    /// <summary>
    /// Embeds stored images by content hash. Each image succeeds or fails alone; the order of the input is kept. An image
    /// whose read failed is <see cref="EmbedOutcome.Retryable"/> when image storage still answers; when it does not, the
    /// call throws <see cref="IOException"/>: an outage says nothing about any one image, and its caller retries the lot.
    /// </summary>
    public async Task<IReadOnlyList<EmbedOutcome>> EmbedStoredAsync(string version, IReadOnlyList<string> contentHashes, CancellationToken cancellationToken)
    {
        var (runner, usage) = await LeaseAsync(version);
        EmbedOutcome[] outcomes;
        try
        {
            var tasks = new Task<EmbedOutcome>[contentHashes.Count];
            for (var i = 0; i < tasks.Length; i++) tasks[i] = EmbedStoredAsync(runner, contentHashes[i], cancellationToken);
            outcomes = await Task.WhenAll(tasks);
        }
        finally
        {
            Release(usage);
        }

        if (outcomes.FirstOrDefault(o => o.Retryable) is { } unread && !await images.IsReachableAsync(cancellationToken))
        {
            throw new IOException($"image storage is not answering: {unread.Error}");
        }

        return outcomes;
    }

    public async Task<float[]> EmbedBytesAsync(string version, ReadOnlyMemory<byte> image, CancellationToken cancellationToken)
    {
        var (runner, usage) = await LeaseAsync(version);
        try
        {
            return await runner.EmbedAsync(image, cancellationToken, interactive: true); // a search query: someone is waiting
        }
        finally
        {
            Release(usage);
        }
    }

    /// <summary>
    /// The runner of a version, counted as in use until <see cref="Release"/>: the unloader never disposes a runner in
    /// use, and a runner it removed is never leased again (the lease retries and loads a fresh one).
    /// </summary>
    private async Task<(ModelRunner Runner, Usage Usage)> LeaseAsync(string version)
    {
        while (true)
        {
            var lazy = _runners.GetOrAdd(version, v => new Lazy<Task<ModelRunner>>(() => LoadAsync(v)));
            var runner = await GetRunnerAsync(version, lazy);
            var usage = _usage.GetOrAdd(version, _ => new Usage());
            lock (usage)
            {
                if (_runners.TryGetValue(version, out var current) && ReferenceEquals(current, lazy))
                {
                    usage.InUse++;
                    usage.LastUsed = _time.GetTimestamp();
                    return (runner, usage);
                }
            }
        }
    }

    private void Release(Usage usage)
    {
        lock (usage)
        {
            usage.InUse--;
            usage.LastUsed = _time.GetTimestamp();
        }
    }

    /// <summary>Disposes the runners nobody has used for the idle period (checked a few times per period).</summary>
    private void UnloadIdle()
    {
        var idle = TimeSpan.FromMinutes(options.Value.UnloadIdleAfterMinutes);
        foreach (var (version, usage) in _usage)
        {
            Lazy<Task<ModelRunner>>? removed = null;
            lock (usage)
            {
                if (usage.InUse == 0 && _time.GetElapsedTime(usage.LastUsed) >= idle && _runners.TryRemove(version, out var lazy)) removed = lazy;
            }

            if (removed is { IsValueCreated: true } && removed.Value.IsCompletedSuccessfully)
            {
                removed.Value.Result.Dispose();
                LogModelUnloaded(version, idle);
            }
        }
    }

    /// <summary>Loads a version (if needed) and runs its probe image; throws <see cref="InvalidModelException"/> when it fails.</summary>
    public async Task<(ModelManifest Manifest, string Provider)> ValidateAsync(string version)
    {
        var runner = await GetRunnerAsync(version);
        try
        {
            await Task.Run(runner.Probe);
        }
        catch
        {
            // A model that loads but fails its probe is not kept: a corrected artifact under the same version must load anew.
            if (_runners.TryRemove(version, out var failed) && failed.IsValueCreated && failed.Value.IsCompletedSuccessfully) failed.Value.Result.Dispose();
            throw;
        }

        return (runner.Manifest, runner.ExecutionProvider);
    }

    /// <summary>The runner of a version; a failed load is forgotten so the next call tries again.</summary>
    public Task<ModelRunner> GetRunnerAsync(string version) =>
        GetRunnerAsync(version, _runners.GetOrAdd(version, v => new Lazy<Task<ModelRunner>>(() => LoadAsync(v))));

    private async Task<ModelRunner> GetRunnerAsync(string version, Lazy<Task<ModelRunner>> lazy)
    {
        try
        {
            return await lazy.Value;
        }
        catch
        {
            _runners.TryRemove(new KeyValuePair<string, Lazy<Task<ModelRunner>>>(version, lazy));
            throw;
        }
    }

    private async Task<ModelRunner> LoadAsync(string version)
    {
        var json = await models.GetManifestJsonAsync(version, CancellationToken.None)
            ?? throw new IndexerException(IndexerErrorCode.NotFound, $"model version '{version}' is not in model storage");
        var manifest = ModelManifest.FromJson(json);
        if (manifest.Version != version)
        {
            throw new InvalidModelException($"the manifest stored for '{version}' names version '{manifest.Version}'");
        }

        var artifact = await models.GetModelAsync(version, CancellationToken.None);
        var settings = options.Value;
        var (sessions, threads) = settings.CpuSessions(Environment.ProcessorCount);
        // The first session tells whether CUDA loaded; its intra-op threads only matter if it runs on the CPU.
        var embedderOptions = new EmbedderOptions(settings.PreferGpu, settings.GpuDeviceId, threads, AllowSpinning: settings.AllowSpinning);
        var embedders = new List<OnnxEmbedder> { await Task.Run(() => new OnnxEmbedder(artifact, manifest, embedderOptions)) };
        try
        {
            if (embedders[0].ExecutionProvider == "CPU")
            {
                var cpuOptions = embedderOptions with { PreferGpu = false };
                while (embedders.Count < sessions) embedders.Add(await Task.Run(() => new OnnxEmbedder(artifact, manifest, cpuOptions)));
            }
        }
        catch
        {
            foreach (var embedder in embedders) embedder.Dispose();
            throw;
        }

        LogModelLoaded(version, embedders[0].ExecutionProvider, embedders[0].Dimension, embedders.Count, embedders[0].ExecutionProvider == "CPU" ? threads : 0);
        return new ModelRunner(embedders, settings, telemetry, _logger, threads);
    }

    private async Task<EmbedOutcome> EmbedStoredAsync(ModelRunner runner, string contentHash, CancellationToken cancellationToken)
    {
        byte[] bytes;
        try
        {
            bytes = await images.GetAsync(contentHash, cancellationToken);
        }
        catch (KeyNotFoundException)
        {
            return new EmbedOutcome(null, $"image {contentHash} is not in image storage");
        }
        catch (Exception ex) when (ex is Azure.RequestFailedException or AggregateException or IOException or TimeoutException
            || (ex is OperationCanceledException && !cancellationToken.IsCancellationRequested))
        {
            // Storage failed this read after its own retries: maybe this blob only, maybe all of storage (the caller asks).
            return new EmbedOutcome(null, $"image {contentHash} could not be read from image storage: {ex.Message}", Retryable: true);
        }

        try
        {
            return new EmbedOutcome(await runner.EmbedAsync(bytes, cancellationToken), null);
        }
        catch (InvalidImageException ex)
        {
            return new EmbedOutcome(null, ex.Message);
        }
    }

    public void Dispose()
    {
        _unloadTimer?.Dispose();
        foreach (var lazy in _runners.Values)
        {
            if (lazy.IsValueCreated && lazy.Value.IsCompletedSuccessfully) lazy.Value.Result.Dispose();
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Model {Version} unloaded: unused for {Idle}")]
    private partial void LogModelUnloaded(string version, TimeSpan idle);

    [LoggerMessage(Level = LogLevel.Information, Message = "Model {Version} loaded on the {Provider} execution provider ({Dimension}-d): {Sessions} session(s), {Threads} intra-op thread(s) each (0: the provider's choice)")]
    private partial void LogModelLoaded(string version, string provider, int dimension, int sessions, int threads);
}
