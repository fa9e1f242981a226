using System.Diagnostics;
using Indexer.Embedding;
using Indexer.Search;
using Indexer.Search.Metrics;
using Indexer.Training;
using Xunit.Abstractions;

namespace Indexer.Evaluation.Tests;

/// <summary>Writes image folders and model directories for the folder mode's tests, and deletes them afterwards.</summary>
public abstract class FolderTestBase : IDisposable
{
    protected string Directory { get; } = Path.Combine(Path.GetTempPath(), $"eval-folder-{Guid.NewGuid():N}");

    public void Dispose()
    {
        if (System.IO.Directory.Exists(Directory)) System.IO.Directory.Delete(Directory, recursive: true);
    }

    /// <summary>A file of <paramref name="bytes"/> at <paramref name="relative"/> under <paramref name="root"/>, folders created.</summary>
    protected static string Write(string root, string relative, byte[] bytes)
    {
        var path = Path.Combine(root, relative);
        System.IO.Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    /// <summary>A folder of <paramref name="labels"/> label folders holding <paramref name="perLabel"/> empty ".png" files each: enough to scan, not to decode.</summary>
    protected string NamesOnly(string name, int labels, int perLabel)
    {
        var root = Path.Combine(Directory, name);
        for (var l = 0; l < labels; l++)
        {
            for (var i = 0; i < perLabel; i++) Write(root, Path.Combine($"label{l}", $"{i}.png"), []);
        }

        return root;
    }

    /// <summary>A model directory as the zoo writes one and the system registers it: model.onnx + manifest.json.</summary>
    protected string ModelDirectory(string name, ImportedModel model)
    {
        var directory = Path.Combine(Directory, name);
        System.IO.Directory.CreateDirectory(directory);
        File.WriteAllBytes(Path.Combine(directory, ModelZoo.ModelFileName), model.Onnx);
        File.WriteAllText(Path.Combine(directory, ModelZoo.ManifestFileName), model.Manifest.ToJson());
        return directory;
    }

    protected static int Cli(params string[] args) => EvaluationApp.Build().Parse(args).Invoke();
}

/// <summary>The folder mode's input checks that need neither the model nor the dataset: they fail before either is touched.</summary>
public sealed class FolderInputTests : FolderTestBase
{
    [Fact]
    public void Scan_TakesLabelsFromSubFolderNames_InOrdinalOrder_AndIgnoresOtherFiles()
    {
        var root = Path.Combine(Directory, "images");
        Write(root, Path.Combine("b-label", "2.png"), [1]);
        Write(root, Path.Combine("b-label", "1.JPG"), [1]);
        Write(root, Path.Combine("a-label", "nested", "3.jpeg"), [1]);
        Write(root, Path.Combine("a-label", "notes.txt"), [1]);
        Write(root, Path.Combine("empty-label", "notes.txt"), [1]);
        Write(root, "loose.png", [1]); // in no label's folder

        var images = FolderImages.Scan(root);

        Assert.Equal(["a-label", "b-label"], images.LabelNames);
        Assert.Equal(["a-label/nested/3.jpeg", "b-label/1.JPG", "b-label/2.png"], images.ItemIds);
        Assert.Equal([0, 1, 1], images.Labels);
        Assert.Equal(3, images.Ignored);
        Assert.True(File.Exists(images.PathOf(0)));
    }

    [Fact]
    public void Folder_WithOneLabel_OrMissing_IsBadInput()
    {
        var one = NamesOnly("one", labels: 1, perLabel: 10);
        var missing = Path.Combine(Directory, "missing");

        Assert.Contains("at least 2 are needed", Assert.Throws<ArgumentException>(() => FolderImages.Scan(one)).Message);
        Assert.Contains("does not exist", Assert.Throws<ArgumentException>(() => FolderImages.Scan(missing)).Message);
        Assert.Equal(EvaluationApp.BadInput, Cli("folder", "--images", one, "--old", Directory, "--new", Directory, "--out", Path.Combine(Directory, "out")));
        Assert.Equal(EvaluationApp.BadInput, Cli("folder", "--images", missing, "--old", Directory, "--new", Directory, "--out", Path.Combine(Directory, "out")));
    }

