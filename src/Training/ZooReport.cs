using System.Globalization;
using System.Text;
using Indexer.Search.Metrics;

namespace Indexer.Training;

/// <summary>One trained and exported version of the zoo, with its figures on the test images.</summary>
/// <param name="Name">The zoo name and directory: v1, v2-independent, v2-bct, v2-pc.</param>
/// <param name="Version">The manifest version (the name with the configured prefix).</param>
/// <param name="Directory">Where model.onnx, manifest.json and head.bin were written.</param>
/// <param name="Head">The head's layers, e.g. "512x128+b".</param>
/// <param name="Loss">The training loss in words.</param>
/// <param name="Classes">The dataset labels it was trained on.</param>
/// <param name="TrainSamples">Training images.</param>
/// <param name="Epochs">Training epochs.</param>
/// <param name="Seed">Training seed.</param>
/// <param name="TrainAccuracy">Accuracy of its classifier on its training images.</param>
/// <param name="TestAccuracy">Accuracy of its classifier on the test images of its classes.</param>
/// <param name="Self">Retrieval on all test images with its own embeddings (leave-one-out).</param>
/// <param name="AgainstOld">For a v2: the cross-model table against v1 on the test images; null for v1.</param>
/// <param name="NegativeFlipRate">For a v2: NFR@1 of a full re-index from v1; null for v1.</param>
/// <param name="OnnxMaxDifference">Largest |ONNX − C# head| over the checked test images' embeddings; NaN when unchecked.</param>
/// <param name="TrainingTime">Wall time of training.</param>
public sealed record ZooVersion(
    string Name,
    string Version,
    string Directory,
    string Head,
    string Loss,
    IReadOnlyList<int> Classes,
    int TrainSamples,
    int Epochs,
    int Seed,
    double TrainAccuracy,
    double TestAccuracy,
    RetrievalReport Self,
    CrossModelTable? AgainstOld,
    double? NegativeFlipRate,
    double OnnxMaxDifference,
    TimeSpan TrainingTime);

/// <summary>The zoo's results: every version and the reference retrieval figure of the bare backbone.</summary>
/// <param name="Backbone">Retrieval with the L2-normalised backbone features on the same test images.</param>
/// <param name="TrainImages">Training images embedded (all classes).</param>
/// <param name="TestImages">Test images evaluated.</param>
/// <param name="Versions">v1 first, then the v2 variants.</param>
/// <param name="Elapsed">Wall time of the whole run, feature extraction included.</param>
public sealed record ZooReport(RetrievalReport Backbone, int TrainImages, int TestImages, IReadOnlyList<ZooVersion> Versions, TimeSpan Elapsed)
{
    /// <summary>The report's file name in the zoo directory (markdown).</summary>
    public const string FileName = "zoo.md";

    /// <summary>The markdown table the zoo command prints: one row per version, figures in percent.</summary>
    public string ToMarkdown()
    {
        var text = new StringBuilder();
        text.AppendLine(CultureInfo.InvariantCulture, $"Test retrieval: {TestImages} Fashion-MNIST test images, all 10 classes, leave-one-out, cosine; mAP in %. Backbone alone (L2-normalised ResNet18): mAP {Pct(Backbone.MeanAveragePrecision)}, top-1 {Pct(Backbone.CmcAt(1))}.");
        text.AppendLine("Accuracies are of each version's own classifier over its own classes (v1: 0-4 only); old = v1, new = the row's version; NFR@1 = negative flips at rank 1 of a full re-index from v1.");
        text.AppendLine();
        text.AppendLine("| version | head | classes | train img | train acc | test acc | mAP self | top-1 self | mAP old/old | mAP new/new | mAP new/old | BCT criterion | update gain | new/new − old/old | NFR@1 | ONNX max diff |");
        text.AppendLine("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
        foreach (var v in Versions)
        {
            var t = v.AgainstOld;
            text.AppendLine(
                $"| {v.Name} | {v.Head} | {Classes(v.Classes)} | {v.TrainSamples.ToString(CultureInfo.InvariantCulture)} | {Pct(v.TrainAccuracy)} | {Pct(v.TestAccuracy)} | {Pct(v.Self.MeanAveragePrecision)} | {Pct(v.Self.CmcAt(1))} | " +
                (t is null
                    ? "– | – | – | – | – | – | – "
                    : $"{Pct(t.OldOld.MeanAveragePrecision)} | {Pct(t.NewNew.MeanAveragePrecision)} | {Pct(t.NewOld.MeanAveragePrecision)} | {(t.CriterionHolds ? "holds" : "fails")} | {Number(t.UpdateGain)} | {Points(t.NewNew.MeanAveragePrecision - t.OldOld.MeanAveragePrecision)} | {Pct(v.NegativeFlipRate ?? double.NaN)} ") +
                $"| {(double.IsNaN(v.OnnxMaxDifference) ? "–" : v.OnnxMaxDifference.ToString("0.0e0", CultureInfo.InvariantCulture))} |");
        }

        return text.ToString();
    }

    private static string Classes(IReadOnlyList<int> classes)
    {
        var sorted = classes.Order().ToArray();
        return sorted.Length > 2 && sorted[^1] - sorted[0] == sorted.Length - 1
            ? $"{sorted[0]}-{sorted[^1]}"
            : string.Join(",", sorted);
    }

    private static string Pct(double value) => double.IsNaN(value) ? "–" : (100 * value).ToString("0.0", CultureInfo.InvariantCulture);

    private static string Points(double value) => double.IsNaN(value) ? "–" : (100 * value).ToString("+0.0;-0.0", CultureInfo.InvariantCulture);

    private static string Number(double value) => double.IsNaN(value) ? "–" : value.ToString("0.00", CultureInfo.InvariantCulture);
}
