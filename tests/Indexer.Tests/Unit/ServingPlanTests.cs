using Indexer.Models;

namespace Indexer.Tests.Unit;

public sealed class ServingPlanTests
{
    [Theory]
    [InlineData(RouteKind.Mapped, "v1")]
    [InlineData(RouteKind.Compatible, "v1")]
    [InlineData(RouteKind.OwnSpace, null)] // both models rank already
    public void WhileARolloutEmbedsWithBothVersions_TheOldOneGuardsSearch_UnlessItsItemsAreServedInTheirOwnSpace(RouteKind route, string? guard)
    {
        var activated = new ServingPlan(3, "v2", ["v1", "v2"], [new VersionRoute("v1", "v2", route)]);

        Assert.Equal(guard, activated.GuardVersion);
    }

    [Fact]
    public void AfterTheCommit_OrBeforeAnyRollout_NothingGuardsSearch()
    {
        var committed = new ServingPlan(4, "v2", ["v2"], [new VersionRoute("v1", "v2", RouteKind.Mapped)]);
        var first = new ServingPlan(1, "v1", ["v1"], []);
        var none = new ServingPlan(0, null, [], []);

        Assert.Null(committed.GuardVersion);
        Assert.Null(first.GuardVersion);
        Assert.Null(none.GuardVersion);
    }
}
