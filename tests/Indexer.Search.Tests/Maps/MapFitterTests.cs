using Indexer.Search;
using Indexer.Search.Maps;

namespace Indexer.Search.Tests.Maps;

public sealed class MapFitterTests
{
    /// <summary>n unit vectors of dimension d, with most of their energy in a few directions, as embeddings have.</summary>
    private static float[] Embeddings(int n, int d, int seed)
    {
        var random = new Random(seed);
        var rows = new float[n * d];
        for (var i = 0; i < n; i++)
        {
            var row = rows.AsSpan(i * d, d);
            for (var j = 0; j < d; j++) row[j] = (float)(Gaussian(random) / (1 + j * 0.1));
            VectorMath.NormalizeInPlace(row);
        }

        return rows;
    }

    private static double Gaussian(Random random) => Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());

    private static float[] Times(float[] rows, int n, float[] matrix, int d, int q, double noise = 0, int seed = 1)
    {
        var random = new Random(seed);
        var result = new float[n * q];
        for (var i = 0; i < n; i++)
        {
            for (var k = 0; k < d; k++)
            {
                var x = rows[i * d + k];
                for (var j = 0; j < q; j++) result[i * q + j] += x * matrix[k * q + j];
            }

            for (var j = 0; j < q; j++) result[i * q + j] += (float)(noise * Gaussian(random));
            VectorMath.NormalizeInPlace(result.AsSpan(i * q, q));
        }

        return result;
    }

    [Fact]
    public void Fit_NewSpaceIsARotationOfTheOld_ChoosesAnOrthogonalMapThatRecoversIt()
    {
        const int n = 600, d = 48;
        var old = Embeddings(n, d, seed: 1);
        var rotation = RandomOrthogonal.Create(d, seed: 2);
        var @new = Times(old, n, rotation, d, d);

        var fit = MapFitter.Fit(old, @new, n, d, d);

        Assert.True(fit.HeldOut.Min > 0.999, $"held-out agreement min {fit.HeldOut.Min}");
        Assert.Contains(fit.Best.Kind, new[] { MapKind.Orthogonal, MapKind.Ridge });
        var orthogonal = fit.Candidates.Single(c => c.Map.Kind == MapKind.Orthogonal).Map;
        for (var i = 0; i < d * d; i++) Assert.Equal(rotation[i], orthogonal.Weights[i], 3);
        Assert.True(fit.Candidates.Single(c => c.Map.Kind == MapKind.Identity).HeldOut.Mean < 0.5, "the identity is no use here");
    }

    [Fact]
    public void Fit_SameSpace_IdentityAgreesPerfectly()
    {
        const int n = 200, d = 16;
        var old = Embeddings(n, d, seed: 3);

        var fit = MapFitter.Fit(old, old, n, d, d);

        Assert.Equal(1.0, fit.Candidates.Single(c => c.Map.Kind == MapKind.Identity).HeldOut.Min, 5);
        Assert.True(fit.HeldOut.Mean > 0.99999);
    }

    [Fact]
    public void Fit_NewSpaceIsAGeneralEmbeddingMapWithNoise_RidgeBeatsTheBestRotation()
    {
        const int n = 800, d = 32, q = 24;
        var old = Embeddings(n, d, seed: 4);
        var random = new Random(5);
        var matrix = new float[d * q];
        for (var i = 0; i < matrix.Length; i++) matrix[i] = (float)Gaussian(random);
        var @new = Times(old, n, matrix, d, q, noise: 0.01);

        var fit = MapFitter.Fit(old, @new, n, d, q);

        Assert.Equal(MapKind.Ridge, fit.Best.Kind);
        Assert.True(fit.HeldOut.Mean > 0.95, $"held-out mean agreement {fit.HeldOut.Mean}");
        Assert.DoesNotContain(fit.Candidates, c => c.Map.Kind == MapKind.Orthogonal); // dimensions differ
    }

    [Fact]
    public void NearestOrthogonal_OfARankDeficientMatrix_IsStillOrthogonal()
    {
        const int n = 10, d = 24;
        var old = Embeddings(n, d, seed: 6);
        var m = DenseMath.TransposeTimes(old, old, n, d, d); // rank 10 of 24

        var w = DenseMath.NearestOrthogonal(m, d);

        for (var i = 0; i < d; i++)
        {
            for (var j = 0; j < d; j++)
            {
                var dot = 0.0;
                for (var k = 0; k < d; k++) dot += w[k * d + i] * w[k * d + j];
                Assert.Equal(i == j ? 1.0 : 0.0, dot, 6);
            }
        }
    }

    [Fact]
    public void SolveSymmetricPositiveDefinite_MatchesAHandSolvedSystem()
    {
        // [4 2; 2 3] x = [2; 1]  =>  x = [0.5; 0]
        var x = DenseMath.SolveSymmetricPositiveDefinite([4, 2, 2, 3], [2, 1], 2, 1);

        Assert.Equal(0.5, x[0], 12);
        Assert.Equal(0.0, x[1], 12);
        Assert.Throws<ArgumentException>(() => DenseMath.SolveSymmetricPositiveDefinite([1, 2, 2, 1], [1, 1], 2, 1));
    }

    [Fact]
    public void Apply_NormalisesAndChecksDimensions()
    {
        var map = EmbeddingMap.FromWeights(MapKind.Ridge, 2, 2, [2, 0, 0, 2]);

        var y = map.Apply([3f, 4f]);

        Assert.Equal(0.6f, y[0], 6);
        Assert.Equal(0.8f, y[1], 6);
        Assert.Equal(4, map.MultiplyAddsPerItem);
        Assert.Throws<ArgumentException>(() => map.Apply([1f, 2f, 3f]));
    }
}

