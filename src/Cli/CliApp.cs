using System.CommandLine;
using Indexer.Client;
using Spectre.Console;

namespace Indexer.Cli;

/// <summary>The command tree. Each command returns an exit code: 0 done, 1 failed, 2 bad usage or input, 3 done with some files rejected.</summary>
public static class CliApp
{
    public const int Ok = 0, Failed = 1, BadInput = 2, Partial = 3;

    private static readonly Option<string> UrlOption = new("--url")
    {
        Description = "Indexer's HTTP address (env INDEXER_URL)",
        Recursive = true,
        DefaultValueFactory = _ => Environment.GetEnvironmentVariable("INDEXER_URL") ?? "http://127.0.0.1:5080",
    };

    private static readonly Option<string> UserOption = new("--user")
    {
        Description = "your user id (env INDEXER_USER)",
        Recursive = true,
        DefaultValueFactory = _ => Environment.GetEnvironmentVariable("INDEXER_USER") ?? "demo",
    };

    private static readonly Option<string?> KeyOption = new("--key")
    {
        Description = "your API key (env INDEXER_API_KEY)",
        Recursive = true,
        DefaultValueFactory = _ => Environment.GetEnvironmentVariable("INDEXER_API_KEY"),
    };

    private static readonly Option<string> GalleryOption = new("--gallery", "-g")
    {
        Description = "the gallery to work on",
        Required = true,
    };

    public static RootCommand Build()
    {
        var root = new RootCommand("indexer: index photo galleries and search them by image") { UrlOption, UserOption, KeyOption };
        root.Subcommands.Add(IngestCommand());
        root.Subcommands.Add(SearchCommand());
        root.Subcommands.Add(StatusCommand());
        root.Subcommands.Add(ListCommand());
        root.Subcommands.Add(DeleteCommand());
        root.Subcommands.Add(ClustersCommand());
        root.Subcommands.Add(ModelsCommand());
        root.Subcommands.Add(CompatibilityCommand());
        root.Subcommands.Add(RolloutCommand());
        root.Subcommands.Add(SampleCommands.Build());
        root.Subcommands.Add(SampleCommands.DemoCommand(GalleryOption, Connect));
        return root;
    }

    internal static IndexerHttpClient Connect(ParseResult parse)
    {
        var key = parse.GetValue(KeyOption);
        if (string.IsNullOrEmpty(key)) throw new UsageException("no API key: pass --key or set INDEXER_API_KEY");
        if (!Uri.TryCreate(parse.GetValue(UrlOption), UriKind.Absolute, out var url)) throw new UsageException("--url is not an absolute URL");
        return IndexerHttpClient.Create(url, parse.GetValue(UserOption)!, key);
    }

    private static Command IngestCommand()
    {
        var folder = new Argument<DirectoryInfo>("folder") { Description = "a folder of JPEG/PNG/WebP/GIF/BMP photos (searched recursively)" };
        var batch = new Option<int>("--batch") { Description = "images per upload request", DefaultValueFactory = _ => 32 };
        var noWait = new Option<bool>("--no-wait") { Description = "return once uploaded, without waiting for indexing" };
        var command = new Command("ingest", "upload a folder of photos into a gallery; a photo in a sub-folder gets that folder's name as its 'label'")
        {
            folder, GalleryOption, batch, noWait,
        };
        command.SetAction((parse, ct) => Run(async () =>
        {
            var client = Connect(parse);
            var summary = await Ingest.RunAsync(client, parse.GetValue(GalleryOption)!, parse.GetValue(folder)!, parse.GetValue(batch), !parse.GetValue(noWait), ct);
            return summary.Rejected.Count > 0 ? Partial : Ok;
        }));
        return command;
    }

