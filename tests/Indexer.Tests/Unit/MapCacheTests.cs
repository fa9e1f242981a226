using Indexer.Grains.Models;
using Indexer.Search.Maps;
using Indexer.Storage;

namespace Indexer.Tests.Unit;

public sealed class MapCacheTests
{
    private static byte[] Encoded(int seed) =>
        EmbeddingMapCodec.Encode(EmbeddingMap.Kernel(LocalCorrection.FitKernelRidge(Unit(seed), [1, 0, 0, 1], 2, 2, 2, sharpness: 2, penalty: 0.1)));

    private static float[] Unit(int seed) => seed == 0 ? [1, 0, 0, 1] : [0.6f, 0.8f, 0.8f, -0.6f];

    [Fact]
    public async Task AnUnchangedMap_IsNotDownloadedAgain_AndAMapStoredAgainIsDecodedAgain()
    {
        var stored = new Dictionary<(string, string), StoredMap> { [("v1", "v2")] = new("\"1\"", Encoded(0)) };
        var downloads = 0;
        var cache = new MapCache((from, to, held, _) =>
        {
            if (stored.GetValueOrDefault((from, to)) is not { } map) return Task.FromResult<StoredMap?>(null);
            if (map.ETag == held) return Task.FromResult<StoredMap?>(map with { Content = null });
            downloads++;
            return Task.FromResult<StoredMap?>(map);
        });

        var first = await cache.GetAsync("v1", "v2", CancellationToken.None);
        var again = await cache.GetAsync("v1", "v2", CancellationToken.None);
        stored[("v1", "v2")] = new("\"2\"", Encoded(1)); // fitted again and stored in place
        var refitted = await cache.GetAsync("v1", "v2", CancellationToken.None);
        var refittedAgain = await cache.GetAsync("v1", "v2", CancellationToken.None);

        Assert.Same(first, again);
        Assert.NotSame(first, refitted);
        Assert.Same(refitted, refittedAgain);
        Assert.Equal(Unit(1), refitted!.Correction!.Anchors.ToArray());
        Assert.Equal(2, downloads); // once per stored version
        Assert.Null(await cache.GetAsync("v1", "v3", CancellationToken.None));
    }

    [Fact]
    public async Task AMapRemovedFromStorage_IsNoLongerServed()
    {
        StoredMap? stored = new("\"1\"", Encoded(0));
        var cache = new MapCache((_, _, held, _) => Task.FromResult(stored is not null && stored.ETag == held ? stored with { Content = null } : stored));

        Assert.NotNull(await cache.GetAsync("v1", "v2", CancellationToken.None));
        stored = null;
        Assert.Null(await cache.GetAsync("v1", "v2", CancellationToken.None));
        stored = new("\"3\"", Encoded(1));
        Assert.Equal(Unit(1), (await cache.GetAsync("v1", "v2", CancellationToken.None))!.Correction!.Anchors.ToArray());
    }

    [Fact]
    public async Task StoredBytesThatAreNotAMap_AreRefused()
    {
        var cache = new MapCache((_, _, _, _) => Task.FromResult<StoredMap?>(new("\"1\"", [1, 2, 3])));

        await Assert.ThrowsAsync<InvalidDataException>(() => cache.GetAsync("v1", "v2", CancellationToken.None));
    }
}
