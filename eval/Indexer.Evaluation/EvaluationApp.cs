using System.CommandLine;
using System.Globalization;
using Indexer.Embedding;
using Indexer.Search.Metrics;
using Indexer.Training;

namespace Indexer.Evaluation;

/// <summary>The command tree of <c>indexer-eval</c>. Exit codes: 0 done, 1 failed, 2 bad usage or input.</summary>
public static class EvaluationApp
{
    /// <summary>Exit codes.</summary>
    public const int Ok = 0, Failed = 1, BadInput = 2;

    private static readonly Option<DirectoryInfo> OutOption = new("--out")
    {
        Description = "directory for README.md, the PNG plots and results.json (created if missing)",
        Required = true,
    };

    private static readonly Option<int> SeedOption = new("--seed")
    {
        Description = "seed of the data (synthetic), the calibration draw and the random order",
        DefaultValueFactory = _ => 0,
    };

    private static readonly Option<int> CalibrationOption = new("--calibration")
    {
        Description = "items re-embedded up front to fit the map and the predictor, drawn evenly across galleries",
        DefaultValueFactory = _ => new UpgradeEvaluationOptions().CalibrationSize,
    };

    private static readonly Option<double> ThresholdOption = new("--threshold")
    {
        Description = "the lazy policy re-embeds items whose predicted agreement cos(h(old), new) is below this",
        DefaultValueFactory = _ => new UpgradeEvaluationOptions().CompatibilityThreshold,
    };

    private static readonly Option<bool> NoMapOption = new("--no-map")
    {
        Description = "serve old vectors as stored instead of through a fitted map (equal dimensions only)",
    };

    /// <summary>The root command with every subcommand.</summary>
    public static RootCommand Build()
    {
        var root = new RootCommand("indexer-eval: measure model upgrades offline on feature matrices and write the report (METRICS.md)");
        root.Subcommands.Add(SyntheticCommand());
        root.Subcommands.Add(OfflineCommand());
        root.Subcommands.Add(FolderCommand());
        root.Subcommands.Add(SystemCommand());
        root.Subcommands.Add(SystemFolderCommand());
        root.Subcommands.Add(RenderCommand());
        root.Subcommands.Add(ClusterMarginsCommand());
        root.Subcommands.Add(OrdersCommand());
        root.Subcommands.Add(FindabilityCommand());
        return root;
    }

    /// <summary>The evaluation options the shared command-line options describe.</summary>
    internal static UpgradeEvaluationOptions Options(ParseResult parse) => new()
    {
        CalibrationSize = parse.GetValue(CalibrationOption),
        Seed = parse.GetValue(SeedOption),
        CompatibilityThreshold = parse.GetValue(ThresholdOption),
        UseMap = !parse.GetValue(NoMapOption),
    };

    private static Command SyntheticCommand()
    {
        var galleries = new Option<int>("--galleries") { Description = "simulated users", DefaultValueFactory = _ => new SyntheticOptions().Galleries };
        var items = new Option<int>("--items") { Description = "gallery images per user", DefaultValueFactory = _ => new SyntheticOptions().ItemsPerGallery };
        var queries = new Option<int>("--queries") { Description = "held-out queries per user", DefaultValueFactory = _ => new SyntheticOptions().QueriesPerGallery };
        var command = new Command("synthetic", "run the whole pipeline on synthetic feature matrices (v1 → v2-independent, v1 → v2-bct) and write a report")
        {
            OutOption, SeedOption, CalibrationOption, ThresholdOption, NoMapOption, galleries, items, queries,
        };
        command.SetAction(parse => Run(() =>
        {
            var synthetic = new SyntheticOptions
            {
                Galleries = parse.GetValue(galleries),
                ItemsPerGallery = parse.GetValue(items),
                QueriesPerGallery = parse.GetValue(queries),
                Seed = parse.GetValue(SeedOption),
            };
            var datasets = SyntheticZoo.Create(synthetic);
            OfflineEvaluation.Run(
                datasets,
                Options(parse),
                parse.GetValue(OutOption)!.FullName,
                "Upgrade evaluation (synthetic data)",
                CommandLine(parse),
                [
                    "Synthetic feature matrices stand in for the model zoo: the figures show that the harness works end to end, not how the real models do. " +
                    "`indexer-eval offline` on the zoo's features gives the real report.",
                    "v1 never saw half of the classes, so for those items its vectors carry little that any map could turn into v2's: " +
                    "that share of the gallery is what ordering and the lazy policy have to find.",
                ],
                Console.Out,
                oldClasses: [0, 1, 2, 3, 4]); // the synthetic v1 sees classes 0-4, as the zoo's does
            return Ok;
        }));
        return command;
    }

