using System.Buffers;
using System.Runtime.CompilerServices;
using System.Text;
using Azure;
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Models;

namespace Indexer.Storage;

/// <summary>
/// Embedding-model artifacts by version: <c>{version}/model.onnx</c> and <c>{version}/manifest.json</c>.
/// The manifest is written last, so its presence means the artifact is complete; listings therefore
/// report only versions that have a manifest, and a half-uploaded model is never offered.
/// </summary>
public sealed class BlobModelStore
{
    /// <summary>Blob name of the ONNX model inside a version folder.</summary>
    public const string ModelFileName = "model.onnx";

    /// <summary>Blob name of the manifest inside a version folder.</summary>
    public const string ManifestFileName = "manifest.json";

    /// <summary>Longest version accepted: versions are short labels, and this keeps names far from Azure's 1024-char limit.</summary>
    private const int MaxVersionLength = 128;

    /// <summary>Characters allowed in a version: enough for "resnet18-224.v2_1", and none that need escaping in a blob path.</summary>
    private static readonly SearchValues<char> VersionChars =
        SearchValues.Create("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-");

    private readonly LazyContainer _container;

    /// <summary>Creates a store over <paramref name="containerName"/>; the container is created on first use.</summary>
    public BlobModelStore(BlobServiceClient service, string containerName = "models")
    {
        _container = new LazyContainer(service, containerName);
    }

    /// <summary>
    /// Writes the model, then the manifest (overwriting an earlier upload of the same version).
    /// </summary>
    /// <exception cref="ArgumentException">The version is empty, too long, starts with '.', or has characters other than letters, digits, '.', '_' and '-'.</exception>
    public async Task PutAsync(string version, ReadOnlyMemory<byte> onnx, string manifestJson, CancellationToken ct)
    {
        ValidateVersion(version);
        ArgumentNullException.ThrowIfNull(manifestJson);
        BlobContainerClient container = await _container.GetAsync(ct).ConfigureAwait(false);

        var modelOptions = new BlobUploadOptions { HttpHeaders = new BlobHttpHeaders { ContentType = "application/octet-stream" } };
        await container.GetBlobClient(ModelBlob(version)).UploadAsync(BinaryData.FromBytes(onnx), modelOptions, ct).ConfigureAwait(false);

        var manifestOptions = new BlobUploadOptions { HttpHeaders = new BlobHttpHeaders { ContentType = "application/json" } };
        await container.GetBlobClient(ManifestBlob(version))
            .UploadAsync(BinaryData.FromBytes(Encoding.UTF8.GetBytes(manifestJson)), manifestOptions, ct).ConfigureAwait(false);
    }

    /// <summary>Removes a version's manifest, then its artifact (the reverse of <see cref="PutAsync"/>). Idempotent.</summary>
    public async Task DeleteAsync(string version, CancellationToken ct)
    {
        ValidateVersion(version);
        BlobContainerClient container = await _container.GetAsync(ct).ConfigureAwait(false);
        await container.GetBlobClient(ManifestBlob(version)).DeleteIfExistsAsync(cancellationToken: ct).ConfigureAwait(false);
        await container.GetBlobClient(ModelBlob(version)).DeleteIfExistsAsync(cancellationToken: ct).ConfigureAwait(false);
    }

    /// <summary>Returns the ONNX bytes of <paramref name="version"/>.</summary>
    /// <exception cref="KeyNotFoundException">No model is stored for that version.</exception>
    public async Task<byte[]> GetModelAsync(string version, CancellationToken ct)
    {
        ValidateVersion(version);
        BlobContainerClient container = await _container.GetAsync(ct).ConfigureAwait(false);
        try
        {
            BlobDownloadResult result = await container.GetBlobClient(ModelBlob(version)).DownloadContentAsync(ct).ConfigureAwait(false);
            return result.Content.ToArray();
        }
        catch (RequestFailedException e) when (BlobErrors.IsNotFound(e))
        {
            throw new KeyNotFoundException($"No model stored for version {version}.", e);
        }
    }

