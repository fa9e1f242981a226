using System.Collections.Concurrent;
using System.Security.Cryptography;
using Indexer.Search.Maps;
using Indexer.Storage;

namespace Indexer.Grains.Models;

/// <summary>
/// The decoded maps of a silo, shared by its galleries. A map is immutable once decoded, and a kernel map fitted again
/// during a backfill holds up to 3200 anchors of 512-d with their coefficients (13 MB): decoded by every gallery, that
/// was 13 MB per gallery activation. The stored bytes are still read on every call (a map is stored in place when it is
/// fitted again); a map whose bytes hash as before is the instance already decoded.
/// </summary>
public sealed class MapCache
{
    private readonly Func<string, string, CancellationToken, Task<byte[]?>> _read;
    private readonly ConcurrentDictionary<(string From, string To), Entry> _maps = new();

    public MapCache(BlobModelStore models)
        : this((models ?? throw new ArgumentNullException(nameof(models))).GetMapAsync)
    {
    }

    /// <param name="read">Reads the stored map of an upgrade, null when there is none.</param>
    public MapCache(Func<string, string, CancellationToken, Task<byte[]?>> read) => _read = read ?? throw new ArgumentNullException(nameof(read));

    /// <summary>The stored map from <paramref name="from"/> to <paramref name="to"/>, decoded once per content; null when none is stored.</summary>
    /// <exception cref="InvalidDataException">The stored bytes are not a map.</exception>
    public async Task<EmbeddingMap?> GetAsync(string from, string to, CancellationToken ct)
    {
        if (await _read(from, to, ct) is not { } bytes) return null;
        var hash = SHA256.HashData(bytes);
        if (_maps.TryGetValue((from, to), out var cached) && cached.Hash.AsSpan().SequenceEqual(hash)) return cached.Map;
        var map = EmbeddingMapCodec.Decode(bytes);
        _maps[(from, to)] = new Entry(hash, map);
        return map;
    }

    private sealed record Entry(byte[] Hash, EmbeddingMap Map);
}
