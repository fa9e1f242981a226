using System.Buffers.Binary;
using System.Security.Cryptography;
using Indexer.Search;
using Indexer.Search.Maps;

namespace Indexer.Search.Tests.Maps;

public sealed class LocalCorrectionTests
{
    private static float[] Unit(params float[] v)
    {
        VectorMath.NormalizeInPlace(v);
        return v;
    }

    /// <summary>Two anchors in 2-d, each with its own residual in 3-d.</summary>
    private static LocalCorrection TwoAnchors(int neighbours = 2, double sharpness = 50) =>
        new([1, 0, 0, 1], [1, 0, 0, 0, 2, 0], count: 2, inputDimension: 2, outputDimension: 3, neighbours, sharpness);

    [Fact]
    public void AddTo_AtAnAnchor_AddsAboutThatAnchorsResidual()
    {
        var correction = TwoAnchors();
        var output = new float[3];

        correction.AddTo([1, 0], output);

        Assert.Equal(1, output[0], 3);
        Assert.True(output[1] < 1e-3, $"the far anchor weighs e^-50 of the near one; got {output[1]}");
    }

    [Fact]
    public void AddTo_HalfwayBetweenAnchors_AveragesThem_AndTheWeightsSumToOne()
    {
        var correction = TwoAnchors();
        var output = new float[] { 10, 10, 10 };

        correction.AddTo(Unit(1, 1), output);

        Assert.Equal(10.5, output[0], 4);
        Assert.Equal(11, output[1], 4);
        Assert.Equal(10, output[2], 4);
    }

    [Fact]
    public void AddTo_WithOneNeighbour_UsesTheNearestAnchorOnly()
    {
        var correction = TwoAnchors(neighbours: 1, sharpness: 0);
        var output = new float[3];

        correction.AddTo(Unit(0.2f, 1), output);

        Assert.Equal([0f, 2f, 0f], output);
    }

    [Fact]
    public void Constructor_RejectsShapesThatDoNotAgree()
    {
        Assert.Throws<ArgumentException>(() => new LocalCorrection([1, 0], [1, 0, 0], 2, 2, 3));
        Assert.Throws<ArgumentOutOfRangeException>(() => new LocalCorrection([1, 0], [1, 0, 0], 1, 2, 3, sharpness: double.NaN));
    }
}

public sealed class LocalMapTests
{
    /// <summary>
    /// Points on the unit circle in 2-d mapped into 3-d by a bend no linear map can follow: the new vector turns twice
    /// as fast as the old one.
    /// </summary>
    internal static (float[] Old, float[] New) Bent(int n, int seed)
    {
        var random = new Random(seed);
        var old = new float[n * 2];
        var @new = new float[n * 3];
        for (var i = 0; i < n; i++)
        {
            var angle = random.NextDouble() * Math.PI;
            (old[i * 2], old[i * 2 + 1]) = ((float)Math.Cos(angle), (float)Math.Sin(angle));
            (@new[i * 3], @new[i * 3 + 1], @new[i * 3 + 2]) = ((float)Math.Cos(2 * angle), (float)Math.Sin(2 * angle), 0.3f);
            VectorMath.NormalizeInPlace(@new.AsSpan(i * 3, 3));
        }

        return (old, @new);
    }

    [Fact]
    public void Fit_ARelationNoLinearMapFollows_WithoutKernelCandidates_ChoosesTheLocalMap_WhichBeatsEveryLinearCandidate()
    {
        const int n = 400;
        var (old, @new) = Bent(n, seed: 3);

        var fit = MapFitter.Fit(old, @new, n, 2, 3, kernelSharpnesses: []);

        Assert.Equal(MapKind.Local, fit.Best.Kind);
        var bestLinear = fit.Candidates.Where(c => c.Map.Kind != MapKind.Local).Max(c => c.HeldOut.Mean);
        Assert.True(fit.HeldOut.Mean > 0.97, $"local map held-out agreement {fit.HeldOut.Mean}");
        Assert.True(bestLinear < 0.9, $"a linear map should not follow the bend; best {bestLinear}");
    }

