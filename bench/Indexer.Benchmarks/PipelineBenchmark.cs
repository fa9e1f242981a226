using System.Diagnostics;
using Indexer.Client;
using Indexer.Embedding;
using Indexer.Galleries;
using Indexer.Grains;
using Indexer.Storage;
using Indexer.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace Indexer.Benchmarks;

/// <summary>
/// Embedding throughput through the whole pipeline (blob read, decode, preprocess, micro-batch, inference, segment and
/// manifest writes) against a bare ONNX Runtime session on the same model, input size, batch size and threads, in one run;
/// and the end-to-end ingest rate of a folder of photos over HTTP.
/// </summary>
public static class PipelineBenchmark
{
    public const string EmbedUsage = "embed [--images 512] [--batch 16]   pipeline vs bare ONNX Runtime session, same model/batch/threads";
    public const string IngestUsage = "ingest [--folder DIR] [--count 1000] [--batch 32]   HTTP upload of a folder until indexed (default: Fashion-MNIST PNGs)";

    /// <summary>Ports of the benchmark's silo and Azurite, apart from the tests' and the local run's.</summary>
    private const int BasePort = 5280;

    public static int RunEmbed(string[] args)
    {
        var images = Options.Int(args, "--images", 512);
        var batch = Options.Int(args, "--batch", 16);
        var sessions = Options.Int(args, "--sessions", new EmbeddingOptions().Sessions);
        return RunEmbedAsync(images, batch, sessions).GetAwaiter().GetResult();
    }

    public static int RunIngest(string[] args)
    {
        var folder = Options.String(args, "--folder");
        var count = Options.Int(args, "--count", 1000);
        var batch = Options.Int(args, "--batch", 32);
        return RunIngestAsync(folder, count, batch).GetAwaiter().GetResult();
    }

    private static async Task<int> RunEmbedAsync(int count, int batch, int sessionsSetting)
    {
        var pngs = Enumerable.Range(0, count).Select(i => SampleImages.Images.EncodePng(i)).ToList();
        var cores = Environment.ProcessorCount;
        var (sessions, threads) = new EmbeddingOptions { Sessions = sessionsSetting }.CpuSessions(cores);
        var bareSpinning = Bare(pngs, batch, allowSpinning: true, sessions: 1, threads: 0);
        var bareOne = Bare(pngs, batch, allowSpinning: false, sessions: 1, threads: 0);
        var bare = sessions == 1 && threads is 0 ? bareOne : Bare(pngs, batch, allowSpinning: false, sessions, threads);

        await using var host = await SiloHost.StartAsync(BasePort, new Dictionary<string, string?>
        {
            ["Indexer:Embedding:MaxBatchSize"] = batch.ToString(),
            ["Indexer:Embedding:Sessions"] = sessionsSetting.ToString(),
        });
        var store = host.Services.GetRequiredService<BlobImageStore>();
        var refs = new List<ImageToAdd>(count);
        for (var i = 0; i < count; i++)
        {
            refs.Add(new ImageToAdd($"img-{i:D6}", await store.PutAsync(pngs[i], null, CancellationToken.None), new Dictionary<string, string>()));
        }

        var gallery = host.Client.Gallery("bench", "warmup");
        await gallery.UploadAsync(pngs.Take(batch).Select((png, i) => new ImageUpload($"w{i}", png)).ToList());
        await gallery.WaitUntilIndexedAsync();

        var target = host.Client.Gallery("bench", "embed");
        var grain = host.Services.GetRequiredService<IGrainFactory>().GetGrain<IGalleryGrain>(target.Key.ToString());
        using var inference = new InferenceListener();
        var azuriteBefore = ProcessCpu.OfPidFile(host.AzuritePidFile);
        var ownBefore = ProcessCpu.OfSelf();
        var started = Stopwatch.GetTimestamp();
        foreach (var chunk in refs.Chunk(1024)) await grain.AddImagesAsync(chunk);
        var stats = await target.WaitUntilIndexedAsync(pollInterval: TimeSpan.FromMilliseconds(20));
        var seconds = Stopwatch.GetElapsedTime(started).TotalSeconds;
        var azuriteCpu = ProcessCpu.OfPidFile(host.AzuritePidFile) - azuriteBefore;
        var ownCpu = ProcessCpu.OfSelf() - ownBefore;
        if (stats.Items != count) throw new InvalidOperationException($"{stats.Items} of {count} indexed");

        var pipeline = count / seconds;
        Console.WriteLine($"| path | images | batch | img/s |");
        Console.WriteLine($"|---|---:|---:|---:|");
        var fastest = Math.Max(bare, Math.Max(bareOne, bareSpinning));
        Console.WriteLine($"| bare: one session on all cores, threads spin (ORT default) | {count} | {batch} | {bareSpinning:F1} |");
        Console.WriteLine($"| bare: one session on all cores, no spinning | {count} | {batch} | {bareOne:F1} |");
        var shape = threads == 0 ? $"{sessions} session(s) on all cores" : $"{sessions} session(s) x {threads} thread(s) side by side";
        Console.WriteLine($"| bare: {shape}, no spinning (the silo's setting) | {count} | {batch} | {bare:F1} |");
        Console.WriteLine($"| pipeline: blob read, decode, preprocess, batch, inference, segment write | {count} | {batch} | {pipeline:F1} |");
        Console.WriteLine();
        Console.WriteLine($"pipeline / bare (same settings) = {pipeline / bare:P1} (target: at least 90%) -> {(pipeline / bare >= 0.9 ? "met" : "NOT met")}; " +
            $"pipeline / fastest bare = {pipeline / fastest:P1}");
        Console.WriteLine($"inference in the pipeline: {inference.Calls} calls, mean batch {inference.Images / (double)Math.Max(1, inference.Calls):F1}, " +
            $"busy {inference.Seconds:F1} session-s over {seconds:F1} s on {sessions} session(s) ({inference.Seconds / (seconds * sessions):P0}), " +
            $"{inference.Seconds * 1000 / Math.Max(1, inference.Images):F1} ms/image per session (bare: {sessions * 1000 / bare:F1} ms/image per session)");
        Console.WriteLine($"during the pipeline run ({seconds:F1} s on {Environment.ProcessorCount} cores): silo process {ownCpu:F1} CPU-s, " +
            $"Azurite (storage emulator, same machine) {azuriteCpu:F1} CPU-s = {azuriteCpu / (seconds * Environment.ProcessorCount):P0} of the machine");
        return 0;
    }

