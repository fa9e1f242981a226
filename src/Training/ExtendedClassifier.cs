using System.Numerics.Tensors;

namespace Indexer.Training;

/// <summary>
/// The old model's classifier as BCT uses it on a larger class set: the trained (unit) rows for the classes the old
/// model was trained on, and for every other class the mean of the old model's unit embeddings of that class's
/// training samples, normalised: a row used exactly like the trained ones.
/// </summary>
public static class ExtendedClassifier
{
    /// <param name="trained">The old model's classifier over <paramref name="trainedClasses"/> (row i is class trainedClasses[i]).</param>
    /// <param name="trainedClasses">The dataset labels the old classifier's rows stand for.</param>
    /// <param name="oldEmbeddings">The old model's unit embeddings of the new training samples (samples x dimension).</param>
    /// <param name="labels">Each sample's dataset label.</param>
    /// <param name="classes">The number of classes of the new training set; labels are 0..classes−1.</param>
    /// <returns>A classifier with one row per class 0..classes−1 and the old classifier's scale.</returns>
    public static CosineClassifier Build(CosineClassifier trained, IReadOnlyList<int> trainedClasses, ReadOnlySpan<float> oldEmbeddings, ReadOnlySpan<int> labels, int classes)
    {
        ArgumentNullException.ThrowIfNull(trained);
        ArgumentNullException.ThrowIfNull(trainedClasses);
        if (trainedClasses.Count != trained.Classes) throw new ArgumentException("one dataset label per trained row is needed", nameof(trainedClasses));
        var d = trained.Dimension;
        if (oldEmbeddings.Length != labels.Length * d) throw new ArgumentException("one embedding per label is needed", nameof(oldEmbeddings));
        var rows = new float[classes * d];
        var counts = new int[classes];
        for (var r = 0; r < labels.Length; r++)
        {
            TensorPrimitives.Add(rows.AsSpan(labels[r] * d, d), oldEmbeddings.Slice(r * d, d), rows.AsSpan(labels[r] * d, d));
            counts[labels[r]]++;
        }

        var trainedRows = trained.NormalizedRows();
        for (var i = 0; i < trainedClasses.Count; i++)
        {
            trainedRows.AsSpan(i * d, d).CopyTo(rows.AsSpan(trainedClasses[i] * d, d));
        }

        for (var c = 0; c < classes; c++)
        {
            if (!trainedClasses.Contains(c) && counts[c] == 0) throw new ArgumentException($"class {c} has no trained row and no samples to average", nameof(labels));
        }

        BatchMath.NormalizeRows(rows, classes, d);
        return new CosineClassifier(rows, d, classes, trained.Scale);
    }
}
