using System.Diagnostics;
using System.Globalization;
using Indexer.Embedding;
using Indexer.Search.Metrics;

namespace Indexer.Training;

/// <summary>
/// Builds the model zoo of issue 4 from the frozen ResNet18 backbone and Fashion-MNIST: trains
/// <c>v1</c> (old model: classes 0-4 only, one linear layer), <c>v2-independent</c> (all classes, an MLP head),
/// <c>v2-bct</c> (v2 plus BCT's influence loss towards v1) and <c>v2-pc</c> (v2 plus focal distillation towards v1),
/// exports each as ONNX + manifest + head sidecar, and measures them on test images with the project's metric code.
/// </summary>
public static class ModelZoo
{
    /// <summary>The old model.</summary>
    public const string V1 = "v1";

    /// <summary>All classes, larger head, no compatibility constraint.</summary>
    public const string V2Independent = "v2-independent";

    /// <summary>v2 plus BCT's influence loss.</summary>
    public const string V2Bct = "v2-bct";

    /// <summary>v2 plus focal distillation (positive-congruent training).</summary>
    public const string V2Pc = "v2-pc";

    /// <summary>The ONNX file of a version directory (the name model storage uses).</summary>
    public const string ModelFileName = "model.onnx";

    /// <summary>The manifest of a version directory.</summary>
    public const string ManifestFileName = "manifest.json";

    /// <summary>The names of the versions a zoo directory holds (subdirectories with a manifest), v1 first.</summary>
    public static IReadOnlyList<string> ListVersions(string zooDirectory)
    {
        ArgumentException.ThrowIfNullOrEmpty(zooDirectory);
        if (!Directory.Exists(zooDirectory)) return [];
        return Directory.GetDirectories(zooDirectory)
            .Where(d => File.Exists(Path.Combine(d, ManifestFileName)))
            .Select(Path.GetFileName)
            .OfType<string>()
            .Order(StringComparer.Ordinal)
            .ToArray();
    }

    /// <summary>The head sidecar of <paramref name="name"/> (e.g. "v2-bct") in a zoo directory.</summary>
    public static EmbeddingHead LoadHead(string zooDirectory, string name) => EmbeddingHead.LoadFromDirectory(Path.Combine(zooDirectory, name));

    /// <summary>The registrable model (ONNX bytes + manifest) of <paramref name="name"/> in a zoo directory.</summary>
    public static ImportedModel LoadModel(string zooDirectory, string name)
    {
        var directory = Path.Combine(zooDirectory, name);
        return new ImportedModel(
            File.ReadAllBytes(Path.Combine(directory, ModelFileName)),
            ModelManifest.FromJson(File.ReadAllText(Path.Combine(directory, ManifestFileName))));
    }

    /// <summary>Trains, exports and measures every version; progress goes to <paramref name="log"/>.</summary>
    public static ZooReport Run(ZooOptions options, TextWriter log)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(log);
        options.Validate();
        var total = Stopwatch.StartNew();

        log.WriteLine("zoo: importing the ResNet18 backbone");
        var backbone = ResNet18Model.Import(
            options.BackboneModelPath ?? ResNet18Model.DefaultModelPath,
            options.BackbonePreprocessPath ?? ResNet18Model.DefaultPreprocessPath,
            options.BackboneVersion);

        var (train, test) = LoadFeatures(options, backbone, log);
        var allClasses = Enumerable.Range(0, options.ClassCount).ToArray();
        var testLabels = test.Labels;
        var backboneTest = test.Features.ToArray();
        BatchMath.NormalizeRows(backboneTest, test.Count, test.Dimension);
        var backboneReport = RetrievalMetrics.Evaluate(
            backboneTest, testLabels, Enumerable.Range(0, test.Count).ToArray(), backboneTest, testLabels, test.Dimension, CrossModelEvaluation.Cutoffs);
        log.WriteLine($"zoo: backbone alone on the test images: mAP {backboneReport.MeanAveragePrecision:P1}, top-1 {backboneReport.CmcAt(1):P1}");

        var versions = new List<ZooVersion>();

        // v1: the old model, half the classes and a small head.
        var oldTrain = train.WhereLabelIn(options.OldClasses);
        var v1 = TrainVersion(
            options, V1, oldTrain, options.OldClasses, HeadArchitecture.Linear(options.EmbeddingDimension), options.Seed,
            [], $"softmax cross-entropy on a cosine classifier (s={Fmt(options.ClassifierScale)}) over {options.OldClasses.Count} classes", log);
        var v1Test = v1.Head.Embed(test.Features, test.Count);
        versions.Add(Export(options, backbone, v1, lineage: null, test, v1Test, oldTest: null, log));