    /// <summary>Returns the manifest JSON of <paramref name="version"/>, or null when there is none (absent or incomplete upload).</summary>
    public async Task<string?> GetManifestJsonAsync(string version, CancellationToken ct)
    {
        ValidateVersion(version);
        BlobContainerClient container = await _container.GetAsync(ct).ConfigureAwait(false);
        try
        {
            BlobDownloadResult result = await container.GetBlobClient(ManifestBlob(version)).DownloadContentAsync(ct).ConfigureAwait(false);
            return result.Content.ToString();
        }
        catch (RequestFailedException e) when (BlobErrors.IsNotFound(e))
        {
            return null;
        }
    }

    /// <summary>Lists the complete versions (those with a manifest), in ordinal name order.</summary>
    public async IAsyncEnumerable<string> ListVersionsAsync([EnumeratorCancellation] CancellationToken ct)
    {
        const string manifestSuffix = "/" + ManifestFileName;
        BlobContainerClient container = await _container.GetAsync(ct).ConfigureAwait(false);
        await foreach (BlobItem item in container.GetBlobsAsync(BlobTraits.None, BlobStates.None, prefix: null, ct).ConfigureAwait(false))
        {
            string name = item.Name;
            if (name.EndsWith(manifestSuffix, StringComparison.Ordinal))
            {
                string version = name[..^manifestSuffix.Length];
                if (IsValidVersion(version))
                {
                    yield return version;
                }
            }
        }
    }

    /// <summary>
    /// Stores the fitted map from version <paramref name="from"/> into version <paramref name="to"/> (encoded by the
    /// caller) next to <paramref name="to"/>'s artifact, replacing an earlier fit.
    /// </summary>
    public Task PutMapAsync(string from, string to, ReadOnlyMemory<byte> map, CancellationToken ct) => PutUpgradeBlobAsync(from, to, ".map", map, ct);

    /// <summary>The stored map from <paramref name="from"/> into <paramref name="to"/>, or null when none was stored.</summary>
    public Task<byte[]?> GetMapAsync(string from, string to, CancellationToken ct) => GetUpgradeBlobAsync(from, to, ".map", ct);

    /// <summary>
    /// The stored map from <paramref name="from"/> into <paramref name="to"/>, unless the blob's ETag is still
    /// <paramref name="held"/>: then only its properties are read (a map fitted again during a backfill is megabytes,
    /// and every gallery asks whether it changed each time it routes) and the result carries no content. Null when no map
    /// is stored.
    /// </summary>
    public async Task<StoredMap?> GetMapUnlessAsync(string from, string to, string? held, CancellationToken ct)
    {
        ValidateVersion(from);
        ValidateVersion(to);
        BlobContainerClient container = await _container.GetAsync(ct).ConfigureAwait(false);
        BlobClient blob = container.GetBlobClient(UpgradeBlob(from, to, ".map"));
        try
        {
            if (held is not null)
            {
                BlobProperties properties = (await blob.GetPropertiesAsync(cancellationToken: ct).ConfigureAwait(false)).Value;
                if (properties.ETag.ToString() == held) return new StoredMap(held, null);
            }

            BlobDownloadResult result = (await blob.DownloadContentAsync(ct).ConfigureAwait(false)).Value;
            return new StoredMap(result.Details.ETag.ToString(), result.Content.ToArray());
        }
        catch (RequestFailedException ex) when (ex.Status == 404)
        {
            return null;
        }
    }

    /// <summary>Stores the compatibility predictor of the upgrade (encoded by the caller) next to its map.</summary>
    public Task PutPredictorAsync(string from, string to, ReadOnlyMemory<byte> predictor, CancellationToken ct) =>
        PutUpgradeBlobAsync(from, to, ".predictor", predictor, ct);