    private static readonly Option<DirectoryInfo> ZooOption = new("--zoo")
    {
        Description = "the model zoo: a directory with v1/ and v2-*/ (model.onnx, manifest.json, head.bin), as `indexer-zoo train` writes it",
        Required = true,
    };

    private static readonly Option<DirectoryInfo> ReportOption = new("--out")
    {
        Description = "directory for README.md, the PNG plots and results.json (created if missing)",
        DefaultValueFactory = _ => new DirectoryInfo(Path.Combine("docs", "results")),
    };

    private static readonly Option<DirectoryInfo?> CacheOption = new("--cache")
    {
        Description = "where the backbone features of the test split are cached (default: <zoo>/cache, shared with the zoo)",
    };

    private static readonly Option<DirectoryInfo> DatasetOption = new("--dataset")
    {
        Description = "folder holding the Fashion-MNIST IDX files",
        DefaultValueFactory = _ => new DirectoryInfo(FashionMnist.DefaultDirectory),
    };

    private static readonly Option<string[]> NewOption = new("--new")
    {
        Description = "new versions of the zoo to upgrade to from v1 (default: v2-independent, v2-bct and v2-pc, those present)",
        AllowMultipleArgumentsPerToken = true,
    };

    private static Option<int> GalleriesOption(int defaultValue) => new("--galleries") { Description = "simulated users, one gallery each", DefaultValueFactory = _ => defaultValue };

    private static readonly Option<int> GallerySizeOption = new("--gallery-size") { Description = "gallery images per user", DefaultValueFactory = _ => new UserProtocol().GallerySize };

    private static readonly Option<int> QueriesOption = new("--queries") { Description = "held-out queries per user", DefaultValueFactory = _ => new UserProtocol().Queries };

    private static UserProtocol Protocol(ParseResult parse, Option<int> galleries) => new()
    {
        Galleries = parse.GetValue(galleries),
        GallerySize = parse.GetValue(GallerySizeOption),
        Queries = parse.GetValue(QueriesOption),
        Seed = parse.GetValue(SeedOption),
    };

    /// <summary>The new versions to evaluate: those asked for, or every v2 of the zoo's standard set that is present.</summary>
    private static IReadOnlyList<string> NewVersions(ParseResult parse, string zoo)
    {
        var asked = parse.GetValue(NewOption) ?? [];
        var present = ModelZoo.ListVersions(zoo);
        if (!present.Contains(ModelZoo.V1)) throw new ArgumentException($"the zoo {zoo} has no {ModelZoo.V1}/ (run scripts/zoo.sh first)");
        var wanted = asked.Length > 0 ? asked : new[] { ModelZoo.V2Independent, ModelZoo.V2Bct, ModelZoo.V2Pc }.Where(present.Contains).ToArray();
        var missing = wanted.Where(v => !present.Contains(v)).ToArray();
        if (missing.Length > 0) throw new ArgumentException($"the zoo {zoo} has no {string.Join(", ", missing)}");
        if (wanted.Length == 0) throw new ArgumentException($"the zoo {zoo} holds no new version");
        return wanted;
    }

    private static string CacheDirectory(ParseResult parse, string zoo) => parse.GetValue(CacheOption)?.FullName ?? Path.Combine(zoo, "cache");

    private static Command OfflineCommand()
    {
        var galleries = GalleriesOption(new UserProtocol().Galleries);
        var command = new Command("offline", "evaluate v1 → each v2 of the model zoo offline on the Fashion-MNIST test split (21-point curves) and write the report")
        {
            ZooOption, ReportOption, CacheOption, DatasetOption, NewOption, galleries, GallerySizeOption, QueriesOption, SeedOption, CalibrationOption, ThresholdOption, NoMapOption,
        };
        command.SetAction(parse => Run(() =>
        {
            var zoo = parse.GetValue(ZooOption)!.FullName;
            var protocol = Protocol(parse, galleries);
            var versions = NewVersions(parse, zoo);
            var pool = ImagePool.LoadTestSplit(parse.GetValue(DatasetOption)!.FullName, CacheDirectory(parse, zoo), Console.Out);
            var users = protocol.Deal(pool.Count);
            var oldHead = ModelZoo.LoadHead(zoo, ModelZoo.V1);
            var description = $"the Fashion-MNIST test split ({pool.Count} images; no zoo version trained on it) through the frozen ResNet18 (features cached), embedded by the model zoo's heads";
            var datasets = versions.Select(v => ZooDatasets.Build(ModelZoo.V1, oldHead, v, ModelZoo.LoadHead(zoo, v), pool, users, description)).ToList();
            OfflineEvaluation.Run(
                datasets,
                Options(parse),
                parse.GetValue(ReportOption)!.FullName,
                "Model upgrades on the Fashion-MNIST model zoo",
                CommandLine(parse),
                ZooNotes(),
                Console.Out,
                protocol,
                OldClasses(zoo));
            return Ok;
        }));
        return command;
    }

