using Indexer.Search.Metrics;

namespace Indexer.Evaluation;

/// <summary>Sizes of the synthetic benchmark; the defaults are the protocol of issue 4 (20 users x 400 images, 50 queries each).</summary>
public sealed record SyntheticOptions
{
    /// <summary>Simulated users.</summary>
    public int Galleries { get; init; } = 20;

    /// <summary>Gallery images per user.</summary>
    public int ItemsPerGallery { get; init; } = 400;

    /// <summary>Held-out queries per user.</summary>
    public int QueriesPerGallery { get; init; } = 50;

    /// <summary>Seed of every random draw of the data.</summary>
    public int Seed { get; init; }

    /// <summary>Throws when a size is out of range.</summary>
    public void Validate()
    {
        if (Galleries < 1) throw new ArgumentOutOfRangeException(nameof(Galleries), Galleries, "at least one gallery");
        if (ItemsPerGallery < 2) throw new ArgumentOutOfRangeException(nameof(ItemsPerGallery), ItemsPerGallery, "at least two items per gallery");
        if (QueriesPerGallery < 1) throw new ArgumentOutOfRangeException(nameof(QueriesPerGallery), QueriesPerGallery, "at least one query per gallery");
    }
}

/// <summary>
/// Feature matrices with the shape of the model zoo, for demonstrating the harness before the zoo exists. Ten classes
/// are blobs in a 32-d latent space; an image x of class c has the latent μ_c + e_x. Each model sees the latent through
/// its own noise and a random 128-d projection:
/// <list type="bullet">
/// <item><c>v1</c> (old) was trained on classes 0–4 only: it sees μ_c + 0.7 e_x for those, and for the five classes it
/// never saw only a faint 0.3 μ_c under noise of its own.</item>
/// <item><c>v2-independent</c> sees every class well (μ_c + 0.5 e_x + 0.4 g_x) through a projection unrelated to v1's:
/// its space is incompatible with v1's and needs a map.</item>
/// <item><c>v2-bct</c> sees every class almost as well, through v1's projection: its space is v1's, as backward-compatible
/// training aims for.</item>
/// </list>
/// Nothing here is a trained model; the report says so.
/// </summary>
public static class SyntheticZoo
{
    /// <summary>The old version's name.</summary>
    public const string OldModel = "v1";
    /// <summary>The new version trained without a compatibility constraint.</summary>
    public const string Independent = "v2-independent";
    /// <summary>The new version trained to be backward compatible.</summary>
    public const string Bct = "v2-bct";

    /// <summary>Embedding dimension of every synthetic version, as the zoo's heads give.</summary>
    public const int Dimension = 128;

    private const int Latent = 32, Classes = 10, SeenClasses = 5;

    /// <summary>One line for the report on what the synthetic data is.</summary>
    public static string Describe(SyntheticOptions options) =>
        $"synthetic features (no trained model): {Classes} Gaussian classes in a {Latent}-d latent, {Dimension}-d views; " +
        $"v1 sees classes 0–{SeenClasses - 1} only, v2-* see all; seed {options.Seed}";

    /// <summary>The upgrades v1 → v2-independent and v1 → v2-bct over the same users and images.</summary>
    public static IReadOnlyList<EvaluationDataset> Create(SyntheticOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        var random = new Random(options.Seed);
        var centres = Gaussian(random, Classes * Latent, 1.0);
        var oldProjection = Gaussian(random, Latent * Dimension, 1.0);
        var independentProjection = Gaussian(random, Latent * Dimension, 1.0);

        var independent = new List<EvaluationGallery>();
        var bct = new List<EvaluationGallery>();
        for (var g = 0; g < options.Galleries; g++)
        {
            // Users differ in what they photograph: each favours a few classes.
            var preference = Enumerable.Range(0, Classes).Select(_ => 0.2 + random.NextDouble()).ToArray();
            var gallery = Images(random, options.ItemsPerGallery, preference, centres, oldProjection, independentProjection);
            var queries = Images(random, options.QueriesPerGallery, preference, centres, oldProjection, independentProjection);
            var ids = Enumerable.Range(0, options.ItemsPerGallery).Select(i => $"user{g:D2}/{i:D4}").ToArray();
            independent.Add(new EvaluationGallery($"user{g:D2}", ids, gallery.Labels, gallery.Old, gallery.Independent, queries.Labels, queries.Old, queries.Independent, Dimension, Dimension));
            bct.Add(new EvaluationGallery($"user{g:D2}", ids, gallery.Labels, gallery.Old, gallery.Bct, queries.Labels, queries.Old, queries.Bct, Dimension, Dimension));
        }

        var description = Describe(options);
        return
        [
            new EvaluationDataset(OldModel, Independent, description, independent),
            new EvaluationDataset(OldModel, Bct, description, bct),
        ];
    }

    private sealed record Views(int[] Labels, float[] Old, float[] Independent, float[] Bct);

    private static Views Images(Random random, int count, double[] preference, double[] centres, double[] oldProjection, double[] independentProjection)
    {
        var total = preference.Sum();
        var labels = new int[count];
        var old = new float[count * Dimension];
        var independent = new float[count * Dimension];
        var bct = new float[count * Dimension];
        var oldLatent = new double[Latent];
        var independentLatent = new double[Latent];
        var bctLatent = new double[Latent];
        for (var i = 0; i < count; i++)
        {
            var c = labels[i] = Draw(random, preference, total);
            var seen = c < SeenClasses;
            for (var k = 0; k < Latent; k++)
            {
                var mu = centres[c * Latent + k];
                var e = Normal(random);
                oldLatent[k] = seen ? mu + 1.5 * e : 0.5 * mu + 1.5 * e + 0.8 * Normal(random);
                independentLatent[k] = mu + 1.1 * e + 0.8 * Normal(random);
                bctLatent[k] = mu + 1.2 * e + 0.85 * Normal(random);
            }

            Project(oldLatent, oldProjection, old.AsSpan(i * Dimension, Dimension));
            Project(independentLatent, independentProjection, independent.AsSpan(i * Dimension, Dimension));
            Project(bctLatent, oldProjection, bct.AsSpan(i * Dimension, Dimension));
        }

        return new Views(labels, old, independent, bct);
    }

    private static int Draw(Random random, double[] weights, double total)
    {
        var u = random.NextDouble() * total;
        for (var c = 0; c < weights.Length; c++)
        {
            u -= weights[c];
            if (u < 0) return c;
        }

        return weights.Length - 1;
    }

    private static void Project(double[] latent, double[] projection, Span<float> output)
    {
        for (var j = 0; j < output.Length; j++)
        {
            var sum = 0.0;
            for (var k = 0; k < latent.Length; k++) sum += latent[k] * projection[k * output.Length + j];
            output[j] = (float)sum;
        }
    }

    private static double[] Gaussian(Random random, int count, double scale)
    {
        var values = new double[count];
        for (var i = 0; i < count; i++) values[i] = scale * Normal(random);
        return values;
    }

    /// <summary>Box-Muller: two uniforms to one standard normal.</summary>
    private static double Normal(Random random) => Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());
}
