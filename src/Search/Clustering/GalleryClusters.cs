using System.Numerics.Tensors;

namespace Indexer.Search.Clustering;

/// <summary>
/// Incremental clustering of one gallery's items in one model version's space (cosine similarity of unit vectors),
/// with stable cluster ids, user names and user corrections that the algorithm never undoes.
/// </summary>
/// <remarks>
/// <para><b>Algorithm.</b> Online DP-means: an added item joins the cluster with the most similar centroid when that
/// similarity reaches <see cref="ClusteringParameters.JoinThreshold"/>, otherwise it starts a cluster; when a join brings
/// the centroid within <see cref="ClusteringParameters.MergeThreshold"/> of another centroid, the two merge.
/// <see cref="Refine"/> runs batch DP-means passes (Lloyd reassignment from the current centroids) to undo the order
/// dependence of the online pass. A centroid is the normalised sum of its members' unit vectors.</para>
/// <para><b>Ids.</b> A cluster keeps its id while items come and go; ids come from a counter kept in the snapshot and
/// are never reused. When two clusters merge automatically, the survivor is, in order: the one a user owns (named, or
/// holding items the user moved in; two user-owned clusters never merge automatically), the larger, the older
/// (smaller id).</para>
/// <para><b>Users.</b> <see cref="Move"/> and <see cref="MoveOut"/> pin an item; the algorithm never moves a pinned
/// item and never drops a name. Members of named clusters leave them only on strong evidence (see
/// <see cref="ClusteringParameters.StayMargin"/>), and every such move is returned as a <see cref="ClusterMove"/>.</para>
/// <para><b>Cost.</b> C clusters with a centroid, n members in the cluster touched, d dimensions. Memory: one copy of
/// each item's unit vector (4d bytes) plus 8d bytes per cluster. <see cref="Add"/>: O(C·d) — one pass over the centroid
/// matrix to find the nearest, one more to look for merges (the number of items does not appear) — plus O(log n) for the
/// member set. <see cref="Remove"/>, <see cref="Move"/>, <see cref="Reembed"/>: O(d + log n), Reembed also O(C·d).
/// <see cref="Refine"/>: O(I·N·C·d) for I passes over N items (parallel over items), plus O(C²·d) for merges.
/// <see cref="Rebase"/> and <see cref="FromSnapshot"/>: O(N·d).</para>
/// <para>Thread safety: none. One grain activation owns an instance and calls it from its turns.</para>
/// </remarks>
public sealed partial class GalleryClusters
{
    /// <summary>Most representatives a listing may ask for per cluster: a listing shows a few thumbnails, not a page.</summary>
    public const int MaxRepresentatives = 100;

    /// <summary>Largest page of <see cref="ItemsOf"/>: about one grain message of item ids.</summary>
    public const int MaxPageSize = 1000;

    /// <summary>Longest model version string accepted, matching a model version's own limit in spirit: it is an id, not text.</summary>
    private const int MaxModelVersionLength = 200;

    private static readonly long[] NoIds = [];

    private readonly Dictionary<string, Item> _items = new(StringComparer.Ordinal);
    private readonly Dictionary<long, Cluster> _clusters = [];

    // Centroid matrix: one unit row per cluster that has a member with a vector; removal moves the last row into the hole.
    private float[] _centroids = [];
    private Cluster?[] _rowOwners = [];
    private int _rowCount;
    private float[] _scores = [];
    private long _nextClusterId = 1;

    /// <summary>Creates an empty clustering for vectors of one model version.</summary>
    /// <param name="modelVersion">The model version whose vectors will be added.</param>
    /// <param name="dimension">The length of that version's vectors.</param>
    /// <param name="parameters">That version's parameters; validated.</param>
    /// <exception cref="ArgumentException">A value is out of range.</exception>
    public GalleryClusters(string modelVersion, int dimension, ClusteringParameters parameters)
    {
        ValidateSpace(modelVersion, dimension, parameters);
        ModelVersion = modelVersion;
        Dimension = dimension;
        Parameters = parameters;
    }

    /// <summary>The model version the clusters are computed in; changes only through <see cref="Rebase"/>.</summary>
    public string ModelVersion { get; private set; }

    /// <summary>The length of the vectors of <see cref="ModelVersion"/>.</summary>
    public int Dimension { get; private set; }

    /// <summary>The parameters of <see cref="ModelVersion"/>.</summary>
    public ClusteringParameters Parameters { get; private set; }

    /// <summary>Items known, in a cluster or moved out.</summary>
    public int ItemCount => _items.Count;

    /// <summary>Clusters, shown or not.</summary>
    public int ClusterCount => _clusters.Count;

