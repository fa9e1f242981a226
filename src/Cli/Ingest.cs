using System.Text;
using Indexer.Client;
using Indexer.Galleries;
using Spectre.Console;

namespace Indexer.Cli;

/// <summary>Uploads a folder of photos in batches with a progress bar, then waits until the gallery has indexed them.</summary>
public static class Ingest
{
    private static readonly HashSet<string> ImageExtensions = new(StringComparer.OrdinalIgnoreCase) { ".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp" };

    public sealed record Summary(int Files, int Accepted, int AlreadyPresent, IReadOnlyList<ItemError> Rejected, GalleryStats? Final);

    public static async Task<Summary> RunAsync(IndexerHttpClient client, string gallery, DirectoryInfo folder, int batchSize, bool wait, CancellationToken ct)
    {
        folder.Refresh();
        if (!folder.Exists) throw new UsageException($"{folder.FullName} does not exist");
        if (batchSize is < 1 or > 256) throw new UsageException("--batch must be between 1 and 256");
        var files = folder.EnumerateFiles("*", SearchOption.AllDirectories)
            .Where(f => ImageExtensions.Contains(f.Extension))
            .OrderBy(f => f.FullName, StringComparer.Ordinal)
            .ToList();
        if (files.Count == 0) throw new UsageException($"{folder.FullName} holds no JPEG, PNG, WebP, GIF or BMP files");

        await client.CreateGalleryAsync(gallery, ct);
        var accepted = 0;
        var present = 0;
        var rejected = new List<ItemError>();
        await AnsiConsole.Progress().AutoClear(false).HideCompleted(false)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn())
            .StartAsync(async progress =>
            {
                var upload = progress.AddTask($"uploading {files.Count} files", maxValue: files.Count);
                foreach (var chunk in files.Chunk(batchSize))
                {
                    var uploads = new List<ImageUpload>(chunk.Length);
                    foreach (var file in chunk)
                    {
                        var metadata = new Dictionary<string, string> { ["file"] = Path.GetRelativePath(folder.FullName, file.FullName) };
                        if (file.Directory is { } dir && dir.FullName != folder.FullName) metadata["label"] = dir.Name;
                        uploads.Add(new ImageUpload(ItemIdFor(folder, file), await File.ReadAllBytesAsync(file.FullName, ct), metadata));
                    }

                    var result = await UploadWithRetryAsync(client, gallery, uploads, ct);
                    accepted += result.Accepted.Count;
                    present += result.AlreadyPresent.Count;
                    rejected.AddRange(result.Rejected);
                    upload.Increment(chunk.Length);
                }

                if (!wait) return;
                var index = progress.AddTask("indexing", maxValue: Math.Max(1, accepted));
                while (true)
                {
                    var stats = await client.GetStatsAsync(gallery, ct);
                    index.Value = Math.Max(0, accepted - stats.Pending);
                    if (stats.Pending == 0) break;
                    await Task.Delay(250, ct);
                }
            });

        var final = wait ? await client.GetStatsAsync(gallery, ct) : null;
        AnsiConsole.MarkupLineInterpolated($"[green]{accepted}[/] accepted, {present} already present, [red]{rejected.Count}[/] rejected");
        foreach (var error in rejected) AnsiConsole.MarkupLineInterpolated($"  [red]rejected[/] {error.ItemId}: {error.Reason}");
        if (final is not null)
        {
            if (final.Failed > 0) AnsiConsole.MarkupLineInterpolated($"[yellow]{final.Failed}[/] item(s) could not be indexed; see 'indexer status'");
            AnsiConsole.MarkupLineInterpolated($"gallery [bold]{gallery}[/] now holds {final.Items} items");
        }

        return new Summary(files.Count, accepted, present, rejected, final);
    }

    /// <summary>An item id from a file's path under the folder: characters ids do not allow become '_'.</summary>
    public static string ItemIdFor(DirectoryInfo root, FileInfo file)
    {
        var relative = Path.GetRelativePath(root.FullName, file.FullName);
        var id = new StringBuilder(relative.Length);
        foreach (var c in relative) id.Append(char.IsLetterOrDigit(c) || c is '.' or '-' or '_' ? c : '_');
        if (!char.IsLetterOrDigit(id[0])) id.Insert(0, 'f');
        return id.Length > Ids.MaxLength ? id.ToString(id.Length - Ids.MaxLength, Ids.MaxLength) : id.ToString();
    }

    /// <summary>A gallery with a full ingest queue answers 503; wait and send the same batch again.</summary>
    private static async Task<AddImagesResult> UploadWithRetryAsync(IndexerHttpClient client, string gallery, List<ImageUpload> uploads, CancellationToken ct)
    {
        for (var attempt = 0; ; attempt++)
        {
            try
            {
                return await client.UploadAsync(gallery, uploads, ct);
            }
            catch (IndexerApiException ex) when (ex.StatusCode == System.Net.HttpStatusCode.ServiceUnavailable && attempt < 120)
            {
                await Task.Delay(TimeSpan.FromSeconds(1), ct);
            }
        }
    }
}