    /// <summary>
    /// The bare sessions: the same imported model and options as a silo uses, fed preprocessed tensors; with several
    /// sessions, each on its own thread takes every sessions-th batch.
    /// </summary>
    private static double Bare(List<byte[]> pngs, int batch, bool allowSpinning, int sessions, int threads)
    {
        var imported = ResNet18Model.Import(ResNet18Model.DefaultModelPath, ResNet18Model.DefaultPreprocessPath, "bare");
        var embedders = Enumerable.Range(0, sessions)
            .Select(_ => new OnnxEmbedder(imported.Onnx, imported.Manifest, new EmbedderOptions(IntraOpThreads: threads, AllowSpinning: allowSpinning))).ToList();
        try
        {
            var length = ImageDecoder.TensorLength(imported.Manifest);
            var tensors = new float[pngs.Count * length];
            var decodeStarted = Stopwatch.GetTimestamp();
            for (var i = 0; i < pngs.Count; i++) ImageDecoder.Preprocess(pngs[i], imported.Manifest, ImageLimits.Default, tensors.AsSpan(i * length, length));
            Console.WriteLine($"decode + preprocess, one thread: {Stopwatch.GetElapsedTime(decodeStarted).TotalMilliseconds / pngs.Count:F2} ms/image");
            foreach (var embedder in embedders) embedder.Embed(tensors.AsSpan(0, batch * length), batch, new float[batch * embedder.Dimension]); // warm-up

            var started = Stopwatch.GetTimestamp();
            var workers = embedders.Select((embedder, k) => new Thread(() =>
            {
                var output = new float[batch * embedder.Dimension];
                for (var i = k * batch; i < pngs.Count; i += batch * sessions)
                {
                    var n = Math.Min(batch, pngs.Count - i);
                    embedder.Embed(tensors.AsSpan(i * length, n * length), n, output.AsSpan(0, n * embedder.Dimension));
                }
            })).ToList();
            foreach (var worker in workers) worker.Start();
            foreach (var worker in workers) worker.Join();
            return pngs.Count / Stopwatch.GetElapsedTime(started).TotalSeconds;
        }
        finally
        {
            foreach (var embedder in embedders) embedder.Dispose();
        }
    }

