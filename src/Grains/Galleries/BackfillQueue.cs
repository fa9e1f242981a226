namespace Indexer.Grains.Galleries;

/// <summary>
/// The items a gallery's backfill has still to re-embed, in the policy's order (least compatible first), except that an
/// item people keep finding goes first: once it has been among the first <see cref="CountedRank"/> results of
/// <c>promoteAfterHits</c> searches it is promoted to the front. Every queued item is handed out once; items handed out
/// and not written can be put back. Not thread-safe: the gallery grain's turns use it one at a time.
/// </summary>
public sealed class BackfillQueue
{
    /// <summary>A search counts as a hit for the items among its first this-many results: what a person sees of it.</summary>
    public const int CountedRank = 10;

    private readonly int _promoteAfterHits;
    private readonly HashSet<string> _waiting;
    private readonly Dictionary<string, int> _hits = new(StringComparer.Ordinal);
    private readonly Queue<string> _retry = new();
    private readonly Queue<string> _promoted = new();
    private readonly HashSet<string> _promotedIds = new(StringComparer.Ordinal);
    private readonly Queue<string> _ordered;

    /// <param name="ordered">The selected items, in the order the policy re-embeds them.</param>
    /// <param name="promoteAfterHits">Hits after which an item goes first; 0 keeps the policy's order.</param>
    public BackfillQueue(IEnumerable<string> ordered, int promoteAfterHits)
    {
        ArgumentNullException.ThrowIfNull(ordered);
        ArgumentOutOfRangeException.ThrowIfNegative(promoteAfterHits);
        _ordered = new Queue<string>(ordered);
        _waiting = new HashSet<string>(_ordered, StringComparer.Ordinal);
        _promoteAfterHits = promoteAfterHits;
    }

    /// <summary>Items not handed out yet.</summary>
    public int Count => _waiting.Count;

    /// <summary>Counts a search's results as hits; returns how many items this promoted.</summary>
    /// <param name="rankedIds">The search's results, best first.</param>
    public int NoteSearched(IEnumerable<string> rankedIds)
    {
        ArgumentNullException.ThrowIfNull(rankedIds);
        if (_promoteAfterHits == 0) return 0;
        var promoted = 0;
        foreach (var id in rankedIds.Take(CountedRank))
        {
            if (!_waiting.Contains(id) || _promotedIds.Contains(id)) continue;
            var hits = _hits[id] = _hits.GetValueOrDefault(id) + 1;
            if (hits < _promoteAfterHits) continue;
            _hits.Remove(id);
            _promotedIds.Add(id);
            _promoted.Enqueue(id);
            promoted++;
        }

        return promoted;
    }

    /// <summary>The next item to re-embed: one put back first, then promoted ones, then the policy's order.</summary>
    /// <param name="id">The item.</param>
    /// <param name="promoted">Whether it was promoted by searches.</param>
    public bool TryDequeue(out string id, out bool promoted)
    {
        foreach (var queue in new[] { _retry, _promoted, _ordered })
        {
            while (queue.TryDequeue(out var next))
            {
                if (!_waiting.Remove(next)) continue; // handed out already (promoted, then met again in the policy's order)
                _hits.Remove(next);
                promoted = _promotedIds.Remove(next);
                id = next;
                return true;
            }
        }

        (id, promoted) = ("", false);
        return false;
    }

    /// <summary>Puts items handed out but not written back at the front, in the order given (a failed batch is retried first).</summary>
    public void PutBack(IEnumerable<(string Id, bool Promoted)> items)
    {
        ArgumentNullException.ThrowIfNull(items);
        foreach (var (id, promoted) in items)
        {
            if (!_waiting.Add(id)) continue;
            _retry.Enqueue(id);
            if (promoted) _promotedIds.Add(id);
        }
    }
}
