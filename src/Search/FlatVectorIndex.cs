using System.Buffers;
using System.Runtime.CompilerServices;

namespace Indexer.Search;

/// <summary>
/// Exact (brute-force) cosine-similarity index for one vector space. Per-gallery collections of up to
/// a few hundred thousand vectors are searched in a few milliseconds by streaming one contiguous
/// matrix, which is simpler and far cheaper to build than a graph index, and never misses a result.
/// </summary>
/// <remarks>
/// <para>Vectors are normalised on the way in, so a score is the dot product of unit vectors.
/// Rows live contiguously in one growable <see cref="float"/> array (capacity doubles), with a
/// parallel id array and an id→row dictionary; removal moves the last row into the hole.</para>
/// <para>Thread safety: not safe for concurrent writes. Any number of concurrent readers
/// (<see cref="Search"/>, <see cref="SearchMany"/>, <see cref="TryGetVector"/>, <see cref="Contains"/>)
/// is safe as long as no write (<see cref="Upsert"/>, <see cref="Remove"/>, <see cref="Clear"/>,
/// <see cref="EnsureCapacity"/>) runs at the same time; the owner must serialise writes against reads.</para>
/// </remarks>
public sealed class FlatVectorIndex
{
    /// <summary>
    /// Queries scored per pass over the matrix in <see cref="SearchMany"/>. Eight 512-d queries take
    /// 16 KiB, which stays in L1 next to the current row block; PLATFORM.md measured 8 per pass at
    /// under half the per-query cost of one per pass.
    /// </summary>
    public const int QueriesPerPass = 8;

    /// <summary>
    /// Bytes of rows scored per block before moving to the next one. 32 KiB fits the L1 data cache
    /// of current x64 and ARM cores, so in <see cref="SearchMany"/> the block is read from memory once
    /// and then served from L1 to the other queries of the pass.
    /// </summary>
    private const int BlockBytes = 32 * 1024;

    /// <summary>Query copies up to this many floats (4 KiB) live on the stack; larger ones are pooled.</summary>
    private const int MaxStackQueryFloats = 1024;

    /// <summary>Smallest capacity after growing, so an index created empty does not regrow on each of its first inserts.</summary>
    private const int MinGrowRows = 16;

    private static readonly SearchHit[] NoHits = [];

    private readonly Dictionary<string, int> _rowById;
    private readonly int _rowsPerBlock;
    private float[] _data;
    private string?[] _ids;
    private int _capacity;
    private int _count;
    private int _version;

    /// <summary>Creates an empty index for vectors of <paramref name="dimension"/> floats.</summary>
    /// <param name="dimension">Length of every vector; must be positive.</param>
    /// <param name="initialCapacity">Rows to reserve up front; the storage doubles when full.</param>
    public FlatVectorIndex(int dimension, int initialCapacity = 1024)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(dimension);
        ArgumentOutOfRangeException.ThrowIfNegative(initialCapacity);
        if (initialCapacity > MaxRows(dimension))
        {
            throw new ArgumentOutOfRangeException(nameof(initialCapacity), initialCapacity,
                $"At most {MaxRows(dimension)} rows of dimension {dimension} fit in one array.");
        }

        Dimension = dimension;
        _capacity = initialCapacity;
        _data = initialCapacity == 0 ? [] : GC.AllocateUninitializedArray<float>(initialCapacity * dimension);
        _ids = initialCapacity == 0 ? [] : new string?[initialCapacity];
        _rowById = new Dictionary<string, int>(initialCapacity, StringComparer.Ordinal);

