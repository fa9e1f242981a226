using System.Collections.Concurrent;
using Indexer.Grains.Diagnostics;
using Indexer.Storage;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Indexer.Grains.Embedding;

using Indexer.Embedding;

/// <summary>
/// The silo's embedding machinery, shared by every embedding-worker activation on the silo: one <see cref="ModelRunner"/>
/// (one ONNX Runtime session) per model version, loaded from model storage on first use.
/// </summary>
public sealed partial class EmbeddingPipeline(
    BlobImageStore images,
    BlobModelStore models,
    IOptions<EmbeddingOptions> options,
    IndexerTelemetry telemetry,
    ILogger<EmbeddingPipeline> logger) : IDisposable
{
    private readonly ConcurrentDictionary<string, Lazy<Task<ModelRunner>>> _runners = new(StringComparer.Ordinal);
    private readonly ILogger _logger = logger;

    /// <summary>Embeds stored images by content hash. Each image succeeds or fails alone; the order of the input is kept.</summary>
    public async Task<IReadOnlyList<EmbedOutcome>> EmbedStoredAsync(string version, IReadOnlyList<string> contentHashes, CancellationToken cancellationToken)
    {
        var runner = await GetRunnerAsync(version);
        var tasks = new Task<EmbedOutcome>[contentHashes.Count];
        for (var i = 0; i < tasks.Length; i++) tasks[i] = EmbedStoredAsync(runner, contentHashes[i], cancellationToken);
        return await Task.WhenAll(tasks);
    }

    public async Task<float[]> EmbedBytesAsync(string version, ReadOnlyMemory<byte> image, CancellationToken cancellationToken)
    {
        var runner = await GetRunnerAsync(version);
        return await runner.EmbedAsync(image, cancellationToken);
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
    public async Task<ModelRunner> GetRunnerAsync(string version)
    {
        var lazy = _runners.GetOrAdd(version, v => new Lazy<Task<ModelRunner>>(() => LoadAsync(v)));
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
        var embedderOptions = new EmbedderOptions(settings.PreferGpu, settings.GpuDeviceId, settings.IntraOpThreads, AllowSpinning: settings.AllowSpinning);
        var embedder = await Task.Run(() => new OnnxEmbedder(artifact, manifest, embedderOptions));
        LogModelLoaded(version, embedder.ExecutionProvider, embedder.Dimension);
        return new ModelRunner(embedder, settings, telemetry, _logger);
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
        foreach (var lazy in _runners.Values)
        {
            if (lazy.IsValueCreated && lazy.Value.IsCompletedSuccessfully) lazy.Value.Result.Dispose();
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Model {Version} loaded on the {Provider} execution provider ({Dimension}-d)")]
    private partial void LogModelLoaded(string version, string provider, int dimension);
}
