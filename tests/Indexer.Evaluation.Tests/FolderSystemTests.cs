using System.Diagnostics;
using Indexer.Embedding;
using Indexer.Search;
using Indexer.Search.Metrics;
using Indexer.Training;
using Xunit.Abstractions;

namespace Indexer.Evaluation.Tests;

/// <summary>The system-folder mode's pieces that need no silo: item ids from paths, and bad input refused before a silo starts.</summary>
public sealed class FolderSystemInputTests : FolderTestBase
{
    [Fact]
    public void ItemIds_FromPaths_AreValidDistinctAndReadable()
    {
        string[] paths = ["Sandal/00012.png", "T-shirt top/a+b.png", "Bag/x_y.png", "Bag_x/y.png", "-odd/1.png", new string('a', 200) + "/1.png", "Bag/x y.png"];

        var ids = FolderItemIds.Map(paths);

        Assert.Equal(["Sandal_00012.png", "T-shirt_top_a_b.png", "Bag_x_y.png", "Bag_x_y.png-2", "f-odd_1.png", new string('a', Ids.MaxLength - 6) + "_1.png", "Bag_x_y.png-3"], ids);
        Assert.All(ids, id => Assert.True(Ids.IsValid(id), id));
        Assert.Equal(ids.Count, ids.Distinct(StringComparer.Ordinal).Count());
    }

    [Fact]
    public void SystemFolder_WithMissingFolder_OrModelWithoutManifest_IsBadInput_BeforeAnySiloStarts()
    {
        var images = NamesOnly("images", labels: 2, perLabel: 6);
        var noManifest = Path.Combine(Directory, "no-manifest");
        Write(noManifest, ModelZoo.ModelFileName, [1, 2, 3]);
        var output = Path.Combine(Directory, "out");
        string[] size = ["--galleries", "1", "--gallery-size", "8", "--queries", "2", "--port", "6080"];

        Assert.Equal(EvaluationApp.BadInput, Cli(["system-folder", "--images", Path.Combine(Directory, "missing"), "--old", noManifest, "--new", noManifest, "--out", output, .. size]));
        Assert.Equal(EvaluationApp.BadInput, Cli(["system-folder", "--images", images, "--old", noManifest, "--new", noManifest, "--out", output, .. size]));
        Assert.Equal(EvaluationApp.BadInput, Cli(["system-folder", "--images", images, "--old", noManifest, "--new", noManifest, "--out", output, "--cluster-join", "often", .. size]));
        Assert.False(System.IO.Directory.Exists(output), "nothing is written on bad input");
    }
}

/// <summary>
/// The system mode on a labeled folder: Fashion-MNIST images exported as PNG files in four label folders (one broken file
/// among them), the pretrained ResNet18 as the old model and ResNet18 followed by a random rotation as the new one,
/// registered over HTTP from their directories, uploaded into two users' galleries and rolled out through a real silo
/// (Azurite, ONNX Runtime), against the offline computation on the vectors the system stored and on the folder pool's vectors.
/// </summary>
[Trait("Category", "EndToEnd")]
public sealed class FolderSystemTests(ITestOutputHelper output) : FolderTestBase
{
    private const int BasePort = 6080;

    private const int PerLabel = 30;

    private static readonly int[] Classes = [0, 1, 7, 8]; // T-shirt/top, Trouser, Sneaker, Bag

    [Fact]
    [Trait("Category", "Slow")] // outside the default test run: SystemAgreementTests drives the same system mode from the zoo
    public async Task SystemFolderMode_MeasuresThroughTheSystem_WhatTheOfflineComputationMeasuresOnTheSameVectors()
    {
        var clock = Stopwatch.StartNew();
        var images = FashionMnist.Load(FashionMnist.DefaultDirectory, FashionMnistSplit.Test);
        var root = Path.Combine(Directory, "fashion-folder");
        var labelOf = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var label in Classes)
        {
            var folder = LabeledImages.ClassNames[label].Replace('/', ' '); // "T-shirt top": a label with a space
            foreach (var (i, n) in Enumerable.Range(0, images.Count).Where(i => images.Labels[i] == label).Take(PerLabel).Select((i, n) => (i, n)))
            {
                var relative = $"{folder}/{(n % 3 == 0 ? "photo+" : string.Empty)}{i:D5}.png"; // '+' is no id character
                Write(root, relative, images.EncodePng(i));
                labelOf[relative] = folder;
            }
        }

        Write(root, "Bag/zz-broken.png", [0x89, 0x50, 0x4E, 0x47]);

        var backbone = ResNet18Model.Import(ResNet18Model.DefaultModelPath, ResNet18Model.DefaultPreprocessPath, "resnet18");
        var rotation = RandomOrthogonal.Create(backbone.Manifest.OutputDimension, seed: 5);
        var rotated = ModelDerivation.AppendLinearMap(backbone, rotation, backbone.Manifest.OutputDimension, "resnet18-rotated", null, "ResNet18 followed by a random rotation");
        var oldDirectory = ModelDirectory("old", backbone);
        var newDirectory = ModelDirectory("new", rotated);
        var reportDirectory = Path.Combine(Directory, "report");

