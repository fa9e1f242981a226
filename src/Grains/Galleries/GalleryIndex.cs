using Indexer.Galleries;
using Indexer.Search;
using Indexer.Storage;

namespace Indexer.Grains.Galleries;

/// <summary>
/// The in-memory view of a gallery: its items and one exact vector index per model version. It is rebuilt from the
/// gallery's segments on activation by applying their records in order, and kept current by applying each new record.
/// Plain data structure: not thread-safe, owned by one grain activation.
/// </summary>
public sealed class GalleryIndex
{
    private readonly Dictionary<string, ItemEntry> _items = new(StringComparer.Ordinal);
    private readonly SortedSet<string> _orderedIds = new(StringComparer.Ordinal);
    private readonly Dictionary<string, FlatVectorIndex> _byVersion = new(StringComparer.Ordinal);

    public int Count => _items.Count;

    public bool Contains(string itemId) => _items.ContainsKey(itemId);

    public bool TryGet(string itemId, out GalleryItem item)
    {
        if (_items.TryGetValue(itemId, out var entry))
        {
            item = entry.ToItem();
            return true;
        }

        item = null!;
        return false;
    }

    /// <summary>Applies one segment record: a vector upserts the item (moving it between versions if needed); a tombstone removes it.</summary>
    public void Apply(SegmentRecord record)
    {
        if (record.Vector is null)
        {
            Remove(record.ItemId);
            return;
        }

        if (_items.TryGetValue(record.ItemId, out var previous) && previous.ModelVersion != record.ModelVersion)
        {
            _byVersion[previous.ModelVersion].Remove(record.ItemId);
        }

        if (!_byVersion.TryGetValue(record.ModelVersion, out var index))
        {
            index = new FlatVectorIndex(record.Vector.Length);
            _byVersion.Add(record.ModelVersion, index);
        }
        else if (index.Dimension != record.Vector.Length)
        {
            throw new InvalidDataException(
                $"item '{record.ItemId}' has a {record.Vector.Length}-d vector for model {record.ModelVersion}, whose vectors are {index.Dimension}-d");
        }

        index.Upsert(record.ItemId, record.Vector);
        _items[record.ItemId] = new ItemEntry(record.ContentHash, record.ModelVersion, record.AddedAtUnixMs, record.Metadata, record.ItemId);
        _orderedIds.Add(record.ItemId);
    }

    public bool Remove(string itemId)
    {
        if (!_items.Remove(itemId, out var entry)) return false;
        _byVersion[entry.ModelVersion].Remove(itemId);
        _orderedIds.Remove(itemId);
        return true;
    }

    /// <summary>The stored vector of an item, in its own model version's space.</summary>
    public bool TryGetVector(string itemId, out QueryEmbedding embedding)
    {
        if (_items.TryGetValue(itemId, out var entry))
        {
            var index = _byVersion[entry.ModelVersion];
            var vector = new float[index.Dimension];
            if (index.TryGetVector(itemId, vector))
            {
                embedding = new QueryEmbedding(entry.ModelVersion, vector);
                return true;
            }
        }

        embedding = null!;
        return false;
    }

    /// <summary>
    /// Exact top-k over the items held in the query's model version. Items in other versions are not comparable with
    /// the query yet and are counted as excluded, never silently mixed in.
    /// </summary>
    public SearchResult Search(QueryEmbedding query, int k, string? excludeId = null)
    {
        var excluded = Count;
        if (!_byVersion.TryGetValue(query.ModelVersion, out var index) || index.Count == 0)
        {
            return new SearchResult([], query.ModelVersion, 0, excluded);
        }

        if (query.Vector.Length != index.Dimension)
        {
            throw new IndexerException(IndexerErrorCode.InvalidArgument,
                $"the query has {query.Vector.Length} dimensions; model {query.ModelVersion} has {index.Dimension}");
        }

        var hits = index.Search(query.Vector, k, excludeId);
        return new SearchResult(ToMatches(hits), query.ModelVersion, index.Count, excluded - index.Count);
    }