    /// <summary>The id the next new cluster will get.</summary>
    public long NextClusterId => _nextClusterId;

    /// <summary>Items with no vector in the current version (kept in place by <see cref="Rebase"/> or <see cref="FromSnapshot"/>).</summary>
    public int ItemsWithoutVector { get; private set; }

    /// <summary>True when <paramref name="itemId"/> is known (in a cluster or moved out).</summary>
    public bool Contains(string itemId)
    {
        ArgumentNullException.ThrowIfNull(itemId);
        return _items.ContainsKey(itemId);
    }

    /// <summary>
    /// Places a new item: it joins the cluster with the most similar centroid if that similarity reaches the join
    /// threshold, otherwise it starts a cluster. A join that brings the cluster's centroid within the merge threshold of
    /// another centroid merges the two (see the class remarks for which id survives). Cost: O(C·d), independent of the
    /// number of items.
    /// </summary>
    /// <param name="itemId">A new item id.</param>
    /// <param name="vector">Its vector in <see cref="ModelVersion"/>; copied and normalised.</param>
    /// <exception cref="ArgumentException">The id is empty or already known, or the vector has the wrong length, a
    /// NaN/infinite element or no direction (all zeros). Nothing is changed.</exception>
    public ClusterAssignment Add(string itemId, ReadOnlySpan<float> vector)
    {
        RequireNewItemId(itemId, nameof(itemId));
        float[] unit = ToUnit(vector, Dimension, itemId, nameof(vector));
        return AddValidated(itemId, unit);
    }

    /// <summary>
    /// <see cref="Add"/> for a batch, in order. Every id and vector is checked before the first is placed, so a bad
    /// entry rejects the whole batch and changes nothing.
    /// </summary>
    /// <returns>One assignment per item, in order; a later item of the batch may merge an earlier one's cluster away.</returns>
    /// <exception cref="ArgumentException">An id is empty, known or repeated, or a vector is invalid.</exception>
    public IReadOnlyList<ClusterAssignment> AddMany(IReadOnlyList<KeyValuePair<string, float[]>> items)
    {
        ArgumentNullException.ThrowIfNull(items);
        var units = new float[items.Count][];
        var inBatch = new HashSet<string>(StringComparer.Ordinal);
        for (int i = 0; i < items.Count; i++)
        {
            (string id, float[] vector) = items[i];
            RequireNewItemId(id, nameof(items));
            if (!inBatch.Add(id))
            {
                throw new ArgumentException($"Item '{id}' appears twice in the batch.", nameof(items));
            }

            ArgumentNullException.ThrowIfNull(vector, nameof(items));
            units[i] = ToUnit(vector, Dimension, id, nameof(items));
        }

        var assignments = new ClusterAssignment[items.Count];
        for (int i = 0; i < items.Count; i++)
        {
            assignments[i] = AddValidated(items[i].Key, units[i]);
        }

        return assignments;
    }

    /// <summary>
    /// Forgets an item (deleted from the gallery), pinned or not. A cluster left with no member ceases to exist, name
    /// included, and its id is retired. Cost: O(d + log n).
    /// </summary>
    /// <returns>False when the item was not known.</returns>
    public bool Remove(string itemId)
    {
        ArgumentNullException.ThrowIfNull(itemId);
        if (!_items.Remove(itemId, out Item? item))
        {
            return false;
        }

        if (item.Cluster is not null)
        {
            LeaveCluster(item);
        }

        if (item.Vector is null)
        {
            ItemsWithoutVector--;
        }

        return true;
    }

    private ClusterAssignment AddValidated(string itemId, float[] unit)
    {
        var item = new Item(itemId) { Vector = unit };
        _items.Add(itemId, item);
        Cluster? nearest = FindNearest(unit, exclude: null, out float score);
        if (nearest is null || score < Parameters.JoinThreshold)
        {
            Cluster created = CreateCluster();
            JoinCluster(item, created);
            return new ClusterAssignment(created.Id, StartedCluster: true, NoIds);
        }

        JoinCluster(item, nearest);
        (Cluster survivor, List<long>? absorbed) = AbsorbNeighbours(nearest);
        return new ClusterAssignment(survivor.Id, StartedCluster: false, absorbed is null ? NoIds : [.. absorbed]);
    }