    private static Command SearchCommand()
    {
        var image = new Argument<FileInfo?>("image") { Description = "the photo to search with", Arity = ArgumentArity.ZeroOrOne };
        var item = new Option<string?>("--item") { Description = "search with an item already in the gallery instead of a photo" };
        var k = new Option<int>("-k") { Description = "how many results", DefaultValueFactory = _ => 10 };
        var command = new Command("search", "find the gallery's photos most similar to a photo or to one of its items") { image, GalleryOption, item, k };
        command.SetAction((parse, ct) => Run(async () =>
        {
            var client = Connect(parse);
            var gallery = parse.GetValue(GalleryOption)!;
            var file = parse.GetValue(image);
            var itemId = parse.GetValue(item);
            if ((file is null) == (itemId is null)) throw new UsageException("give either an image file or --item");
            Galleries.SearchResult result;
            if (file is not null)
            {
                if (!file.Exists) throw new UsageException($"{file.FullName} does not exist");
                result = await client.SearchByImageAsync(gallery, await File.ReadAllBytesAsync(file.FullName, ct), parse.GetValue(k), ct);
            }
            else
            {
                result = await client.SearchByItemAsync(gallery, itemId!, parse.GetValue(k), ct);
            }

            Output.Results(result);
            return Ok;
        }));
        return command;
    }

    private static Command StatusCommand()
    {
        var command = new Command("status", "what a gallery holds and how far indexing has come") { GalleryOption };
        command.SetAction((parse, ct) => Run(async () =>
        {
            Output.Stats(await Connect(parse).GetStatsAsync(parse.GetValue(GalleryOption)!, ct));
            return Ok;
        }));
        return command;
    }

    private static Command ListCommand()
    {
        var after = new Option<string?>("--after") { Description = "start after this item id" };
        var limit = new Option<int>("--limit") { Description = "how many items", DefaultValueFactory = _ => 50 };
        var command = new Command("list", "list a gallery's items in id order") { GalleryOption, after, limit };
        command.SetAction((parse, ct) => Run(async () =>
        {
            var page = await Connect(parse).ListItemsAsync(parse.GetValue(GalleryOption)!, parse.GetValue(after), parse.GetValue(limit), ct);
            Output.Items(page);
            return Ok;
        }));
        return command;
    }

    private static Command DeleteCommand()
    {
        var item = new Argument<string>("item") { Description = "the item id to delete" };
        var command = new Command("delete", "delete an item from a gallery") { item, GalleryOption };
        command.SetAction((parse, ct) => Run(async () =>
        {
            await Connect(parse).DeleteItemAsync(parse.GetValue(GalleryOption)!, parse.GetValue(item)!, ct);
            AnsiConsole.MarkupLineInterpolated($"deleted [bold]{parse.GetValue(item)}[/]");
            return Ok;
        }));
        return command;
    }

