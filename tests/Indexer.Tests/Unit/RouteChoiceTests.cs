using Indexer.Compatibility;
using Indexer.Grains.Rollouts;
using Indexer.Models;

namespace Indexer.Tests.Unit;

public sealed class RouteChoiceTests
{
    private static LabeledEvaluation Table(double oldOld, double newOld, double newMapped) =>
        new("alice/labeled", 400, 10, oldOld, NewNewMap: 0.8, newOld, newMapped, 0.7, 0.8, 0.6, 0.7);

    [Fact]
    public void Auto_WithoutLabeledData_ServesTheDirectRoute()
    {
        Assert.Equal(RouteKind.Mapped, RolloutGrain.ChooseRoute(RoutePreference.Auto, RouteKind.Mapped, null, out var why));
        Assert.Null(why);
        Assert.Equal(RouteKind.Compatible, RolloutGrain.ChooseRoute(RoutePreference.Auto, RouteKind.Compatible, null, out _));
    }

    [Fact]
    public void Auto_TurnsToOwnSpace_OnlyWhenLabeledDataShowsTheDirectRouteFindingOldItemsWorse()
    {
        // The map finds old items better than the old model did: mapped.
        Assert.Equal(RouteKind.Mapped, RolloutGrain.ChooseRoute(RoutePreference.Auto, RouteKind.Mapped, Table(0.5, 0.1, 0.6), out _));

        // Worse through the map: own-space, and the operator is told why with the figures.
        Assert.Equal(RouteKind.OwnSpace, RolloutGrain.ChooseRoute(RoutePreference.Auto, RouteKind.Mapped, Table(0.5, 0.1, 0.45), out var why));
        Assert.Contains("45.0", why);
        Assert.Contains("50.0", why);

        // A compatible route is judged by new-on-old as stored, not by the map.
        Assert.Equal(RouteKind.Compatible, RolloutGrain.ChooseRoute(RoutePreference.Auto, RouteKind.Compatible, Table(0.5, 0.55, 0.1), out _));
        Assert.Equal(RouteKind.OwnSpace, RolloutGrain.ChooseRoute(RoutePreference.Auto, RouteKind.Compatible, Table(0.5, 0.4, 0.9), out _));
    }

    [Fact]
    public void ExplicitPreferences_AreFollowed()
    {
        Assert.Equal(RouteKind.OwnSpace, RolloutGrain.ChooseRoute(RoutePreference.OwnSpace, RouteKind.Compatible, null, out var why));
        Assert.NotNull(why);
        Assert.Equal(RouteKind.Mapped, RolloutGrain.ChooseRoute(RoutePreference.Map, RouteKind.Mapped, Table(0.5, 0.1, 0.2), out _));
    }
}