    [Fact]
    public void Folder_TooSmallForTheProtocol_IsRefusedBeforeAnyModelIsLoaded()
    {
        var small = NamesOnly("small", labels: 3, perLabel: 4);
        var noModel = Path.Combine(Directory, "no-model"); // never reached: the folder is checked first

        var error = Assert.Throws<ArgumentException>(() => FolderEvaluation.Run(
            small, noModel, [noModel], new UserProtocol { Galleries = 2, GallerySize = 5, Queries = 2 }, new UpgradeEvaluationOptions(), Path.Combine(Directory, "out"), "test", TextWriter.Null));

        Assert.Contains("holds 12 images;", error.Message);
        Assert.Contains("need 14", error.Message);
        Assert.Equal(EvaluationApp.BadInput, Cli("folder", "--images", small, "--old", noModel, "--new", noModel, "--out", Path.Combine(Directory, "out")));
        Assert.False(System.IO.Directory.Exists(Path.Combine(Directory, "out")), "nothing is written on bad input");
    }

    [Fact]
    public void ModelDirectory_WithoutManifest_OrMissing_IsBadInput()
    {
        var images = NamesOnly("images", labels: 2, perLabel: 5);
        var noManifest = Path.Combine(Directory, "no-manifest");
        Write(noManifest, ModelZoo.ModelFileName, [1, 2, 3]);
        var options = new UserProtocol { Galleries = 1, GallerySize = 8, Queries = 2 };

        var error = Assert.Throws<ArgumentException>(() => FolderEvaluation.Run(images, noManifest, [noManifest], options, new UpgradeEvaluationOptions(), Path.Combine(Directory, "out"), "test", TextWriter.Null));
        Assert.Contains("--old", error.Message);
        Assert.Contains($"no {ModelZoo.ManifestFileName}", error.Message);
        Assert.Contains("does not exist", Assert.Throws<ArgumentException>(() => FolderModel.Load(Path.Combine(Directory, "nowhere"), "--new")).Message);

        string[] size = ["--galleries", "1", "--gallery-size", "8", "--queries", "2"];
        Assert.Equal(EvaluationApp.BadInput, Cli(["folder", "--images", images, "--old", noManifest, "--new", noManifest, "--out", Path.Combine(Directory, "out"), .. size]));
        Assert.Equal(EvaluationApp.BadInput, Cli(["folder", "--images", images, "--old", Path.Combine(Directory, "nowhere"), "--new", noManifest, "--out", Path.Combine(Directory, "out"), .. size]));
    }
}

/// <summary>
/// The folder mode on real data: a Fashion-MNIST subset exported as PNG files in a folder-per-label layout, the pretrained
/// ResNet18 as the old model and ResNet18 followed by a random rotation as the new one, against the offline mode's
/// in-memory path (<see cref="BackboneFeatureCache.Embed"/>) on the same images.
/// </summary>
[Trait("Category", "Model")]
public sealed class FolderEvaluationTests(ITestOutputHelper output) : FolderTestBase
{
    private const int PerLabel = 20; // 200 images: the folder mode and the in-memory path together make 600 ResNet18 passes

    private static readonly Lazy<ImportedModel> ResNet18 = new(() => ResNet18Model.Import(ResNet18Model.DefaultModelPath, ResNet18Model.DefaultPreprocessPath, "resnet18"));

    private static readonly Lazy<LabeledImages> TestSplit = new(() => FashionMnist.Load(FashionMnist.DefaultDirectory, FashionMnistSplit.Test));

    /// <summary>A class name as a folder name: "T-shirt/top" cannot be one.</summary>
    private static string FolderName(int label) => LabeledImages.ClassNames[label].Replace('/', '-');

    [Fact]
    [Trait("Category", "Slow")] // outside the default test run: the zoo path it repeats through PNG files is SystemAgreementTests' and the offline mode's
    public void FolderMode_OnExportedFashionMnist_MeasuresWhatTheInMemoryPathMeasuresOnTheSameImages()
    {
        var clock = Stopwatch.StartNew();
        var images = TestSplit.Value;
        var root = Path.Combine(Directory, "fashion");
        var sourceOf = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var label = 0; label < 10; label++)
        {
            var indices = Enumerable.Range(0, images.Count).Where(i => images.Labels[i] == label).Take(PerLabel);
            foreach (var i in indices)
            {
                var id = $"{FolderName(label)}/{i:D5}.png";
                Write(root, id, images.EncodePng(i));
                sourceOf[id] = i;
            }
        }