    /// <summary>The labeled folder and model directories of the <c>folder</c> and <c>system-folder</c> commands, described for each.</summary>
    private static (Option<DirectoryInfo> Images, Option<DirectoryInfo> Old, Option<DirectoryInfo[]> New) FolderInputs(string imagesUse, string oldUse, string newDescription) =>
    (
        new Option<DirectoryInfo>("--images")
        {
            Description = "the labeled images: one sub-folder per label (its name is the label) holding JPEG or PNG files" + imagesUse,
            Required = true,
        },
        new Option<DirectoryInfo>("--old") { Description = "the old version: a directory with model.onnx and manifest.json, " + oldUse, Required = true },
        new Option<DirectoryInfo[]>("--new") { Description = newDescription, Required = true, AllowMultipleArgumentsPerToken = true });

    private static Command FolderCommand()
    {
        var (images, oldModel, newModels) = FolderInputs(
            "",
            "as the system registers them (e.g. a version of the zoo)",
            "a new version to upgrade to, a directory like --old's; repeat for several upgrades");
        var galleries = GalleriesOption(new UserProtocol().Galleries);
        var command = new Command("folder",
            "evaluate old → each new version offline on any folder of labeled images: every image embedded by every model as an upload is, dealt to simulated users, 21-point curves and the report")
        {
            images, oldModel, newModels, OutOption, galleries, GallerySizeOption, QueriesOption, SeedOption, CalibrationOption, ThresholdOption, NoMapOption,
        };
        command.SetAction(parse => Run(() =>
        {
            FolderEvaluation.Run(
                parse.GetValue(images)!.FullName,
                parse.GetValue(oldModel)!.FullName,
                (parse.GetValue(newModels) ?? []).Select(d => d.FullName).ToArray(),
                Protocol(parse, galleries),
                Options(parse),
                parse.GetValue(OutOption)!.FullName,
                CommandLine(parse),
                Console.Out);
            return Ok;
        }));
        return command;
    }

    /// <summary>The classes v1 was trained on, from its manifest's <c>trainingClasses</c>; null when it does not say.</summary>
    private static int[]? OldClasses(string zoo)
    {
        var text = ModelManifest.FromJson(File.ReadAllText(Path.Combine(zoo, ModelZoo.V1, ModelZoo.ManifestFileName))).Properties?.GetValueOrDefault("trainingClasses");
        if (string.IsNullOrWhiteSpace(text)) return null;
        var labels = text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        return labels.All(l => int.TryParse(l, NumberStyles.Integer, CultureInfo.InvariantCulture, out _)) ? labels.Select(l => int.Parse(l, CultureInfo.InvariantCulture)).ToArray() : null;
    }

    /// <summary>Notes every zoo report carries.</summary>
    internal static IReadOnlyList<string> ZooNotes() =>
    [
        "The versions are those of docs/zoo.md: v1 saw classes 0-4 only (a linear head), every v2 all ten (an MLP head); v2-bct adds BCT's influence loss, v2-pc focal distillation towards v1. " +
        "Vectors are computed offline by the heads' C# copies (head.bin) on cached backbone features; they equal the exported ONNX models' output to about 1e-7.",
        "Offline, old items are served through the map MapFitter chooses on the calibration sample (identity, Procrustes, ridge, a linear map with a local correction, or kernel ridge, " +
        "by held-out agreement; a kernel map is fitted again as the backfill goes, as in the system) for every upgrade, " +
        "v2-bct included. The running system serves a version whose compatibility claim it verified as stored, unless its labeled gallery shows the map serving better; " +
        "its section below says which route each upgrade took.",
    ];

