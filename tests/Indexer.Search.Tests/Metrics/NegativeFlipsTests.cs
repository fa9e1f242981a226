using Indexer.Search.Metrics;

namespace Indexer.Search.Tests.Metrics;

public sealed class NegativeFlipsTests
{
    [Fact]
    public void Classification_HandComputedCase()
    {
        // old right on 0, 1, 4 (ER_old = 2/5); new right on 0, 2 (ER_new = 3/5).
        // Negative flips: 1 and 4 (old right, new wrong). Positive flips: 2.
        var rates = NegativeFlips.Classification([0, 1, 2, 3, 4], [0, 1, 9, 9, 4], [0, 9, 2, 9, 9]);

        Assert.Equal(5, rates.Count);
        Assert.Equal(0.4, rates.NegativeFlipRate, 12);
        Assert.Equal(0.2, rates.PositiveFlipRate, 12);
        Assert.Equal(0.4, rates.OldErrorRate, 12);
        Assert.Equal(0.6, rates.NewErrorRate, 12);
        Assert.Equal(0.4 / (0.6 * 0.6), rates.RelativeNegativeFlipRate, 12);
    }

    [Fact]
    public void Classification_PerfectNewModel_HasNoFlipsAndUndefinedRelativeRate()
    {
        var rates = NegativeFlips.Classification([1, 2, 3], [1, 0, 3], [1, 2, 3]);

        Assert.Equal(0, rates.NegativeFlipRate);
        Assert.Equal(1.0 / 3, rates.PositiveFlipRate, 12);
        Assert.True(double.IsNaN(rates.RelativeNegativeFlipRate));
    }

    [Fact]
    public void Retrieval_CountsOnlyQueriesThatHadAHitAndLostIt()
    {
        Assert.Equal(0.25, NegativeFlips.Retrieval([true, true, false, false], [true, false, true, false]), 12);
        Assert.Equal(0, NegativeFlips.Retrieval([false, false], [false, false]));
        Assert.True(double.IsNaN(NegativeFlips.Retrieval([], [])));
    }

    [Fact]
    public void MismatchedLengths_Throw()
    {
        Assert.Throws<ArgumentException>(() => NegativeFlips.Classification([1, 2], [1], [1, 2]));
        Assert.Throws<ArgumentException>(() => NegativeFlips.Retrieval([true], [true, false]));
    }
}