    /// <summary>The stored compatibility predictor of the upgrade, or null when none was stored.</summary>
    public Task<byte[]?> GetPredictorAsync(string from, string to, CancellationToken ct) => GetUpgradeBlobAsync(from, to, ".predictor", ct);

    /// <summary>
    /// Stores the upgrade's predictor of direct compatibility (stored old vector against new), used to rank old items for
    /// the backfill when they are served as stored, not through the map.
    /// </summary>
    public Task PutDirectPredictorAsync(string from, string to, ReadOnlyMemory<byte> predictor, CancellationToken ct) =>
        PutUpgradeBlobAsync(from, to, ".direct-predictor", predictor, ct);

    /// <summary>The stored predictor of direct compatibility, or null when none was stored (the dimensions differ, or an older calibration).</summary>
    public Task<byte[]?> GetDirectPredictorAsync(string from, string to, CancellationToken ct) => GetUpgradeBlobAsync(from, to, ".direct-predictor", ct);

    /// <summary>Stores the upgrade's score calibration (encoded by the caller): how its old space's scores read in the new space's scale.</summary>
    public Task PutScoreCalibrationAsync(string from, string to, ReadOnlyMemory<byte> calibration, CancellationToken ct) =>
        PutUpgradeBlobAsync(from, to, ".scores", calibration, ct);

    /// <summary>The stored score calibration of the upgrade, or null when none was stored.</summary>
    public Task<byte[]?> GetScoreCalibrationAsync(string from, string to, CancellationToken ct) => GetUpgradeBlobAsync(from, to, ".scores", ct);

    private async Task PutUpgradeBlobAsync(string from, string to, string extension, ReadOnlyMemory<byte> content, CancellationToken ct)
    {
        ValidateVersion(from);
        ValidateVersion(to);
        BlobContainerClient container = await _container.GetAsync(ct).ConfigureAwait(false);
        var options = new BlobUploadOptions { HttpHeaders = new BlobHttpHeaders { ContentType = "application/octet-stream" } };
        await container.GetBlobClient(UpgradeBlob(from, to, extension)).UploadAsync(BinaryData.FromBytes(content), options, ct).ConfigureAwait(false);
    }

    private async Task<byte[]?> GetUpgradeBlobAsync(string from, string to, string extension, CancellationToken ct)
    {
        ValidateVersion(from);
        ValidateVersion(to);
        BlobContainerClient container = await _container.GetAsync(ct).ConfigureAwait(false);
        try
        {
            var result = await container.GetBlobClient(UpgradeBlob(from, to, extension)).DownloadContentAsync(ct).ConfigureAwait(false);
            return result.Value.Content.ToArray();
        }
        catch (RequestFailedException ex) when (ex.Status == 404)
        {
            return null;
        }
    }

    private static string UpgradeBlob(string from, string to, string extension) => to + "/maps/" + from + extension;

    private static string ModelBlob(string version) => version + "/" + ModelFileName;

    private static string ManifestBlob(string version) => version + "/" + ManifestFileName;

    private static bool IsValidVersion(string? version) =>
        !string.IsNullOrEmpty(version)
        && version.Length <= MaxVersionLength
        && version[0] != '.'
        && !version.AsSpan().ContainsAnyExcept(VersionChars);

    private static void ValidateVersion(string version)
    {
        ArgumentNullException.ThrowIfNull(version);
        if (!IsValidVersion(version))
        {
            throw new ArgumentException(
                $"Model version \"{version}\" is invalid: use 1–{MaxVersionLength} letters, digits, '.', '_' or '-', not starting with '.'.",
                nameof(version));
        }
    }
}

/// <summary>A stored map as read by <see cref="BlobModelStore.GetMapUnlessAsync"/>.</summary>
/// <param name="ETag">The blob's ETag.</param>
/// <param name="Content">The encoded map; null when it is still the version the caller held.</param>
public sealed record StoredMap(string ETag, byte[]? Content);
