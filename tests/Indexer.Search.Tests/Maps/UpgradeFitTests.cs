using Indexer.Search.Maps;
using Indexer.Search.Metrics;

namespace Indexer.Search.Tests.Maps;

public sealed class UpgradeFitTests
{
    private const int D = 16;

    /// <summary>
    /// The new model is the old one turned by 90 degrees in the plane of its first two axes. The map undoes the turn, so
    /// every mapped vector agrees with its new one; stored vectors agree the less the more of them lies in that plane.
    /// Each predictor must rank by its own route's agreement.
    /// </summary>
    [Fact]
    public void Fit_GivesEachRouteAPredictorOfItsOwnAgreement()
    {
        var random = new Random(7);
        var (old, @new) = Pairs(random, 600);
        var fit = UpgradeFit.Fit(old, @new, 600, D, D);

        Assert.True(fit.Map.HeldOut.Min >= 0.99, $"the map should undo the turn; held-out min {fit.Map.HeldOut.Min:F4}");
        var (freshOld, freshNew) = Pairs(random, 300);
        var stored = new double[300];
        var direct = new double[300];
        var mapped = new double[300];
        for (var i = 0; i < 300; i++)
        {
            var o = freshOld.AsSpan(i * D, D);
            stored[i] = VectorMath.Dot(o, freshNew.AsSpan(i * D, D)) / VectorMath.Dot(o, o);
            direct[i] = fit.DirectPredictor!.Predict(o);
            mapped[i] = fit.MappedPredictor.Predict(o);
        }

        var spearman = RankStatistics.Spearman(direct, stored);
        Assert.True(spearman >= 0.8, $"direct predictor against the stored vectors' true agreement: Spearman {spearman:F3}");
        Assert.True(mapped.All(m => m >= 0.95), $"every mapped vector agrees; the mapped predictor says at least {mapped.Min():F3}");
        Assert.True(stored.Min() < 0.5, "the test needs items the turn makes incompatible as stored");
    }

    [Fact]
    public void Fit_AcrossDimensions_HasNoDirectPredictor()
    {
        var random = new Random(8);
        var old = new float[100 * D];
        var @new = new float[100 * (D + 2)];
        for (var i = 0; i < old.Length; i++) old[i] = (float)random.NextDouble() - 0.5f;
        for (var i = 0; i < @new.Length; i++) @new[i] = (float)random.NextDouble() - 0.5f;

        var fit = UpgradeFit.Fit(old, @new, 100, D, D + 2);

        Assert.Null(fit.DirectPredictor);
        Assert.NotNull(fit.MappedPredictor);
    }

    private static (float[] Old, float[] New) Pairs(Random random, int n)
    {
        var old = new float[n * D];
        var @new = new float[n * D];
        for (var i = 0; i < n; i++)
        {
            // Items differ in how much of them lies in the turned plane.
            var inPlane = random.NextDouble() * 3;
            for (var j = 0; j < D; j++) old[i * D + j] = (float)((random.NextDouble() - 0.5) * (j < 2 ? inPlane : 1));
            VectorMath.NormalizeInPlace(old.AsSpan(i * D, D));
            old.AsSpan(i * D, D).CopyTo(@new.AsSpan(i * D, D));
            (@new[i * D], @new[i * D + 1]) = (-old[i * D + 1], old[i * D]);
        }

        return (old, @new);
    }
}