        _rowsPerBlock = Math.Max(1, BlockBytes / (dimension * sizeof(float)));
    }

    /// <summary>Length of every vector in this index.</summary>
    public int Dimension { get; }

    /// <summary>Number of vectors stored.</summary>
    public int Count => _count;

    /// <summary>Rows the current storage holds before it has to grow.</summary>
    public int Capacity => _capacity;

    /// <summary>Ids in storage order (which changes on <see cref="Remove"/>). Enumeration fails if the index changes meanwhile.</summary>
    public IEnumerable<string> Ids
    {
        get
        {
            int version = _version;
            for (int row = 0; row < _count; row++)
            {
                if (version != _version)
                {
                    throw new InvalidOperationException("The index was modified while its ids were enumerated.");
                }

                yield return _ids[row]!;
            }
        }
    }

    /// <summary>The live part of the row matrix (Count × Dimension, row-major), for benchmarks and tests.</summary>
    internal ReadOnlySpan<float> RowData => _data.AsSpan(0, _count * Dimension);

    /// <summary>True when a vector is stored under <paramref name="id"/>.</summary>
    public bool Contains(string id)
    {
        ArgumentNullException.ThrowIfNull(id);
        return _rowById.ContainsKey(id);
    }

    /// <summary>Copies the stored (normalised) vector of <paramref name="id"/> into <paramref name="destination"/>.</summary>
    /// <returns>False when the id is not stored; <paramref name="destination"/> is then untouched.</returns>
    /// <exception cref="ArgumentException"><paramref name="destination"/> is shorter than <see cref="Dimension"/>.</exception>
    public bool TryGetVector(string id, Span<float> destination)
    {
        ArgumentNullException.ThrowIfNull(id);
        if (destination.Length < Dimension)
        {
            throw new ArgumentException($"Destination holds {destination.Length} floats; {Dimension} are needed.", nameof(destination));
        }

        if (!_rowById.TryGetValue(id, out int row))
        {
            return false;
        }

        Row(row).CopyTo(destination);
        return true;
    }

    /// <summary>Adds or replaces the vector of <paramref name="id"/>; the vector is copied and L2-normalised.</summary>
    /// <exception cref="ArgumentException">Wrong length, or a NaN/infinite element.</exception>
    public void Upsert(string id, ReadOnlySpan<float> vector)
    {
        ArgumentNullException.ThrowIfNull(id);
        ValidateVector(vector, nameof(vector));

        if (!_rowById.TryGetValue(id, out int row))
        {
            if (_count == _capacity)
            {
                Grow(_count + 1);
            }

            row = _count;
            _ids[row] = id;
            _rowById.Add(id, row);
            _count++;
        }

        Span<float> target = Row(row);
        vector.CopyTo(target);
        VectorMath.NormalizeInPlace(target);
        _version++;
    }

    /// <summary>Removes the vector of <paramref name="id"/>; the last row moves into its place.</summary>
    /// <returns>False when the id was not stored.</returns>
    public bool Remove(string id)
    {
        ArgumentNullException.ThrowIfNull(id);
        if (!_rowById.Remove(id, out int row))
        {
            return false;
        }

        int last = _count - 1;
        if (row != last)
        {
            Row(last).CopyTo(Row(row));
            string moved = _ids[last]!;
            _ids[row] = moved;
            _rowById[moved] = row;
        }

        _ids[last] = null;
        _count = last;
        _version++;
        return true;
    }

    /// <summary>Removes every vector but keeps the storage.</summary>
    public void Clear()
    {
        Array.Clear(_ids, 0, _count);
        _rowById.Clear();
        _count = 0;
        _version++;
    }

    /// <summary>Makes room for at least <paramref name="capacity"/> rows, so a bulk load grows the storage once.</summary>
    public void EnsureCapacity(int capacity)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(capacity);
        if (capacity > _capacity)
        {
            Grow(capacity);
            _version++;
        }
    }

    /// <summary>
    /// The <paramref name="k"/> stored vectors most similar to <paramref name="query"/>, best first
    /// (score descending, equal scores by id, ordinal). Returns fewer than k hits when fewer are stored.
    /// </summary>
    /// <param name="query">A vector of <see cref="Dimension"/> floats; it is normalised on a copy.</param>
    /// <param name="k">Number of hits wanted; must be positive.</param>
    /// <param name="excludeId">An id to leave out (typically the query item itself), or null.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="k"/> is zero or negative.</exception>
    /// <exception cref="ArgumentException">Wrong query length, or a NaN/infinite element.</exception>
    public IReadOnlyList<SearchHit> Search(ReadOnlySpan<float> query, int k, string? excludeId = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(k);
        ValidateVector(query, nameof(query));

        int excludeRow = excludeId is not null && _rowById.TryGetValue(excludeId, out int found) ? found : -1;
        int available = excludeRow >= 0 ? _count - 1 : _count;
        if (available == 0)
        {
            return NoHits;
        }

        float[]? rented = null;
        Span<float> normalised = Dimension <= MaxStackQueryFloats
            ? stackalloc float[Dimension]
            : (rented = ArrayPool<float>.Shared.Rent(Dimension)).AsSpan(0, Dimension);
        try
        {
            query.CopyTo(normalised);
            VectorMath.NormalizeInPlace(normalised);
            var collectors = new TopK[1];
            collectors[0] = new TopK(Math.Min(k, available));
            try
            {
                ScoreAll(normalised, 1, collectors, excludeRow);
                return collectors[0].ToSortedHits(_ids);
            }
            finally
            {
                collectors[0].Return();
            }
        }
        finally
        {
            if (rented is not null)
            {
                ArrayPool<float>.Shared.Return(rented);
            }
        }
    }

    /// <summary>
    /// Runs <paramref name="queryCount"/> searches at once. Up to <see cref="QueriesPerPass"/> queries are
    /// scored per pass over the matrix, so the rows are read from memory once per batch rather than once
    /// per query. Results are identical to calling <see cref="Search"/> for each query.
    /// </summary>
    /// <param name="queries">queryCount × <see cref="Dimension"/> floats, one query after another.</param>
    /// <param name="queryCount">Number of queries in <paramref name="queries"/>.</param>
    /// <param name="k">Number of hits wanted per query; must be positive.</param>
    /// <returns>One hit list per query, in query order.</returns>
    public IReadOnlyList<SearchHit>[] SearchMany(ReadOnlySpan<float> queries, int queryCount, int k)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(k);
        ArgumentOutOfRangeException.ThrowIfNegative(queryCount);
        if ((long)queryCount * Dimension != queries.Length)
        {
            throw new ArgumentException(
                $"Expected {queryCount} queries of {Dimension} floats ({(long)queryCount * Dimension}), got {queries.Length} floats.",
                nameof(queries));
        }

        if (!VectorMath.IsFinite(queries))
        {
            throw new ArgumentException("Queries contain NaN or infinite values.", nameof(queries));
        }

        var results = new IReadOnlyList<SearchHit>[queryCount];
        if (queryCount == 0)
        {
            return results;
        }

        if (_count == 0)
        {
            results.AsSpan().Fill(NoHits);
            return results;
        }

        int perPass = Math.Min(QueriesPerPass, queryCount);
        float[] normalised = ArrayPool<float>.Shared.Rent(perPass * Dimension);
        var collectors = new TopK[perPass];
        try
        {
            for (int first = 0; first < queryCount; first += perPass)
            {
                int n = Math.Min(perPass, queryCount - first);
                Span<float> batch = normalised.AsSpan(0, n * Dimension);
                queries.Slice(first * Dimension, n * Dimension).CopyTo(batch);
                for (int q = 0; q < n; q++)
                {
                    VectorMath.NormalizeInPlace(batch.Slice(q * Dimension, Dimension));
                    collectors[q] = new TopK(Math.Min(k, _count));
                }

                try
                {
                    ScoreAll(batch, n, collectors, excludeRow: -1);
                    for (int q = 0; q < n; q++)
                    {
                        results[first + q] = collectors[q].ToSortedHits(_ids);
                    }
                }
                finally
                {
                    for (int q = 0; q < n; q++)
                    {
                        collectors[q].Return();
                    }
                }
            }
        }
        finally
        {
            ArrayPool<float>.Shared.Return(normalised);
        }

        return results;
    }

    /// <summary>
    /// One pass over all rows, block by block; within a block every query is scored before moving on,
    /// so the block is fetched from memory once and re-read from cache by the other queries.
    /// </summary>
    private unsafe void ScoreAll(ReadOnlySpan<float> queries, int queryCount, TopK[] collectors, int excludeRow)
    {
        int dim = Dimension;
        int blockRows = _rowsPerBlock;
        Span<float> scores = stackalloc float[blockRows];
        string?[] ids = _ids;
        fixed (float* data = _data)
        fixed (float* queryBase = queries)
        fixed (float* scoreBase = scores)
        {
            for (int start = 0; start < _count; start += blockRows)
            {
                int rows = Math.Min(blockRows, _count - start);
                float* block = data + ((nint)start * dim);
                for (int q = 0; q < queryCount; q++)
                {
                    DotKernels.ScoreRows(queryBase + ((nint)q * dim), block, rows, dim, scoreBase);
                    ref TopK top = ref collectors[q];
                    float threshold = top.Threshold;
                    for (int i = 0; i < rows; i++)
                    {
                        float s = scoreBase[i];
                        if (s >= threshold && start + i != excludeRow)
                        {
                            top.Offer(s, start + i, ids);
                            threshold = top.Threshold;
                        }
                    }
                }
            }
        }
    }

    private void ValidateVector(ReadOnlySpan<float> vector, string paramName)
    {
        if (vector.Length != Dimension)
        {
            throw new ArgumentException($"Expected a vector of {Dimension} floats, got {vector.Length}.", paramName);
        }

        if (!VectorMath.IsFinite(vector))
        {
            throw new ArgumentException("The vector contains NaN or infinite values.", paramName);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private Span<float> Row(int row) => _data.AsSpan(row * Dimension, Dimension);

    private static int MaxRows(int dimension) => Array.MaxLength / dimension;

    private void Grow(int needed)
    {
        int maxRows = MaxRows(Dimension);
        if (needed > maxRows)
        {
            throw new InvalidOperationException($"The index cannot hold more than {maxRows} vectors of dimension {Dimension}.");
        }

        long doubled = Math.Max(MinGrowRows, 2L * _capacity);
        int capacity = (int)Math.Min(maxRows, Math.Max(needed, doubled));
        float[] data = GC.AllocateUninitializedArray<float>(capacity * Dimension);
        _data.AsSpan(0, _count * Dimension).CopyTo(data);
        Array.Resize(ref _ids, capacity);
        _data = data;
        _capacity = capacity;
    }

    /// <summary>
    /// Bounded min-heap of the best rows seen so far; the root is the worst kept hit. Rows that do not
    /// beat <see cref="Threshold"/> are rejected by the caller with one comparison and no allocation.
    /// </summary>
    private struct TopK
    {
        private readonly int _capacity;
        private float[]? _scores;
        private int[]? _rows;
        private int _count;

        public TopK(int capacity)
        {
            _capacity = capacity;
            _scores = ArrayPool<float>.Shared.Rent(capacity);
            _rows = ArrayPool<int>.Shared.Rent(capacity);
            Threshold = float.NegativeInfinity;
        }

        /// <summary>Lowest score that may still enter: −∞ until the heap is full, then the root's score.</summary>
        public float Threshold { get; private set; }

        /// <summary>Offers a row whose score is at least <see cref="Threshold"/>.</summary>
        public void Offer(float score, int row, string?[] ids)
        {
            float[] scores = _scores!;
            int[] rows = _rows!;
            if (_count < _capacity)
            {
                int i = _count++;
                while (i > 0)
                {
                    int parent = (i - 1) >> 1;
                    if (!IsWorse(score, row, scores[parent], rows[parent], ids))
                    {
                        break;
                    }

                    scores[i] = scores[parent];
                    rows[i] = rows[parent];
                    i = parent;
                }

                scores[i] = score;
                rows[i] = row;
                if (_count == _capacity)
                {
                    Threshold = scores[0];
                }

                return;
            }

            if (!IsWorse(scores[0], rows[0], score, row, ids))
            {
                return; // An equal score with a larger id does not displace the root.
            }

            int hole = 0;
            while (true)
            {
                int child = (2 * hole) + 1;
                if (child >= _count)
                {
                    break;
                }

                if (child + 1 < _count && IsWorse(scores[child + 1], rows[child + 1], scores[child], rows[child], ids))
                {
                    child++;
                }

                if (!IsWorse(scores[child], rows[child], score, row, ids))
                {
                    break;
                }

                scores[hole] = scores[child];
                rows[hole] = rows[child];
                hole = child;
            }

            scores[hole] = score;
            rows[hole] = row;
            Threshold = scores[0];
        }

        /// <summary>The kept hits, best first: score descending, then id ordinal ascending.</summary>
        public readonly SearchHit[] ToSortedHits(string?[] ids)
        {
            var hits = new SearchHit[_count];
            for (int i = 0; i < _count; i++)
            {
                hits[i] = new SearchHit(ids[_rows![i]]!, _scores![i]);
            }

            Array.Sort(hits, static (a, b) =>
            {
                int byScore = b.Score.CompareTo(a.Score);
                return byScore != 0 ? byScore : string.CompareOrdinal(a.Id, b.Id);
            });
            return hits;
        }

        public void Return()
        {
            if (_scores is not null)
            {
                ArrayPool<float>.Shared.Return(_scores);
                ArrayPool<int>.Shared.Return(_rows!);
                _scores = null;
                _rows = null;
            }
        }

        /// <summary>True when hit a ranks below hit b: a lower score, or an equal score and a larger id.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static bool IsWorse(float scoreA, int rowA, float scoreB, int rowB, string?[] ids) =>
            scoreA < scoreB || (scoreA == scoreB && string.CompareOrdinal(ids[rowA], ids[rowB]) > 0);
    }
}
