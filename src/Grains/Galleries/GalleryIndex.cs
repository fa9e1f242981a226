using Indexer.Galleries;
using Indexer.Models;
using Indexer.Search;
using Indexer.Search.Maps;
using Indexer.Storage;

namespace Indexer.Grains.Galleries;

/// <summary>
/// A route the index serves: items stored in <see cref="From"/> reach queries of the routed version through
/// <see cref="Map"/>; for an own-space route the map is the identity of <see cref="From"/>'s space, the query comes in
/// <see cref="From"/>'s version too, and <see cref="Scores"/> carries its scores into the routed version's scale.
/// <see cref="Carry"/>, the upgrade's fitted map, gives an own-space item a vector of the routed version where one is
/// needed without a query (clustering, a search by that item).
/// </summary>
public sealed record IndexRoute(string From, RouteKind Kind, EmbeddingMap Map, ScoreCalibration? Scores = null, EmbeddingMap? Carry = null);

/// <summary>
/// The in-memory view of a gallery: its items and one exact vector index per model version. An item holds a vector in
/// every version it was embedded with (two during an upgrade that can still be rolled back). It is rebuilt from the
/// gallery's segments on activation by applying their records in order, and kept current by applying each new record.
/// <para>
/// For the query version of the serving plan (<see cref="SetRoutes"/>), items that lack a vector in that version are
/// held a second time in a routed index per old version: their vector carried into the query's space (a copy for a
/// compatible version, the fitted map's image for a mapped one, the vector itself for an own-space one). A search scans
/// the query version's index and the routed ones and merges by score (an own-space route's scores calibrated first);
/// items without a route are counted as excluded, never silently mixed in.
/// </para>
/// Plain data structure: not thread-safe, owned by one grain activation.
/// </summary>
public sealed class GalleryIndex
{
    private readonly Dictionary<string, ItemEntry> _items = new(StringComparer.Ordinal);
    private readonly SortedSet<string> _orderedIds = new(StringComparer.Ordinal);
    private readonly Dictionary<string, FlatVectorIndex> _byVersion = new(StringComparer.Ordinal);
    private readonly Dictionary<string, FlatVectorIndex> _routed = new(StringComparer.Ordinal);
    private string? _routedVersion;
    private IReadOnlyList<IndexRoute> _routes = [];
    private (string Version, RegressionGuard Guard)? _guard;

    /// <summary>Distinct items.</summary>
    public int Count => _items.Count;

    /// <summary>The query version routes are held for, or null.</summary>
    public string? RoutedVersion => _routedVersion;

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

    /// <summary>True when the item holds a vector in <paramref name="version"/>.</summary>
    public bool HasVersion(string itemId, string version) => _items.TryGetValue(itemId, out var entry) && entry.Versions.Contains(version);