    /// <summary>
    /// Merges <paramref name="cluster"/> with the most similar centroid at or above the merge threshold, again and again
    /// while one is left: each merge moves the centroid, which can bring a further cluster within reach.
    /// </summary>
    private (Cluster Survivor, List<long>? Absorbed) AbsorbNeighbours(Cluster cluster)
    {
        List<long>? absorbed = null;
        while (cluster.Row >= 0)
        {
            ScoreCentroids(Centroid(cluster.Row));
            Cluster? partner = null;
            float best = Parameters.MergeThreshold;
            for (int row = 0; row < _rowCount; row++)
            {
                Cluster other = _rowOwners[row]!;
                float s = _scores[row];
                if (other == cluster || s < best || (cluster.IsUserOwned && other.IsUserOwned))
                {
                    continue;
                }

                if (s > best || partner is null || other.Id < partner.Id)
                {
                    partner = other;
                    best = s;
                }
            }

            if (partner is null)
            {
                break;
            }

            (Cluster survivor, Cluster victim) = AutomaticSurvivor(cluster, partner);
            MergeInto(survivor, victim);
            (absorbed ??= []).Add(victim.Id);
            cluster = survivor;
        }

        return (cluster, absorbed);
    }

    /// <summary>Which of two clusters keeps its id in an automatic merge: the user-owned one, else the larger, else the older.</summary>
    private static (Cluster Survivor, Cluster Victim) AutomaticSurvivor(Cluster a, Cluster b)
    {
        bool aWins = a.IsUserOwned != b.IsUserOwned
            ? a.IsUserOwned
            : a.Members.Count != b.Members.Count ? a.Members.Count > b.Members.Count : a.Id < b.Id;
        return aWins ? (a, b) : (b, a);
    }

    /// <summary>Moves every member of <paramref name="victim"/> into <paramref name="survivor"/> and retires the victim's id.</summary>
    private void MergeInto(Cluster survivor, Cluster victim)
    {
        foreach (string member in victim.Members)
        {
            _items[member].Cluster = survivor;
        }

        survivor.Members.UnionWith(victim.Members);
        TensorPrimitives.Add(survivor.Sum, victim.Sum, survivor.Sum);
        survivor.Attached += victim.Attached;
        survivor.Pinned += victim.Pinned;
        survivor.Name ??= victim.Name;
        DeleteCluster(victim);
        UpdateCentroid(survivor);
    }

    private Cluster CreateCluster()
    {
        var cluster = new Cluster(_nextClusterId++, Dimension);
        _clusters.Add(cluster.Id, cluster);
        return cluster;
    }

    private void DeleteCluster(Cluster cluster)
    {
        RemoveRow(cluster);
        _clusters.Remove(cluster.Id);
    }

    /// <summary>Adds <paramref name="item"/> to <paramref name="cluster"/> and updates its centroid (O(d + log n)).</summary>
    private void JoinCluster(Item item, Cluster cluster)
    {
        item.Cluster = cluster;
        cluster.Members.Add(item.Id);
        if (item.Pin == ItemPin.InCluster)
        {
            cluster.Pinned++;
        }

        if (item.Vector is not null)
        {
            TensorPrimitives.Add(cluster.Sum, item.Vector, cluster.Sum);
            cluster.Attached++;
            UpdateCentroid(cluster);
        }
    }

    /// <summary>Takes <paramref name="item"/> out of its cluster; a cluster left empty is deleted.</summary>
    private void LeaveCluster(Item item)
    {
        Cluster cluster = item.Cluster!;
        item.Cluster = null;
        cluster.Members.Remove(item.Id);
        if (item.Pin == ItemPin.InCluster)
        {
            cluster.Pinned--;
        }

        if (cluster.Members.Count == 0)
        {
            DeleteCluster(cluster);
            return;
        }

        if (item.Vector is not null)
        {
            cluster.Attached--;
            if (cluster.Attached == 0)
            {
                Array.Clear(cluster.Sum); // exactly zero, not the rounding residue of the subtraction
            }
            else
            {
                TensorPrimitives.Subtract(cluster.Sum, item.Vector, cluster.Sum);
            }

            UpdateCentroid(cluster);
        }
    }

    /// <summary>Rewrites the centroid row of <paramref name="cluster"/> from its sum; a cluster with no vector has no row.</summary>
    private void UpdateCentroid(Cluster cluster)
    {
        if (cluster.Attached == 0)
        {
            RemoveRow(cluster);
            cluster.SumNorm = 0;
            return;
        }

        if (cluster.Row < 0)
        {
            AddRow(cluster);
        }

        Span<float> row = _centroids.AsSpan(cluster.Row * Dimension, Dimension);
        cluster.Sum.CopyTo(row);
        cluster.SumNorm = TensorPrimitives.Norm(cluster.Sum);
        VectorMath.NormalizeInPlace(row);
    }