    private static Command SystemCommand()
    {
        var galleries = GalleriesOption(4);
        var points = new Option<string>("--points") { Description = "backfill shares at which to pause and measure, comma-separated", DefaultValueFactory = _ => "0,0.25,0.5,0.75,1" };
        var port = new Option<int>("--port") { Description = "the silo's HTTP port (Azurite takes port+10..)", DefaultValueFactory = _ => new SystemOptions().BasePort };
        var rate = new Option<double?>("--max-items-per-second") { Description = "the backfill budget (default, per upgrade: half the rate at which its calibration embedded images)" };
        var prefix = new Option<string>("--version-prefix") { Description = "registered version names are this prefix + the zoo's names", DefaultValueFactory = _ => new SystemOptions().VersionPrefix };
        var noVerify = new Option<bool>("--no-verify") { Description = "do not verify compatibility claims on the first user's labeled gallery" };
        var clusterJoin = new Option<string>("--cluster-join")
        {
            Description = "the clustering's join threshold per version: 'calibrate' (chosen on test images no user holds), 'system' (the silo's default) or a number for every version",
            DefaultValueFactory = _ => "calibrate",
        };
        var command = new Command("system",
            "drive the running system (an in-process silo with Azurite): register the zoo, ingest the users' galleries, roll out each v2, pause the full backfill near each β and measure search; add the figures to the report in --out")
        {
            ZooOption, ReportOption, CacheOption, DatasetOption, NewOption, galleries, GallerySizeOption, QueriesOption, SeedOption, CalibrationOption, ThresholdOption,
            points, port, rate, prefix, noVerify, clusterJoin,
        };
        command.SetAction(parse => Run(() =>
        {
            var zoo = parse.GetValue(ZooOption)!.FullName;
            var protocol = Protocol(parse, galleries);
            var versions = NewVersions(parse, zoo);
            var pool = ImagePool.LoadTestSplit(parse.GetValue(DatasetOption)!.FullName, CacheDirectory(parse, zoo), Console.Out);
            var calibration = ClusterJoin(parse.GetValue(clusterJoin)!, zoo, [ModelZoo.V1, .. versions], pool, protocol);
            var options = new SystemOptions
            {
                BasePort = parse.GetValue(port),
                Points = ParsePoints(parse.GetValue(points)!),
                MaxItemsPerSecond = parse.GetValue(rate),
                SampleSize = parse.GetValue(CalibrationOption),
                Threshold = parse.GetValue(ThresholdOption),
                VersionPrefix = parse.GetValue(prefix)!,
                VerifyOnLabeledGallery = !parse.GetValue(noVerify),
                ClusterJoinThresholds = calibration.Thresholds,
            };
            var output = parse.GetValue(ReportOption)!.FullName;
            var report = File.Exists(Path.Combine(output, ReportWriter.JsonFile)) ? ReportWriter.Read(output) : null;
            if (report?.Protocol is { } offline && (offline.Seed != protocol.Seed || offline.GallerySize != protocol.GallerySize || offline.Queries != protocol.Queries))
            {
                Console.Error.WriteLine("warning: the report in --out was made with another protocol; it is replaced by a report of the system's galleries alone");
                report = null;
            }

            IReadOnlyList<string> Write(SystemReport run)
            {
                var system = run with { ClusterCalibration = calibration.Sweeps };
                return ReportWriter.Write((report ?? new EvaluationReport("Model upgrades on the Fashion-MNIST model zoo (system mode only)", CommandLine(parse), system.Upgrades.Select(u => u.Offline).ToList(), ZooNotes()) { Protocol = protocol })
                    with { System = system }, output);
            }

            // The report is written after every upgrade too: a run of half an hour keeps what it measured if it is stopped.
            var system = SystemEvaluation.RunAsync(zoo, ModelZoo.V1, versions, pool, protocol, options, Options(parse), CommandLine(parse), Console.Out,
                partial => Console.WriteLine($"system: report written with {partial.Upgrades.Count} upgrade(s) ({Write(partial).Count} files)")).GetAwaiter().GetResult();
            foreach (var path in Write(system)) Console.WriteLine($"wrote {path}");
            return Ok;
        }));
        return command;
    }

