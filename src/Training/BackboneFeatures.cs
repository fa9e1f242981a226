namespace Indexer.Training;

/// <summary>
/// Backbone features of a labelled image set: one raw (not normalised) feature row per image, exactly what the backbone
/// graph outputs and what a head appended to it receives.
/// </summary>
/// <param name="Key">What the rows are: dataset, selection and backbone identity (see <see cref="BackboneFeatureCache.KeyOf"/>).</param>
/// <param name="Dimension">Feature width.</param>
/// <param name="Features">count x dimension, row-major.</param>
/// <param name="Labels">Each row's label.</param>
/// <param name="SourceIndices">Each row's index in the image set it was taken from.</param>
public sealed record BackboneFeatures(string Key, int Dimension, float[] Features, int[] Labels, int[] SourceIndices)
{
    /// <summary>Number of rows.</summary>
    public int Count => Labels.Length;

    /// <summary>Row <paramref name="i"/>.</summary>
    public ReadOnlySpan<float> Row(int i) => Features.AsSpan(i * Dimension, Dimension);

    /// <summary>The rows at <paramref name="rows"/>, in that order.</summary>
    public BackboneFeatures Select(IReadOnlyList<int> rows)
    {
        ArgumentNullException.ThrowIfNull(rows);
        var features = new float[rows.Count * Dimension];
        var labels = new int[rows.Count];
        var sources = new int[rows.Count];
        for (var i = 0; i < rows.Count; i++)
        {
            Row(rows[i]).CopyTo(features.AsSpan(i * Dimension, Dimension));
            labels[i] = Labels[rows[i]];
            sources[i] = SourceIndices[rows[i]];
        }

        return new BackboneFeatures(Key + "|subset", Dimension, features, labels, sources);
    }

    /// <summary>The rows whose label is in <paramref name="labels"/>.</summary>
    public BackboneFeatures WhereLabelIn(IReadOnlyCollection<int> labels)
    {
        ArgumentNullException.ThrowIfNull(labels);
        return Select(Enumerable.Range(0, Count).Where(i => labels.Contains(Labels[i])).ToArray());
    }

    /// <summary>
    /// The indices of the first <paramref name="perClass"/> images of each label, in dataset order (fewer for a label
    /// with fewer images).
    /// </summary>
    public static int[] FirstPerClass(IReadOnlyList<byte> labels, int perClass)
    {
        ArgumentNullException.ThrowIfNull(labels);
        ArgumentOutOfRangeException.ThrowIfNegative(perClass);
        var taken = new Dictionary<byte, int>();
        var result = new List<int>();
        for (var i = 0; i < labels.Count; i++)
        {
            taken.TryGetValue(labels[i], out var count);
            if (count >= perClass) continue;
            taken[labels[i]] = count + 1;
            result.Add(i);
        }

        return result.ToArray();
    }
}
