using Indexer.Client;
using Indexer.Galleries;
using Indexer.Grains;
using Indexer.Grains.Models;
using Indexer.Silo.Hosting;
using Indexer.Storage;
using Indexer.Testing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Hosting;
using Orleans.TestingHost;

namespace Indexer.Tests.Cluster;

/// <summary>
/// Grains on an in-process test cluster of two silos sharing Azurite: the silo holding a gallery is killed in the
/// middle of an ingest, and the gallery comes back on the other silo with every accepted item.
/// </summary>
[Trait("Category", "EndToEnd")]
public sealed class SiloFailureTests : IAsyncLifetime
{
    private const int AzuritePort = 5390;
    private Azurite _azurite = null!;
    private InProcessTestCluster _cluster = null!;
    private IndexerClient _client = null!;

    public async Task InitializeAsync()
    {
        _azurite = await Azurite.StartAsync(AzuritePort);
        var settings = new Dictionary<string, string?>
        {
            ["Indexer:Storage:ConnectionString"] = _azurite.ConnectionString,
            ["Indexer:Storage:ContainerPrefix"] = "k" + Guid.NewGuid().ToString("N")[..8],
            ["Indexer:Galleries:IngestBatchSize"] = "16",
            ["Indexer:Galleries:ResumeReminderPeriod"] = "00:00:02",
        };
        var builder = new InProcessTestClusterBuilder(2);
        builder.ConfigureSiloHost((_, host) =>
        {
            host.Configuration.AddInMemoryCollection(settings);
            host.Services.AddIndexerGrainServices(host.Configuration);
        });
        builder.ConfigureSilo((_, silo) =>
        {
            silo.AddIndexerPersistence();
            silo.Configure<ReminderOptions>(o => o.MinimumReminderPeriod = TimeSpan.FromSeconds(1));
        });
        _cluster = builder.Build();
        await _cluster.DeployAsync();

        var services = _cluster.Silos[0].ServiceProvider;
        await services.GetRequiredService<BuiltInModel>().EnsureRegisteredAsync();
        _client = new IndexerClient(_cluster.Client, services.GetRequiredService<BlobImageStore>(), services.GetRequiredService<BlobModelStore>());
    }

    [Fact]
    public async Task KillSilo_HoldingAGalleryMidIngest_TheGalleryResumesElsewhereWithEveryItemOnce()
    {
        var gallery = _client.Gallery("alice", "crash");
        await gallery.CreateAsync();
        var grain = _cluster.Client.GetGrain<IGalleryGrain>(gallery.Key.ToString());
        Assert.True(_cluster.TryGetGrainContext(grain.GetGrainId(), out var placed));
        var victim = _cluster.Silos.Single(s => s.SiloAddress == placed.Address.SiloAddress);
        var survivor = _cluster.Silos.Single(s => s != victim);

        var accepted = await gallery.UploadAsync(SampleImages.Uploads(0, 160).ToList());
        Assert.Equal(160, accepted.Accepted.Count);
        await WaitUntilAsync(async () => (await grain.GetStatsAsync()).Items > 0);
        var beforeKill = await grain.GetStatsAsync();
        Assert.True(beforeKill.Pending > 0, "the kill must happen while items are still pending");

        await _cluster.KillSiloAsync(victim);

        // Nobody calls the gallery now: its resume reminder must bring it back on the surviving silo.
        await WaitUntilAsync(async () =>
            _cluster.TryGetGrainContext(grain.GetGrainId(), out var context) && context.Address.SiloAddress == survivor.SiloAddress,
            TimeSpan.FromMinutes(2));
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        var stats = await RetryAsync(() => gallery.WaitUntilIndexedAsync(cancellationToken: timeout.Token));
        Assert.Equal(160, stats.Items);
        Assert.Equal(0, stats.Failed);
        var ids = new List<string>();
        string? after = null;
        do
        {
            var page = await gallery.ListAsync(after, 100);
            ids.AddRange(page.Items.Select(i => i.ItemId));
            after = page.Next;
        }
        while (after is not null);
        Assert.Equal(SampleImages.Uploads(0, 160).Select(u => u.ItemId).Order(StringComparer.Ordinal), ids);
    }

    /// <summary>Calls fail while the cluster has not yet declared the killed silo dead; callers retry, as a client would.</summary>
    private static async Task<T> RetryAsync<T>(Func<Task<T>> call)
    {
        var deadline = DateTime.UtcNow.AddMinutes(2);
        while (true)
        {
            try
            {
                return await call();
            }
            catch (Exception ex) when (ex is not OperationCanceledException && DateTime.UtcNow < deadline)
            {
                await Task.Delay(250);
            }
        }
    }

    private static async Task WaitUntilAsync(Func<Task<bool>> condition, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromMinutes(1));
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException("condition not reached");
            await Task.Delay(20);
        }
    }

    public async Task DisposeAsync()
    {
        await _cluster.StopAllSilosAsync();
        await _cluster.DisposeAsync();
        await _azurite.DisposeAsync();
    }
}