    private static Command ClustersCommand()
    {
        var all = new Option<bool>("--all") { Description = "also list the small unnamed clusters" };
        var representatives = new Option<int>("--representatives") { Description = "items shown per cluster", DefaultValueFactory = _ => 3 };
        var list = new Command("list", "list the gallery's clusters, largest first, with a few representative items") { GalleryOption, all, representatives };
        list.SetAction((parse, ct) => Run(async () =>
        {
            Output.Clusters(await Connect(parse).ListClustersAsync(parse.GetValue(GalleryOption)!, parse.GetValue(representatives), parse.GetValue(all), ct));
            return Ok;
        }));

        var cluster = new Argument<long>("cluster") { Description = "the cluster id" };
        var offset = new Option<int>("--offset") { Description = "items to skip", DefaultValueFactory = _ => 0 };
        var limit = new Option<int>("--limit") { Description = "how many items", DefaultValueFactory = _ => 100 };
        var items = new Command("items", "list a cluster's items in id order") { cluster, GalleryOption, offset, limit };
        items.SetAction((parse, ct) => Run(async () =>
        {
            Output.ClusterItems(await Connect(parse).GetClusterItemsAsync(parse.GetValue(GalleryOption)!, parse.GetValue(cluster), parse.GetValue(offset), parse.GetValue(limit), ct));
            return Ok;
        }));

        var name = new Argument<string>("name") { Description = "the cluster's name (1 to 100 characters)" };
        var nameCommand = new Command("name", "name or rename a cluster; the name survives model upgrades") { cluster, name, GalleryOption };
        nameCommand.SetAction((parse, ct) => Run(async () =>
        {
            Output.Cluster("named", await Connect(parse).NameClusterAsync(parse.GetValue(GalleryOption)!, parse.GetValue(cluster), parse.GetValue(name)!, ct));
            return Ok;
        }));

        var from = new Argument<long>("from") { Description = "the cluster merged away" };
        var merge = new Command("merge", "merge the second cluster into the first (a name stays with its cluster)") { cluster, from, GalleryOption };
        merge.SetAction((parse, ct) => Run(async () =>
        {
            Output.Cluster("merged into", await Connect(parse).MergeClustersAsync(parse.GetValue(GalleryOption)!, parse.GetValue(cluster), parse.GetValue(from), ct));
            return Ok;
        }));

        var item = new Argument<string>("item") { Description = "the item id" };
        var move = new Command("move", "move an item into a cluster and pin it there") { item, cluster, GalleryOption };
        move.SetAction((parse, ct) => Run(async () =>
        {
            Output.Cluster($"moved {parse.GetValue(item)} into", await Connect(parse).MoveItemToClusterAsync(parse.GetValue(GalleryOption)!, parse.GetValue(item)!, parse.GetValue(cluster), ct));
            return Ok;
        }));

        var moveOut = new Command("move-out", "take an item out of every cluster, for good") { item, GalleryOption };
        moveOut.SetAction((parse, ct) => Run(async () =>
        {
            await Connect(parse).MoveItemOutOfClusterAsync(parse.GetValue(GalleryOption)!, parse.GetValue(item)!, ct);
            AnsiConsole.MarkupLineInterpolated($"moved [bold]{parse.GetValue(item)}[/] out of every cluster");
            return Ok;
        }));

        var refine = new Command("refine", "run a refinement pass over the clusters now") { GalleryOption };
        refine.SetAction((parse, ct) => Run(async () =>
        {
            Output.Refined(await Connect(parse).RefineClustersAsync(parse.GetValue(GalleryOption)!, ct));
            return Ok;
        }));

        var moves = new Command("moves", "the clusters' state and the latest moves the clustering made on its own (upgrades, refinement)") { GalleryOption };
        moves.SetAction((parse, ct) => Run(async () =>
        {
            Output.ClusterReport(await Connect(parse).GetClusterReportAsync(parse.GetValue(GalleryOption)!, ct));
            return Ok;
        }));

        var suggestions = new Command("suggestions", "members of named clusters the clustering would have moved (after an upgrade or a refinement) and left to you") { GalleryOption };
        suggestions.SetAction((parse, ct) => Run(async () =>
        {
            Output.ClusterSuggestions(await Connect(parse).ListClusterSuggestionsAsync(parse.GetValue(GalleryOption)!, ct));
            return Ok;
        }));

        var accept = new Command("accept", "accept an item's suggestion: move it to the suggested cluster and pin it there") { item, GalleryOption };
        accept.SetAction((parse, ct) => Run(async () =>
        {
            Output.Cluster($"moved {parse.GetValue(item)} into", await Connect(parse).AcceptClusterSuggestionAsync(parse.GetValue(GalleryOption)!, parse.GetValue(item)!, ct));
            return Ok;
        }));

        var dismiss = new Command("dismiss", "dismiss an item's suggestion: keep it in its named cluster and pin it there") { item, GalleryOption };
        dismiss.SetAction((parse, ct) => Run(async () =>
        {
            Output.Cluster($"kept {parse.GetValue(item)} in", await Connect(parse).DismissClusterSuggestionAsync(parse.GetValue(GalleryOption)!, parse.GetValue(item)!, ct));
            return Ok;
        }));

        return new Command("clusters", "groups of similar items: list, items, name, merge, move, move-out, refine, moves, suggestions, accept, dismiss")
        {
            list, items, nameCommand, merge, move, moveOut, refine, moves, suggestions, accept, dismiss,
        };
    }