    private void AddRow(Cluster cluster)
    {
        if (_rowCount == _rowOwners.Length)
        {
            int capacity = Math.Max(16, _rowOwners.Length * 2);
            Array.Resize(ref _centroids, capacity * Dimension);
            Array.Resize(ref _rowOwners, capacity);
            _scores = new float[capacity];
        }

        cluster.Row = _rowCount++;
        _rowOwners[cluster.Row] = cluster;
    }

    private void RemoveRow(Cluster cluster)
    {
        int row = cluster.Row;
        if (row < 0)
        {
            return;
        }

        int last = _rowCount - 1;
        if (row != last)
        {
            Centroid(last).CopyTo(_centroids.AsSpan(row * Dimension, Dimension));
            Cluster moved = _rowOwners[last]!;
            moved.Row = row;
            _rowOwners[row] = moved;
        }

        _rowOwners[last] = null;
        _rowCount = last;
        cluster.Row = -1;
    }

    /// <summary>Rebuilds every sum and the centroid matrix from the members' vectors, rows in id order.</summary>
    private void RebuildCentroids()
    {
        int capacity = Math.Max(16, _clusters.Count);
        _centroids = new float[capacity * Dimension];
        _rowOwners = new Cluster?[capacity];
        _scores = new float[capacity];
        _rowCount = 0;
        foreach (Cluster cluster in _clusters.Values)
        {
            cluster.Sum = new float[Dimension];
            cluster.Attached = 0;
            cluster.Row = -1;
        }

        int withoutVector = 0;
        foreach (Item item in _items.Values)
        {
            if (item.Vector is null)
            {
                withoutVector++;
            }
            else if (item.Cluster is { } cluster)
            {
                TensorPrimitives.Add(cluster.Sum, item.Vector, cluster.Sum);
                cluster.Attached++;
            }
        }

        ItemsWithoutVector = withoutVector;
        foreach (Cluster cluster in _clusters.Values.OrderBy(c => c.Id))
        {
            UpdateCentroid(cluster);
        }
    }

    private ReadOnlySpan<float> Centroid(int row) => _centroids.AsSpan(row * Dimension, Dimension);

    /// <summary>Writes the cosine of <paramref name="unit"/> with every centroid row to <see cref="_scores"/>: one pass over the matrix.</summary>
    private void ScoreCentroids(ReadOnlySpan<float> unit) => ScoreRows(unit, _centroids, _rowCount, Dimension, _scores);

    /// <summary>SIMD dot products of one query with <paramref name="rowCount"/> contiguous rows (the search index's kernel).</summary>
    private static unsafe void ScoreRows(ReadOnlySpan<float> query, ReadOnlySpan<float> rows, int rowCount, int dimension, Span<float> scores)
    {
        if (rowCount == 0)
        {
            return;
        }

        fixed (float* q = query)
        fixed (float* r = rows)
        fixed (float* s = scores)
        {
            DotKernels.ScoreRows(q, r, rowCount, dimension, s);
        }
    }

    /// <summary>
    /// The cluster whose centroid is most similar to <paramref name="unit"/> (ties to the smaller id, so the answer does
    /// not depend on row order), leaving out <paramref name="exclude"/>; null when there is none.
    /// </summary>
    private Cluster? FindNearest(ReadOnlySpan<float> unit, Cluster? exclude, out float bestScore)
    {
        ScoreCentroids(unit);
        Cluster? best = null;
        bestScore = float.NegativeInfinity;
        for (int row = 0; row < _rowCount; row++)
        {
            Cluster owner = _rowOwners[row]!;
            float s = _scores[row];
            if (owner == exclude || s < bestScore)
            {
                continue;
            }

            if (s > bestScore || best is null || owner.Id < best.Id)
            {
                best = owner;
                bestScore = s;
            }
        }

        return best;
    }

    /// <summary>
    /// Cosine of a member's unit vector with its cluster's centroid computed without it, from its cosine
    /// <paramref name="withSelf"/> to the full centroid: with S the sum and v the member, v·(S − v) / |S − v|, where
    /// v·S = withSelf·|S| and |S − v|² = |S|² − 2 v·S + 1. NaN when the member is the cluster's only vector.
    /// </summary>
    private static float LeaveOneOut(float withSelf, float sumNorm, int attached)
    {
        if (attached < 2)
        {
            return float.NaN;
        }

        double dotSum = (double)withSelf * sumNorm;
        double restSquared = ((double)sumNorm * sumNorm) - (2 * dotSum) + 1;
        return restSquared <= 1e-9 ? float.NaN : (float)((dotSum - 1) / Math.Sqrt(restSquared));
    }

