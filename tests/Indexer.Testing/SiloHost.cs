using System.Net;
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Models;
using Indexer.Client;
using Indexer.Grains;
using Indexer.Silo;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace Indexer.Testing;

/// <summary>
/// A real Indexer silo in this process: Orleans, Kestrel on loopback, Azure Blob storage in Azurite, the real ResNet18.
/// Two users, alice and bob, each with an API key. The silo can be stopped and started again on the same storage.
/// </summary>
public sealed class SiloHost : IAsyncDisposable
{
    public const string AliceKey = "alice-key-0123456789", BobKey = "bob-key-0123456789ab", OperatorKey = "operator-key-0123456789";

    private readonly Azurite _azurite;
    private readonly Dictionary<string, string?> _settings;
    private WebApplication? _app;
    private readonly System.Collections.Concurrent.ConcurrentDictionary<(string User, string Key), (IndexerHttpClient Client, HttpClient Http)> _clients = new();

    private readonly Action<IServiceCollection>? _overrideServices;

    private SiloHost(Azurite azurite, int basePort, IReadOnlyDictionary<string, string?>? overrides, Action<IServiceCollection>? overrideServices)
    {
        _azurite = azurite;
        _overrideServices = overrideServices;
        HttpPort = basePort;
        _settings = new Dictionary<string, string?>
        {
            ["Urls"] = $"http://127.0.0.1:{basePort}",
            ["Indexer:Storage:ConnectionString"] = azurite.ConnectionString,
            ["Indexer:Storage:ContainerPrefix"] = "t" + Guid.NewGuid().ToString("N")[..8],
            ["Indexer:Cluster:SiloPort"] = (basePort + 1).ToString(),
            ["Indexer:Cluster:GatewayPort"] = (basePort + 2).ToString(),
            ["Indexer:Cluster:ClusterId"] = "test" + basePort,
            ["Indexer:Auth:Users:0:Id"] = "alice",
            ["Indexer:Auth:Users:0:ApiKey"] = AliceKey,
            ["Indexer:Auth:Users:1:Id"] = "bob",
            ["Indexer:Auth:Users:1:ApiKey"] = BobKey,
            ["Indexer:Auth:Users:2:Id"] = "ops",
            ["Indexer:Auth:Users:2:ApiKey"] = OperatorKey,
            ["Indexer:Auth:Users:2:Admin"] = "true",
            ["Logging:LogLevel:Default"] = "Warning",
        };
        foreach (var (key, value) in overrides ?? new Dictionary<string, string?>()) _settings[key] = value;
    }

    public int HttpPort { get; }

    /// <summary>The file holding the process id of this host's Azurite (for benchmarks that account its CPU time).</summary>
    public string AzuritePidFile => System.IO.Path.Combine(RepositoryRoot.Path, ".run", $"azurite-{HttpPort + 10}.pid");

    public Uri BaseAddress => new($"http://127.0.0.1:{HttpPort}/");

    public IServiceProvider Services => _app?.Services ?? throw new InvalidOperationException("the silo is not running");

    public IndexerClient Client => Services.GetRequiredService<IndexerClient>();

    /// <summary>
    /// Starts Azurite on <paramref name="basePort"/>+10.. and the silo on <paramref name="basePort"/>.., and waits until a
    /// model is current. <paramref name="settings"/> override configuration keys (e.g. <c>Indexer:Embedding:MaxBatchSize</c>);
    /// <paramref name="overrideServices"/> replaces silo services (e.g. a storage client that fails on purpose).
    /// </summary>
    public static async Task<SiloHost> StartAsync(int basePort, IReadOnlyDictionary<string, string?>? settings = null, Action<IServiceCollection>? overrideServices = null)
    {
        var azurite = await Azurite.StartAsync(basePort + 10);
        var host = new SiloHost(azurite, basePort, settings, overrideServices);
        await host.StartSiloAsync();
        return host;
    }

    /// <summary>
    /// The HTTP client of <paramref name="user"/>, one per user and key for the host's lifetime: a test that searches in a
    /// loop reuses its connections instead of opening a socket per call.
    /// </summary>
    public IndexerHttpClient HttpAs(string user, string key) => _clients.GetOrAdd((user, key), k =>
    {
        var http = RawHttp(k.Key);
        return (new IndexerHttpClient(http, k.User), http);
    }).Client;

    public IndexerHttpClient Alice => HttpAs("alice", AliceKey);

    public IndexerHttpClient Bob => HttpAs("bob", BobKey);

    public IndexerHttpClient Operator => HttpAs("ops", OperatorKey);

