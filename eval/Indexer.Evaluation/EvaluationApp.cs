using System.CommandLine;
using Indexer.Search.Metrics;

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
                Console.Out);
            return Ok;
        }));
        return command;
    }

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