    /// <summary>
    /// The rule for moves that must not surprise a user (members of named clusters, and any re-embedded item): leave only
    /// when the item's similarity to its own cluster (without itself) is below the join threshold by
    /// <see cref="ClusteringParameters.StayMargin"/> AND the other cluster reaches the join threshold AND beats the own
    /// one by <see cref="ClusteringParameters.MoveMargin"/>. An item alone in its cluster has no evidence against it.
    /// </summary>
    private bool StrongEvidenceToLeave(float ownWithoutSelf, float bestOther) =>
        !float.IsNaN(ownWithoutSelf)
        && ownWithoutSelf < Parameters.JoinThreshold - Parameters.StayMargin
        && bestOther >= Parameters.JoinThreshold
        && bestOther >= ownWithoutSelf + Parameters.MoveMargin;

    private void RequireNewItemId(string itemId, string paramName)
    {
        if (string.IsNullOrEmpty(itemId))
        {
            throw new ArgumentException("An item id is required.", paramName);
        }

        if (_items.ContainsKey(itemId))
        {
            throw new ArgumentException($"Item '{itemId}' is already clustered; use {nameof(Reembed)} to replace its vector.", paramName);
        }
    }

    private Item RequireItem(string itemId)
    {
        ArgumentNullException.ThrowIfNull(itemId);
        return _items.TryGetValue(itemId, out Item? item)
            ? item
            : throw new KeyNotFoundException($"Item '{itemId}' is not in this gallery's clusters.");
    }

    private Cluster RequireCluster(long clusterId) =>
        _clusters.TryGetValue(clusterId, out Cluster? cluster)
            ? cluster
            : throw new KeyNotFoundException($"Cluster {clusterId} does not exist (it may have been merged away or emptied).");

    /// <summary>A normalised copy of <paramref name="vector"/>, or an <see cref="ArgumentException"/> saying what is wrong with it.</summary>
    private static float[] ToUnit(ReadOnlySpan<float> vector, int dimension, string itemId, string paramName)
    {
        if (vector.Length != dimension)
        {
            throw new ArgumentException($"Item '{itemId}': expected a vector of {dimension} floats, got {vector.Length}.", paramName);
        }

        if (!VectorMath.IsFinite(vector))
        {
            throw new ArgumentException($"Item '{itemId}': the vector contains NaN or infinite values.", paramName);
        }

        if (TensorPrimitives.MaxMagnitude(vector) == 0f)
        {
            throw new ArgumentException($"Item '{itemId}': the vector is all zeros and has no direction.", paramName);
        }

        float[] unit = vector.ToArray();
        VectorMath.NormalizeInPlace(unit);
        return unit;
    }

    private static void ValidateSpace(string modelVersion, int dimension, ClusteringParameters parameters)
    {
        if (string.IsNullOrWhiteSpace(modelVersion) || modelVersion.Length > MaxModelVersionLength)
        {
            throw new ArgumentException($"A model version of 1 to {MaxModelVersionLength} characters is required.", nameof(modelVersion));
        }

        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(dimension);
        ArgumentNullException.ThrowIfNull(parameters);
        parameters.Validate();
    }

    /// <summary>An item: its unit vector in the current version (null when it has none), its cluster and its pin.</summary>
    private sealed class Item(string id)
    {
        public string Id { get; } = id;

        public float[]? Vector { get; set; }

        /// <summary>Null only for items the user moved out.</summary>
        public Cluster? Cluster { get; set; }

        public ItemPin Pin { get; set; }
    }

    /// <summary>A cluster: members (ordinal order, for deterministic paging and snapshots) and the sum of their vectors.</summary>
    private sealed class Cluster(long id, int dimension)
    {
        public long Id { get; } = id;

        public string? Name { get; set; }

        public SortedSet<string> Members { get; } = new(StringComparer.Ordinal);

        /// <summary>Sum of the members' unit vectors (members without a vector add nothing).</summary>
        public float[] Sum { get; set; } = new float[dimension];

        /// <summary>|Sum|, kept with the centroid row for leave-one-out similarities.</summary>
        public float SumNorm { get; set; }

        /// <summary>Members with a vector.</summary>
        public int Attached { get; set; }

        /// <summary>Members the user moved in.</summary>
        public int Pinned { get; set; }

        /// <summary>Row in the centroid matrix, or -1 when no member has a vector.</summary>
        public int Row { get; set; } = -1;

        /// <summary>Named, or holding an item the user moved in: automatic merges never absorb it.</summary>
        public bool IsUserOwned => Name is not null || Pinned > 0;
    }
}