    /// <summary>
    /// Applies one segment record: a vector upserts the item's vector in its version (other versions stay); a tombstone
    /// for <see cref="SegmentRecord.AllVersions"/> removes the item; a tombstone for one version drops that vector only.
    /// </summary>
    public void Apply(SegmentRecord record)
    {
        if (record.RemovesItem)
        {
            Remove(record.ItemId);
            return;
        }

        if (record.Vector is null)
        {
            RemoveVersion(record.ItemId, record.ModelVersion);
            return;
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
        var versions = _items.TryGetValue(record.ItemId, out var previous) ? previous.Versions : [];
        if (!versions.Contains(record.ModelVersion)) versions = [.. versions, record.ModelVersion];
        _items[record.ItemId] = new ItemEntry(record.ContentHash, record.ModelVersion, versions, record.AddedAtUnixMs, record.Metadata, record.ItemId);
        _orderedIds.Add(record.ItemId);
        Reroute(record.ItemId);
    }

    public bool Remove(string itemId)
    {
        if (!_items.Remove(itemId, out var entry)) return false;
        foreach (var version in entry.Versions) _byVersion[version].Remove(itemId);
        foreach (var routed in _routed.Values) routed.Remove(itemId);
        _orderedIds.Remove(itemId);
        return true;
    }

    /// <summary>Drops an item's vector in one version; an item left with no vector is removed.</summary>
    public bool RemoveVersion(string itemId, string version)
    {
        if (!_items.TryGetValue(itemId, out var entry) || !entry.Versions.Contains(version)) return false;
        if (entry.Versions.Length == 1) return Remove(itemId);
        _byVersion[version].Remove(itemId);
        var rest = entry.Versions.Where(v => v != version).ToArray();
        _items[itemId] = entry with { Versions = rest, Primary = entry.Primary == version ? rest[^1] : entry.Primary };
        Reroute(itemId);
        return true;
    }

    /// <summary>
    /// Serves queries of <paramref name="queryVersion"/> over items held only in other versions through
    /// <paramref name="routes"/> (first match wins for an item held in several). Replaces any earlier routes.
    /// </summary>
    public void SetRoutes(string queryVersion, IReadOnlyList<IndexRoute> routes)
    {
        _routed.Clear();
        _routedVersion = queryVersion;
        _routes = routes.Where(r => r.Kind is RouteKind.Compatible or RouteKind.Mapped or RouteKind.OwnSpace && r.From != queryVersion).ToList();
        foreach (var route in _routes)
        {
            if (_byVersion.TryGetValue(route.From, out var source) && source.Dimension == route.Map.InputDimension)
            {
                _routed[route.From] = new FlatVectorIndex(route.Map.OutputDimension, Math.Max(16, source.Count));
            }
        }

        foreach (var id in _items.Keys) Reroute(id);
    }

    /// <summary>
    /// Re-ranks the first results of searches in the routed version with the scores of <paramref name="version"/>, for
    /// queries that carry an embedding in it (<see cref="RegressionGuard"/>); null turns the guard off.
    /// </summary>
    public void SetGuard(string? version, RegressionGuard? guard) => _guard = version is not null && guard is not null ? (version, guard) : null;

    /// <summary>The version whose scores guard the routed version's searches, or null.</summary>
    public string? GuardVersion => _guard?.Version;

    /// <summary>Items of each route for the routed query version: what a search over the whole gallery would compare.</summary>
    public IReadOnlyDictionary<RouteKind, int> RouteCounts()
    {
        var counts = new Dictionary<RouteKind, int>();
        if (_routedVersion is null) return counts;
        counts[RouteKind.SameVersion] = _byVersion.GetValueOrDefault(_routedVersion)?.Count ?? 0;
        foreach (var route in _routes)
        {
            if (_routed.TryGetValue(route.From, out var routed)) counts[route.Kind] = counts.GetValueOrDefault(route.Kind) + routed.Count;
        }

        counts[RouteKind.Excluded] = Count - counts.Values.Sum();
        return counts;
    }

    private void Reroute(string itemId)
    {
        if (_routedVersion is null || _routes.Count == 0) return;
        foreach (var routed in _routed.Values) routed.Remove(itemId);
        if (!_items.TryGetValue(itemId, out var entry) || entry.Versions.Contains(_routedVersion)) return;
        foreach (var route in _routes)
        {
            if (!entry.Versions.Contains(route.From) || !_routed.TryGetValue(route.From, out var routed)) continue;
            var source = _byVersion[route.From];
            var buffer = new float[source.Dimension];
            source.TryGetVector(itemId, buffer);
            var mapped = route.Map.Apply(buffer);
            if (VectorMath.IsFinite(mapped) && mapped.Any(x => x != 0)) routed.Upsert(itemId, mapped);
            return;
        }
    }

    /// <summary>
    /// The vector to search with for an item, in <paramref name="preferredVersion"/> when the item holds one or is routed
    /// to it, otherwise in the version it was last embedded with.
    /// </summary>
    public bool TryGetVector(string itemId, string? preferredVersion, out QueryEmbedding embedding)
    {
        embedding = null!;
        if (!_items.TryGetValue(itemId, out var entry)) return false;
        if (preferredVersion is not null && entry.Versions.Contains(preferredVersion)) return TryRead(_byVersion[preferredVersion], preferredVersion, itemId, out embedding);
        if (preferredVersion is not null && preferredVersion == _routedVersion)
        {
            foreach (var route in _routes)
            {
                if (!_routed.TryGetValue(route.From, out var routed) || !routed.Contains(itemId)) continue;
                if (route.Kind != RouteKind.OwnSpace) return TryRead(routed, preferredVersion, itemId, out embedding);

                // An own-space route holds the item's vector in its own version; the fitted map, when there is one,
                // carries it into the query's space.
                if (route.Carry is not { } carry || carry.InputDimension != routed.Dimension) break;
                var own = new float[routed.Dimension];
                routed.TryGetVector(itemId, own);
                var carried = carry.Apply(own);
                if (!VectorMath.IsFinite(carried)) break;
                embedding = new QueryEmbedding(preferredVersion, carried);
                return true;
            }
        }

        return TryRead(_byVersion[entry.Primary], entry.Primary, itemId, out embedding);
    }

    /// <summary>The item's own vector in <paramref name="version"/>, when it holds one.</summary>
    public float[]? OwnVector(string itemId, string version) =>
        HasVersion(itemId, version) && TryRead(_byVersion[version], version, itemId, out var embedding) ? embedding.Vector : null;

    private static bool TryRead(FlatVectorIndex index, string version, string itemId, out QueryEmbedding embedding)
    {
        var vector = new float[index.Dimension];
        embedding = index.TryGetVector(itemId, vector) ? new QueryEmbedding(version, vector) : null!;
        return embedding is not null;
    }

    /// <summary>Exact top-k over every item the query can be compared with: its own version plus, for the routed version, the routed indexes.</summary>
    public SearchResult Search(QueryEmbedding query, int k, string? excludeId = null) => SearchMany([query], k, excludeId)[0];

    /// <summary>
    /// <see cref="Search"/> for many queries: those of one model version are scored together, in one pass over each index
    /// per block of queries. Results come back in the order of <paramref name="queries"/>. An own-space route is searched
    /// by the queries that carry an embedding in its version; for the others its items count as excluded.
    /// </summary>
    public SearchResult[] SearchMany(IReadOnlyList<QueryEmbedding> queries, int k, string? excludeId = null)
    {
        var results = new SearchResult[queries.Count];
        var excludedHere = excludeId is not null && _items.ContainsKey(excludeId) ? 1 : 0;
        foreach (var group in Enumerable.Range(0, queries.Count).GroupBy(i => queries[i].ModelVersion, StringComparer.Ordinal))
        {
            var version = group.Key;
            var members = group.ToArray();
            var sources = new List<(FlatVectorIndex Index, IndexRoute? Route)>();
            if (_byVersion.TryGetValue(version, out var own) && own.Count > 0) sources.Add((own, null));
            if (version == _routedVersion)
            {
                foreach (var route in _routes)
                {
                    if (_routed.TryGetValue(route.From, out var routed) && routed.Count > 0) sources.Add((routed, route));
                }
            }

            var merged = new List<SearchHit>[members.Length];
            var served = new Dictionary<string, int>[members.Length];
            var searched = new int[members.Length];
            for (var m = 0; m < members.Length; m++) (merged[m], served[m]) = ([], new Dictionary<string, int>(StringComparer.Ordinal));
            foreach (var (index, route) in sources)
            {
                var ownSpace = route is { Kind: RouteKind.OwnSpace };
                var space = ownSpace ? route!.From : version;
                var users = Enumerable.Range(0, members.Length).Where(m => QueryIn(queries[members[m]], space) is not null).ToArray();
                if (users.Length == 0) continue;
                var block = new float[users.Length * index.Dimension];
                for (var u = 0; u < users.Length; u++)
                {
                    var vector = QueryIn(queries[members[users[u]]], space)!;
                    if (vector.Length != index.Dimension)
                    {
                        throw new IndexerException(IndexerErrorCode.InvalidArgument,
                            $"query {members[users[u]]} has {vector.Length} dimensions in model {space}, whose vectors have {index.Dimension}");
                    }

                    vector.CopyTo(block, u * index.Dimension);
                    VectorMath.NormalizeInPlace(block.AsSpan(u * index.Dimension, index.Dimension));
                }

                // One extra hit per source covers the excluded item, which FlatVectorIndex.SearchMany does not skip.
                var hits = index.SearchMany(block, users.Length, excludeId is null ? k : k + 1);
                var compared = index.Count - (excludeId is not null && index.Contains(excludeId) ? 1 : 0);
                var name = RouteName(route?.Kind ?? RouteKind.SameVersion);
                for (var u = 0; u < users.Length; u++)
                {
                    var m = users[u];
                    foreach (var hit in hits[u])
                    {
                        if (hit.Id == excludeId) continue;
                        merged[m].Add(ownSpace && route!.Scores is { } scores ? hit with { Score = scores.Apply(hit.Score) } : hit);
                    }

                    served[m][name] = served[m].GetValueOrDefault(name) + compared;
                    searched[m] += compared;
                }
            }

            for (var m = 0; m < members.Length; m++)
            {
                var top = merged[m].OrderByDescending(h => h.Score).ThenBy(h => h.Id, StringComparer.Ordinal).Take(k).ToList();
                var guardedBy = version == _routedVersion ? Guard(queries[members[m]], top) : null;
                var excluded = Math.Max(0, Count - searched[m] - excludedHere);
                results[members[m]] = new SearchResult(ToMatches(top), version, searched[m], excluded, served[m], guardedBy);
            }
        }

        return results;
    }

    /// <summary>
    /// Re-ranks the head of <paramref name="top"/> with the guard version's scores when the query carries an embedding in
    /// it: each hit's stored vector in that version against it (a hit without one keeps its score). Returns the guard
    /// version when it did.
    /// </summary>
    private string? Guard(QueryEmbedding query, List<SearchHit> top)
    {
        if (_guard is not { } guard || top.Count < 2 || !_byVersion.TryGetValue(guard.Version, out var old)) return null;
        if (QueryIn(query, guard.Version) is not { } vector || vector.Length != old.Dimension) return null;
        var oldQuery = (float[])vector.Clone();
        VectorMath.NormalizeInPlace(oldQuery);
        var stored = new float[old.Dimension];
        guard.Guard.Rerank(top, hit => hit.Score, hit => old.TryGetVector(hit.Id, stored) ? VectorMath.Dot(oldQuery, stored) : null);
        return guard.Version;
    }

    /// <summary>The query's vector in <paramref name="version"/>: its own, or one of its other embeddings, or null.</summary>
    private static float[]? QueryIn(QueryEmbedding query, string version)
    {
        if (query.ModelVersion == version) return query.Vector;
        return query.OtherVersions?.GetValueOrDefault(version);
    }

    /// <summary>Versions whose items this index serves through an own-space route (and holds any of): a query needs an embedding in each.</summary>
    public IReadOnlyList<string> OwnSpaceVersions() =>
        _routes.Where(r => r.Kind == RouteKind.OwnSpace && _routed.TryGetValue(r.From, out var routed) && routed.Count > 0).Select(r => r.From).ToList();

    /// <summary>
    /// Versions besides the routed one that a query of the routed version should also be embedded in: every own-space
    /// version, without which their items are excluded, and the guard's, without which the first results are ranked by
    /// the routed version alone.
    /// </summary>
    public IReadOnlyList<string> CompanionVersions()
    {
        var versions = OwnSpaceVersions();
        return _guard is { } guard && !versions.Contains(guard.Version) ? [.. versions, guard.Version] : versions;
    }

    /// <summary>The wire name of a route, as search results and metrics report it.</summary>
    public static string RouteName(RouteKind kind) => kind switch
    {
        RouteKind.SameVersion => "same-version",
        RouteKind.Compatible => "compatible",
        RouteKind.Mapped => "mapped",
        RouteKind.OwnSpace => "own-space",
        _ => "excluded",
    };

    private SearchMatch[] ToMatches(IReadOnlyList<SearchHit> hits)
    {
        var matches = new SearchMatch[hits.Count];
        for (var i = 0; i < hits.Count; i++)
        {
            var entry = _items[hits[i].Id];
            matches[i] = new SearchMatch(hits[i].Id, hits[i].Score, entry.Primary, entry.Metadata);
        }

        return matches;
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
            sample.Add(new Indexer.Compatibility.CalibrationItem(id, _items[id].ContentHash, vector, _items[id].Metadata));
        }

        return sample;
    }

