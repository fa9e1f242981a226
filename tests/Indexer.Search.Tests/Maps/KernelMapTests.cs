using System.Security.Cryptography;
using Indexer.Search;
using Indexer.Search.Maps;

namespace Indexer.Search.Tests.Maps;

public sealed class KernelMapTests
{
    [Fact]
    public void FitKernelRidge_OneAnchor_IsTheTargetShrunkByThePenalty_AndFallsOffWithDistance()
    {
        // K = [1], so α = y / (1 + μ) = [1, 0, 0] for μ = 1; at a vector orthogonal to the anchor the weight is e^(s · (0 − 1)).
        var correction = LocalCorrection.FitKernelRidge([1, 0], [2, 0, 0], count: 1, inputDimension: 2, outputDimension: 3, sharpness: 1, penalty: 1);
        var atAnchor = new float[3];
        var away = new float[3];

        correction.AddTo([1, 0], atAnchor);
        correction.AddTo([0, 1], away);

        Assert.Equal(CorrectionWeighting.KernelRidge, correction.Weighting);
        Assert.Equal(1, atAnchor[0], 5);
        Assert.Equal(Math.Exp(-1), away[0], 5);
        Assert.Equal([0f, 0f], atAnchor[1..]);
    }

    [Fact]
    public void FitKernelRidge_SolvesThePenalisedSystem_AtEveryAnchorTheFitIsTheTargetLessPenaltyTimesItsCoefficient()
    {
        var random = new Random(2);
        const int n = 12, dIn = 3, dOut = 2;
        var anchors = new float[n * dIn];
        var targets = new float[n * dOut];
        for (var i = 0; i < anchors.Length; i++) anchors[i] = (float)(random.NextDouble() - 0.5);
        for (var i = 0; i < n; i++) VectorMath.NormalizeInPlace(anchors.AsSpan(i * dIn, dIn));
        for (var i = 0; i < targets.Length; i++) targets[i] = (float)(random.NextDouble() - 0.5);

        var correction = LocalCorrection.FitKernelRidge(anchors, targets, n, dIn, dOut, sharpness: 2, penalty: 0.3);

        // (K + μI) α = Y  ⇔  K α = Y − μ α, and K α at anchor i is what the correction adds there.
        for (var i = 0; i < n; i++)
        {
            var fitted = new float[dOut];
            correction.AddTo(anchors.AsSpan(i * dIn, dIn), fitted);
            for (var j = 0; j < dOut; j++) Assert.Equal(targets[i * dOut + j] - 0.3 * correction.Values[i * dOut + j], fitted[j], 4);
        }
    }

    [Fact]
    public void KernelRidgeTargets_RecoversWhatTheCorrectionWasFittedOn()
    {
        var (anchors, targets) = RandomPairs(seed: 5, n: 30, dIn: 6, dOut: 4);

        var correction = LocalCorrection.FitKernelRidge(anchors, targets, 30, 6, 4, sharpness: 2, penalty: 0.1);
        var recovered = correction.KernelRidgeTargets();

        for (var i = 0; i < targets.Length; i++) Assert.Equal(targets[i], recovered[i], 4);
    }

    [Fact]
    public void ExtendKernelRidge_IsTheFitOnTheUnion_AndSkipsPairsWhoseOldVectorIsAlreadyAnAnchor()
    {
        var (anchors, targets) = RandomPairs(seed: 6, n: 40, dIn: 6, dOut: 4);
        var first = LocalCorrection.FitKernelRidge(anchors[..(25 * 6)], targets[..(25 * 4)], 25, 6, 4, sharpness: 2, penalty: 0.1);

        // Items 20..39: the first five are anchors already and must not count twice.
        var extended = first.ExtendKernelRidge(anchors.AsSpan(20 * 6), targets.AsSpan(20 * 4), 20, out var added);
        var direct = LocalCorrection.FitKernelRidge(anchors, targets, 40, 6, 4, sharpness: 2, penalty: 0.1);

        Assert.Equal(15, added);
        Assert.Equal(40, extended.Count);
        Assert.Equal((first.Sharpness, first.Penalty), (extended.Sharpness, extended.Penalty));
        var probe = new float[6];
        var random = new Random(7);
        for (var trial = 0; trial < 5; trial++)
        {
            for (var i = 0; i < probe.Length; i++) probe[i] = (float)(random.NextDouble() - 0.5);
            VectorMath.NormalizeInPlace(probe);
            float[] a = new float[4], b = new float[4];
            extended.AddTo(probe, a);
            direct.AddTo(probe, b);
            for (var j = 0; j < 4; j++) Assert.Equal(b[j], a[j], 4);
        }
    }

