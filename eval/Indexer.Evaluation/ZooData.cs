using System.Diagnostics;
using System.Globalization;
using Indexer.Embedding;
using Indexer.Search.Metrics;
using Indexer.Training;

namespace Indexer.Evaluation;

/// <summary>
/// The image pool of the benchmark: the Fashion-MNIST test split (no version of the zoo trained on it) and the frozen
/// backbone's raw features of its images, computed once by <see cref="BackboneFeatureCache"/> through the same path as
/// an uploaded image (PNG, decode, ResNet18) and read from the cache afterwards.
/// </summary>
public sealed class ImagePool
{
    /// <summary>The cache's name for the image set.</summary>
    public const string Dataset = "fashion-mnist-test";

    /// <summary>The version name the backbone is imported under: the zoo's, so that both share cache files.</summary>
    public const string BackboneVersion = "resnet18";

    private readonly Dictionary<int, int> _rowOf;

    /// <param name="images">The images, indexed by pool index.</param>
    /// <param name="features">Backbone features of (at least) every image used, keyed by their source index.</param>
    public ImagePool(LabeledImages images, BackboneFeatures features)
    {
        Images = images ?? throw new ArgumentNullException(nameof(images));
        Features = features ?? throw new ArgumentNullException(nameof(features));
        _rowOf = new Dictionary<int, int>(features.Count);
        for (var row = 0; row < features.Count; row++) _rowOf[features.SourceIndices[row]] = row;
    }

    /// <summary>The images, indexed by pool index.</summary>
    public LabeledImages Images { get; }

    /// <summary>The backbone's raw features.</summary>
    public BackboneFeatures Features { get; }

    /// <summary>Images in the pool.</summary>
    public int Count => Images.Count;

    /// <summary>The item id an image is indexed under, in the offline datasets and in the running system alike.</summary>
    public static string ItemId(int index) => "fm-" + index.ToString("D5", CultureInfo.InvariantCulture);

    /// <summary>The class label of an image (0..9).</summary>
    public int Label(int index) => Images.Labels[index];

    /// <summary>The class name of an image, as the system's <c>label</c> metadata holds it.</summary>
    public string LabelName(int index) => Images.LabelName(index);

    /// <summary>Raw backbone features of the listed images, one row each.</summary>
    public float[] Rows(IReadOnlyList<int> indices)
    {
        ArgumentNullException.ThrowIfNull(indices);
        var d = Features.Dimension;
        var rows = new float[indices.Count * d];
        for (var k = 0; k < indices.Count; k++)
        {
            if (!_rowOf.TryGetValue(indices[k], out var row)) throw new ArgumentException($"image {indices[k]} has no cached features", nameof(indices));
            Features.Row(row).CopyTo(rows.AsSpan(k * d, d));
        }

        return rows;
    }

    /// <summary>
    /// The whole test split and its features: read from <paramref name="cacheDirectory"/> when a valid file is there,
    /// otherwise computed (about 3-4 minutes at 50 images/s on two cores) and written.
    /// </summary>
    public static ImagePool LoadTestSplit(string datasetDirectory, string cacheDirectory, TextWriter log)
    {
        ArgumentNullException.ThrowIfNull(log);
        var images = FashionMnist.Load(datasetDirectory, FashionMnistSplit.Test);
        var backbone = ResNet18Model.Import(ResNet18Model.DefaultModelPath, ResNet18Model.DefaultPreprocessPath, BackboneVersion);
        var cache = new BackboneFeatureCache(cacheDirectory);
        var clock = Stopwatch.StartNew();
        var last = TimeSpan.Zero;
        var features = cache.GetOrCreate(Dataset, "all" + images.Count.ToString(CultureInfo.InvariantCulture), images, Enumerable.Range(0, images.Count).ToArray(), backbone,
            (done, total) =>
            {
                if (done < total && clock.Elapsed - last < TimeSpan.FromSeconds(15)) return;
                last = clock.Elapsed;
                log.WriteLine(Invariant($"features: {done}/{total} test images through the backbone ({done / Math.Max(1e-3, clock.Elapsed.TotalSeconds):F1} img/s)"));
            },
            log);
        return new ImagePool(images, features);
    }

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}

/// <summary>Turns the image pool, the users and two heads of the zoo into the input of the offline evaluation.</summary>
public static class ZooDatasets
{
    /// <summary>
    /// One upgrade's dataset: every user's gallery and queries embedded by the old and the new head (the C# copies of
    /// the exported models, applied to the cached backbone features).
    /// </summary>
    public static EvaluationDataset Build(
        string oldName, EmbeddingHead oldHead, string newName, EmbeddingHead newHead, ImagePool pool, IReadOnlyList<SimulatedUser> users, string description)
    {
        ArgumentNullException.ThrowIfNull(oldHead);
        ArgumentNullException.ThrowIfNull(newHead);
        ArgumentNullException.ThrowIfNull(pool);
        ArgumentNullException.ThrowIfNull(users);
        var galleries = new EvaluationGallery[users.Count];
        Parallel.For(0, users.Count, g =>
        {
            var user = users[g];
            var items = pool.Rows(user.Items);
            var queries = pool.Rows(user.Queries);
            galleries[g] = new EvaluationGallery(
                user.Name,
                user.Items.Select(ImagePool.ItemId).ToArray(),
                user.Items.Select(pool.Label).ToArray(),
                oldHead.Embed(items, user.Items.Count),
                newHead.Embed(items, user.Items.Count),
                user.Queries.Select(pool.Label).ToArray(),
                oldHead.Embed(queries, user.Queries.Count),
                newHead.Embed(queries, user.Queries.Count),
                oldHead.OutputDimension,
                newHead.OutputDimension);
        });
        return new EvaluationDataset(oldName, newName, description, galleries);
    }
}
