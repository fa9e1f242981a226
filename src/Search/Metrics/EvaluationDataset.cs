namespace Indexer.Search.Metrics;

/// <summary>
/// One simulated user for the offline evaluation of an upgrade: a gallery embedded by both models, and held-out
/// queries of the same user (images not in the gallery, so no leave-one-out is needed) embedded by both models.
/// Every vector is copied and L2-normalised on construction, so that inner products are cosines (METRICS.md).
/// </summary>
public sealed class EvaluationGallery
{
    /// <param name="name">A name for the user, for messages.</param>
    /// <param name="itemIds">Each gallery item's id.</param>
    /// <param name="labels">Each gallery item's label (identity or class).</param>
    /// <param name="oldVectors">The items embedded by the old model, count x oldDimension, row-major.</param>
    /// <param name="newVectors">The same items embedded by the new model, count x newDimension, row-major.</param>
    /// <param name="queryLabels">Each query's label.</param>
    /// <param name="queryOldVectors">The queries embedded by the old model, queries x oldDimension.</param>
    /// <param name="queryNewVectors">The queries embedded by the new model, queries x newDimension.</param>
    /// <param name="oldDimension">Dimension of the old model's vectors.</param>
    /// <param name="newDimension">Dimension of the new model's vectors.</param>
    public EvaluationGallery(
        string name,
        IReadOnlyList<string> itemIds,
        IReadOnlyList<int> labels,
        ReadOnlySpan<float> oldVectors,
        ReadOnlySpan<float> newVectors,
        IReadOnlyList<int> queryLabels,
        ReadOnlySpan<float> queryOldVectors,
        ReadOnlySpan<float> queryNewVectors,
        int oldDimension,
        int newDimension)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(itemIds);
        ArgumentNullException.ThrowIfNull(labels);
        ArgumentNullException.ThrowIfNull(queryLabels);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(oldDimension);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(newDimension);
        if (itemIds.Count != labels.Count) throw new ArgumentException($"gallery '{name}': {itemIds.Count} ids but {labels.Count} labels", nameof(labels));
        if (labels.Count == 0) throw new ArgumentException($"gallery '{name}' is empty", nameof(labels));
        Name = name;
        ItemIds = itemIds.ToArray();
        Labels = labels.ToArray();
        QueryLabels = queryLabels.ToArray();
        OldDimension = oldDimension;
        NewDimension = newDimension;
        OldVectors = Rows(oldVectors, labels.Count, oldDimension, nameof(oldVectors));
        NewVectors = Rows(newVectors, labels.Count, newDimension, nameof(newVectors));
        QueryOldVectors = Rows(queryOldVectors, queryLabels.Count, oldDimension, nameof(queryOldVectors));
        QueryNewVectors = Rows(queryNewVectors, queryLabels.Count, newDimension, nameof(queryNewVectors));
    }

    /// <summary>A name for the user, for messages.</summary>
    public string Name { get; }

    /// <summary>Each gallery item's id.</summary>
    public IReadOnlyList<string> ItemIds { get; }

    /// <summary>Each gallery item's label (identity or class).</summary>
    public IReadOnlyList<int> Labels { get; }

    /// <summary>Each held-out query's label.</summary>
    public IReadOnlyList<int> QueryLabels { get; }

    /// <summary>Dimension of the old model's vectors.</summary>
    public int OldDimension { get; }

    /// <summary>Dimension of the new model's vectors.</summary>
    public int NewDimension { get; }

    /// <summary>Gallery items in the old model's space, <see cref="Count"/> x <see cref="OldDimension"/>, unit rows.</summary>
    public ReadOnlyMemory<float> OldVectors { get; }

    /// <summary>Gallery items in the new model's space, <see cref="Count"/> x <see cref="NewDimension"/>, unit rows.</summary>
    public ReadOnlyMemory<float> NewVectors { get; }

    /// <summary>Queries in the old model's space, <see cref="QueryCount"/> x <see cref="OldDimension"/>, unit rows.</summary>
    public ReadOnlyMemory<float> QueryOldVectors { get; }

    /// <summary>Queries in the new model's space, <see cref="QueryCount"/> x <see cref="NewDimension"/>, unit rows.</summary>
    public ReadOnlyMemory<float> QueryNewVectors { get; }

    /// <summary>Items in the gallery.</summary>
    public int Count => Labels.Count;

    /// <summary>Held-out queries of this user.</summary>
    public int QueryCount => QueryLabels.Count;

    private float[] Rows(ReadOnlySpan<float> source, int count, int dimension, string parameter)
    {
        if (source.Length != (long)count * dimension)
        {
            throw new ArgumentException($"gallery '{Name}': {parameter} holds {source.Length} floats, {count} rows of {dimension} expected", parameter);
        }

        if (!VectorMath.IsFinite(source)) throw new ArgumentException($"gallery '{Name}': {parameter} holds NaN or infinite values", parameter);
        var rows = source.ToArray();
        for (var r = 0; r < count; r++) VectorMath.NormalizeInPlace(rows.AsSpan(r * dimension, dimension));
        return rows;
    }
}

/// <summary>
/// The input of an offline upgrade evaluation: a set of simulated users (galleries) embedded by an old and a new model.
/// The two models may have different dimensions; the old one is served through a map h into the new space.
/// </summary>
public sealed class EvaluationDataset
{
    /// <param name="oldModel">Name of the old model version (e.g. "v1").</param>
    /// <param name="newModel">Name of the new model version (e.g. "v2-bct").</param>
    /// <param name="description">One line on where the images and features come from, for the report.</param>
    /// <param name="galleries">The simulated users; all must share the two dimensions.</param>
    public EvaluationDataset(string oldModel, string newModel, string description, IReadOnlyList<EvaluationGallery> galleries)
    {
        ArgumentNullException.ThrowIfNull(galleries);
        if (galleries.Count == 0) throw new ArgumentException("at least one gallery is needed", nameof(galleries));
        var first = galleries[0];
        if (galleries.Any(g => g.OldDimension != first.OldDimension || g.NewDimension != first.NewDimension))
        {
            throw new ArgumentException("every gallery must have the same old and new dimensions", nameof(galleries));
        }

        OldModel = oldModel ?? throw new ArgumentNullException(nameof(oldModel));
        NewModel = newModel ?? throw new ArgumentNullException(nameof(newModel));
        Description = description ?? throw new ArgumentNullException(nameof(description));
        Galleries = galleries.ToArray();
        OldDimension = first.OldDimension;
        NewDimension = first.NewDimension;
    }

    /// <summary>Name of the old model version.</summary>
    public string OldModel { get; }

    /// <summary>Name of the new model version.</summary>
    public string NewModel { get; }

    /// <summary>Where the images and features come from, one line.</summary>
    public string Description { get; }

    /// <summary>The simulated users.</summary>
    public IReadOnlyList<EvaluationGallery> Galleries { get; }

    /// <summary>Dimension of the old model's vectors.</summary>
    public int OldDimension { get; }

    /// <summary>Dimension of the new model's vectors.</summary>
    public int NewDimension { get; }

    /// <summary>"old → new", the name of the upgrade in reports.</summary>
    public string Name => $"{OldModel} → {NewModel}";

    /// <summary>Gallery items over all users.</summary>
    public int ItemCount => Galleries.Sum(g => g.Count);

    /// <summary>Queries over all users.</summary>
    public int QueryCount => Galleries.Sum(g => g.QueryCount);
}
