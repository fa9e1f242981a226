using Indexer.Grains.Models;
using Indexer.Search.Maps;

namespace Indexer.Tests.Unit;

public sealed class MapCacheTests
{
    private static byte[] Encoded(int seed) =>
        EmbeddingMapCodec.Encode(EmbeddingMap.Kernel(LocalCorrection.FitKernelRidge(Unit(seed), [1, 0, 0, 1], 2, 2, 2, sharpness: 2, penalty: 0.1)));

    private static float[] Unit(int seed) => seed == 0 ? [1, 0, 0, 1] : [0.6f, 0.8f, 0.8f, -0.6f];

    [Fact]
    public async Task TheSameStoredBytes_GiveTheSameDecodedMap_AndNewBytesANewOne()
    {
        var stored = new Dictionary<(string, string), byte[]> { [("v1", "v2")] = Encoded(0) };
        var reads = 0;
        var cache = new MapCache((from, to, _) =>
        {
            reads++;
            return Task.FromResult(stored.GetValueOrDefault((from, to)));
        });

        var first = await cache.GetAsync("v1", "v2", CancellationToken.None);
        var again = await cache.GetAsync("v1", "v2", CancellationToken.None);
        stored[("v1", "v2")] = Encoded(1); // fitted again and stored in place
        var refitted = await cache.GetAsync("v1", "v2", CancellationToken.None);

        Assert.Same(first, again);
        Assert.NotSame(first, refitted);
        Assert.Equal(Unit(1), refitted!.Correction!.Anchors.ToArray());
        Assert.Equal(3, reads); // the bytes are read every time: a map fitted again is stored under the same name
        Assert.Null(await cache.GetAsync("v1", "v3", CancellationToken.None));
    }

    [Fact]
    public async Task StoredBytesThatAreNotAMap_AreRefused()
    {
        var cache = new MapCache((_, _, _) => Task.FromResult<byte[]?>([1, 2, 3]));

        await Assert.ThrowsAsync<InvalidDataException>(() => cache.GetAsync("v1", "v2", CancellationToken.None));
    }
}