        var png = images.EncodePng(0);
        Write(root, "Bag/zz-truncated.png", png[..(png.Length / 2)]);
        Write(root, "Bag/zz-garbage.jpg", "not an image"u8.ToArray());
        Write(root, "Coat/zz-empty.png", []);
        Write(root, "Bag/notes.txt", "ignored"u8.ToArray());
        Write(root, "README.txt", "ignored"u8.ToArray());

        var backbone = ResNet18.Value;
        var rotation = RandomOrthogonal.Create(backbone.Manifest.OutputDimension, seed: 11);
        var rotated = ModelDerivation.AppendLinearMap(backbone, rotation, backbone.Manifest.OutputDimension, "resnet18-rotated", null, "ResNet18 followed by a random rotation");
        var oldDirectory = ModelDirectory("old", backbone);
        var newDirectory = ModelDirectory("new", rotated);
        output.WriteLine($"export: {clock.Elapsed.TotalSeconds:F1} s");

        var protocol = new UserProtocol { Galleries = 2, GallerySize = 80, Queries = 20, Seed = 2 }; // exactly the 200 readable images
        var log = new StringWriter();
        var reportDirectory = Path.Combine(Directory, "report");
        FolderEvaluationResult result;
        try
        {
            result = FolderEvaluation.Run(root, oldDirectory, [newDirectory], protocol, new UpgradeEvaluationOptions { CalibrationSize = 120, Seed = 2 }, reportDirectory, "indexer-eval folder (test)", log);
        }
        finally
        {
            output.WriteLine(log.ToString());
        }

        output.WriteLine($"folder mode: {clock.Elapsed.TotalSeconds:F1} s");
        var pool = result.Pool;

        // The three bad files are skipped and counted, the two other files ignored; every good image is embedded.
        Assert.Equal(10 * PerLabel, pool.Count);
        Assert.Equal(["Bag/zz-garbage.jpg", "Bag/zz-truncated.png", "Coat/zz-empty.png"], pool.Skipped.Select(s => s.ItemId).Order(StringComparer.Ordinal));
        Assert.Equal(2, pool.Images.Ignored);
        Assert.Contains("skipped 3 file(s)", log.ToString());

        // Labels come from the folder names: every item's label names the class its source image has.
        Assert.Equal(Enumerable.Range(0, 10).Select(FolderName).Order(StringComparer.Ordinal), pool.Images.LabelNames);
        var dataset = Assert.Single(result.Datasets);
        foreach (var gallery in dataset.Galleries)
        {
            for (var i = 0; i < gallery.Count; i++)
            {
                Assert.Equal(FolderName(images.Labels[sourceOf[gallery.ItemIds[i]]]), pool.Images.LabelNames[gallery.Labels[i]]);
            }
        }

        // The in-memory path on the same source images (PNG, decode, ResNet18): the same vectors and the same old/old mAP.
        var sources = pool.Kept.Select(k => sourceOf[pool.Images.ItemIds[k]]).ToArray();
        var features = BackboneFeatureCache.Embed("folder-test", images, sources, backbone);
        var d = features.Dimension;
        var reference = features.Features.ToArray();
        for (var r = 0; r < sources.Length; r++) VectorMath.NormalizeInPlace(reference.AsSpan(r * d, d));
        var folderVectors = pool.Rows(0, Enumerable.Range(0, pool.Count).ToArray());
        var largest = reference.Zip(folderVectors).Max(p => Math.Abs(p.First - p.Second));
        output.WriteLine($"in-memory path: {clock.Elapsed.TotalSeconds:F1} s; largest vector difference {largest:G3}");
        Assert.True(largest < 1e-4, $"the folder path's vectors differ from the in-memory path's by {largest}");

        double MeanAveragePrecision(float[] vectors, int dimension) => result.Users.Average(u =>
        {
            var labels = (IReadOnlyList<int>)u.Items.Select(i => (int)images.Labels[sources[i]]).ToArray();
            var queryLabels = (IReadOnlyList<int>)u.Queries.Select(i => (int)images.Labels[sources[i]]).ToArray();
            return RetrievalMetrics.Evaluate(Rows(vectors, u.Queries, dimension), queryLabels, null, Rows(vectors, u.Items, dimension), labels, dimension, [1]).MeanAveragePrecision;
        });