        // What the v2 compatibility losses need from v1: its embeddings of the full training set and its classifier
        // extended by class means to the classes it never saw.
        var oldOnTrain = v1.Head.Embed(train.Features, train.Count);
        var trainLabels = train.Labels;
        var v1Classifier = new CosineClassifier(v1.Head.Classifier!.Rows.ToArray(), options.EmbeddingDimension, options.OldClasses.Count, v1.Head.Classifier.Scale);
        var extended = ExtendedClassifier.Build(v1Classifier, options.OldClasses, oldOnTrain, trainLabels, options.ClassCount);

        var newArchitecture = HeadArchitecture.Mlp(options.NewHiddenWidth, options.EmbeddingDimension);
        var baseLoss = $"softmax cross-entropy on a cosine classifier (s={Fmt(options.ClassifierScale)}) over {options.ClassCount} classes";
        var newSeed = options.Seed + 1;

        var independent = TrainVersion(options, V2Independent, train, allClasses, newArchitecture, newSeed, [], baseLoss, log);
        versions.Add(Export(options, backbone, independent, $"independent:{V1}", test, independent.Head.Embed(test.Features, test.Count), v1Test, log));

        var bct = TrainVersion(
            options, V2Bct, train, allClasses, newArchitecture, newSeed,
            [new BctInfluenceLoss(extended, options.BctWeight)],
            $"{baseLoss} + {Fmt(options.BctWeight)} x BCT influence loss (v1's frozen classifier on v2 embeddings; rows of unseen classes = normalised mean v1 embedding)",
            log);
        versions.Add(Export(options, backbone, bct, $"backward-compatible:{V1}", test, bct.Head.Embed(test.Features, test.Count), v1Test, log));

        if (options.PositiveCongruent)
        {
            var oldLogits = extended.Forward(oldOnTrain, train.Count);
            var oldPredictions = extended.Predict(oldOnTrain, train.Count);
            var oldCorrect = trainLabels.Select((label, i) => oldPredictions[i] == label).ToArray();
            log.WriteLine($"zoo: v1 (extended classifier) is right on {oldCorrect.Count(c => c) / (double)oldCorrect.Length:P1} of the training images");
            var pc = TrainVersion(
                options, V2Pc, train, allClasses, newArchitecture, newSeed,
                [new FocalDistillationLoss(extended, oldLogits, oldCorrect, options.DistillationAlpha, options.DistillationBeta, options.DistillationTemperature)],
                $"{baseLoss} + focal distillation towards v1 (weight {Fmt(options.DistillationAlpha)} + {Fmt(options.DistillationBeta)} x [v1 right], T={Fmt(options.DistillationTemperature)}, KL of v1's extended-classifier logits)",
                log);
            versions.Add(Export(options, backbone, pc, $"positive-congruent:{V1}", test, pc.Head.Embed(test.Features, test.Count), v1Test, log));
        }