    [Fact]
    public void Refined_GivesAKernelMapOnMoreAnchors_AndNothingForAMapThatDoesNotCarryItsPairs()
    {
        var (anchors, targets) = RandomPairs(seed: 8, n: 20, dIn: 6, dOut: 6);
        var kernel = EmbeddingMap.Kernel(LocalCorrection.FitKernelRidge(anchors[..(10 * 6)], targets[..(10 * 6)], 10, 6, 6, sharpness: 2, penalty: 0.1));

        var refined = kernel.Refined(anchors.AsSpan(10 * 6), targets.AsSpan(10 * 6), 10, out var added);

        Assert.Equal(MapKind.Kernel, refined!.Kind);
        Assert.Equal((10, 20), (added, refined.Correction!.Count));
        Assert.Null(EmbeddingMap.Identity(6).Refined(anchors, targets, 20, out added));
        Assert.Equal(0, added);
    }

    [Fact]
    public void ExtendKernelRidge_IsOnlyForKernelCorrections_AndChecksShapes()
    {
        var neighbours = new LocalCorrection([1, 0], [1, 0], 1, 2, 2);
        Assert.Throws<InvalidOperationException>(() => neighbours.KernelRidgeTargets());
        Assert.Throws<InvalidOperationException>(() => neighbours.ExtendKernelRidge([0, 1], [1, 0], 1, out _));
        var kernel = LocalCorrection.FitKernelRidge([1, 0], [1, 0], 1, 2, 2, sharpness: 1, penalty: 0.1);
        Assert.Throws<ArgumentException>(() => kernel.ExtendKernelRidge([0, 1, 0], [1, 0], 1, out _));
    }

    private static (float[] Anchors, float[] Targets) RandomPairs(int seed, int n, int dIn, int dOut)
    {
        var random = new Random(seed);
        var anchors = new float[n * dIn];
        var targets = new float[n * dOut];
        for (var i = 0; i < anchors.Length; i++) anchors[i] = (float)(random.NextDouble() - 0.5);
        for (var i = 0; i < n; i++) VectorMath.NormalizeInPlace(anchors.AsSpan(i * dIn, dIn));
        for (var i = 0; i < targets.Length; i++) targets[i] = (float)(random.NextDouble() - 0.5);
        return (anchors, targets);
    }