    [Fact]
    public void OutOfFoldAgreements_AreWhatItemsTheMapNeverSawGet_NotTheNearOnesOfItsAnchors()
    {
        const int n = 300;
        var (old, @new) = Bent(n, seed: 4);
        // Noise on the new side: an anchor's own residual carries its noise, so in-sample agreement is near 1.
        var random = new Random(5);
        for (var i = 0; i < @new.Length; i++) @new[i] += (float)(0.8 * (random.NextDouble() - 0.5));
        for (var i = 0; i < n; i++) VectorMath.NormalizeInPlace(@new.AsSpan(i * 3, 3));

        var fit = MapFitter.Fit(old, @new, n, 2, 3, kernelSharpnesses: []);
        var inSample = MapFitter.Agreements(fit.Best, old, @new, Enumerable.Range(0, n).ToArray()).Average();

        Assert.Equal(MapKind.Local, fit.Best.Kind);
        Assert.Equal(n, fit.OutOfFoldAgreements.Count);
        Assert.True(fit.OutOfFoldAgreements.Average() < inSample - 0.005, $"out of fold {fit.OutOfFoldAgreements.Average()} vs in sample {inSample}");
        Assert.InRange(fit.OutOfFoldAgreements.Average(), fit.HeldOut.Mean - 0.05, fit.HeldOut.Mean + 0.05);
        Assert.Equal(n * 3, fit.OutOfFoldMapped.Length);
        for (var i = 0; i < n; i++)
        {
            Assert.Equal(fit.OutOfFoldAgreements[i], VectorMath.Dot(fit.OutOfFoldMapped.Span.Slice(i * 3, 3), @new.AsSpan(i * 3, 3)), tolerance: 1e-6);
        }
    }

    [Fact]
    public void Codec_RoundTripsALocalMapAndAChain_ToTheSameVectors()
    {
        const int n = 200;
        var (old, @new) = Bent(n, seed: 6);
        var local = MapFitter.Fit(old, @new, n, 2, 3, kernelSharpnesses: []).Best;

        AssertRoundTripsWithAChainThroughIt(local, old, n);
    }

    /// <summary>
    /// Encodes and decodes <paramref name="stage"/> (2-d to 3-d) and a chain rotation → stage → ridge through it, and
    /// checks each decodes to the same kind, size, cost and vectors on <paramref name="old"/>.
    /// </summary>
    internal static void AssertRoundTripsWithAChainThroughIt(EmbeddingMap stage, float[] old, int n)
    {
        var chain = EmbeddingMap.FromWeights(MapKind.Orthogonal, 2, 2, [0, 1, -1, 0]).Then(stage).Then(EmbeddingMap.FromWeights(MapKind.Ridge, 3, 2, [1, 0, 0, 1, 0.5f, 0.5f], 0.1));
        Assert.Equal(MapKind.Local, chain.Kind);
        foreach (var map in new[] { stage, chain })
        {
            var decoded = EmbeddingMapCodec.Decode(EmbeddingMapCodec.Encode(map));
            Assert.Equal(map.Kind, decoded.Kind);
            Assert.Equal(map.ParameterCount, decoded.ParameterCount);
            Assert.Equal(map.MultiplyAddsPerItem, decoded.MultiplyAddsPerItem);
            for (var i = 0; i < n; i++) Assert.Equal(map.Apply(old.AsSpan(i * 2, 2)), decoded.Apply(old.AsSpan(i * 2, 2)));
        }
    }

    [Fact]
    public void Then_WithALocalStage_KeepsTheStages_AndGivesTheSameVectorsAsApplyingEach()
    {
        const int n = 200;
        var (old, @new) = Bent(n, seed: 7);
        var local = MapFitter.Fit(old, @new, n, 2, 3, kernelSharpnesses: []).Best;
        var after = EmbeddingMap.FromWeights(MapKind.Ridge, 3, 2, [1, 0, 0, 1, 0.5f, 0.5f], 0.1);

        var chained = local.Then(after);

        Assert.Equal(MapKind.Local, chained.Kind);
        Assert.Equal((2, 2), (chained.InputDimension, chained.OutputDimension));
        for (var i = 0; i < n; i++)
        {
            var x = old.AsSpan(i * 2, 2);
            Assert.Equal(after.Apply(local.Apply(x)), chained.Apply(x));
        }
    }

    [Fact]
    public void Decode_AMapStoredInTheFirstFormat_StillServes()
    {
        // Format 1: magic, version, kind, input, output, regularisation, weights, SHA-256 of the rest.
        float[] weights = [0, 1, 1, 0];
        var body = new byte[4 + 4 + 4 + 4 + 4 + 8 + weights.Length * 4];
        "IXMP"u8.CopyTo(body);
        BinaryPrimitives.WriteInt32LittleEndian(body.AsSpan(4), 1);
        BinaryPrimitives.WriteInt32LittleEndian(body.AsSpan(8), (int)MapKind.Orthogonal);
        BinaryPrimitives.WriteInt32LittleEndian(body.AsSpan(12), 2);
        BinaryPrimitives.WriteInt32LittleEndian(body.AsSpan(16), 2);
        BinaryPrimitives.WriteDoubleLittleEndian(body.AsSpan(20), 0);
        for (var i = 0; i < weights.Length; i++) BinaryPrimitives.WriteSingleLittleEndian(body.AsSpan(28 + i * 4), weights[i]);
        var bytes = body.Concat(SHA256.HashData(body)).ToArray();

        var map = EmbeddingMapCodec.Decode(bytes);

        Assert.Equal(MapKind.Orthogonal, map.Kind);
        Assert.Equal([0f, 1f], map.Apply([1, 0]));
    }
}
