using Indexer.Embedding;
using Indexer.Models;
using Orleans.Concurrency;

namespace Indexer.Grains.Embedding;

/// <summary>
/// Stateless worker: any silo can serve a call, and calls run in parallel on it. It only translates between the grain
/// contract and the silo's <see cref="EmbeddingPipeline"/>, which owns batching, priorities and the ONNX sessions.
/// Reentrant, because it holds no state and a call only waits: without it a search query's embedding queued behind a
/// whole bulk call (16-64 images of a backfill or an upload) on each of the silo's few activations, and the pipeline's
/// interactive lane never saw it in time.
/// </summary>
[StatelessWorker]
[Reentrant]
public sealed class EmbeddingWorkerGrain(EmbeddingPipeline pipeline) : Grain, IEmbeddingWorkerGrain
{
    public async Task<IReadOnlyList<EmbedOutcome>> EmbedStoredAsync(string modelVersion, IReadOnlyList<string> contentHashes)
    {
        ArgumentNullException.ThrowIfNull(contentHashes);
        return await Translate(() => pipeline.EmbedStoredAsync(modelVersion, contentHashes, CancellationToken.None));
    }

    public async Task<float[]> EmbedBytesAsync(string modelVersion, byte[] image)
    {
        ArgumentNullException.ThrowIfNull(image);
        return await Translate(() => pipeline.EmbedBytesAsync(modelVersion, image, CancellationToken.None));
    }

    public async Task<ModelVersionInfo> ValidateModelAsync(string modelVersion)
    {
        var (manifest, _) = await Translate(() => pipeline.ValidateAsync(modelVersion));
        return new ModelVersionInfo(manifest.Version, manifest.OutputDimension, manifest.InputWidth, manifest.InputHeight,
            manifest.Lineage, manifest.Description, DateTimeOffset.UtcNow, Retired: false);
    }

    /// <summary>Turns the embedding library's exceptions into <see cref="IndexerException"/>s that cross the wire with their message.</summary>
    private static async Task<T> Translate<T>(Func<Task<T>> action)
    {
        try
        {
            return await action();
        }
        catch (InvalidImageException ex)
        {
            throw new IndexerException(IndexerErrorCode.InvalidImage, ex.Message);
        }
        catch (InvalidModelException ex)
        {
            throw new IndexerException(IndexerErrorCode.InvalidModel, ex.Message);
        }
    }
}