    /// <summary>Waits until <paramref name="client"/>'s gallery has no pending item; its statistics then.</summary>
    public static async Task<Galleries.GalleryStats> WaitUntilIndexedAsync(IndexerHttpClient client, string gallery, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            var stats = await client.GetStatsAsync(gallery);
            if (stats.Pending == 0) return stats;
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"{stats.Pending} items still pending in {gallery}");
            await Task.Delay(100);
        }
    }

    /// <summary>Waits until the rollout's status satisfies <paramref name="done"/>, as the operator sees it.</summary>
    public async Task<Models.RolloutStatus> WaitForRolloutAsync(Func<Models.RolloutStatus, bool> done, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            var status = await Operator.GetRolloutAsync();
            if (status is not null && done(status)) return status;
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"rollout still {status?.Phase}: {status?.Message}");
            await Task.Delay(200);
        }
    }

    public HttpClient RawHttp(string? apiKey = null)
    {
        var http = new HttpClient { BaseAddress = BaseAddress, Timeout = TimeSpan.FromMinutes(2) };
        if (apiKey is not null) http.DefaultRequestHeaders.Add(IndexerHttpClient.ApiKeyHeader, apiKey);
        return http;
    }

    public async Task StartSiloAsync()
    {
        _app = IndexerSiloApp.Create([], builder => builder.Configuration.AddInMemoryCollection(_settings), _overrideServices);
        await _app.StartAsync();
        using var http = RawHttp();
        var deadline = DateTime.UtcNow.AddMinutes(3);
        while (true)
        {
            using var response = await http.GetAsync("health/ready");
            if (response.StatusCode == HttpStatusCode.OK) return;
            if (DateTime.UtcNow > deadline) throw new TimeoutException("the silo did not become ready: " + await response.Content.ReadAsStringAsync());
            await Task.Delay(200);
        }
    }

    public async Task StopSiloAsync()
    {
        if (_app is null) return;
        await _app.StopAsync();
        await _app.DisposeAsync();
        _app = null;
    }

    /// <summary>
    /// Stops the silo ungracefully (a cancelled stop token: grains are not deactivated, nothing is flushed), the nearest an
    /// in-process host comes to a killed process. Storage (Azurite) keeps running, as it would in a cluster.
    /// </summary>
    public async Task KillSiloAsync()
    {
        if (_app is null) return;
        await _app.StopAsync(new CancellationToken(canceled: true));
        await _app.DisposeAsync();
        _app = null;
    }

    public async Task RestartSiloAsync()
    {
        await StopSiloAsync();
        await StartSiloAsync();
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var (_, http) in _clients.Values) http.Dispose();
        _clients.Clear();
        try
        {
            await StopSiloAsync();
        }
        finally
        {
            await _azurite.DisposeAsync();
        }
    }

    /// <summary>
    /// Stores the state blob of <paramref name="stateName"/> (whose name contains <paramref name="keyPart"/>) again as
    /// it is: same content, a new ETag. The grain's activation then holds a stale ETag, as when a write was stored but
    /// its answer was lost and the client retried it: its next write fails its condition.
    /// </summary>
    public async Task RestoreGrainStateAsync(string stateName, string keyPart = "")
    {
        var blob = await GrainStateBlobAsync(stateName, keyPart);
        var stored = (await blob.DownloadContentAsync()).Value;
        await blob.UploadAsync(stored.Content, new BlobUploadOptions
        {
            HttpHeaders = new BlobHttpHeaders { ContentType = stored.Details.ContentType },
            Metadata = stored.Details.Metadata,
        });
    }

    /// <summary>The stored state of <paramref name="stateName"/> (in the blob whose name contains <paramref name="keyPart"/>), as a fresh activation reads it.</summary>
    public async Task<T> ReadGrainStateAsync<T>(string stateName, string keyPart = "")
    {
        var stored = (await (await GrainStateBlobAsync(stateName, keyPart)).DownloadContentAsync()).Value;
        return Services.GetRequiredService<Orleans.Serialization.Serializer>().Deserialize<T>(stored.Content.ToMemory())
            ?? throw new InvalidOperationException($"the {stateName} state blob holds no state");
    }

    private async Task<BlobClient> GrainStateBlobAsync(string stateName, string keyPart)
    {
        var container = Services.GetRequiredService<BlobServiceClient>()
            .GetBlobContainerClient(IndexerServiceCollectionExtensions.ContainerName(Services, IndexerStorageNames.GrainStateContainer));
        var names = await container.GetBlobsAsync(BlobTraits.None, BlobStates.None, stateName, CancellationToken.None)
            .Select(b => b.Name).Where(n => n.Contains(keyPart, StringComparison.Ordinal)).ToListAsync();
        return names.Count == 1
            ? container.GetBlobClient(names[0])
            : throw new InvalidOperationException($"expected one '{stateName}' state blob containing '{keyPart}'; found: {string.Join(", ", names)}");
    }

    /// <summary>Stops this host's Azurite alone: for a silo whose own stop hangs (for instance on storage that stopped answering).</summary>
    public Task StopStorageAsync() => _azurite.DisposeAsync().AsTask();
}
