using Indexer.Client;
using Indexer.Embedding;

namespace Indexer.Testing;

/// <summary>Real labeled images: the Fashion-MNIST test split as PNG files (Debian package dataset-fashion-mnist).</summary>
public static class SampleImages
{
    private static readonly Lazy<LabeledImages> Test = new(() => FashionMnist.Load(FashionMnist.DefaultDirectory, FashionMnistSplit.Test, 2000));

    public static LabeledImages Images => Test.Value;

    public static string Label(int index) => LabeledImages.ClassNames[Images.Labels[index]];

    public static ImageUpload Upload(int index) =>
        new($"fm-{index:D5}", Images.EncodePng(index), new Dictionary<string, string> { ["label"] = Label(index) });

    public static IEnumerable<ImageUpload> Uploads(int from, int count) => Enumerable.Range(from, count).Select(Upload);
}
