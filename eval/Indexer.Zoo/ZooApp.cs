using System.CommandLine;
using System.Diagnostics;
using Indexer.Embedding;
using Indexer.Training;

namespace Indexer.Zoo;

/// <summary>The command tree of indexer-zoo. Exit codes: 0 done, 1 failed, 2 bad input.</summary>
public static class ZooApp
{
    public const int Ok = 0, Failed = 1, BadInput = 2;

    public static RootCommand Build()
    {
        var root = new RootCommand("indexer-zoo: train and export the embedding-model versions that upgrades are measured between");
        root.Subcommands.Add(TrainCommand());
        return root;
    }

    private static Command TrainCommand()
    {
        var defaults = new ZooOptions { OutputDirectory = Path.Combine(".data", "zoo") };
        var output = new Option<DirectoryInfo>("--out")
        {
            Description = "where the versions (v1, v2-independent, v2-bct, v2-pc) are written",
            DefaultValueFactory = _ => new DirectoryInfo(defaults.OutputDirectory),
        };
        var dataset = new Option<DirectoryInfo>("--dataset")
        {
            Description = "folder holding the Fashion-MNIST IDX files",
            DefaultValueFactory = _ => new DirectoryInfo(defaults.DatasetDirectory),
        };
        var trainPerClass = new Option<int>("--train-per-class")
        {
            Description = "training images per class taken from the training split (each costs one backbone pass, about 50 per second)",
            DefaultValueFactory = _ => defaults.TrainPerClass,
        };
        var testPerClass = new Option<int>("--test-per-class")
        {
            Description = "test images per class for accuracy and retrieval figures",
            DefaultValueFactory = _ => defaults.TestPerClass,
        };
        var cache = new Option<DirectoryInfo?>("--cache") { Description = "where backbone features are cached (default: <out>/cache)" };
        var seed = new Option<int>("--seed") { Description = "seed of v1; the v2 versions use seed + 1", DefaultValueFactory = _ => defaults.Seed };
        var epochs = new Option<int>("--epochs") { Description = "epochs of every training run", DefaultValueFactory = _ => defaults.Epochs };
        var bctWeight = new Option<float>("--bct-weight") { Description = "λ of BCT's influence loss", DefaultValueFactory = _ => defaults.BctWeight };
        var noPc = new Option<bool>("--no-pc") { Description = "skip v2-pc (focal distillation)" };
        var pcAlpha = new Option<float>("--pc-alpha") { Description = "α of focal distillation (weight of every sample)", DefaultValueFactory = _ => defaults.DistillationAlpha };
        var pcBeta = new Option<float>("--pc-beta") { Description = "β of focal distillation (extra weight where v1 is right)", DefaultValueFactory = _ => defaults.DistillationBeta };
        var pcTemperature = new Option<float>("--pc-temperature") { Description = "T of focal distillation", DefaultValueFactory = _ => defaults.DistillationTemperature };
        var prefix = new Option<string>("--version-prefix")
        {
            Description = "prepended to every manifest version, e.g. \"fm-\" to keep clear of versions already registered",
            DefaultValueFactory = _ => defaults.VersionPrefix,
        };

        var command = new Command("train", "embed Fashion-MNIST with the frozen ResNet18 (cached), train v1 and the v2 variants, export them and print their figures")
        {
            output, dataset, trainPerClass, testPerClass, cache, seed, epochs, bctWeight, noPc, pcAlpha, pcBeta, pcTemperature, prefix,
        };
        command.SetAction(parse =>
        {
            var options = defaults with
            {
                OutputDirectory = parse.GetValue(output)!.FullName,
                DatasetDirectory = parse.GetValue(dataset)!.FullName,
                CacheDirectory = parse.GetValue(cache)?.FullName,
                TrainPerClass = parse.GetValue(trainPerClass),
                TestPerClass = parse.GetValue(testPerClass),
                Seed = parse.GetValue(seed),
                Epochs = parse.GetValue(epochs),
                BctWeight = parse.GetValue(bctWeight),
                PositiveCongruent = !parse.GetValue(noPc),
                DistillationAlpha = parse.GetValue(pcAlpha),
                DistillationBeta = parse.GetValue(pcBeta),
                DistillationTemperature = parse.GetValue(pcTemperature),
                VersionPrefix = parse.GetValue(prefix) ?? string.Empty,
            };
            try
            {
                options.Validate();
            }
            catch (ArgumentException ex)
            {
                Console.Error.WriteLine($"indexer-zoo: {ex.Message}");
                return BadInput;
            }

            try
            {
                var stopwatch = Stopwatch.StartNew();
                var report = ModelZoo.Run(options, Console.Out);
                Console.WriteLine();
                Console.Write(report.ToMarkdown());
                Console.WriteLine();
                Console.WriteLine($"zoo: done in {stopwatch.Elapsed.TotalSeconds:0} s; versions in {options.OutputDirectory}, table in {Path.Combine(options.OutputDirectory, ZooReport.FileName)}");
                return Ok;
            }
            catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException or InvalidDataException or InvalidModelException)
            {
                Console.Error.WriteLine($"indexer-zoo: {ex.Message}");
                return Failed;
            }
        });
        return command;
    }
}
