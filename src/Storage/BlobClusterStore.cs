using System.Security.Cryptography;
using System.Text.Json;
using Azure;
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Models;

namespace Indexer.Storage;

/// <summary>A gallery's cluster document as read: the document and the blob's ETag, to write the next version over exactly this one.</summary>
/// <typeparam name="T">The document type.</typeparam>
/// <param name="Document">The decoded document.</param>
/// <param name="ETag">The ETag of the blob read.</param>
public sealed record StoredClusters<T>(T Document, string ETag);

/// <summary>
/// One JSON document per gallery holding its clusters (membership, names, user corrections): user data that outlives
/// every model version, so it lives in a blob of its own (<c>{escaped gallery key}/clusters.json</c>) rather than in grain
/// state. The document holds every item id of the gallery, which is why it is not in the gallery's small manifest.
/// </summary>
/// <remarks>
/// Each write carries a SHA-256 of its bytes in the blob's metadata, checked on read, so a damaged document is refused
/// rather than half-read. Writes are conditional on the ETag the writer last saw (or on no blob existing), so a stale
/// activation of a gallery can never overwrite the document its successor wrote.
/// </remarks>
public sealed class BlobClusterStore
{
    /// <summary>Blob name of a gallery's document under its escaped key.</summary>
    public const string DocumentName = "clusters.json";

    /// <summary>Blob metadata entry holding the SHA-256 (lowercase hex) of the document's bytes.</summary>
    private const string ChecksumMetadata = "sha256";

    /// <summary>
    /// Web naming (camelCase), and NaN / infinities written as named literals: similarities of single-member clusters
    /// are NaN, and the document must round-trip whatever the clustering holds.
    /// </summary>
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    private readonly LazyContainer _container;

    /// <summary>Creates a store over <paramref name="containerName"/>; the container is created on first use.</summary>
    public BlobClusterStore(BlobServiceClient service, string containerName = "clusters")
    {
        _container = new LazyContainer(service, containerName);
    }

    /// <summary>The blob name of <paramref name="galleryKey"/>'s document.</summary>
    public static string BlobName(string galleryKey) => BlobSegmentStore.GalleryPrefix(galleryKey) + DocumentName;

    /// <summary>The bytes stored for <paramref name="document"/> and their checksum.</summary>
    public static (byte[] Bytes, string Checksum) Encode<T>(T document)
    {
        byte[] bytes = JsonSerializer.SerializeToUtf8Bytes(document, Json);
        return (bytes, Checksum(bytes));
    }

    /// <summary>Decodes stored bytes after checking them against <paramref name="checksum"/>.</summary>
    /// <exception cref="InvalidDataException">The checksum is missing or does not match, or the bytes are not the document's JSON.</exception>
    public static T Decode<T>(ReadOnlySpan<byte> bytes, string? checksum)
    {
        if (checksum is null)
        {
            throw new InvalidDataException("The cluster document has no checksum.");
        }

        string actual = Checksum(bytes);
        if (!string.Equals(actual, checksum, StringComparison.OrdinalIgnoreCase))
        {
            throw new InvalidDataException($"The cluster document is damaged: its SHA-256 is {actual}, {checksum} was written.");
        }

        try
        {
            return JsonSerializer.Deserialize<T>(bytes, Json) ?? throw new InvalidDataException("The cluster document is empty (JSON null).");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"The cluster document is not valid: {e.Message}", e);
        }
    }

    /// <summary>Reads <paramref name="galleryKey"/>'s document; null when it has none yet.</summary>
    /// <exception cref="InvalidDataException">The stored document is damaged.</exception>
    public async Task<StoredClusters<T>?> ReadAsync<T>(string galleryKey, CancellationToken ct)
    {
        BlobContainerClient container = await _container.GetAsync(ct).ConfigureAwait(false);
        BlobDownloadResult result;
        try
        {
            result = await container.GetBlobClient(BlobName(galleryKey)).DownloadContentAsync(ct).ConfigureAwait(false);
        }
        catch (RequestFailedException e) when (BlobErrors.IsNotFound(e))
        {
            return null;
        }

        string? checksum = result.Details.Metadata is { } metadata && metadata.TryGetValue(ChecksumMetadata, out string? value) ? value : null;
        return new StoredClusters<T>(Decode<T>(result.Content.ToMemory().Span, checksum), result.Details.ETag.ToString());
    }

    /// <summary>
    /// Writes <paramref name="galleryKey"/>'s document if the stored blob is still the one whose ETag is
    /// <paramref name="expectedETag"/> (null: only if there is none yet). Returns the new ETag, or null when someone else
    /// wrote another document meanwhile (nothing is written then). When the condition fails but the blob already holds
    /// this very document (a retried write whose first try was stored), that is success and its ETag is returned.
    /// </summary>
    public async Task<string?> TryWriteAsync<T>(string galleryKey, T document, string? expectedETag, CancellationToken ct)
    {
        (byte[] bytes, string checksum) = Encode(document);
        BlobContainerClient container = await _container.GetAsync(ct).ConfigureAwait(false);
        var options = new BlobUploadOptions
        {
            HttpHeaders = new BlobHttpHeaders { ContentType = "application/json" },
            Metadata = new Dictionary<string, string> { [ChecksumMetadata] = checksum },
            Conditions = expectedETag is null ? new BlobRequestConditions { IfNoneMatch = ETag.All } : new BlobRequestConditions { IfMatch = new ETag(expectedETag) },
        };
        BlobClient blob = container.GetBlobClient(BlobName(galleryKey));
        try
        {
            Response<BlobContentInfo> response = await blob.UploadAsync(BinaryData.FromBytes(bytes), options, ct).ConfigureAwait(false);
            return response.Value.ETag.ToString();
        }
        catch (RequestFailedException e) when (e.Status is 409 or 412)
        {
            // The client retries a write whose answer was lost (a timeout under load). When the first try was stored,
            // the retry's condition fails against our own write: the blob then holds exactly this document, and the
            // write succeeded. Only a different document means someone else wrote.
            return await StoredETagIfSameAsync(blob, checksum, ct).ConfigureAwait(false);
        }
    }

    /// <summary>The blob's ETag when it holds the document with <paramref name="checksum"/>; null when it holds another or none.</summary>
    private static async Task<string?> StoredETagIfSameAsync(BlobClient blob, string checksum, CancellationToken ct)
    {
        try
        {
            Response<BlobProperties> properties = await blob.GetPropertiesAsync(conditions: null, ct).ConfigureAwait(false);
            return properties.Value.Metadata.TryGetValue(ChecksumMetadata, out string? stored) && stored == checksum ? properties.Value.ETag.ToString() : null;
        }
        catch (RequestFailedException e) when (e.Status == 404)
        {
            return null;
        }
    }

    /// <summary>Deletes <paramref name="galleryKey"/>'s document; deleting a missing one does nothing.</summary>
    public async Task DeleteAsync(string galleryKey, CancellationToken ct)
    {
        BlobContainerClient container = await _container.GetAsync(ct).ConfigureAwait(false);
        await container.GetBlobClient(BlobName(galleryKey)).DeleteIfExistsAsync(DeleteSnapshotsOption.IncludeSnapshots, conditions: null, ct).ConfigureAwait(false);
    }

    private static string Checksum(ReadOnlySpan<byte> bytes) => Convert.ToHexStringLower(SHA256.HashData(bytes));
}
