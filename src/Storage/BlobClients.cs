using Azure.Core;
using Azure.Core.Pipeline;
using Azure.Storage.Blobs;

namespace Indexer.Storage;

/// <summary>
/// Builds the one kind of <see cref="BlobServiceClient"/> this project uses. The service version is pinned
/// because Azure.Storage.Blobs 12.30.1 otherwise sends an API version newer than any Azurite release
/// accepts (PLATFORM.md §2), and retries are kept short so a missing emulator fails a test in seconds.
/// </summary>
public static class BlobClients
{
    /// <summary>Newest service version that Azurite 3.35+ accepts without <c>--skipApiVersionCheck</c>.</summary>
    public const BlobClientOptions.ServiceVersion PinnedServiceVersion = BlobClientOptions.ServiceVersion.V2025_11_05;

    /// <summary>Retries after the first attempt: enough to ride out a transient blip, few enough to fail fast.</summary>
    private const int MaxRetries = 3;

    /// <summary>Base back-off between retries; with exponential mode the worst case stays under ~4 s.</summary>
    private static readonly TimeSpan RetryDelay = TimeSpan.FromSeconds(0.5);

    /// <summary>
    /// Longest wait for one network operation of a request. The SDK's 100 s default, times four tries, let a call to storage
    /// that stopped answering hang for over 6 minutes, past Orleans' 5-minute response timeout, so callers saw a timeout
    /// of the grain call instead of the storage error; with 30 s a hung storage fails a call in about 2 minutes.
    /// </summary>
    public static readonly TimeSpan DefaultNetworkTimeout = TimeSpan.FromSeconds(30);

    /// <summary>Creates a client for <paramref name="connectionString"/> with the pinned version and modest retries.</summary>
    /// <param name="connectionString">The storage account's connection string.</param>
    /// <param name="networkTimeout">Longest wait for one network operation; <see cref="DefaultNetworkTimeout"/> when null.</param>
    /// <param name="perTry">A policy that sees every try of every request (for timing); none when null.</param>
    public static BlobServiceClient Create(string connectionString, TimeSpan? networkTimeout = null, HttpPipelinePolicy? perTry = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(connectionString);
        var options = new BlobClientOptions(PinnedServiceVersion);
        options.Retry.Mode = RetryMode.Exponential;
        options.Retry.MaxRetries = MaxRetries;
        options.Retry.Delay = RetryDelay;
        options.Retry.NetworkTimeout = networkTimeout ?? DefaultNetworkTimeout;
        if (perTry is not null) options.AddPolicy(perTry, HttpPipelinePosition.PerRetry);
        return new BlobServiceClient(connectionString, options);
    }
}
