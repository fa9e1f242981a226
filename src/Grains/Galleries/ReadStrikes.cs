namespace Indexer.Grains.Galleries;

/// <summary>
/// Decides when to give up an item whose image keeps failing to read while storage answers (an outcome marked
/// <see cref="Indexer.Embedding.EmbedOutcome.Retryable"/>): each such failure is a strike, and the item is given up at
/// <see cref="Limit"/> strikes. A successful read forgets the item's strikes. Kept in memory only, so a gallery activated
/// again (a silo restart) gives every item a fresh set of tries. Not thread-safe: a grain's turns use it one at a time.
/// </summary>
public sealed class ReadStrikes
{
    /// <summary>Strikes at which an item is given up: each is already the storage client's own retries of one read.</summary>
    public const int DefaultLimit = 3;

    private readonly Dictionary<string, int> _strikes = new(StringComparer.Ordinal);

    public ReadStrikes(int limit = DefaultLimit)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(limit, 1);
        Limit = limit;
    }

    public int Limit { get; }

    /// <summary>Items with at least one strike and not given up.</summary>
    public int Count => _strikes.Count;

    /// <summary>Counts a failed read of <paramref name="itemId"/>; true when this one reaches the limit (the item is then forgotten).</summary>
    public bool Strike(string itemId)
    {
        ArgumentNullException.ThrowIfNull(itemId);
        var strikes = _strikes.GetValueOrDefault(itemId) + 1;
        if (strikes < Limit)
        {
            _strikes[itemId] = strikes;
            return false;
        }

        _strikes.Remove(itemId);
        return true;
    }

    /// <summary>Forgets <paramref name="itemId"/>'s strikes: its image was read.</summary>
    public void Forget(string itemId) => _strikes.Remove(itemId);
}
