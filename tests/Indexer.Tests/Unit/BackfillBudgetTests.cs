using Indexer.Grains.Rollouts;

namespace Indexer.Tests.Unit;

public sealed class BackfillBudgetTests
{
    private static readonly TimeSpan Second = TimeSpan.FromSeconds(1);

    [Fact]
    public void ASlowBudgetOverManyGalleries_IsGrantedInWholeBatches_NotOneItemEach()
    {
        // The 20-gallery harness run: 19 items/s over 20 galleries used to grant about one item per gallery per second.
        var budget = new BackfillBudget(grantSize: 16);
        var grants = Enumerable.Range(0, 60).SelectMany(_ => budget.Grant(19, Second, 20)).Where(c => c > 0).ToList();

        Assert.All(grants, c => Assert.Equal(16, c));
        Assert.Equal(19 * 60 / 16, grants.Count);
    }

    [Fact]
    public void OverTime_EveryGalleryGetsTheSameShare_AndTheTotalFollowsTheBudget()
    {
        var budget = new BackfillBudget(grantSize: 16);
        var perGallery = new int[7];
        for (var round = 0; round < 700; round++)
        {
            var credits = budget.Grant(25, Second, perGallery.Length);
            for (var g = 0; g < perGallery.Length; g++) perGallery[g] += credits[g];
        }

        Assert.InRange(perGallery.Sum(), 25 * 700 - 16, 25 * 700);
        Assert.True(perGallery.Max() - perGallery.Min() <= 16, $"shares {string.Join(", ", perGallery)}");
        Assert.InRange(budget.Carry, 0, 16);
    }

    [Fact]
    public void AFastBudget_GrantsSeveralBatchesARound_SpreadOverTheGalleries()
    {
        var budget = new BackfillBudget(grantSize: 16);

        var credits = budget.Grant(200, Second, 4);

        Assert.Equal(192, credits.Sum()); // 12 whole grants; 8 items carry over
        Assert.All(credits, c => Assert.Equal(48, c));
        Assert.Equal(8, budget.Carry, 9);
    }

    [Fact]
    public void FewerGalleriesThanBefore_KeepsGranting()
    {
        var budget = new BackfillBudget(grantSize: 16);
        budget.Grant(48, Second, 5);

        var credits = budget.Grant(48, Second, 2); // three galleries finished meanwhile

        Assert.Equal(48, credits.Sum());
        Assert.Empty(budget.Grant(48, Second, 0));
    }

    [Fact]
    public void ABudgetThatIsNotPositive_IsRefused()
    {
        var budget = new BackfillBudget(grantSize: 16);

        Assert.Throws<ArgumentOutOfRangeException>(() => budget.Grant(0, Second, 3));
        Assert.Throws<ArgumentOutOfRangeException>(() => budget.Grant(double.NaN, Second, 3));
        Assert.Throws<ArgumentOutOfRangeException>(() => new BackfillBudget(0));
    }
}
