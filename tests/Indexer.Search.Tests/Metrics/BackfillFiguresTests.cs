using Indexer.Search.Metrics;

namespace Indexer.Search.Tests.Metrics;

public sealed class BackfillFiguresTests
{
    private static readonly IReadOnlyList<double> Betas = BackfillCurve.Betas;

    [Fact]
    public void Betas_AreTheTwentyOnePointGrid()
    {
        Assert.Equal(21, Betas.Count);
        Assert.Equal(0, Betas[0]);
        Assert.Equal(0.05, Betas[1], 15);
        Assert.Equal(1, Betas[^1]);
    }

    [Fact]
    public void Area_IsTheMeanOfThePoints()
    {
        // A straight line from 0.5 to 0.7 over the 21 points has mean 0.6.
        var line = Betas.Select(b => 0.5 + 0.2 * b).ToArray();
        Assert.Equal(0.6, BackfillFigures.Area(line), 12);
        Assert.Equal(2.0, BackfillFigures.Area([1, 2, 3]), 12);
    }

    [Fact]
    public void BetaStar_IsTheFirstBetaWithinEpsilonOfFullBackfill()
    {
        // new/new = 0.8, so within 1% means at least 0.792: reached first at β = 0.25 (0.795), not at 0.2 (0.791).
        var values = Betas.Select(b => b < 0.2 ? 0.7 : b < 0.25 ? 0.791 : b < 0.3 ? 0.795 : 0.8).ToArray();
        Assert.Equal(0.25, BackfillFigures.BetaStar(Betas, values, 0.8, 0.01), 12);
        Assert.Equal(0.3, BackfillFigures.BetaStar(Betas, values, 0.8, 0.0), 12);
        Assert.True(double.IsNaN(BackfillFigures.BetaStar([0, 1], [0.1, 0.2], 0.8)));
    }

    [Fact]
    public void Regret_IsTheDeepestDipBelowOldOld()
    {
        Assert.Equal(0.05, BackfillFigures.Regret([0.62, 0.58, 0.55, 0.61, 0.7], 0.6), 12);
        Assert.Equal(0, BackfillFigures.Regret([0.6, 0.65, 0.7], 0.6));
    }

    [Fact]
    public void CurveSummary_CombinesTheFigures()
    {
        var values = Betas.Select(b => 0.5 + 0.3 * b).ToArray(); // from 0.5 (mapped) to 0.8 (full)

        var summary = CurveSummary.Of(Betas, values, oldOld: 0.55, newNew: 0.8);

        Assert.Equal(0.65, summary.Area, 12);
        Assert.Equal(0.65 / 0.8, summary.AreaFraction, 12);
        Assert.Equal(1.0, summary.BetaStar, 12); // 0.792 needs β ≥ 0.973: only the last point (0.8) reaches it; β = 0.95 gives 0.785
        Assert.Equal(0.05, summary.Regret, 12);
    }
}
