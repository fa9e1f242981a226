using Indexer.Grains.Galleries;

namespace Indexer.Tests.Unit;

public sealed class ReadStrikesTests
{
    [Fact]
    public void AnItem_IsGivenUpAtTheLimit_AndThenForgotten()
    {
        var strikes = new ReadStrikes(limit: 3);
        Assert.False(strikes.Strike("a"));
        Assert.False(strikes.Strike("a"));
        Assert.True(strikes.Strike("a"));
        Assert.Equal(0, strikes.Count);
        Assert.False(strikes.Strike("a")); // a later try (after a resume) starts from nothing
    }

    [Fact]
    public void ASuccessfulRead_ForgetsTheStrikes_AndItemsAreCountedApart()
    {
        var strikes = new ReadStrikes(limit: 2);
        Assert.False(strikes.Strike("a"));
        Assert.False(strikes.Strike("b"));
        strikes.Forget("a");
        Assert.False(strikes.Strike("a"));
        Assert.True(strikes.Strike("b"));
        Assert.Equal(1, strikes.Count);
    }

    [Fact]
    public void ALimitBelowOne_IsRefused() => Assert.Throws<ArgumentOutOfRangeException>(() => new ReadStrikes(limit: 0));
}