    private static Command SystemFolderCommand()
    {
        var (images, oldModel, newModels) = FolderInputs(
            ", uploaded as they are",
            "registered over HTTP and made current before the ingest",
            "a new version to roll out, a directory like --old's; repeat for several upgrades");
        var galleries = GalleriesOption(4);
        var points = new Option<string>("--points") { Description = "backfill shares at which to pause and measure, comma-separated", DefaultValueFactory = _ => "0,0.25,0.5,0.75,1" };
        var port = new Option<int>("--port") { Description = "the silo's HTTP port (Azurite takes port+10..)", DefaultValueFactory = _ => new SystemOptions().BasePort };
        var rate = new Option<double?>("--max-items-per-second") { Description = "the backfill budget (default, per upgrade: half the rate at which its calibration embedded images)" };
        var prefix = new Option<string>("--version-prefix") { Description = "registered version names are this prefix + the manifests' versions", DefaultValueFactory = _ => FolderVersionPrefix };
        var noVerify = new Option<bool>("--no-verify") { Description = "do not verify compatibility claims on the first user's labeled gallery" };
        var clusterJoin = new Option<string>("--cluster-join")
        {
            Description = "the clustering's join threshold per version: 'calibrate' (chosen on the folder's images no user holds, if they fill a gallery; else the silo's default), 'system' (the silo's default) or a number for every version",
            DefaultValueFactory = _ => "calibrate",
        };
        var command = new Command("system-folder",
            "drive the running system (an in-process silo with Azurite) on any folder of labeled images: register the model directories, upload the users' galleries, roll out each new version, pause the full backfill near each β, measure search and write the report into --out")
        {
            images, oldModel, newModels, OutOption, galleries, GallerySizeOption, QueriesOption, SeedOption, CalibrationOption, ThresholdOption,
            points, port, rate, prefix, noVerify, clusterJoin,
        };
        command.SetAction(parse => Run(() =>
        {
            var join = parse.GetValue(clusterJoin)!;
            double? joinThreshold = null;
            if (join is not "system" and not "calibrate")
            {
                joinThreshold = double.TryParse(join, NumberStyles.Float, CultureInfo.InvariantCulture, out var value)
                    ? value
                    : throw new ArgumentException($"--cluster-join: '{join}' is neither 'calibrate', 'system' nor a number");
            }

            var oldDirectory = parse.GetValue(oldModel)!.FullName;
            var newDirectories = (parse.GetValue(newModels) ?? []).Select(d => d.FullName).ToArray();
            var options = new SystemOptions
            {
                BasePort = parse.GetValue(port),
                Points = ParsePoints(parse.GetValue(points)!),
                MaxItemsPerSecond = parse.GetValue(rate),
                SampleSize = parse.GetValue(CalibrationOption),
                Threshold = parse.GetValue(ThresholdOption),
                VersionPrefix = parse.GetValue(prefix)!,
                VerifyOnLabeledGallery = !parse.GetValue(noVerify),

                // Keyed by the manifests' versions, read here so that the silo is configured before it starts; a directory
                // without a readable manifest is reported as bad input by the run's own checks.
                ClusterJoinThresholds = joinThreshold is { } threshold
                    ? new[] { oldDirectory }.Concat(newDirectories).Select(ManifestVersion).OfType<string>().Distinct(StringComparer.Ordinal).ToDictionary(v => v, _ => threshold, StringComparer.Ordinal)
                    : null,
            };

            FolderSystemEvaluation.RunAsync(
                parse.GetValue(images)!.FullName,
                oldDirectory,
                newDirectories,
                Protocol(parse, galleries),
                options,
                Options(parse),
                parse.GetValue(OutOption)!.FullName,
                CommandLine(parse),
                Console.Out,
                calibrateClusterJoin: join == "calibrate").GetAwaiter().GetResult();
            return Ok;
        }));
        return command;
    }

    /// <summary>The version in <paramref name="directory"/>'s manifest; null when there is no readable manifest.</summary>
    private static string? ManifestVersion(string directory)
    {
        try
        {
            var path = Path.Combine(directory, ModelZoo.ManifestFileName);
            return File.Exists(path) ? ModelManifest.FromJson(File.ReadAllText(path)).Version : null;
        }
        catch (Exception ex) when (ex is InvalidModelException or IOException or UnauthorizedAccessException or System.Text.Json.JsonException)
        {
            return null;
        }
    }

    /// <summary>The default prefix of the versions <c>system-folder</c> registers (the silo's built-in ResNet18 is already "v1").</summary>
    public const string FolderVersionPrefix = "f-";

