using System.Buffers;
using System.Security.Cryptography;
using Azure;
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Models;

namespace Indexer.Storage;

/// <summary>
/// Content-addressed image bytes: the blob name is the lowercase hex SHA-256 of the content, so the same
/// image added to many galleries (or re-added after a crash) is stored and uploaded once. Because blobs
/// are shared by content, deleting one is the caller's decision (it must know no gallery still needs it).
/// </summary>
public sealed class BlobImageStore
{
    /// <summary>Length of a lowercase hex SHA-256: 32 bytes, two characters each.</summary>
    private const int HashChars = SHA256.HashSizeInBytes * 2;

    private static readonly SearchValues<char> HexDigits = SearchValues.Create("0123456789abcdefABCDEF");

    private readonly LazyContainer _container;

    /// <summary>Creates a store over <paramref name="containerName"/>; the container is created on first use.</summary>
    public BlobImageStore(BlobServiceClient service, string containerName = "images")
    {
        _container = new LazyContainer(service, containerName);
    }

    /// <summary>Computes the content hash used as the blob name: lowercase hex SHA-256.</summary>
    public static string ComputeHash(ReadOnlySpan<byte> bytes) => Convert.ToHexStringLower(SHA256.HashData(bytes));

    /// <summary>
    /// Stores <paramref name="bytes"/> unless a blob with the same content already exists, and returns its hash.
    /// The upload is conditional (<c>If-None-Match: *</c>), so concurrent puts of the same bytes are safe.
    /// </summary>
    public async Task<string> PutAsync(ReadOnlyMemory<byte> bytes, string? contentType, CancellationToken ct)
    {
        string hash = ComputeHash(bytes.Span);
        BlobContainerClient container = await _container.GetAsync(ct).ConfigureAwait(false);
        var options = new BlobUploadOptions
        {
            Conditions = new BlobRequestConditions { IfNoneMatch = ETag.All },
            HttpHeaders = contentType is null ? null : new BlobHttpHeaders { ContentType = contentType },
        };

        try
        {
            await container.GetBlobClient(hash).UploadAsync(BinaryData.FromBytes(bytes), options, ct).ConfigureAwait(false);
        }
        catch (RequestFailedException e) when (e.ErrorCode == BlobErrorCode.BlobAlreadyExists || e.ErrorCode == BlobErrorCode.ConditionNotMet)
        {
            // Same name means same content: someone stored these bytes before us.
        }

        return hash;
    }

    /// <summary>Returns the bytes stored under <paramref name="contentHash"/>.</summary>
    /// <exception cref="KeyNotFoundException">No image has that hash.</exception>
    public async Task<byte[]> GetAsync(string contentHash, CancellationToken ct)
    {
        string name = ValidateHash(contentHash);
        BlobContainerClient container = await _container.GetAsync(ct).ConfigureAwait(false);
        try
        {
            BlobDownloadResult result = await container.GetBlobClient(name).DownloadContentAsync(ct).ConfigureAwait(false);
            return result.Content.ToArray();
        }
        catch (RequestFailedException e) when (BlobErrors.IsNotFound(e))
        {
            throw new KeyNotFoundException($"No image with content hash {name}.", e);
        }
    }

    /// <summary>
    /// True when the image container answers a request for its properties: storage is up, whatever one image's blob does.
    /// Tells a blob that keeps failing from a storage outage; never throws for a failed request.
    /// </summary>
    public async Task<bool> IsReachableAsync(CancellationToken ct)
    {
        try
        {
            BlobContainerClient container = await _container.GetAsync(ct).ConfigureAwait(false);
            await container.GetPropertiesAsync(cancellationToken: ct).ConfigureAwait(false);
            return true;
        }
        catch (Exception e) when (e is RequestFailedException or AggregateException or IOException or TimeoutException
            || (e is OperationCanceledException && !ct.IsCancellationRequested))
        {
            return false;
        }
    }

    /// <summary>True when an image with <paramref name="contentHash"/> is stored.</summary>
    public async Task<bool> ExistsAsync(string contentHash, CancellationToken ct)
    {
        string name = ValidateHash(contentHash);
        BlobContainerClient container = await _container.GetAsync(ct).ConfigureAwait(false);
        Response<bool> exists = await container.GetBlobClient(name).ExistsAsync(ct).ConfigureAwait(false);
        return exists.Value;
    }

    /// <summary>Deletes the image with <paramref name="contentHash"/>; deleting a missing image does nothing.</summary>
    public async Task DeleteAsync(string contentHash, CancellationToken ct)
    {
        string name = ValidateHash(contentHash);
        BlobContainerClient container = await _container.GetAsync(ct).ConfigureAwait(false);
        await container.GetBlobClient(name).DeleteIfExistsAsync(DeleteSnapshotsOption.IncludeSnapshots, conditions: null, ct).ConfigureAwait(false);
    }

    /// <summary>Accepts only 64 hex digits, so a caller cannot address any other blob; returns the lowercase form.</summary>
    private static string ValidateHash(string contentHash)
    {
        ArgumentNullException.ThrowIfNull(contentHash);
        if (contentHash.Length != HashChars || contentHash.AsSpan().ContainsAnyExcept(HexDigits))
        {
            throw new ArgumentException($"A content hash is {HashChars} hex digits (SHA-256); got \"{contentHash}\".", nameof(contentHash));
        }

        return contentHash.ToLowerInvariant();
    }
}