    /// <summary>
    /// Up to <paramref name="max"/> items held in both versions with both vectors, in id order, evenly strided over all such
    /// items when there are more.
    /// </summary>
    public Indexer.Compatibility.VersionPairs Pairs(string from, string to, int max)
    {
        if (max <= 0 || !_byVersion.TryGetValue(from, out var old) || !_byVersion.TryGetValue(to, out var current)) return Indexer.Compatibility.VersionPairs.Empty;
        var ids = old.Ids.Where(id => _items[id].Versions.Contains(to)).ToArray();
        Array.Sort(ids, StringComparer.Ordinal);
        var count = Math.Min(max, ids.Length);
        if (count == 0) return Indexer.Compatibility.VersionPairs.Empty;
        var oldVectors = new float[count * old.Dimension];
        var newVectors = new float[count * current.Dimension];
        for (var k = 0; k < count; k++)
        {
            var id = ids[(int)((long)k * ids.Length / count)];
            old.TryGetVector(id, oldVectors.AsSpan(k * old.Dimension, old.Dimension));
            current.TryGetVector(id, newVectors.AsSpan(k * current.Dimension, current.Dimension));
        }

        return new Indexer.Compatibility.VersionPairs(count, old.Dimension, current.Dimension, oldVectors, newVectors);
    }