    private SearchMatch[] ToMatches(IReadOnlyList<SearchHit> hits)
    {
        var matches = new SearchMatch[hits.Count];
        for (var i = 0; i < hits.Count; i++)
        {
            var entry = _items[hits[i].Id];
            matches[i] = new SearchMatch(hits[i].Id, hits[i].Score, entry.ModelVersion, entry.Metadata);
        }

        return matches;
    }

    /// <summary>
    /// <see cref="Search"/> for many queries: those of one model version are scored together, in one pass over that
    /// version's vectors per block of queries. Results come back in the order of <paramref name="queries"/>.
    /// </summary>
    public SearchResult[] SearchMany(IReadOnlyList<QueryEmbedding> queries, int k)
    {
        var results = new SearchResult[queries.Count];
        foreach (var group in Enumerable.Range(0, queries.Count).GroupBy(i => queries[i].ModelVersion, StringComparer.Ordinal))
        {
            var members = group.ToArray();
            if (!_byVersion.TryGetValue(group.Key, out var index) || index.Count == 0)
            {
                foreach (var i in members) results[i] = new SearchResult([], group.Key, 0, Count);
                continue;
            }

            var block = new float[members.Length * index.Dimension];
            for (var m = 0; m < members.Length; m++)
            {
                var vector = queries[members[m]].Vector;
                if (vector.Length != index.Dimension)
                {
                    throw new IndexerException(IndexerErrorCode.InvalidArgument,
                        $"query {members[m]} has {vector.Length} dimensions; model {group.Key} has {index.Dimension}");
                }

                vector.CopyTo(block, m * index.Dimension);
                VectorMath.NormalizeInPlace(block.AsSpan(m * index.Dimension, index.Dimension));
            }

            var hits = index.SearchMany(block, members.Length, k);
            for (var m = 0; m < members.Length; m++)
            {
                results[members[m]] = new SearchResult(ToMatches(hits[m]), group.Key, index.Count, Count - index.Count);
            }
        }

        return results;
    }

    /// <summary>Up to <paramref name="count"/> random items of one version with their vectors (seeded, so repeatable).</summary>
    public IReadOnlyList<Indexer.Compatibility.CalibrationItem> Sample(string modelVersion, int count, int seed)
    {
        if (!_byVersion.TryGetValue(modelVersion, out var index) || index.Count == 0) return [];
        var ids = index.Ids.ToArray();
        Array.Sort(ids, StringComparer.Ordinal); // storage order depends on history; sort so a seed means one sample
        new Random(seed).Shuffle(ids);
        var sample = new List<Indexer.Compatibility.CalibrationItem>(Math.Min(count, ids.Length));
        foreach (var id in ids.Take(count))
        {
            var vector = new float[index.Dimension];
            index.TryGetVector(id, vector);
            sample.Add(new Indexer.Compatibility.CalibrationItem(id, _items[id].ContentHash, vector));
        }

        return sample;
    }

    public IReadOnlyDictionary<string, int> CountsByVersion() =>
        _byVersion.Where(v => v.Value.Count > 0).ToDictionary(v => v.Key, v => v.Value.Count, StringComparer.Ordinal);

    /// <summary>Up to <paramref name="limit"/> items in id order, after <paramref name="after"/> (exclusive).</summary>
    public ItemPage Page(string? after, int limit)
    {
        IEnumerable<string> ids = _orderedIds;
        if (after is not null && _orderedIds.Count > 0)
        {
            var max = _orderedIds.Max!;
            ids = StringComparer.Ordinal.Compare(after, max) >= 0
                ? []
                : _orderedIds.GetViewBetween(after, max).Where(id => !string.Equals(id, after, StringComparison.Ordinal));
        }

        var page = ids.Take(limit + 1).ToList();
        var next = page.Count > limit ? page[limit - 1] : null;
        var items = page.Take(limit).Select(id => _items[id].ToItem()).ToList();
        return new ItemPage(items, next);
    }

    private sealed record ItemEntry(
        string ContentHash, string ModelVersion, long AddedAtUnixMs, IReadOnlyDictionary<string, string> Metadata, string ItemId)
    {
        public GalleryItem ToItem() =>
            new(ItemId, ContentHash, ModelVersion, DateTimeOffset.FromUnixTimeMilliseconds(AddedAtUnixMs), Metadata);
    }
}
