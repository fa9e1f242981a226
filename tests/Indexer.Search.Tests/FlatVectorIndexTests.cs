using Indexer.Search;

namespace Indexer.Search.Tests;

public sealed class FlatVectorIndexTests
{
    /// <summary>Scores from the SIMD kernel and from TensorPrimitives may differ in the last bits only.</summary>
    private const float ScoreTolerance = 1e-5f;

    [Theory]
    [InlineData(37, 1)]
    [InlineData(37, 10)]
    [InlineData(37, 100)]
    [InlineData(64, 1)]
    [InlineData(64, 10)]
    [InlineData(64, 100)]
    [InlineData(512, 10)]
    [InlineData(3, 100)]
    public void Search_matches_brute_force_with_interleaved_upserts_and_removes(int dimension, int k)
    {
        var random = new Random(1234 + dimension + k);
        var index = new FlatVectorIndex(dimension, initialCapacity: 8);
        var reference = new Dictionary<string, float[]>(StringComparer.Ordinal);
        int nextId = 0;

        for (int round = 0; round < 6; round++)
        {
            for (int i = 0; i < 300; i++)
            {
                string id = $"item-{nextId++}";
                float[] v = TestData.RandomVector(random, dimension);
                index.Upsert(id, v);
                reference[id] = v;
            }

            // Replace some existing vectors and remove others, so rows move around.
            string[] ids = [.. reference.Keys];
            for (int i = 0; i < 60; i++)
            {
                string id = ids[random.Next(ids.Length)];
                if (random.Next(2) == 0)
                {
                    float[] v = TestData.RandomVector(random, dimension);
                    index.Upsert(id, v);
                    reference[id] = v;
                }
                else
                {
                    Assert.Equal(reference.Remove(id), index.Remove(id));
                }
            }

            Assert.Equal(reference.Count, index.Count);
            for (int q = 0; q < 5; q++)
            {
                float[] query = TestData.RandomVector(random, dimension);
                AssertMatchesReference(reference, query, k, index.Search(query, k));
            }
        }
    }

    [Fact]
    public void Search_with_k_larger_than_count_returns_everything_sorted()
    {
        var random = new Random(5);
        var index = new FlatVectorIndex(16);
        var reference = new Dictionary<string, float[]>(StringComparer.Ordinal);
        for (int i = 0; i < 7; i++)
        {
            float[] v = TestData.RandomVector(random, 16);
            index.Upsert($"x{i}", v);
            reference[$"x{i}"] = v;
        }

        float[] query = TestData.RandomVector(random, 16);
        IReadOnlyList<SearchHit> hits = index.Search(query, 1000);
        Assert.Equal(7, hits.Count);
        AssertMatchesReference(reference, query, 1000, hits);
    }

    [Fact]
    public void Equal_scores_are_ordered_by_id_ordinal_also_at_the_heap_boundary()
    {
        var random = new Random(8);
        var index = new FlatVectorIndex(20);
        float[] shared = TestData.RandomVector(random, 20);
        // Filler rows far from the query, then identical vectors inserted in reverse id order.
        for (int i = 0; i < 50; i++)
        {
            float[] v = TestData.RandomVector(random, 20);
            for (int d = 0; d < v.Length; d++)
            {
                v[d] = -MathF.Abs(v[d]) * MathF.Sign(shared[d] == 0 ? 1 : shared[d]);
            }

            index.Upsert($"filler{i}", v);
        }

        foreach (string id in new[] { "d", "b", "C", "a", "c" })
        {
            index.Upsert(id, shared);
        }

        IReadOnlyList<SearchHit> all = index.Search(shared, 5);
        Assert.Equal(["C", "a", "b", "c", "d"], all.Select(h => h.Id));
        Assert.All(all, h => Assert.Equal(all[0].Score, h.Score));

        IReadOnlyList<SearchHit> two = index.Search(shared, 2);
        Assert.Equal(["C", "a"], two.Select(h => h.Id));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(7)]
    [InlineData(8)]
    [InlineData(9)]
    [InlineData(21)]
    public void SearchMany_equals_Search_for_each_query(int queryCount)
    {
        const int dimension = 48;
        var random = new Random(99 + queryCount);
        var index = new FlatVectorIndex(dimension, initialCapacity: 1);
        for (int i = 0; i < 1003; i++)
        {
            index.Upsert($"r{i:D4}", TestData.RandomVector(random, dimension));
        }

        for (int i = 0; i < 100; i++)
        {
            index.Remove($"r{random.Next(1003):D4}");
        }

        float[] queries = new float[queryCount * dimension];
        for (int q = 0; q < queryCount; q++)
        {
            TestData.RandomVector(random, dimension).CopyTo(queries, q * dimension);
        }

        foreach (int k in new[] { 1, 10, 100 })
        {
            IReadOnlyList<SearchHit>[] many = index.SearchMany(queries, queryCount, k);
            Assert.Equal(queryCount, many.Length);
            for (int q = 0; q < queryCount; q++)
            {
                IReadOnlyList<SearchHit> single = index.Search(queries.AsSpan(q * dimension, dimension), k);
                Assert.Equal(single, many[q]);
            }
        }
    }