    [Fact]
    public void FitKernelRidge_RefusesANonPositivePenaltyAndShapesThatDoNotAgree()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => LocalCorrection.FitKernelRidge([1, 0], [1, 0], 1, 2, 2, sharpness: 1, penalty: 0));
        Assert.Throws<ArgumentException>(() => LocalCorrection.FitKernelRidge([1, 0], [1, 0, 0], 1, 2, 2, sharpness: 1, penalty: 0.1));
        Assert.Throws<ArgumentException>(() => EmbeddingMap.Kernel(new LocalCorrection([1, 0], [1, 0], 1, 2, 2)));
    }

    [Fact]
    public void Fit_ARelationNoLinearMapFollows_ChoosesTheBestNonLinearCandidate_AndKernelMapsAreAmongThem()
    {
        const int n = 400;
        var (old, @new) = LocalMapTests.Bent(n, seed: 3);

        var fit = MapFitter.Fit(old, @new, n, 2, 3);

        var kernels = fit.Candidates.Where(c => c.Map.Kind == MapKind.Kernel).ToList();
        Assert.Equal(MapFitter.KernelSharpnesses, kernels.Select(c => c.Map.Correction!.Sharpness));
        Assert.All(kernels, c => Assert.Equal(MapFitter.KernelPenalty, c.Map.Regularisation));
        var best = fit.Candidates.MaxBy(c => c.HeldOut.Mean)!;
        var bestLinear = fit.Candidates.Where(c => c.Map.Kind is not (MapKind.Local or MapKind.Kernel)).Max(c => c.HeldOut.Mean);
        Assert.Equal(best.Map.Kind, fit.Best.Kind);
        Assert.Equal(best.HeldOut.Mean, fit.HeldOut.Mean);
        Assert.True(fit.HeldOut.Mean > bestLinear + MapFitter.LocalMargin, $"chosen {fit.HeldOut.Mean} vs best linear {bestLinear}");
    }

    [Fact]
    public void Fit_OnNoisyPairs_AKernelMapsOutOfFoldAgreementsAreThoseOfMapsThatNeverSawTheItem()
    {
        const int n = 300;
        var (old, @new) = LocalMapTests.Bent(n, seed: 4);
        var random = new Random(5);
        for (var i = 0; i < @new.Length; i++) @new[i] += (float)(0.8 * (random.NextDouble() - 0.5));
        for (var i = 0; i < n; i++) VectorMath.NormalizeInPlace(@new.AsSpan(i * 3, 3));

        var fit = MapFitter.Fit(old, @new, n, 2, 3, kernelSharpnesses: [2]);
        var inSample = MapFitter.Agreements(fit.Best, old, @new, Enumerable.Range(0, n).ToArray()).Average();

        Assert.Equal(MapKind.Kernel, fit.Best.Kind);
        Assert.True(fit.OutOfFoldAgreements.Average() < inSample - 0.002, $"out of fold {fit.OutOfFoldAgreements.Average()} vs in sample {inSample}");
        Assert.InRange(fit.OutOfFoldAgreements.Average(), fit.HeldOut.Mean - 0.05, fit.HeldOut.Mean + 0.05);
        for (var i = 0; i < n; i++)
        {
            Assert.Equal(fit.OutOfFoldAgreements[i], VectorMath.Dot(fit.OutOfFoldMapped.Span.Slice(i * 3, 3), @new.AsSpan(i * 3, 3)), tolerance: 1e-6);
        }
    }

    [Fact]
    public void Codec_RoundTripsAKernelMapAndAChainThroughIt_ToTheSameVectors()
    {
        const int n = 200;
        var (old, @new) = LocalMapTests.Bent(n, seed: 6);
        var kernel = MapFitter.Fit(old, @new, n, 2, 3, kernelSharpnesses: [2]).Best;

        Assert.Equal(MapKind.Kernel, kernel.Kind);
        LocalMapTests.AssertRoundTripsWithAChainThroughIt(kernel, old, n);

        var stage = EmbeddingMapCodec.Decode(EmbeddingMapCodec.Encode(kernel)).Correction!;
        Assert.Equal((CorrectionWeighting.KernelRidge, 2.0, MapFitter.KernelPenalty), (stage.Weighting, stage.Sharpness, stage.Penalty));
    }

    [Fact]
    public void Decode_AMapStoredInTheSecondFormat_ServesItsCorrectionAsNearestNeighbours()
    {
        // Format 2: magic, version, stage count; per stage kind, input, output, regularisation, weight count, weights,
        // anchor count, neighbours, sharpness, anchors, residuals; SHA-256 of the rest. One identity stage, one anchor.
        using var body = new MemoryStream();
        using (var writer = new BinaryWriter(body, System.Text.Encoding.UTF8, leaveOpen: true))
        {
            writer.Write("IXMP"u8);
            foreach (var v in new[] { 2, 1, (int)MapKind.Identity, 2, 2 }) writer.Write(v);
            writer.Write(0.0);
            writer.Write(0);
            writer.Write(1);
            writer.Write(1);
            writer.Write(0.0);
            foreach (var v in new[] { 1f, 0f, 0.5f, 0f }) writer.Write(v);
        }

        var bytes = body.ToArray().Concat(SHA256.HashData(body.ToArray())).ToArray();

        var map = EmbeddingMapCodec.Decode(bytes);

        Assert.Equal(MapKind.Local, map.Kind);
        Assert.Equal(CorrectionWeighting.NearestNeighbours, map.Correction!.Weighting);
        var y = map.Apply([0, 1]);
        Assert.Equal(0.5 / Math.Sqrt(1.25), y[0], 5);
        Assert.Equal(1 / Math.Sqrt(1.25), y[1], 5);
    }
}
