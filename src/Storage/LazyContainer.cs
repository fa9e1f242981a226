using Azure;
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Models;

namespace Indexer.Storage;

/// <summary>
/// A container that is created on first use, once per instance. Creating it lazily keeps constructors
/// free of I/O; caching the success avoids a create round trip on every call. A failed or cancelled
/// attempt is not cached, so the next call tries again.
/// </summary>
internal sealed class LazyContainer
{
    private readonly SemaphoreSlim _gate = new(1, 1);
    private volatile bool _created;

    public LazyContainer(BlobServiceClient service, string containerName)
    {
        ArgumentNullException.ThrowIfNull(service);
        ArgumentException.ThrowIfNullOrWhiteSpace(containerName);
        Client = service.GetBlobContainerClient(containerName);
    }

    /// <summary>The container client; use <see cref="GetAsync"/> unless the container is known to exist.</summary>
    public BlobContainerClient Client { get; }

    /// <summary>Returns the container client after making sure the container exists.</summary>
    public async ValueTask<BlobContainerClient> GetAsync(CancellationToken ct)
    {
        if (_created)
        {
            return Client;
        }

        await _gate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            if (!_created)
            {
                await Client.CreateIfNotExistsAsync(PublicAccessType.None, metadata: null, cancellationToken: ct).ConfigureAwait(false);
                _created = true;
            }
        }
        finally
        {
            _gate.Release();
        }

        return Client;
    }
}

/// <summary>Classifies storage errors the stores translate into ordinary .NET outcomes.</summary>
internal static class BlobErrors
{
    /// <summary>HTTP status for a missing blob or container.</summary>
    private const int NotFound = 404;

    public static bool IsNotFound(RequestFailedException e) => e.Status == NotFound;
}