    [Fact]
    public void SearchMany_handles_empty_inputs_and_validates()
    {
        var index = new FlatVectorIndex(4);
        Assert.Empty(index.SearchMany(ReadOnlySpan<float>.Empty, 0, 3));
        IReadOnlyList<SearchHit>[] onEmpty = index.SearchMany(new float[8], 2, 3);
        Assert.Equal(2, onEmpty.Length);
        Assert.All(onEmpty, Assert.Empty);

        index.Upsert("a", [1, 0, 0, 0]);
        Assert.Throws<ArgumentOutOfRangeException>(() => index.SearchMany(new float[4], 1, 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => index.SearchMany(new float[4], -1, 1));
        Assert.Throws<ArgumentException>(() => index.SearchMany(new float[5], 1, 1));
        Assert.Throws<ArgumentException>(() => index.SearchMany([1, 0, float.NaN, 0], 1, 1));
    }

    [Fact]
    public void ExcludeId_leaves_that_item_out()
    {
        var random = new Random(21);
        var index = new FlatVectorIndex(32);
        for (int i = 0; i < 40; i++)
        {
            index.Upsert($"i{i}", TestData.RandomVector(random, 32));
        }

        float[] self = new float[32];
        Assert.True(index.TryGetVector("i17", self));
        Assert.Equal("i17", index.Search(self, 1)[0].Id);

        IReadOnlyList<SearchHit> hits = index.Search(self, 5, excludeId: "i17");
        Assert.Equal(5, hits.Count);
        Assert.DoesNotContain(hits, h => h.Id == "i17");
        Assert.Equal(index.Search(self, 6).Skip(1), hits);

        Assert.Equal(39, index.Search(self, 100, excludeId: "i17").Count);
        Assert.Equal(40, index.Search(self, 100, excludeId: "unknown").Count);
    }

    [Fact]
    public void ExcludeId_of_the_only_item_gives_no_hits()
    {
        var index = new FlatVectorIndex(2);
        index.Upsert("only", [1, 1]);
        Assert.Empty(index.Search([1, 1], 3, excludeId: "only"));
    }

    [Fact]
    public void Search_on_empty_index_returns_nothing()
    {
        var index = new FlatVectorIndex(8, initialCapacity: 0);
        Assert.Empty(index.Search(new float[8], 10));
    }

    [Fact]
    public void Search_rejects_bad_k_and_bad_queries()
    {
        var index = new FlatVectorIndex(3);
        index.Upsert("a", [1, 2, 3]);
        Assert.Throws<ArgumentOutOfRangeException>(() => index.Search([1, 2, 3], 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => index.Search([1, 2, 3], -5));
        Assert.Throws<ArgumentException>(() => index.Search([1, 2], 1));
        Assert.Throws<ArgumentException>(() => index.Search([1, float.PositiveInfinity, 3], 1));
    }

    [Fact]
    public void Scores_are_cosine_similarities_and_query_scale_does_not_matter()
    {
        var index = new FlatVectorIndex(2);
        index.Upsert("east", [10, 0]);
        index.Upsert("north", [0, 0.5f]);
        index.Upsert("northeast", [3, 3]);
        index.Upsert("west", [-2, 0]);

        IReadOnlyList<SearchHit> hits = index.Search([1000, 0], 4);
        Assert.Equal(["east", "northeast", "north", "west"], hits.Select(h => h.Id));
        Assert.Equal(1f, hits[0].Score, 6);
        Assert.Equal(MathF.Sqrt(0.5f), hits[1].Score, 6);
        Assert.Equal(0f, hits[2].Score, 6);
        Assert.Equal(-1f, hits[3].Score, 6);
        Assert.Equal(hits, index.Search([0.001f, 0], 4));
    }

    [Fact]
    public void Zero_vectors_are_stored_and_score_zero()
    {
        var index = new FlatVectorIndex(3);
        index.Upsert("zero", [0, 0, 0]);
        index.Upsert("one", [0, 0, 1]);
        IReadOnlyList<SearchHit> hits = index.Search([0, 0, 0], 2);
        Assert.Equal([new SearchHit("one", 0f), new SearchHit("zero", 0f)], hits);
    }

    [Fact]
    public void Upsert_validates_and_leaves_index_unchanged_on_error()
    {
        var index = new FlatVectorIndex(3);
        Assert.Throws<ArgumentException>(() => index.Upsert("a", [1, 2]));
        Assert.Throws<ArgumentException>(() => index.Upsert("a", [1, 2, 3, 4]));
        Assert.Throws<ArgumentException>(() => index.Upsert("a", [1, float.NaN, 3]));
        Assert.Throws<ArgumentNullException>(() => index.Upsert(null!, [1, 2, 3]));
        Assert.Equal(0, index.Count);
        Assert.False(index.Contains("a"));

        index.Upsert("a", [1, 0, 0]);
        Assert.Throws<ArgumentException>(() => index.Upsert("a", [float.NegativeInfinity, 0, 0]));
        float[] stored = new float[3];
        Assert.True(index.TryGetVector("a", stored));
        Assert.Equal([1f, 0f, 0f], stored);
    }

    [Fact]
    public void Upsert_copies_normalises_and_replaces()
    {
        var index = new FlatVectorIndex(2);
        float[] input = [3, 4];
        index.Upsert("a", input);
        Assert.Equal([3f, 4f], input);
        input[0] = 100;

        float[] stored = new float[3];
        Assert.True(index.TryGetVector("a", stored));
        Assert.Equal(0.6f, stored[0], 6);
        Assert.Equal(0.8f, stored[1], 6);
        Assert.Equal(0f, stored[2]);

        index.Upsert("a", [0, -2]);
        Assert.Equal(1, index.Count);
        Assert.True(index.TryGetVector("a", stored));
        Assert.Equal(0f, stored[0]);
        Assert.Equal(-1f, stored[1]);
    }

    [Fact]
    public void TryGetVector_reports_missing_and_checks_destination()
    {
        var index = new FlatVectorIndex(4);
        index.Upsert("a", [1, 1, 1, 1]);
        float[] destination = [7, 7, 7, 7];
        Assert.False(index.TryGetVector("b", destination));
        Assert.Equal([7f, 7f, 7f, 7f], destination);
        Assert.Throws<ArgumentException>(() => index.TryGetVector("a", new float[3]));
    }

    [Fact]
    public void Remove_swaps_last_row_into_hole_and_keeps_lookups_right()
    {
        var index = new FlatVectorIndex(2, initialCapacity: 2);
        index.Upsert("a", [1, 0]);
        index.Upsert("b", [0, 1]);
        index.Upsert("c", [-1, 0]);
        Assert.True(index.Remove("a"));
        Assert.False(index.Remove("a"));
        Assert.Equal(2, index.Count);
        Assert.Equal(["c", "b"], index.Ids);

        float[] v = new float[2];
        Assert.True(index.TryGetVector("c", v));
        Assert.Equal([-1f, 0f], v);
        Assert.Equal("c", index.Search([-1, 0], 1)[0].Id);

        Assert.True(index.Remove("b"));
        Assert.True(index.Remove("c"));
        Assert.Equal(0, index.Count);
        Assert.Empty(index.Search([1, 0], 3));

        index.Upsert("d", [1, 0]);
        Assert.Equal(["d"], index.Ids);
    }

    [Fact]
    public void Storage_grows_from_zero_capacity()
    {
        var index = new FlatVectorIndex(5, initialCapacity: 0);
        var random = new Random(2);
        for (int i = 0; i < 1000; i++)
        {
            index.Upsert(i.ToString(System.Globalization.CultureInfo.InvariantCulture), TestData.RandomVector(random, 5));
        }

        Assert.Equal(1000, index.Count);
        Assert.True(index.Capacity >= 1000);
        Assert.Equal(1000, index.Ids.Distinct().Count());
        Assert.True(index.Contains("999"));

        index.EnsureCapacity(5000);
        Assert.True(index.Capacity >= 5000);
        Assert.Equal(1000, index.Count);
        float[] v = new float[5];
        Assert.True(index.TryGetVector("500", v));
    }

    [Fact]
    public void Clear_empties_the_index()
    {
        var index = new FlatVectorIndex(2);
        index.Upsert("a", [1, 0]);
        index.Clear();
        Assert.Equal(0, index.Count);
        Assert.False(index.Contains("a"));
        Assert.Empty(index.Ids);
        index.Upsert("a", [0, 1]);
        Assert.Single(index.Search([0, 1], 5));
    }

    [Fact]
    public void Ids_enumeration_fails_when_index_changes()
    {
        var index = new FlatVectorIndex(2);
        index.Upsert("a", [1, 0]);
        index.Upsert("b", [0, 1]);
        Assert.Throws<InvalidOperationException>(() =>
        {
            foreach (string id in index.Ids)
            {
                index.Upsert(id + "x", [1, 1]);
            }
        });
    }

    [Fact]
    public void Constructor_validates_arguments()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new FlatVectorIndex(0));
        Assert.Throws<ArgumentOutOfRangeException>(() => new FlatVectorIndex(-3));
        Assert.Throws<ArgumentOutOfRangeException>(() => new FlatVectorIndex(4, -1));
        Assert.Throws<ArgumentOutOfRangeException>(() => new FlatVectorIndex(1 << 20, 1 << 12));
        Assert.Equal(7, new FlatVectorIndex(7).Dimension);
    }