    private static Command ClusterMarginsCommand()
    {
        var margins = new Option<string>("--margins") { Description = "stay = move margins to try, comma-separated", DefaultValueFactory = _ => "0.05,0.1,0.2,0.3,0.5" };
        var joins = new Option<string>("--joins")
        {
            Description = "join threshold per version, name=value comma-separated (the system run's calibrated values by default)",
            DefaultValueFactory = _ => "v1=0.30,v2-independent=0.25,v2-bct=0.40,v2-pc=0.40",
        };
        var command = new Command("cluster-margins", "offline: named items a backfill moves or suggests moving, against the margins a re-embedded item needs to leave its named cluster, under both named-member policies (4 galleries, map fitted on 2 others)")
        {
            ZooOption, CacheOption, DatasetOption, NewOption, margins, joins,
        };
        command.SetAction(parse => Run(() =>
        {
            var zoo = parse.GetValue(ZooOption)!.FullName;
            var pool = ImagePool.LoadTestSplit(parse.GetValue(DatasetOption)!.FullName, CacheDirectory(parse, zoo), Console.Out);
            var users = new UserProtocol().Deal(pool.Count);
            var oldHead = ModelZoo.LoadHead(zoo, ModelZoo.V1);
            var join = parse.GetValue(joins)!.Split(',').Select(p => p.Split('=')).ToDictionary(p => p[0].Trim(), p => float.Parse(p[1], CultureInfo.InvariantCulture), StringComparer.Ordinal);
            var values = parse.GetValue(margins)!.Split(',').Select(m => float.Parse(m, CultureInfo.InvariantCulture)).ToList();
            Console.WriteLine("| upgrade | stay = move margin | named members | named items | flipped | suggested | corrective / harmful (by label) | purity after |");
            Console.WriteLine("|---|---:|---|---:|---:|---:|---:|---:|");
            foreach (var version in NewVersions(parse, zoo))
            {
                var dataset = ZooDatasets.Build(ModelZoo.V1, oldHead, version, ModelZoo.LoadHead(zoo, version), pool, users, "cluster margins");
                foreach (var o in ClusterMarginSweep.Run(dataset, galleries: 4, calibrationGalleries: 2, join[ModelZoo.V1], join[version], values))
                {
                    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                        $"| {version} | {o.Margin:F2} | {o.Policy} | {o.Named} | {o.Flipped} = {100 * o.FlipFraction:F2}% | {o.Suggested} | {o.Corrective} / {o.Harmful} of {o.Decisions} | {o.PurityAfter:F3} |"));
                }
            }

            return Ok;
        }));
        return command;
    }

    private static Command OrdersCommand()
    {
        var galleries = GalleriesOption(new UserProtocol().Galleries);
        var neighbours = new Option<int>("--neighbours")
        {
            Description = "probes (calibration items' new vectors) per item for the score deviation",
            DefaultValueFactory = _ => ScoreDeviation.DefaultNeighbours,
        };
        var command = new Command("orders", "offline: the backfilling curves of v1 → each v2 ordered by agreement, by score deviation (predicted and true) and by marginal gain on the queries, as a Markdown table on stdout")
        {
            ZooOption, CacheOption, DatasetOption, NewOption, galleries, GallerySizeOption, QueriesOption, SeedOption, CalibrationOption, neighbours,
        };
        command.SetAction(parse => Run(() =>
        {
            var (protocol, options, upgrades) = ZooUpgrades(parse, galleries, "orders");
            Console.WriteLine("# Backfill orders on the Fashion-MNIST model zoo");
            Console.WriteLine();
            Console.WriteLine($"Produced by `{CommandLine(parse)}`. {protocol.Describe()}; calibration {options.CalibrationSize} items; the map and predictor as in the report (README.md). " +
                "Every order re-embeds least compatible first; area, β*(1%) and M(β) are on mAP, macro over users. " +
                "As in the system, every curve is served through a kernel map fitted again, with the same width and penalty, each time the items " +
                "re-embedded so far reach its anchors, on its anchors plus those items' old and new vectors (both are stored until the commit), " +
                $"up to {Search.Maps.MapRefitPolicy.MaxAnchorsPerCalibrationItem} anchors per calibration item (every gallery taken to be at the same β); " +
                "the row \"the calibration's map throughout\" shows the system's order without those refits. " +
                $"Every point before the commit is ranked as the system ranks it then, the first {options.GuardDepth} results of each query by both models (the regression guard); " +
                "the row \"no regression guard\" shows the system's order ranked by the new space alone.");
            Console.WriteLine();
            Console.WriteLine("| upgrade | order by | needs | area / full | β*(1%) | max NFR@1 | mAP at β = 10% | at 30% | full | Spearman with true deviation |");
            Console.WriteLine("|---|---|---|---:|---:|---:|---:|---:|---:|---:|");
            foreach (var dataset in upgrades)
            {
                foreach (var row in OrderingStudy.Run(dataset, options, parse.GetValue(neighbours)))
                {
                    var summary = row.Summary;
                    var points = row.Curve.Points;
                    Console.WriteLine(
                        $"| {row.Upgrade} | {row.Order} | {Needs(row.Needs)} | {Targets.P(summary.AreaFraction)}% | {Targets.P(summary.BetaStar, 0)}% | {Targets.P(row.Curve.MaxNegativeFlipRate1)}% | " +
                        $"{Targets.P(points[2].MeanAveragePrecision)} | {Targets.P(points[6].MeanAveragePrecision)} | {Targets.P(points[^1].MeanAveragePrecision)} | " +
                        $"{(double.IsNaN(row.SpearmanWithTrueDeviation) ? "—" : Targets.F(row.SpearmanWithTrueDeviation, 3))} |");
                }
            }

            return Ok;
        }));
        return command;

        static string Needs(OrderingStudy.Needs needs) => needs switch
        {
            OrderingStudy.Needs.OldVectors => "old vectors (the system)",
            OrderingStudy.Needs.NewModelOnEveryItem => "new model on every item",
            _ => "queries and labels",
        };
    }

    private static Command FindabilityCommand()
    {
        var galleries = GalleriesOption(new UserProtocol().Galleries);
        var depth = new Option<int>("--depth") { Description = "results a query looks at, for the retention", DefaultValueFactory = _ => Findability.DefaultDepth };
        var command = new Command("findability", "offline: the share of items below τ by agreement and by two retrieval-grounded compatibilities (score correlation, retention), per upgrade and route, as a Markdown table on stdout")
        {
            ZooOption, CacheOption, DatasetOption, NewOption, galleries, GallerySizeOption, QueriesOption, SeedOption, CalibrationOption, ThresholdOption, depth,
        };
        command.SetAction(parse => Run(() =>
        {
            var k = parse.GetValue(depth);
            if (k < 1) throw new ArgumentException($"--depth must be at least 1 (was {k})");
            var (protocol, options, upgrades) = ZooUpgrades(parse, galleries, "findability");
            Console.WriteLine("# Would an item be found differently? Compatibility by retrieval, on the Fashion-MNIST model zoo");
            Console.WriteLine();
            Console.WriteLine($"Produced by `{CommandLine(parse)}`. {protocol.Describe()}; calibration {options.CalibrationSize} items; the calibration's map as in the report (README.md), before any refit. " +
                "Per item, with every other item of its gallery holding φ_new and their φ_new standing in for the queries: the agreement cos(served, φ_new) that the lazy policy's τ applies to; " +
                "the score correlation (Pearson, over those queries, of the served vector's scores with φ_new's); " +
                $"the retention (of the queries that rank the item among their first {k} results by φ_new, the share that still do when it is served; 1 when none does). " +
                $"Shares are of gallery items below τ = {Targets.F(options.CompatibilityThreshold, 2)}; \"predicted\" is the lazy policy's own selection, from old vectors alone. " +
                "Every other column reads φ_new of every item: what a predictor of that measure could at best select.");
            Console.WriteLine();
            Console.WriteLine("| upgrade | old items served | agreement: mean / below τ | predicted below τ (lazy selects) | score correlation: mean / below τ | retention: mean / below τ | Spearman agreement–retention |");
            Console.WriteLine("|---|---|---:|---:|---:|---:|---:|");
            foreach (var dataset in upgrades)
            {
                foreach (var row in FindabilityStudy.Run(dataset, options, k))
                {
                    Console.WriteLine(
                        $"| {row.Upgrade} | {row.Route} | {Targets.F(row.Agreement.Mean, 3)} / {Targets.P(row.Agreement.Below)}% | {(double.IsNaN(row.PredictedBelow) ? "—" : Targets.P(row.PredictedBelow) + "%")} | " +
                        $"{Targets.F(row.ScoreCorrelation.Mean, 3)} / {Targets.P(row.ScoreCorrelation.Below)}% | {Targets.F(row.Retention.Mean, 3)} / {Targets.P(row.Retention.Below)}% | {Targets.F(row.SpearmanAgreementRetention, 3)} |");
                }
            }

            return Ok;
        }));
        return command;
    }

    /// <summary>
    /// The zoo's upgrades v1 → each new version of the options, on the test split dealt to users as the options say, each
    /// built when enumerated; with the protocol and the evaluation options.
    /// </summary>
    private static (UserProtocol Protocol, UpgradeEvaluationOptions Options, IEnumerable<EvaluationDataset> Upgrades) ZooUpgrades(ParseResult parse, Option<int> galleries, string description)
    {
        var zoo = parse.GetValue(ZooOption)!.FullName;
        var protocol = Protocol(parse, galleries);
        var pool = ImagePool.LoadTestSplit(parse.GetValue(DatasetOption)!.FullName, CacheDirectory(parse, zoo), TextWriter.Null);
        var users = protocol.Deal(pool.Count);
        var oldHead = ModelZoo.LoadHead(zoo, ModelZoo.V1);
        var upgrades = NewVersions(parse, zoo).Select(version => ZooDatasets.Build(ModelZoo.V1, oldHead, version, ModelZoo.LoadHead(zoo, version), pool, users, description));
        return (protocol, Options(parse), upgrades);
    }

    private static Command RenderCommand()
    {
        var command = new Command("render", "write README.md and the plots again from the results.json in --out (no evaluation is run)") { ReportOption };
        command.SetAction(parse => Run(() =>
        {
            var output = parse.GetValue(ReportOption)!.FullName;
            if (!File.Exists(Path.Combine(output, ReportWriter.JsonFile))) throw new ArgumentException($"{Path.Combine(output, ReportWriter.JsonFile)} does not exist");
            foreach (var path in ReportWriter.Write(ReportWriter.Read(output), output)) Console.WriteLine($"wrote {path}");
            return Ok;
        }));
        return command;
    }

    /// <summary>
    /// The join thresholds of <c>--cluster-join</c>: "system" none (the silo's default for every version); a number, that
    /// one for every version; "calibrate", per version the best of <see cref="ClusterCalibration"/> on the test images that
    /// no user of the offline protocol (20 users unless fewer images allow) holds, split into galleries of the users' size.
    /// </summary>
    private static (IReadOnlyDictionary<string, double>? Thresholds, IReadOnlyList<ClusterCalibrationResult>? Sweeps) ClusterJoin(
        string text, string zoo, IReadOnlyList<string> versions, ImagePool pool, UserProtocol protocol)
    {
        if (text == "system") return (null, null);
        if (double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var join)) return (versions.ToDictionary(v => v, _ => join), null);
        if (text != "calibrate") throw new ArgumentException($"--cluster-join: '{text}' is neither 'calibrate', 'system' nor a number");

        var offline = protocol with { Galleries = Math.Max(protocol.Galleries, Math.Min(new UserProtocol().Galleries, pool.Count / (protocol.GallerySize + protocol.Queries))) };
        var dealt = offline.Deal(pool.Count).SelectMany(u => u.Items.Concat(u.Queries)).ToHashSet();
        var held = Enumerable.Range(0, pool.Count).Where(i => !dealt.Contains(i)).ToArray();
        var galleries = held.Chunk(protocol.GallerySize).Where(c => c.Length == protocol.GallerySize).ToList();
        if (galleries.Count == 0) throw new ArgumentException($"--cluster-join calibrate: only {held.Length} images are held by no user, fewer than a gallery; give a number instead");
        var sweeps = versions.Select(v =>
        {
            var head = ModelZoo.LoadHead(zoo, v);
            var input = galleries.Select(g => (head.Embed(pool.Rows(g), g.Length), g.Select(pool.Label).ToArray())).ToList();
            var result = ClusterCalibration.Choose(v, input, head.OutputDimension);
            var best = result.Sweep.First(p => p.JoinThreshold == result.JoinThreshold);
            Console.WriteLine(Invariant($"clusters: {v}: join threshold {result.JoinThreshold:F2} (ARI {best.AdjustedRandIndex:F3}, purity {best.Purity:F3}, coverage {best.Coverage:F3}) on {galleries.Count} galleries of {protocol.GallerySize} held-out images"));
            return result;
        }).ToList();
        return (sweeps.ToDictionary(r => r.Version, r => r.JoinThreshold), sweeps);
    }

    private static IReadOnlyList<double> ParsePoints(string text)
    {
        var points = text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(t => double.TryParse(t, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) ? v : throw new ArgumentException($"--points: '{t}' is not a number"))
            .ToArray();
        if (points.Length == 0) throw new ArgumentException("--points: at least one point");
        return points;
    }

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);

    /// <summary>The command as typed, for the report: the tokens after the program name.</summary>
    private static string CommandLine(ParseResult parse) => "indexer-eval " + string.Join(' ', parse.Tokens.Select(t => t.Value.Contains(' ') ? $"\"{t.Value}\"" : t.Value));

    private static int Run(Func<int> action)
    {
        try
        {
            return action();
        }
        catch (ArgumentException ex)
        {
            Console.Error.WriteLine($"error: {ex.Message}");
            return BadInput;
        }
        catch (IOException ex)
        {
            Console.Error.WriteLine($"error: {ex.Message}");
            return Failed;
        }
    }
}
