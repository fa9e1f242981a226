using Indexer.Search.Metrics;

namespace Indexer.Search.Tests.Metrics;

public sealed class FindabilityTests
{
    /// <summary>Unit vectors in the plane at these angles (degrees), row-major.</summary>
    private static float[] Circle(params double[] degrees) =>
        degrees.SelectMany(d => new[] { (float)Math.Cos(d * Math.PI / 180), (float)Math.Sin(d * Math.PI / 180) }).ToArray();

    [Fact]
    public void ServedAsTheNewVector_IsFoundAsBefore()
    {
        var truth = Circle(0, 10, 25, 90, 180, 270);

        var items = Findability.Compute(truth, truth, 6, 2, depth: 2);

        Assert.All(items, item =>
        {
            Assert.Equal(1, item.Retention);
            Assert.Equal(1, item.ScoreCorrelation, 9);
        });
    }

    [Fact]
    public void AStandInPastAnotherItem_IsLostByTheQueryThatFoundIt()
    {
        // Items at 0°, 10°, 40° and 75°. With depth 1 only item 1's query finds item 0 first (10° away; item 2 is 30°
        // away). Served at 335°, item 0 is 35° from that query, behind item 2: lost.
        var truth = Circle(0, 10, 40, 75);
        var served = Circle(335, 10, 40, 75);

        var items = Findability.Compute(served, truth, 4, 2, depth: 1);

        Assert.Equal(0, items[0].Retention);
        // Every other item is served by its new vector, and each item is judged alone.
        Assert.All(items.Skip(1), item => Assert.Equal(1, item.Retention));
        // A query that looks at two results still finds it, second after item 2.
        var deeper = Findability.Compute(served, truth, 4, 2, depth: 2);
        Assert.Equal(1, deeper[0].Retention);
    }

    [Fact]
    public void AStandInOppositeItsNewVector_ScoresAgainstIt()
    {
        var truth = Circle(0, 30, 60, 120, 250);
        var served = Circle(180, 30, 60, 120, 250);

        var items = Findability.Compute(served, truth, 5, 2);

        Assert.Equal(-1, items[0].ScoreCorrelation, 9);
    }

    [Fact]
    public void AStandInThatOnlyShrinksTheScores_KeepsTheirCorrelation()
    {
        // Cosine 0.8 with the new vector, the difference along a direction no query scores along: agreement sees it,
        // the correlation over the gallery's queries does not.
        float[] truth = [1, 0, 0, 0.8f, 0.6f, 0, 0.6f, 0.8f, 0, 0, 1, 0];
        float[] served = [0.8f, 0, 0.6f, 0.8f, 0.6f, 0, 0.6f, 0.8f, 0, 0, 1, 0];

        var items = Findability.Compute(served, truth, 4, 3, depth: 2);

        Assert.Equal(1, items[0].ScoreCorrelation, 6);
        // Item 1's query finds it second (0.8), ahead of item 3 (0.6); served it scores 0.64 and keeps that place.
        Assert.Equal(1, items[0].Retention);
    }

    [Fact]
    public void TooSmallAGallery_LosesNothing()
    {
        var one = Findability.Compute(Circle(0), Circle(90), 1, 2);

        Assert.Equal(new ItemFindability(1, 1), one[0]);
    }

    [Fact]
    public void BadShapes_AreRejected()
    {
        Assert.Throws<ArgumentException>(() => Findability.Compute(new float[4], new float[6], 3, 2));
        Assert.Throws<ArgumentOutOfRangeException>(() => Findability.Compute(new float[4], new float[4], 2, 2, depth: 0));
        // A gallery too large for its score tables is refused before anything is allocated.
        Assert.Throws<ArgumentOutOfRangeException>(() => Findability.Compute([], [], Findability.MaxCount + 1, 1));
    }
}