    private static async Task<int> RunIngestAsync(string? folder, int count, int batch)
    {
        var work = Directory.CreateTempSubdirectory("indexer-ingest-bench");
        try
        {
            var source = folder is not null ? new DirectoryInfo(folder) : work;
            if (folder is null)
            {
                for (var i = 0; i < count; i++)
                {
                    var label = SampleImages.Label(i).Replace('/', '-');
                    Directory.CreateDirectory(Path.Combine(work.FullName, label));
                    await File.WriteAllBytesAsync(Path.Combine(work.FullName, label, $"{i:D5}.png"), SampleImages.Images.EncodePng(i));
                }
            }

            var files = source.EnumerateFiles("*", SearchOption.AllDirectories)
                .Where(f => f.Extension.ToLowerInvariant() is ".jpg" or ".jpeg" or ".png" or ".webp" or ".gif" or ".bmp")
                .Take(count).ToList();
            var bytes = files.Sum(f => f.Length);

            await using var host = await SiloHost.StartAsync(BasePort);
            var client = host.Alice;
            await client.UploadAsync("warmup", [SampleImages.Upload(0)]);

            var started = Stopwatch.GetTimestamp();
            var accepted = 0;
            var next = 0;
            foreach (var chunk in files.Chunk(batch))
            {
                var uploads = new List<ImageUpload>();
                foreach (var file in chunk) uploads.Add(new ImageUpload($"file-{next++:D6}", await File.ReadAllBytesAsync(file.FullName)));
                accepted += (await client.UploadAsync("ingest", uploads)).Accepted.Count;
            }

            var uploaded = Stopwatch.GetElapsedTime(started).TotalSeconds;
            GalleryStats stats;
            do
            {
                await Task.Delay(20);
                stats = await client.GetStatsAsync("ingest");
            }
            while (stats.Pending > 0);
            var total = Stopwatch.GetElapsedTime(started).TotalSeconds;

            Console.WriteLine("| files | MiB | accepted | indexed | failed | upload s | upload+index s | images/s end to end |");
            Console.WriteLine("|---:|---:|---:|---:|---:|---:|---:|---:|");
            Console.WriteLine($"| {files.Count} | {bytes / 1048576.0:F1} | {accepted} | {stats.Items} | {stats.Failed} | {uploaded:F1} | {total:F1} | {stats.Items / total:F1} |");
            return 0;
        }
        finally
        {
            work.Delete(recursive: true);
        }
    }
}

/// <summary>Sums the silo's inference-duration and batch-size measurements while it lives.</summary>
internal sealed class InferenceListener : IDisposable
{
    private readonly System.Diagnostics.Metrics.MeterListener _listener = new();
    private double _seconds;
    private long _calls, _images;

    public InferenceListener()
    {
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name == Grains.Diagnostics.IndexerTelemetry.MeterName
                && instrument.Name is "indexer.embedding.inference.duration" or "indexer.embedding.batch_size")
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<double>((_, value, _, _) =>
        {
            lock (_listener) { _seconds += value; _calls++; }
        });
        _listener.SetMeasurementEventCallback<int>((_, value, _, _) =>
        {
            lock (_listener) _images += value;
        });
        _listener.Start();
    }

    public double Seconds { get { lock (_listener) return _seconds; } }
    public long Calls { get { lock (_listener) return _calls; } }
    public long Images { get { lock (_listener) return _images; } }

    public void Dispose() => _listener.Dispose();
}

/// <summary>CPU time (user + system) of a process, from /proc on Linux; 0 elsewhere.</summary>
internal static class ProcessCpu
{
    public static double OfSelf() => Process.GetCurrentProcess().TotalProcessorTime.TotalSeconds;

    public static double OfPidFile(string pidFile)
    {
        try
        {
            var pid = int.Parse(File.ReadAllText(pidFile).Trim());
            return Process.GetProcessById(pid).TotalProcessorTime.TotalSeconds;
        }
        catch (Exception ex) when (ex is IOException or FormatException or ArgumentException or InvalidOperationException)
        {
            return 0;
        }
    }
}

/// <summary>Minimal "--name value" option parsing for the benchmark subcommands.</summary>
internal static class Options
{
    public static string? String(string[] args, string name)
    {
        var i = Array.IndexOf(args, name);
        if (i < 0) return null;
        if (i + 1 >= args.Length) throw new ArgumentException($"{name} needs a value");
        return args[i + 1];
    }

    public static int Int(string[] args, string name, int fallback, int min = 1)
    {
        var text = String(args, name);
        if (text is null) return fallback;
        return int.TryParse(text, out var value) && value >= min ? value : throw new ArgumentException($"{name} must be a whole number of at least {min}");
    }
}