    private static Command ModelsCommand()
    {
        var list = new Command("list", "list the registered model versions (the default)");
        list.SetAction((parse, ct) => Run(async () =>
        {
            Output.Models(await Connect(parse).ListModelsAsync(ct));
            return Ok;
        }));

        var model = new Option<FileInfo>("--model") { Description = "the ONNX file", Required = true };
        var manifest = new Option<FileInfo>("--manifest") { Description = "its JSON manifest (version, input, preprocessing, output)", Required = true };
        var register = new Command("register", "register a model version (operators only); it is loaded and probed first and does not become current")
        {
            model, manifest,
        };
        register.SetAction((parse, ct) => Run(async () =>
        {
            var onnx = parse.GetValue(model)!;
            var json = parse.GetValue(manifest)!;
            if (!onnx.Exists) throw new UsageException($"{onnx.FullName} does not exist");
            if (!json.Exists) throw new UsageException($"{json.FullName} does not exist");
            var info = await Connect(parse).RegisterModelAsync(await File.ReadAllBytesAsync(onnx.FullName, ct), await File.ReadAllTextAsync(json.FullName, ct), ct);
            AnsiConsole.MarkupLineInterpolated($"registered model [bold]{info.Version}[/] ({info.Dimension}-d, input {info.InputWidth}x{info.InputHeight})");
            return Ok;
        }));

        var version = new Argument<string>("version") { Description = "the model version" };
        var show = new Command("show", "one registered model version") { version };
        show.SetAction((parse, ct) => Run(async () =>
        {
            Output.Model(await Connect(parse).GetModelAsync(parse.GetValue(version)!, ct));
            return Ok;
        }));

        var retire = new Command("retire", "retire a model version (operators only): it can no longer be rolled out; refused while in use") { version };
        retire.SetAction((parse, ct) => Run(async () =>
        {
            var info = await Connect(parse).RetireModelAsync(parse.GetValue(version)!, ct);
            AnsiConsole.MarkupLineInterpolated($"retired model [bold]{info.Version}[/]");
            return Ok;
        }));

        var command = new Command("models", "model versions: list, show, register, retire") { list, show, register, retire };
        command.SetAction((parse, ct) => Run(async () =>
        {
            Output.Models(await Connect(parse).ListModelsAsync(ct));
            return Ok;
        }));
        return command;
    }

    private static Command CompatibilityCommand()
    {
        var from = new Option<string>("--from") { Description = "the old model version", Required = true };
        var to = new Option<string>("--to") { Description = "the new model version", Required = true };
        var sample = new Option<int>("--sample") { Description = "calibration sample size (items across galleries)", DefaultValueFactory = _ => 2000 };
        var calibrate = new Command("calibrate", "embed a sample of stored items with the new version and fit the old-to-new map (operators only)") { from, to, sample };
        calibrate.SetAction((parse, ct) => Run(async () =>
        {
            Output.Calibration(await Connect(parse).CalibrateAsync(parse.GetValue(from)!, parse.GetValue(to)!, parse.GetValue(sample), ct));
            return Ok;
        }));
        var show = new Command("show", "the latest calibration report of an upgrade (operators only)") { from, to };
        show.SetAction((parse, ct) => Run(async () =>
        {
            Output.Calibration(await Connect(parse).GetCalibrationAsync(parse.GetValue(from)!, parse.GetValue(to)!, ct));
            return Ok;
        }));
        return new Command("compat", "compatibility between model versions: calibrate, show") { calibrate, show };
    }