        var report = new ZooReport(backboneReport, train.Count, test.Count, versions, total.Elapsed);
        File.WriteAllText(Path.Combine(options.OutputDirectory, ZooReport.FileName), report.ToMarkdown());
        return report;
    }

    private static (BackboneFeatures Train, BackboneFeatures Test) LoadFeatures(ZooOptions options, ImportedModel backbone, TextWriter log)
    {
        var cache = new BackboneFeatureCache(options.EffectiveCacheDirectory);
        var trainImages = FashionMnist.Load(options.DatasetDirectory, FashionMnistSplit.Train);
        var testImages = FashionMnist.Load(options.DatasetDirectory, FashionMnistSplit.Test);
        var trainIndices = BackboneFeatures.FirstPerClass(trainImages.Labels, options.TrainPerClass);
        var testIndices = BackboneFeatures.FirstPerClass(testImages.Labels, options.TestPerClass);
        var train = cache.GetOrCreate("fashion-mnist-train", $"first{options.TrainPerClass}perclass", trainImages, trainIndices, backbone, Progress("train", log), log);
        var test = cache.GetOrCreate("fashion-mnist-test", $"first{options.TestPerClass}perclass", testImages, testIndices, backbone, Progress("test", log), log);
        return (train, test);
    }

    private static Action<int, int> Progress(string what, TextWriter log)
    {
        var stopwatch = Stopwatch.StartNew();
        var lastReport = TimeSpan.Zero;
        return (done, total) =>
        {
            if (done < total && stopwatch.Elapsed - lastReport < TimeSpan.FromSeconds(10)) return;
            lastReport = stopwatch.Elapsed;
            var rate = done / Math.Max(stopwatch.Elapsed.TotalSeconds, 1e-3);
            var remaining = (total - done) / Math.Max(rate, 1e-3);
            log.WriteLine($"zoo: embedding {what} images {done}/{total} ({rate:0.0} img/s, about {remaining:0} s left)");
        };
    }

    private sealed record Trained(
        string Name, EmbeddingHead Head, TrainedHead Training, IReadOnlyList<int> Classes, int Samples, string Loss, double TrainAccuracy, TimeSpan Time);

    private static Trained TrainVersion(
        ZooOptions options, string name, BackboneFeatures data, IReadOnlyList<int> classes, HeadArchitecture architecture, int seed,
        IReadOnlyList<IEmbeddingLoss> extraLosses, string loss, TextWriter log)
    {
        var stopwatch = Stopwatch.StartNew();
        var standardizer = FeatureStandardizer.Fit(data.Features, data.Count, data.Dimension);
        var classIndex = classes.Select((label, index) => (label, index)).ToDictionary(p => p.label, p => p.index);
        var set = new TrainingSet(standardizer.Transform(data.Features, data.Count), data.Labels.Select(l => classIndex[l]).ToArray(), data.Dimension, classes.Count);
        log.WriteLine($"zoo: training {name}: {architecture.Describe(data.Dimension)}, {set.Count} images of classes {string.Join(",", classes)}, seed {seed}");
        var trained = HeadTrainer.Train(set, architecture, options.Training(seed), extraLosses, e =>
        {
            if (e.Epoch == 1 || e.Epoch % 10 == 0 || e.Epoch == options.Epochs)
            {
                log.WriteLine($"zoo:   epoch {e.Epoch,3}: loss {e.ClassificationLoss:0.0000} + {e.ExtraLoss:0.0000}, batch accuracy {e.BatchAccuracy:P1} ({e.Elapsed.TotalSeconds:0.0} s)");
            }
        });
        var trainAccuracy = trained.Accuracy(set);
        var head = EmbeddingHead.FromTrained(trained, standardizer, classes);
        return new Trained(name, head, trained, classes, set.Count, loss, trainAccuracy, stopwatch.Elapsed);
    }

    private static ZooVersion Export(
        ZooOptions options, ImportedModel backbone, Trained trained, string? lineage, BackboneFeatures test, float[] testVectors, float[]? oldTest, TextWriter log)
    {
        var d = trained.Head.OutputDimension;
        var labels = test.Labels;
        var self = Enumerable.Range(0, test.Count).ToArray();
        var selfReport = RetrievalMetrics.Evaluate(testVectors, labels, self, testVectors, labels, d, CrossModelEvaluation.Cutoffs);

        // Test accuracy on the test images of the classes the version was trained on.
        var predicted = trained.Head.Classify(testVectors, test.Count);
        int seen = 0, correct = 0;
        for (var i = 0; i < test.Count; i++)
        {
            if (!trained.Classes.Contains(labels[i])) continue;
            seen++;
            correct += predicted[i] == labels[i] ? 1 : 0;
        }

        var testAccuracy = seen == 0 ? double.NaN : (double)correct / seen;
        CrossModelTable? table = null;
        double? flips = null;
        if (oldTest is not null)
        {
            table = CrossModelEvaluation.Evaluate(oldTest, testVectors, labels, d, d);
            flips = RetrievalFlips.NegativeFlipRateAt1(oldTest, d, testVectors, d, labels);
        }

        var version = options.VersionPrefix + trained.Name;
        var trainingOptions = trained.Training.Options;
        var properties = new Dictionary<string, string>
        {
            ["trainingData"] = $"Fashion-MNIST train split: the first {options.TrainPerClass} images of each of classes {string.Join(",", trained.Classes)} ({trained.Samples} images), through the frozen backbone",
            ["trainingClasses"] = string.Join(",", trained.Classes),
            ["trainingSamples"] = trained.Samples.ToString(CultureInfo.InvariantCulture),
            ["loss"] = trained.Loss,
            ["head"] = trained.Training.Network.Architecture.Describe(trained.Head.InputDimension) + ", input L2-normalised and standardised (folded into the first layer), output L2-normalised",
            ["epochs"] = trainingOptions.Epochs.ToString(CultureInfo.InvariantCulture),
            ["batchSize"] = trainingOptions.BatchSize.ToString(CultureInfo.InvariantCulture),
            ["optimizer"] = $"AdamW lr {Fmt(trainingOptions.LearningRate)} cosine-decayed to {Fmt(trainingOptions.FinalLearningRateFraction)}x, weight decay {Fmt(trainingOptions.WeightDecay)}",
            ["seed"] = trainingOptions.Seed.ToString(CultureInfo.InvariantCulture),
            ["trainAccuracy"] = trained.TrainAccuracy.ToString("0.0000", CultureInfo.InvariantCulture),
            ["testAccuracy"] = testAccuracy.ToString("0.0000", CultureInfo.InvariantCulture),
            ["testData"] = $"Fashion-MNIST test split: the first {options.TestPerClass} images of each class; accuracy over classes {string.Join(",", trained.Classes)}",
            ["testMeanAveragePrecision"] = selfReport.MeanAveragePrecision.ToString("0.0000", CultureInfo.InvariantCulture),
            ["backbone"] = $"{backbone.Manifest.Version} (frozen)",
            ["backboneTrainingData"] = "ImageNet",
            ["sidecar"] = $"{EmbeddingHead.FileName}: the head's layers for use on cached backbone features",
        };
        if (table is not null)
        {
            properties["testMeanAveragePrecisionOldOld"] = table.OldOld.MeanAveragePrecision.ToString("0.0000", CultureInfo.InvariantCulture);
            properties["testMeanAveragePrecisionNewOld"] = table.NewOld.MeanAveragePrecision.ToString("0.0000", CultureInfo.InvariantCulture);
        }

        var model = trained.Head.AppendTo(backbone, version, lineage, $"ResNet18 (frozen) + trained embedding head: {trained.Name} of the Fashion-MNIST model zoo", properties);
        var onnxDifference = options.OnnxCheckImages > 0 ? CheckOnnx(options, model, trained.Head, test) : double.NaN;

        var directory = Path.Combine(options.OutputDirectory, trained.Name);
        Directory.CreateDirectory(directory);
        File.WriteAllBytes(Path.Combine(directory, ModelFileName), model.Onnx);
        File.WriteAllText(Path.Combine(directory, ManifestFileName), model.Manifest.ToJson());
        trained.Head.Save(Path.Combine(directory, EmbeddingHead.FileName));

        log.WriteLine(
            $"zoo: {trained.Name}: train accuracy {trained.TrainAccuracy:P1}, test accuracy {testAccuracy:P1}, test mAP {selfReport.MeanAveragePrecision:P1}" +
            (table is null ? string.Empty : $", new/old mAP {table.NewOld.MeanAveragePrecision:P1} vs old/old {table.OldOld.MeanAveragePrecision:P1} (criterion {(table.CriterionHolds ? "holds" : "fails")})") +
            (double.IsNaN(onnxDifference) ? string.Empty : $", ONNX max |diff| {onnxDifference:0.0e0}") +
            $" -> {directory}");

        return new ZooVersion(
            trained.Name, version, directory, trained.Training.Network.Architecture.Describe(trained.Head.InputDimension), trained.Loss, trained.Classes,
            trained.Samples, trainingOptions.Epochs, trainingOptions.Seed, trained.TrainAccuracy, testAccuracy, selfReport, table, flips, onnxDifference, trained.Time);
    }

    /// <summary>Runs the exported ONNX model on the first test images and compares with the C# head on their cached features.</summary>
    private static double CheckOnnx(ZooOptions options, ImportedModel model, EmbeddingHead head, BackboneFeatures test)
    {
        var count = Math.Min(options.OnnxCheckImages, test.Count);
        var images = FashionMnist.Load(options.DatasetDirectory, FashionMnistSplit.Test, test.SourceIndices.Take(count).Max() + 1);
        var indices = test.SourceIndices.Take(count).ToArray();
        var onnx = BackboneFeatureCache.Embed("check", images, indices, model);
        BatchMath.NormalizeRows(onnx.Features, count, onnx.Dimension); // the embedder returns the graph's raw output here
        var expected = head.Embed(test.Features.AsSpan(0, count * test.Dimension), count);
        double max = 0;
        for (var i = 0; i < expected.Length; i++) max = Math.Max(max, Math.Abs(expected[i] - onnx.Features[i]));
        return max;
    }

    private static string Fmt(float value) => value.ToString("0.####", CultureInfo.InvariantCulture);
}
