using System.Globalization;
using System.Text.Json;
using Indexer.Search.Clustering;

namespace Indexer.Search.Tests.Clustering;

/// <summary>Gaussian blobs on the unit sphere: random unit centres, members = centre + isotropic noise, normalised.</summary>
internal sealed class Blobs
{
    private Blobs(int dimension, float[][] centres, List<(string Id, int Label, float[] Vector)> items)
    {
        Dimension = dimension;
        Centres = centres;
        Items = items;
    }

    public int Dimension { get; }

    public float[][] Centres { get; }

    public List<(string Id, int Label, float[] Vector)> Items { get; }

    /// <summary>
    /// <paramref name="perBlob"/> members for each of <paramref name="blobs"/> centres; the noise has expected length
    /// <paramref name="noise"/>, so a member's cosine to its centre is about 1/√(1 + noise²) (0.89 for 0.5).
    /// Items come shuffled.
    /// </summary>
    public static Blobs Create(int seed, int blobs, int perBlob, int dimension, float noise)
    {
        var random = new Random(seed);
        float[][] centres = [.. Enumerable.Range(0, blobs).Select(_ => Unit(Gaussian(random, dimension, 1f)))];
        var items = new List<(string, int, float[])>();
        for (int b = 0; b < blobs; b++)
        {
            for (int i = 0; i < perBlob; i++)
            {
                items.Add((string.Create(CultureInfo.InvariantCulture, $"b{b}-{i:D4}"), b, Near(random, centres[b], noise)));
            }
        }

        random.Shuffle(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(items));
        return new Blobs(dimension, centres, items);
    }

    /// <summary>A unit vector near <paramref name="centre"/>: centre + noise of expected length <paramref name="noise"/>.</summary>
    public static float[] Near(Random random, float[] centre, float noise)
    {
        float[] v = Gaussian(random, centre.Length, noise / MathF.Sqrt(centre.Length));
        for (int j = 0; j < v.Length; j++)
        {
            v[j] += centre[j];
        }

        return Unit(v);
    }

    public static float[] Unit(float[] v)
    {
        VectorMath.NormalizeInPlace(v);
        return v;
    }

    /// <summary>Row-major orthogonal matrix times vector: a rotation keeps every cosine.</summary>
    public static float[] Rotate(float[] matrix, float[] v)
    {
        var result = new float[v.Length];
        for (int i = 0; i < v.Length; i++)
        {
            result[i] = VectorMath.Dot(matrix.AsSpan(i * v.Length, v.Length), v);
        }

        return result;
    }

    /// <summary>The cluster of every item, in item order, for the metrics.</summary>
    public long[] ClustersOf(GalleryClusters clusters) => [.. Items.Select(i => clusters.ClusterOf(i.Id) ?? -1)];

    public int[] Labels => [.. Items.Select(i => i.Label)];

    private static float[] Gaussian(Random random, int dimension, float sigma)
    {
        var v = new float[dimension];
        for (int j = 0; j < dimension; j++)
        {
            double u1 = 1.0 - random.NextDouble();
            double u2 = random.NextDouble();
            v[j] = sigma * (float)(Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2));
        }

        return v;
    }
}

/// <summary>Snapshot comparison: the JSON form a grain could persist, so "nothing changed" compares everything.</summary>
internal static class Snapshots
{
    public static string Json(GalleryClusters clusters) => JsonSerializer.Serialize(clusters.ToSnapshot());

    public static ClusteringSnapshot RoundTrip(ClusteringSnapshot snapshot) =>
        JsonSerializer.Deserialize<ClusteringSnapshot>(JsonSerializer.Serialize(snapshot))!;
}
