namespace Indexer.Training;

/// <summary>Standard normal samples from a seeded <see cref="Random"/> (Box–Muller), so runs repeat exactly.</summary>
public static class Gaussian
{
    /// <summary>One N(0, 1) sample.</summary>
    public static double Next(Random random)
    {
        ArgumentNullException.ThrowIfNull(random);
        var u1 = 1.0 - random.NextDouble(); // in (0, 1], so the logarithm is finite
        var u2 = random.NextDouble();
        return Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2.0 * Math.PI * u2);
    }
}
