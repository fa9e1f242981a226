namespace Indexer.Search.Tests;

/// <summary>Deterministic random vectors for tests.</summary>
internal static class TestData
{
    public static float[] RandomVector(Random random, int dimension)
    {
        var v = new float[dimension];
        for (int i = 0; i < v.Length; i++)
        {
            v[i] = (random.NextSingle() * 2f) - 1f;
        }

        return v;
    }
}