    private static Command RolloutCommand()
    {
        var to = new Option<string>("--to") { Description = "the registered model version to roll out", Required = true };
        var policy = new Option<Models.BackfillPolicy>("--policy") { Description = "which old items to re-embed: none, lazy (below the threshold) or full", DefaultValueFactory = _ => Models.BackfillPolicy.Lazy };
        var threshold = new Option<double>("--threshold") { Description = "predicted compatibility (0..1) below which the lazy policy re-embeds an item", DefaultValueFactory = _ => Models.RolloutRequest.DefaultThreshold };
        var rate = new Option<double?>("--max-items-per-second") { Description = "backfill budget across the cluster (default: as fast as the workers allow)" };
        var fraction = new Option<double?>("--max-fraction") { Description = "most of each gallery the backfill may re-embed, (0, 1]" };
        var sample = new Option<int>("--sample") { Description = "calibration sample size, when the upgrade has not been calibrated yet", DefaultValueFactory = _ => Models.RolloutRequest.DefaultSampleSize };
        var stopOnFailedClaim = new Option<bool>("--stop-on-failed-claim") { Description = "stop instead of falling back to a map when a compatibility claim fails verification" };
        var evaluation = new Option<string?>("--evaluation-gallery") { Description = "a labeled gallery (user/gallery; items with a 'label') to measure the cross-model table on and verify a compatibility claim" };
        var route = new Option<string>("--route")
        {
            Description = "how old items are served until backfilled: auto (compatible or mapped; own-space when labeled data shows the map finding them worse), map, or own-space (queries embedded with both versions)",
            DefaultValueFactory = _ => "auto",
        };
        route.AcceptOnlyFromAmong("auto", "map", "own-space");
        var promote = new Option<int>("--promote-after-hits")
        {
            Description = "re-embed next an item waiting for the backfill once it has been among the first 10 results of this many searches (0: keep the policy's order)",
            DefaultValueFactory = _ => Models.RolloutRequest.DefaultPromoteAfterHits,
        };
        var watch = new Option<bool>("--watch") { Description = "follow the rollout's progress until its backfill ends" };
        var start = new Command("start", "start rolling out a new model version (operators only)") { to, policy, threshold, rate, fraction, sample, stopOnFailedClaim, evaluation, route, promote, watch };
        start.SetAction((parse, ct) => Run(async () =>
        {
            var client = Connect(parse);
            var request = new Models.RolloutRequest(parse.GetValue(to)!, parse.GetValue(policy), parse.GetValue(threshold), parse.GetValue(rate),
                parse.GetValue(fraction), parse.GetValue(sample), parse.GetValue(stopOnFailedClaim) ? Models.FailedClaimAction.Stop : Models.FailedClaimAction.UseMap,
                parse.GetValue(evaluation), parse.GetValue(route) switch
                {
                    "map" => Models.RoutePreference.Map,
                    "own-space" => Models.RoutePreference.OwnSpace,
                    _ => Models.RoutePreference.Auto,
                }, parse.GetValue(promote));
            var status = await client.StartRolloutAsync(request, ct);
            if (parse.GetValue(watch)) status = await Output.WatchRolloutAsync(client, ct);
            Output.Rollout(status);
            return Ok;
        }));

        var statusWatch = new Option<bool>("--watch") { Description = "follow the rollout's progress until its backfill ends" };
        var status = new Command("status", "the rollout's phase, route, calibration and backfill progress (operators only)") { statusWatch };
        status.SetAction((parse, ct) => Run(async () =>
        {
            var client = Connect(parse);
            var current = parse.GetValue(statusWatch) ? await Output.WatchRolloutAsync(client, ct) : await client.GetRolloutAsync(ct);
            if (current is null)
            {
                AnsiConsole.MarkupLine("there has been no rollout");
                return Ok;
            }

            Output.Rollout(current);
            return Ok;
        }));

        var command = new Command("rollout", "roll out a new model version: start, status, pause, resume, cancel, rollback, commit") { start, status };
        foreach (var (verb, help) in new[]
        {
            ("pause", "pause the backfill"), ("resume", "resume a paused backfill"), ("cancel", "stop the backfill for good; queries stay on the new version"),
            ("rollback", "return queries and uploads to the old version; nothing is lost"), ("commit", "finish: drop old vectors of re-embedded items"),
        })
        {
            var action = new Command(verb, help + " (operators only)");
            action.SetAction((parse, ct) => Run(async () =>
            {
                Output.Rollout(await Connect(parse).RolloutActionAsync(verb, ct));
                return Ok;
            }));
            command.Subcommands.Add(action);
        }

        return command;
    }

    /// <summary>Runs a command, turning failures into a message on stderr and an exit code.</summary>
    internal static async Task<int> Run(Func<Task<int>> action)
    {
        try
        {
            return await action();
        }
        catch (UsageException ex)
        {
            Console.Error.WriteLine($"error: {ex.Message}");
            return BadInput;
        }
        catch (IndexerApiException ex)
        {
            Console.Error.WriteLine($"error: {(int)ex.StatusCode} {ex.StatusCode}: {ex.Message}");
            return (int)ex.StatusCode is >= 400 and < 500 ? BadInput : Failed;
        }
        catch (HttpRequestException ex)
        {
            Console.Error.WriteLine($"error: cannot reach Indexer: {ex.Message}");
            return Failed;
        }
        catch (OperationCanceledException)
        {
            Console.Error.WriteLine("cancelled");
            return Failed;
        }
    }
}

/// <summary>A mistake in how the command was called.</summary>
public sealed class UsageException(string message) : Exception(message);