        var upgrade = Assert.Single(result.Report.Upgrades);
        var expected = MeanAveragePrecision(reference, d);
        output.WriteLine(FolderEvaluation.Summary(upgrade));
        output.WriteLine($"old/old mAP: folder {upgrade.CrossModel.OldOld.MeanAveragePrecision:F6}, in-memory {expected:F6}");
        Assert.Equal(expected, upgrade.CrossModel.OldOld.MeanAveragePrecision, 5);
        Assert.Equal(0, upgrade.SkippedQueries); // 80 items of 10 balanced labels: every query has a positive

        // A rotation keeps every cosine: new/new is old/old, and the stored vectors are useless as they are. The map fitted on
        // 120 items cannot pin down a 512-d rotation, but it brings the old items most of the way back.
        var table = upgrade.CrossModel;
        Assert.Equal(table.OldOld.MeanAveragePrecision, table.NewNew.MeanAveragePrecision, 3);
        Assert.True(table.NewOld.MeanAveragePrecision < table.OldOld.MeanAveragePrecision - 0.1, "a random rotation should break direct comparison");
        Assert.True(upgrade.MapHeldOut!.Mean > 0.9, $"held-out agreement of the map: {upgrade.MapHeldOut.Mean}");
        Assert.True(table.NewMapped!.MeanAveragePrecision > table.NewOld.MeanAveragePrecision + 0.2, $"new/h(old) {table.NewMapped.MeanAveragePrecision} vs new/old {table.NewOld.MeanAveragePrecision}");
        Assert.Equal("resnet18 → resnet18-rotated", upgrade.Name);

        var written = ReportWriter.Read(reportDirectory);
        Assert.Equal(upgrade.CrossModel.OldOld.MeanAveragePrecision, Assert.Single(written.Upgrades).CrossModel.OldOld.MeanAveragePrecision, 12);
        var markdown = File.ReadAllText(Path.Combine(reportDirectory, ReportWriter.MarkdownFile));
        Assert.Contains("zz-truncated.png", markdown);
        Assert.Contains("No target is evaluated", markdown); // the zoo's targets name versions this folder run does not have
        output.WriteLine($"whole test: {clock.Elapsed.TotalSeconds:F1} s");
    }

    [Fact]
    public void Folder_TooSmallOnceUnreadableFilesAreSkipped_IsBadInputAfterTheEmbeddingPass()
    {
        var images = TestSplit.Value;
        var root = Path.Combine(Directory, "small");
        for (var i = 0; i < 6; i++) Write(root, Path.Combine(FolderName(images.Labels[i]), $"{i}.png"), images.EncodePng(i));
        Write(root, Path.Combine(FolderName(images.Labels[0]), "broken.png"), [0x89, 0x50, 0x4E, 0x47]);
        var old = ModelDirectory("old", ResNet18.Value);
        var copy = ModelDirectory("copy", ResNet18.Value with { Manifest = ResNet18.Value.Manifest with { Version = "resnet18-copy" } });

        var error = Assert.Throws<ArgumentException>(() => FolderEvaluation.Run(
            root, old, [copy], new UserProtocol { Galleries = 1, GallerySize = 6, Queries = 1 }, new UpgradeEvaluationOptions(), Path.Combine(Directory, "out"), "test", TextWriter.Null));

        Assert.Contains("holds 6 readable images after skipping 1 unreadable file(s)", error.Message);
    }

    [Fact]
    public void ModelDirectory_WhoseManifestDisagreesWithTheGraph_IsBadInput()
    {
        var model = ResNet18.Value;
        var wrong = ModelDirectory("wrong", model with { Manifest = model.Manifest with { OutputDimension = 128 } });

        var error = Assert.Throws<ArgumentException>(() => FolderModel.Load(wrong, "--new"));

        Assert.Contains("--new", error.Message);
        Assert.Contains("128", error.Message);
        Assert.Contains("512", error.Message);
    }

    private static float[] Rows(float[] vectors, IReadOnlyList<int> indices, int dimension)
    {
        var rows = new float[indices.Count * dimension];
        for (var k = 0; k < indices.Count; k++) vectors.AsSpan(indices[k] * dimension, dimension).CopyTo(rows.AsSpan(k * dimension, dimension));
        return rows;
    }
}
