using Indexer.Search.Metrics;

namespace Indexer.Search.Tests.Metrics;

public sealed class BackfillOrderingTests
{
    [Fact]
    public void LeastCompatibleFirst_SortsAscending_TiesInIndexOrder_UnknownFirst()
    {
        Assert.Equal([4, 1, 3, 2, 0], BackfillOrdering.LeastCompatibleFirst([0.9, 0.1, 0.5, 0.1, double.NaN]));
        Assert.Empty(BackfillOrdering.LeastCompatibleFirst([]));
    }

    [Fact]
    public void Random_IsASeededPermutation()
    {
        var a = BackfillOrdering.Random(100, 7);
        Assert.Equal(Enumerable.Range(0, 100), a.Order());
        Assert.Equal(a, BackfillOrdering.Random(100, 7));
        Assert.NotEqual(a, BackfillOrdering.Random(100, 8));
    }

    [Theory]
    [InlineData(0.0, 20, 0)]
    [InlineData(0.15, 20, 3)]
    [InlineData(0.5, 7, 3)]
    [InlineData(1.0, 7, 7)]
    [InlineData(0.35, 400, 140)]
    public void Prefix_IsFloorOfBetaTimesCount(double beta, int count, int expected) =>
        Assert.Equal(expected, BackfillOrdering.Prefix(beta, count));

    [Fact]
    public void Mask_MarksThePrefixOfTheOrder()
    {
        Assert.Equal([false, true, false, true], BackfillOrdering.Mask([3, 1, 0, 2], 2));
        Assert.Throws<ArgumentOutOfRangeException>(() => BackfillOrdering.Mask([0, 1], 3));
        Assert.Throws<ArgumentOutOfRangeException>(() => BackfillOrdering.Prefix(1.5, 3));
    }
}