    [Fact]
    public void Large_dimension_uses_pooled_query_copy()
    {
        const int dimension = 3000;
        var random = new Random(4);
        var index = new FlatVectorIndex(dimension, initialCapacity: 4);
        var reference = new Dictionary<string, float[]>(StringComparer.Ordinal);
        for (int i = 0; i < 30; i++)
        {
            float[] v = TestData.RandomVector(random, dimension);
            index.Upsert($"big{i}", v);
            reference[$"big{i}"] = v;
        }

        float[] query = TestData.RandomVector(random, dimension);
        AssertMatchesReference(reference, query, 10, index.Search(query, 10));
    }

    [Fact]
    public void Concurrent_reads_without_writes_agree_with_sequential_reads()
    {
        const int dimension = 64;
        var random = new Random(77);
        var index = new FlatVectorIndex(dimension);
        for (int i = 0; i < 2000; i++)
        {
            index.Upsert($"c{i}", TestData.RandomVector(random, dimension));
        }

        float[][] queries = [.. Enumerable.Range(0, 32).Select(_ => TestData.RandomVector(random, dimension))];
        IReadOnlyList<SearchHit>[] expected = [.. queries.Select(q => index.Search(q, 10))];
        var actual = new IReadOnlyList<SearchHit>[queries.Length];
        Parallel.For(0, queries.Length, new ParallelOptions { MaxDegreeOfParallelism = 4 }, q => actual[q] = index.Search(queries[q], 10));
        for (int q = 0; q < queries.Length; q++)
        {
            Assert.Equal(expected[q], actual[q]);
        }
    }