    /// <summary>
    /// Items held in <paramref name="from"/> but not in <paramref name="to"/>, with their stored <paramref name="from"/>
    /// vectors (row-major) for scoring: the candidates of an upgrade's backfill.
    /// </summary>
    public (string[] Ids, string[] ContentHashes, float[] Vectors, int Dimension) Unconverted(string from, string to)
    {
        if (!_byVersion.TryGetValue(from, out var index)) return ([], [], [], 0);
        var ids = index.Ids.Where(id => !_items[id].Versions.Contains(to)).ToArray();
        Array.Sort(ids, StringComparer.Ordinal);
        var vectors = new float[ids.Length * index.Dimension];
        for (var i = 0; i < ids.Length; i++) index.TryGetVector(ids[i], vectors.AsSpan(i * index.Dimension, index.Dimension));
        return (ids, ids.Select(id => _items[id].ContentHash).ToArray(), vectors, index.Dimension);
    }

    /// <summary>Items held in <paramref name="version"/> and in others too: those whose other vectors an upgrade's commit drops.</summary>
    public IReadOnlyList<GalleryItem> HeldWithOthers(string version) =>
        _items.Values.Where(e => e.Versions.Length > 1 && e.Versions.Contains(version)).Select(e => e.ToItem()).ToList();

    /// <summary>Vectors held per version (an item held in two versions counts in both).</summary>
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
        string ContentHash, string Primary, string[] Versions, long AddedAtUnixMs, IReadOnlyDictionary<string, string> Metadata, string ItemId)
    {
        public GalleryItem ToItem() =>
            new(ItemId, ContentHash, Primary, DateTimeOffset.FromUnixTimeMilliseconds(AddedAtUnixMs), Metadata, Versions);
    }
}
