using System.Collections.Concurrent;
using Indexer.Search.Maps;
using Indexer.Storage;

namespace Indexer.Grains.Models;

/// <summary>
/// The decoded maps of a silo, shared by its galleries. A map is immutable once decoded, and a kernel map fitted again
/// during a backfill holds up to 3200 anchors of 512-d with their coefficients (13 MB): decoded by every gallery, that
/// was 13 MB per gallery activation, and downloaded by every gallery each time it routed. A map is stored in place when
/// it is fitted again, so every call still asks storage whether it changed, by the ETag of the copy decoded here; only a
/// changed map is downloaded and decoded again.
/// </summary>
public sealed class MapCache
{
    private readonly Func<string, string, string?, CancellationToken, Task<StoredMap?>> _read;
    private readonly ConcurrentDictionary<(string From, string To), Entry> _maps = new();

    public MapCache(BlobModelStore models)
        : this((models ?? throw new ArgumentNullException(nameof(models))).GetMapUnlessAsync)
    {
    }

    /// <param name="read">
    /// Reads the stored map of an upgrade unless its ETag is the one given (then the result has no content); null when
    /// there is none.
    /// </param>
    public MapCache(Func<string, string, string?, CancellationToken, Task<StoredMap?>> read) => _read = read ?? throw new ArgumentNullException(nameof(read));

    /// <summary>The stored map from <paramref name="from"/> to <paramref name="to"/>, decoded once per stored version; null when none is stored.</summary>
    /// <exception cref="InvalidDataException">The stored bytes are not a map.</exception>
    public async Task<EmbeddingMap?> GetAsync(string from, string to, CancellationToken ct)
    {
        var held = _maps.TryGetValue((from, to), out var cached) ? cached : null;
        var stored = await _read(from, to, held?.ETag, ct);
        if (stored is null)
        {
            _maps.TryRemove((from, to), out _);
            return null;
        }

        if (stored.Content is null)
        {
            if (held is not null && held.ETag == stored.ETag) return held.Map;
            throw new InvalidOperationException($"storage answered that the map {from} → {to} is unchanged, but no copy of version {stored.ETag} is held");
        }

        var map = EmbeddingMapCodec.Decode(stored.Content);
        _maps[(from, to)] = new Entry(stored.ETag, map);
        return map;
    }

    private sealed record Entry(string ETag, EmbeddingMap Map);
}