    /// <summary>
    /// Compares hits with a brute-force ranking that sorts every score. Scores must agree within rounding
    /// at every rank; ids must agree wherever the reference score is not a near-tie with a neighbour.
    /// </summary>
    private static void AssertMatchesReference(Dictionary<string, float[]> vectors, float[] query, int k, IReadOnlyList<SearchHit> hits)
    {
        float[] q = (float[])query.Clone();
        VectorMath.NormalizeInPlace(q);
        var scores = new Dictionary<string, float>(StringComparer.Ordinal);
        foreach ((string id, float[] raw) in vectors)
        {
            float[] v = (float[])raw.Clone();
            VectorMath.NormalizeInPlace(v);
            scores[id] = VectorMath.Dot(q, v);
        }

        SearchHit[] expected = [.. scores
            .Select(p => new SearchHit(p.Key, p.Value))
            .OrderByDescending(h => h.Score)
            .ThenBy(h => h.Id, StringComparer.Ordinal)];

        Assert.Equal(Math.Min(k, expected.Length), hits.Count);
        Assert.Equal(hits.Count, hits.Select(h => h.Id).Distinct().Count());
        for (int i = 0; i < hits.Count; i++)
        {
            Assert.InRange(hits[i].Score, scores[hits[i].Id] - ScoreTolerance, scores[hits[i].Id] + ScoreTolerance);
            Assert.InRange(hits[i].Score, expected[i].Score - ScoreTolerance, expected[i].Score + ScoreTolerance);
            if (i > 0)
            {
                Assert.True(hits[i - 1].Score >= hits[i].Score, $"hits not sorted at {i}");
            }

            bool separated = (i == 0 || expected[i - 1].Score - expected[i].Score > 2 * ScoreTolerance)
                && (i + 1 >= expected.Length || expected[i].Score - expected[i + 1].Score > 2 * ScoreTolerance);
            if (separated)
            {
                Assert.Equal(expected[i].Id, hits[i].Id);
            }
        }
    }
}