public sealed class SampleAllocationTests
{
    [Theory]
    [InlineData(new[] { 400, 400 }, 800, new[] { 400, 400 })]
    [InlineData(new[] { 400, 11, 39, 2 }, 200, new[] { 148, 11, 39, 2 })]
    [InlineData(new[] { 100, 100, 100 }, 100, new[] { 33, 33, 34 })]
    [InlineData(new[] { 5, 5 }, 100, new[] { 5, 5 })]
    [InlineData(new int[0], 10, new int[0])]
    public void Allocate_SharesEvenlyAndSmallStrataGiveAllTheyHave(int[] available, int total, int[] expected) =>
        Assert.Equal(expected, SampleAllocation.Allocate(available, total));
}

public sealed class EmbeddingMapCodecTests
{
    [Fact]
    public void RoundTrip_KeepsKindDimensionsPenaltyAndWeights()
    {
        var weights = Enumerable.Range(0, 12).Select(i => i * 0.25f - 1).ToArray();
        var map = EmbeddingMap.FromWeights(MapKind.Ridge, 4, 3, weights, 0.01);

        var decoded = EmbeddingMapCodec.Decode(EmbeddingMapCodec.Encode(map));

        Assert.Equal(MapKind.Ridge, decoded.Kind);
        Assert.Equal((4, 3), (decoded.InputDimension, decoded.OutputDimension));
        Assert.Equal(0.01, decoded.Regularisation);
        Assert.Equal(weights, decoded.Weights.ToArray());
        Assert.Equal(MapKind.Identity, EmbeddingMapCodec.Decode(EmbeddingMapCodec.Encode(EmbeddingMap.Identity(8))).Kind);
    }

    [Fact]
    public void Decode_CorruptTruncatedOrForeignBytes_Throws()
    {
        var bytes = EmbeddingMapCodec.Encode(EmbeddingMap.FromWeights(MapKind.Orthogonal, 2, 2, [0, 1, 1, 0]));
        var flipped = bytes.ToArray();
        flipped[30] ^= 0x40;

        Assert.Throws<InvalidDataException>(() => EmbeddingMapCodec.Decode(flipped));
        Assert.Throws<InvalidDataException>(() => EmbeddingMapCodec.Decode(bytes.AsSpan(0, bytes.Length - 5)));
        Assert.Throws<InvalidDataException>(() => EmbeddingMapCodec.Decode("not a map at all, just some text bytes here"u8));
    }
}

public sealed class EmbeddingMapChainTests
{
    [Fact]
    public void Then_ComposesTwoMapsIntoOne_ThatGivesTheSameVectorsAsApplyingBoth()
    {
        var random = new Random(8);
        float[] Weights(int rows, int columns) => Enumerable.Range(0, rows * columns).Select(_ => (float)(random.NextDouble() - 0.5)).ToArray();
        var first = EmbeddingMap.FromWeights(MapKind.Ridge, 6, 5, Weights(6, 5), 0.01);
        var second = EmbeddingMap.FromWeights(MapKind.Orthogonal, 5, 4, Weights(5, 4));
        var chained = first.Then(second);

        Assert.Equal(6, chained.InputDimension);
        Assert.Equal(4, chained.OutputDimension);
        Assert.Equal(MapKind.Ridge, chained.Kind);
        for (var trial = 0; trial < 20; trial++)
        {
            var x = Weights(1, 6);
            var expected = second.Apply(first.Apply(x));
            var actual = chained.Apply(x);
            for (var j = 0; j < 4; j++) Assert.Equal(expected[j], actual[j], 5);
        }

        Assert.Same(second, EmbeddingMap.Identity(5).Then(second));
        Assert.Same(first, first.Then(EmbeddingMap.Identity(5)));
        Assert.Throws<ArgumentException>(() => second.Then(first));
    }
}
