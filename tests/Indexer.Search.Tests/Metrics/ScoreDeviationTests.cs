using Indexer.Search.Metrics;

namespace Indexer.Search.Tests.Metrics;

public sealed class ScoreDeviationTests
{
    [Fact]
    public void ServedAsTheNewVector_DeviatesByNothing()
    {
        float[] truth = [1, 0, 0, 0, 1, 0];
        float[] probes = [0.6f, 0.8f, 0, 0, 0.6f, 0.8f, 0.8f, 0, 0.6f];

        var deviation = ScoreDeviation.Compute(truth, truth, probes, 2, 3, 3, neighbours: 2);

        Assert.Equal([0.0, 0.0], deviation);
    }

    [Fact]
    public void ADifferenceTheNeighbourhoodDoesNotScoreAlong_CostsNothing_WhereAgreementSeesIt()
    {
        // The item's new vector is e1; the served vector leans towards e3. Probes near e1 lie in the e1-e2 plane, so they
        // score both vectors alike; the one far probe, along e3, is not among the nearest two.
        float[] truth = [1, 0, 0];
        var lean = 0.6f;
        float[] served = [0.8f, 0, lean];
        float[] probes = [0.8f, 0.6f, 0, 0.8f, -0.6f, 0, 0, 0, 1];

        var near = ScoreDeviation.Compute(served, truth, probes, 1, 3, 3, neighbours: 2);
        var all = ScoreDeviation.Compute(served, truth, probes, 1, 3, 3, neighbours: 3);

        // Agreement is 0.8, yet the two nearest probes see |0.64 − 0.8| each: what the lean costs them is the shrink.
        Assert.Equal(0.16, near[0], 6);
        // With the e3 probe too: its score moves from 0 to 0.6.
        Assert.Equal((0.16 + 0.16 + 0.6) / 3, all[0], 6);
    }

    [Fact]
    public void AProbeThatIsTheItemItself_IsSkipped()
    {
        float[] truth = [1, 0];
        float[] served = [0.6f, 0.8f];
        float[] probes = [1, 0, 0, 1];

        var deviation = ScoreDeviation.Compute(served, truth, probes, 1, 2, 2, neighbours: 1);

        // The probe equal to the item is skipped; the other sees 0.8 instead of 0.
        Assert.Equal(0.8, deviation[0], 6);
    }

    [Fact]
    public void BadShapes_AreRefused()
    {
        float[] one = [1, 0];
        Assert.Throws<ArgumentException>(() => ScoreDeviation.Compute(one, [1, 0, 0], one, 1, 1, 2));
        Assert.Throws<ArgumentException>(() => ScoreDeviation.Compute(one, one, [1, 0, 0], 1, 1, 2));
        Assert.Throws<ArgumentOutOfRangeException>(() => ScoreDeviation.Compute(one, one, one, 1, 1, 2, neighbours: 0));
    }
}