        var protocol = new UserProtocol { Galleries = 2, GallerySize = 40, Queries = 10, Seed = 5 };
        var options = new SystemOptions
        {
            BasePort = BasePort,
            Points = [0, 0.5, 1],
            MaxItemsPerSecond = 8,
            SampleSize = 20,
            VersionPrefix = "f-",
            VerifyOnLabeledGallery = false, // nothing is claimed; it would embed a gallery twice more
            StepTimeout = TimeSpan.FromMinutes(3),
        };
        var log = new StringWriter();
        FolderSystemResult result;
        try
        {
            result = await FolderSystemEvaluation.RunAsync(
                root, oldDirectory, [newDirectory], protocol, options, new UpgradeEvaluationOptions { Seed = 5 }, reportDirectory, "indexer-eval system-folder (test)", log);
        }
        finally
        {
            output.WriteLine(log.ToString());
        }

        output.WriteLine($"whole test: {clock.Elapsed.TotalSeconds:F1} s");
        var source = result.Source;
        var system = result.Report.System!;

        // The broken file is skipped and listed; every other file was uploaded (a rejected upload or a failed item fails the run).
        Assert.Equal(Classes.Length * PerLabel, source.Count);
        Assert.Equal("Bag/zz-broken.png", Assert.Single(source.Pool.Skipped).ItemId);
        Assert.Contains("skipped 1 file(s)", log.ToString());
        Assert.Contains($"ingested {protocol.Galleries * protocol.GallerySize} images", log.ToString());
        var ids = Enumerable.Range(0, source.Count).Select(source.ItemId).ToList();
        Assert.All(ids, id => Assert.True(Ids.IsValid(id), id));
        Assert.Equal(ids.Count, ids.Distinct(StringComparer.Ordinal).Count());
        Assert.Contains(ids, id => id.StartsWith("T-shirt_top_photo_", StringComparison.Ordinal));
        for (var i = 0; i < source.Count; i++) Assert.Equal(labelOf[source.RelativePath(i)], source.LabelName(i));

        var upgrade = Assert.Single(system.Upgrades);
        Assert.Equal("f-resnet18", upgrade.FromVersion);
        Assert.Equal("f-resnet18-rotated", upgrade.ToVersion);
        Assert.Equal("resnet18 → resnet18-rotated", upgrade.Name);
        Assert.True(upgrade.RollbackRestoredAnswers, "after the rollback every ranking should be what it was");
        Assert.True(upgrade.MaxVectorDifference < 1e-4, $"the system's vectors and the folder pool's differ by {upgrade.MaxVectorDifference}");

        Assert.Equal(3, upgrade.Points.Count);
        Assert.Equal(0, upgrade.Points[0].Beta);
        Assert.Equal(1, upgrade.Points[2].Beta);
        foreach (var point in upgrade.Points)
        {
            output.WriteLine($"β {point.Beta:F3}: system mAP {point.System.MeanAveragePrecision:F5} top-1 {point.System.Cmc1:F4} NFR@1 {point.System.NegativeFlipRate1:F4}; " +
                $"offline (stored) mAP {point.OfflineStored.MeanAveragePrecision:F5}, (folder pool) {point.OfflineHeads.MeanAveragePrecision:F5}");
            Assert.True(point.MaxDifferenceStored <= 1e-6, $"β = {point.Beta}: system and offline (stored vectors) differ by {point.MaxDifferenceStored}");
            Assert.True(point.MaxDifferenceHeads <= 1e-3, $"β = {point.Beta}: system and offline (folder pool's vectors) differ by {point.MaxDifferenceHeads}");
            Assert.True(point.PredictedPrefix, $"β = {point.Beta}: the re-embedded items are not the start of the predicted order");
        }

        // The end points are the cross-model table of the same galleries: old/old before the rollout, new/new at β = 1; a
        // rotation keeps every cosine, so both are the same figure.
        Assert.Equal(upgrade.Offline.CrossModel.OldOld.MeanAveragePrecision, system.OldOld.MeanAveragePrecision, 3);
        Assert.Equal(upgrade.Offline.CrossModel.NewNew.MeanAveragePrecision, upgrade.Points[2].System.MeanAveragePrecision, 3);
        Assert.Equal(system.OldOld.MeanAveragePrecision, upgrade.Points[2].System.MeanAveragePrecision, 3);

        // The report: in --out, naming the folder and what the offline column ran on; results.json reads back.
        Assert.All(result.Written, path => Assert.True(File.Exists(path), path));
        var markdown = File.ReadAllText(Path.Combine(reportDirectory, ReportWriter.MarkdownFile));
        Assert.Contains("image folder 'fashion-folder' through the running system", markdown);
        Assert.Contains("the folder pool's vectors", markdown);
        Assert.Contains("zz-broken.png", markdown);
        Assert.DoesNotContain("zoo heads", markdown);
        var written = ReportWriter.Read(reportDirectory);
        Assert.NotNull(written.System?.Source);
        Assert.Equal("f-resnet18-rotated", Assert.Single(written.System!.Upgrades).ToVersion);
        Assert.Equal(upgrade.Points[1].System.MeanAveragePrecision, written.System.Upgrades[0].Points[1].System.MeanAveragePrecision, 12);
    }
}
