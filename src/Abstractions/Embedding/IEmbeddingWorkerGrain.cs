namespace Indexer.Embedding;

/// <summary>The vector for one image, or why there is none.</summary>
/// <param name="Vector">The embedding; null when the image could not be embedded.</param>
/// <param name="Error">Why there is no vector.</param>
/// <param name="Retryable">
/// True when the image's bytes could not be read although image storage answers (a blob that keeps failing while others
/// read): the same call may succeed later. False for a verdict on the image itself (corrupt, missing), which a retry cannot
/// change. When storage does not answer at all, the whole call fails instead: nothing is wrong with any one image.
/// </param>
[GenerateSerializer, Immutable, Alias("indexer.embed-outcome")]
public sealed record EmbedOutcome([property: Id(0)] float[]? Vector, [property: Id(1)] string? Error, [property: Id(2)] bool Retryable = false)
{
    public bool Succeeded => Vector is not null;
}

/// <summary>
/// Stateless worker that embeds images with a given model version. Image bytes are read from storage by the worker,
/// not pushed through the caller; inference is micro-batched per silo and runs off the grain scheduler.
/// </summary>
[Alias("indexer.embedding-worker")]
public interface IEmbeddingWorkerGrain : IGrainWithIntegerKey
{
    /// <summary>Embeds stored images by content hash; one outcome per hash, in order. A bad image fails alone.</summary>
    /// <remarks>
    /// Calls from many galleries queue behind each other at a silo's pipeline (a batch is tens of images at ~50 img/s on
    /// a small CPU silo), so the default 30 s timeout would fail calls that are merely waiting their turn.
    /// </remarks>
    [Alias("embed-stored"), ResponseTimeout("00:05:00")]
    Task<IReadOnlyList<EmbedOutcome>> EmbedStoredAsync(string modelVersion, IReadOnlyList<string> contentHashes);

    /// <summary>Embeds one image given as bytes (a search query). Throws <see cref="IndexerException"/> for a bad image.</summary>
    [Alias("embed-bytes")]
    Task<float[]> EmbedBytesAsync(string modelVersion, byte[] image);

    /// <summary>
    /// Loads a stored model version on this silo and runs it on a probe image: the artifact must load, match its
    /// manifest and produce a finite vector of the declared dimension. Throws <see cref="IndexerException"/> otherwise.
    /// </summary>
    [Alias("validate-model")]
    Task<Models.ModelVersionInfo> ValidateModelAsync(string modelVersion);
}
