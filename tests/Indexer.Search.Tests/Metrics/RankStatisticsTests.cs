using Indexer.Search.Metrics;

namespace Indexer.Search.Tests.Metrics;

public sealed class RankStatisticsTests
{
    [Fact]
    public void Ranks_TiesShareTheirMeanRank() =>
        Assert.Equal([1.0, 2.5, 2.5, 4.0], RankStatistics.Ranks([0.1, 0.5, 0.5, 0.9]));

    [Fact]
    public void Spearman_MonotoneIsOneReversedIsMinusOne()
    {
        Assert.Equal(1.0, RankStatistics.Spearman([1, 2, 3, 4], [10, 20, 30, 400]), 12);
        Assert.Equal(-1.0, RankStatistics.Spearman([1, 2, 3, 4], [4, 3, 2, 1]), 12);
        Assert.True(double.IsNaN(RankStatistics.Spearman([1, 1, 1], [1, 2, 3])));
        Assert.True(double.IsNaN(RankStatistics.Spearman([], [])));
        Assert.True(double.IsNaN(RankStatistics.Spearman([1], [2])));
    }

    [Fact]
    public void Spearman_HandComputedCase()
    {
        // ranks a = 1 2 3 4 5, ranks b = 2 1 4 3 5: d² = 1+1+1+1+0 = 4, rho = 1 - 6·4 / (5·24) = 0.8
        Assert.Equal(0.8, RankStatistics.Spearman([1, 2, 3, 4, 5], [2, 1, 4, 3, 5]), 12);
    }

    [Fact]
    public void RocAuc_HandComputedCases()
    {
        Assert.Equal(1.0, RankStatistics.RocAuc([0.9, 0.8, 0.2, 0.1], [true, true, false, false]), 12);
        Assert.Equal(0.0, RankStatistics.RocAuc([0.1, 0.2, 0.8, 0.9], [true, true, false, false]), 12);
        // positives 0.8, 0.4; negatives 0.6, 0.4: pairs (0.8>0.6) 1, (0.8>0.4) 1, (0.4<0.6) 0, (0.4=0.4) 0.5 → 2.5/4
        Assert.Equal(0.625, RankStatistics.RocAuc([0.8, 0.4, 0.6, 0.4], [true, true, false, false]), 12);
        Assert.True(double.IsNaN(RankStatistics.RocAuc([0.1, 0.2], [true, true])));
    }
}
