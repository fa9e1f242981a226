using System.CommandLine;
using Indexer.Client;
using Indexer.Embedding;
using Spectre.Console;

namespace Indexer.Cli;

/// <summary>
/// The sample data set (Fashion-MNIST, from Debian's dataset-fashion-mnist package) as real image files, and the demo
/// that ingests them and searches with held-out images.
/// </summary>
public static class SampleCommands
{
    private static readonly Option<string> DatasetOption = new("--dataset")
    {
        Description = "folder of the Fashion-MNIST IDX files",
        DefaultValueFactory = _ => FashionMnist.DefaultDirectory,
    };

    public static Command Build()
    {
        var folder = new Argument<DirectoryInfo>("folder") { Description = "where to write the images, one sub-folder per label" };
        var count = new Option<int>("--count") { Description = "how many images", DefaultValueFactory = _ => 1000 };
        var offset = new Option<int>("--offset") { Description = "index of the first image in the split", DefaultValueFactory = _ => 0 };
        var export = new Command("export", "write Fashion-MNIST test images as PNG files in a folder-per-label layout") { folder, count, offset, DatasetOption };
        export.SetAction((parse, ct) => CliApp.Run(() =>
        {
            var written = Export(parse.GetValue(DatasetOption)!, parse.GetValue(folder)!, parse.GetValue(offset), parse.GetValue(count));
            AnsiConsole.MarkupLineInterpolated($"wrote {written} images to {parse.GetValue(folder)!.FullName}");
            return Task.FromResult(CliApp.Ok);
        }));
        return new Command("sample", "the sample data set") { export };
    }

    public static Command DemoCommand(Option<string> galleryOption, Func<ParseResult, IndexerHttpClient> connect)
    {
        var count = new Option<int>("--count") { Description = "gallery size", DefaultValueFactory = _ => 1000 };
        var queries = new Option<int>("--queries") { Description = "held-out query images", DefaultValueFactory = _ => 50 };
        var work = new Option<DirectoryInfo>("--work") { Description = "where to write the sample images", DefaultValueFactory = _ => new DirectoryInfo(Path.Combine(Path.GetTempPath(), "indexer-sample")) };
        var gallery = new Option<string>("--gallery", "-g") { Description = "the gallery to fill", DefaultValueFactory = _ => "fashion-demo" };
        var demo = new Command("demo", "ingest a sample gallery of labeled Fashion-MNIST images, then search it with held-out images and print the results with their labels")
        {
            count, queries, work, gallery, DatasetOption,
        };
        demo.SetAction((parse, ct) => CliApp.Run(async () =>
        {
            var client = connect(parse);
            var n = parse.GetValue(count);
            var q = parse.GetValue(queries);
            if (n < 10 || q < 1) throw new UsageException("--count must be at least 10 and --queries at least 1");
            var dataset = parse.GetValue(DatasetOption)!;
            var galleryFolder = new DirectoryInfo(Path.Combine(parse.GetValue(work)!.FullName, "gallery"));
            if (galleryFolder.Exists) galleryFolder.Delete(recursive: true);
            Export(dataset, galleryFolder, 0, n);
            var galleryId = parse.GetValue(gallery)!;
            var summary = await Ingest.RunAsync(client, galleryId, galleryFolder, 32, wait: true, ct);

            var images = FashionMnist.Load(dataset, FashionMnistSplit.Test, n + q);
            var hits = 0;
            var total = 0;
            for (var i = n; i < n + q; i++)
            {
                var label = LabeledImages.ClassNames[images.Labels[i]];
                var result = await client.SearchByImageAsync(galleryId, images.EncodePng(i), 10, ct);
                var same = result.Matches.Count(m => m.Metadata.GetValueOrDefault("label") == SafeName(label));
                hits += same;
                total += result.Matches.Count;
                if (i == n)
                {
                    AnsiConsole.MarkupLineInterpolated($"[bold]query: held-out test image {i}, label '{label}'[/]");
                    Output.Results(result);
                }
            }

            var precision = total == 0 ? 0 : (double)hits / total;
            AnsiConsole.MarkupLineInterpolated($"[bold]{q} held-out queries: {precision:P1} of the top-10 results share the query's label[/] (chance: 10%)");
            return summary.Rejected.Count > 0 ? CliApp.Partial : CliApp.Ok;
        }));
        return demo;
    }

    /// <summary>Writes images [offset, offset+count) of the test split as PNGs under folder/label/.</summary>
    public static int Export(string dataset, DirectoryInfo folder, int offset, int count)
    {
        if (offset < 0 || count < 1) throw new UsageException("--offset must be >= 0 and --count >= 1");
        LabeledImages images;
        try
        {
            images = FashionMnist.Load(dataset, FashionMnistSplit.Test, offset + count);
        }
        catch (Exception ex) when (ex is IOException or InvalidDataException or UnauthorizedAccessException)
        {
            throw new UsageException($"cannot read Fashion-MNIST from {dataset}: {ex.Message} (scripts/setup.sh installs it)");
        }

        var written = 0;
        for (var i = offset; i < Math.Min(images.Count, offset + count); i++)
        {
            var label = SafeName(LabeledImages.ClassNames[images.Labels[i]]);
            var dir = Directory.CreateDirectory(Path.Combine(folder.FullName, label));
            File.WriteAllBytes(Path.Combine(dir.FullName, $"test-{i:D5}.png"), images.EncodePng(i));
            written++;
        }

        return written;
    }

    /// <summary>A class name as a folder name ("T-shirt/top" becomes "T-shirt-top").</summary>
    public static string SafeName(string label) => label.Replace('/', '-').Replace(' ', '-');
}
