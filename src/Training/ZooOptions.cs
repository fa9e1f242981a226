using Indexer.Embedding;

namespace Indexer.Training;

/// <summary>
/// Everything that decides the model zoo: data, heads, losses, hyper-parameters and where the results go. The defaults
/// are the zoo documented in docs/zoo.md.
/// </summary>
public sealed record ZooOptions
{
    /// <summary>Where each version's directory (<c>model.onnx</c>, <c>manifest.json</c>, <c>head.bin</c>) and the report go.</summary>
    public required string OutputDirectory { get; init; }

    /// <summary>Folder holding the Fashion-MNIST IDX files.</summary>
    public string DatasetDirectory { get; init; } = FashionMnist.DefaultDirectory;

    /// <summary>Where backbone features are cached; null for <c>&lt;OutputDirectory&gt;/cache</c>.</summary>
    public string? CacheDirectory { get; init; }

    /// <summary>Training images per class taken from the training split (the first ones of each class).</summary>
    public int TrainPerClass { get; init; } = 1200;

    /// <summary>Test images per class taken from the test split for the accuracy and retrieval figures.</summary>
    public int TestPerClass { get; init; } = 300;

    /// <summary>Base seed: v1 trains with it, every v2 with Seed + 1 (so v2 variants differ only in their loss).</summary>
    public int Seed { get; init; } = 1;

    /// <summary>Epochs of every training run.</summary>
    public int Epochs { get; init; } = 30;

    /// <summary>Mini-batch size.</summary>
    public int BatchSize { get; init; } = 128;

    /// <summary>Peak learning rate (cosine decay).</summary>
    public float LearningRate { get; init; } = 2e-3f;

    /// <summary>AdamW weight decay on layer weights.</summary>
    public float WeightDecay { get; init; } = 1e-4f;

    /// <summary>s of the cosine classifiers.</summary>
    public float ClassifierScale { get; init; } = 16f;

    /// <summary>The classes the old model (v1) trains on.</summary>
    public IReadOnlyList<int> OldClasses { get; init; } = [0, 1, 2, 3, 4];

    /// <summary>Number of classes in the dataset (all of them train the v2 models).</summary>
    public int ClassCount { get; init; } = 10;

    /// <summary>Embedding dimension of every version.</summary>
    public int EmbeddingDimension { get; init; } = 128;

    /// <summary>Hidden width of the v2 heads.</summary>
    public int NewHiddenWidth { get; init; } = 512;

    /// <summary>λ of BCT's influence loss.</summary>
    public float BctWeight { get; init; } = 1f;

    /// <summary>Whether to train v2-pc (focal distillation).</summary>
    public bool PositiveCongruent { get; init; } = true;

    /// <summary>
    /// α of focal distillation: the weight of every sample. 0 by default: distilling v1's (extended) classifier on the
    /// samples v1 gets wrong only drags v2 towards v1's mistakes (measured in docs/zoo.md).
    /// </summary>
    public float DistillationAlpha { get; init; }

    /// <summary>β of focal distillation: the extra weight where v1 was right.</summary>
    public float DistillationBeta { get; init; } = 1f;

    /// <summary>T of focal distillation.</summary>
    public float DistillationTemperature { get; init; } = 2f;

    /// <summary>Test images run through each exported ONNX model to check it against the C# head; 0 skips the check.</summary>
    public int OnnxCheckImages { get; init; } = 8;

    /// <summary>Prepended to every manifest version (directory names stay v1, v2-bct, …).</summary>
    public string VersionPrefix { get; init; } = string.Empty;

    /// <summary>The version name the backbone is imported under (the manifests' <c>derivedFrom</c>).</summary>
    public string BackboneVersion { get; init; } = "resnet18";

    /// <summary>Paths to the backbone's ONNX files; null for the copies next to the application.</summary>
    public string? BackboneModelPath { get; init; }

    /// <inheritdoc cref="BackboneModelPath"/>
    public string? BackbonePreprocessPath { get; init; }

    /// <summary>The cache directory in effect.</summary>
    public string EffectiveCacheDirectory => CacheDirectory ?? Path.Combine(OutputDirectory, "cache");

    /// <summary>Hyper-parameters of a run with <paramref name="seed"/>.</summary>
    public TrainingOptions Training(int seed) => new(Epochs, BatchSize, LearningRate, WeightDecay, ClassifierScale, seed);

    /// <summary>Throws when a value is out of range.</summary>
    public void Validate()
    {
        ArgumentException.ThrowIfNullOrEmpty(OutputDirectory);
        ArgumentException.ThrowIfNullOrEmpty(DatasetDirectory);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(TrainPerClass);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(TestPerClass);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(EmbeddingDimension);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(NewHiddenWidth);
        ArgumentOutOfRangeException.ThrowIfNegative(OnnxCheckImages);
        if (OldClasses.Count < 2 || OldClasses.Any(c => c < 0 || c >= ClassCount) || OldClasses.Distinct().Count() != OldClasses.Count)
        {
            throw new ArgumentException($"the old classes must be at least two distinct labels in 0..{ClassCount - 1}", nameof(OldClasses));
        }

        if (!(BctWeight >= 0f)) throw new ArgumentOutOfRangeException(nameof(BctWeight), BctWeight, "must not be negative");
        if (!(DistillationAlpha >= 0f) || !(DistillationBeta >= 0f)) throw new ArgumentOutOfRangeException(nameof(DistillationAlpha), "α and β of focal distillation must not be negative");
        if (!(DistillationTemperature > 0f)) throw new ArgumentOutOfRangeException(nameof(DistillationTemperature), DistillationTemperature, "must be positive");
        Training(Seed).Validate();
    }
}
