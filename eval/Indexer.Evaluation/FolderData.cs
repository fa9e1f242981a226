using System.Diagnostics;
using System.Globalization;
using Indexer.Embedding;
using Indexer.Search.Metrics;
using Indexer.Training;

namespace Indexer.Evaluation;

/// <summary>
/// A labeled image set in a folder-per-label layout: every sub-folder of the root is a label (its name), and the JPEG and
/// PNG files under it, at any depth, are its images. Only names are read here; <see cref="FolderPool"/> decodes. Images are
/// ordered by label, then by path (ordinal comparison), so a folder lists the same way on every machine and a seed deals
/// the same users from it.
/// </summary>
public sealed class FolderImages
{
    private FolderImages(string root, IReadOnlyList<string> labelNames, IReadOnlyList<string> itemIds, IReadOnlyList<int> labels, int ignored)
    {
        Root = root;
        LabelNames = labelNames;
        ItemIds = itemIds;
        Labels = labels;
        Ignored = ignored;
    }

    /// <summary>File extensions taken as images, compared case-insensitively.</summary>
    public static IReadOnlyList<string> Extensions { get; } = [".jpg", ".jpeg", ".png"];

    /// <summary>The root folder, as given.</summary>
    public string Root { get; }

    /// <summary>The labels: names of the sub-folders that hold at least one image, in ordinal order; a label's number is its index here.</summary>
    public IReadOnlyList<string> LabelNames { get; }

    /// <summary>Each image's id: its path under the root with '/' separators, e.g. "Sandal/00012.png".</summary>
    public IReadOnlyList<string> ItemIds { get; }

    /// <summary>Each image's label number (an index into <see cref="LabelNames"/>).</summary>
    public IReadOnlyList<int> Labels { get; }

    /// <summary>Files not taken: other extensions, or lying in the root itself rather than in a label's folder.</summary>
    public int Ignored { get; }

    /// <summary>Images found.</summary>
    public int Count => ItemIds.Count;

    /// <summary>The file of image <paramref name="index"/>.</summary>
    public string PathOf(int index) => Path.Combine(Root, ItemIds[index].Replace('/', Path.DirectorySeparatorChar));

    /// <summary>Lists the images under <paramref name="root"/>; hidden files and folders are left out.</summary>
    /// <exception cref="ArgumentException">The folder does not exist or holds images of fewer than two labels.</exception>
    public static FolderImages Scan(string root)
    {
        ArgumentException.ThrowIfNullOrEmpty(root);
        if (!Directory.Exists(root)) throw new ArgumentException($"the image folder {root} does not exist");
        var options = new EnumerationOptions { RecurseSubdirectories = true, IgnoreInaccessible = true }; // skips hidden entries by default
        var ignored = Directory.EnumerateFiles(root, "*", new EnumerationOptions()).Count();
        var labelNames = new List<string>();
        var itemIds = new List<string>();
        var labels = new List<int>();
        foreach (var folder in Directory.EnumerateDirectories(root, "*", new EnumerationOptions()).Order(StringComparer.Ordinal))
        {
            var files = Directory.EnumerateFiles(folder, "*", options).ToList();
            var images = files.Where(IsImage).Select(f => Path.GetRelativePath(root, f).Replace(Path.DirectorySeparatorChar, '/')).Order(StringComparer.Ordinal).ToList();
            ignored += files.Count - images.Count;
            if (images.Count == 0) continue;
            var label = labelNames.Count;
            labelNames.Add(Path.GetFileName(folder));
            itemIds.AddRange(images);
            labels.AddRange(Enumerable.Repeat(label, images.Count));
        }

        if (labelNames.Count < 2)
        {
            throw new ArgumentException(
                $"the image folder {root} holds JPEG or PNG images in {labelNames.Count} label folder(s); at least 2 are needed (one sub-folder per label, its name the label)");
        }

        return new FolderImages(root, labelNames, itemIds, labels, ignored);
    }

    private static bool IsImage(string path) => Extensions.Contains(Path.GetExtension(path), StringComparer.OrdinalIgnoreCase);
}

/// <summary>
/// A registrable model read from its directory, <c>model.onnx</c> + <c>manifest.json</c> as <c>indexer-zoo train</c> writes
/// them and <c>indexer models register</c> takes them, and loaded the way the system loads a version: an
/// <see cref="OnnxEmbedder"/> that checks the graph against the manifest (CPU, so that runs agree from machine to machine).
/// </summary>
public sealed class FolderModel : IDisposable
{
    private FolderModel(string directory, OnnxEmbedder embedder)
    {
        Directory = directory;
        Embedder = embedder;
    }

    /// <summary>The model's directory, as given.</summary>
    public string Directory { get; }

    /// <summary>The loaded model.</summary>
    public OnnxEmbedder Embedder { get; }

    /// <summary>The manifest the model was checked against.</summary>
    public ModelManifest Manifest => Embedder.Manifest;

    /// <summary>The manifest's version name, which the report uses.</summary>
    public string Version => Manifest.Version;

    /// <summary>Reads, validates and loads the model in <paramref name="directory"/>; <paramref name="option"/> names it in messages.</summary>
    /// <exception cref="ArgumentException">
    /// The directory or one of its two files is missing, the manifest is invalid, or the graph disagrees with it (input size,
    /// output dimension).
    /// </exception>
    public static FolderModel Load(string directory, string option)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        if (!System.IO.Directory.Exists(directory)) throw new ArgumentException($"{option} {directory}: the model directory does not exist");
        var manifestPath = Path.Combine(directory, ModelZoo.ManifestFileName);
        var modelPath = Path.Combine(directory, ModelZoo.ModelFileName);
        foreach (var file in new[] { manifestPath, modelPath })
        {
            if (!File.Exists(file))
            {
                throw new ArgumentException(
                    $"{option} {directory}: no {Path.GetFileName(file)}; a model directory holds {ModelZoo.ModelFileName} and {ModelZoo.ManifestFileName}, as `indexer-zoo train` writes them");
            }
        }

        try
        {
            var manifest = ModelManifest.FromJson(File.ReadAllText(manifestPath));
            return new FolderModel(directory, new OnnxEmbedder(File.ReadAllBytes(modelPath), manifest, new EmbedderOptions(PreferGpu: false)));
        }
        catch (InvalidModelException ex)
        {
            throw new ArgumentException($"{option} {directory}: {ex.Message}", ex);
        }
    }

    /// <inheritdoc />
    public void Dispose() => Embedder.Dispose();
}

/// <summary>A file of the folder that was not embedded, and why.</summary>
/// <param name="ItemId">The file's path under the root, '/'-separated.</param>
/// <param name="Reason">Why it could not be read or decoded.</param>
public sealed record SkippedImage(string ItemId, string Reason);

/// <summary>
/// The images of a <see cref="FolderImages"/> embedded by several models, each image through the path an upload takes:
/// the file's bytes checked by <see cref="ImageDecoder.Probe"/>, decoded and preprocessed by
/// <see cref="ImageDecoder.Preprocess"/> with the model's manifest, embedded by <see cref="OnnxEmbedder"/>. A file that
/// cannot be read, or is rejected for any model, is skipped for all of them, so every model embeds the same images.
/// Pool indices (0..<see cref="Count"/>) number the embedded images in folder order.
/// </summary>
public sealed class FolderPool
{
    /// <summary>Images decoded and embedded per batch: about 10 MB of input per model at 224 x 224.</summary>
    public const int DefaultBatchSize = 16;

    /// <summary>How often the embedding pass reports its progress.</summary>
    private static readonly TimeSpan ProgressInterval = TimeSpan.FromSeconds(15);

    private readonly float[][] _vectors;

    private FolderPool(FolderImages images, IReadOnlyList<ModelManifest> models, int[] kept, IReadOnlyList<SkippedImage> skipped, float[][] vectors, TimeSpan elapsed)
    {
        Images = images;
        Models = models;
        Kept = kept;
        Skipped = skipped;
        _vectors = vectors;
        Elapsed = elapsed;
    }

    /// <summary>The folder's images, embedded or not.</summary>
    public FolderImages Images { get; }

    /// <summary>The models' manifests, in the order they were given.</summary>
    public IReadOnlyList<ModelManifest> Models { get; }

    /// <summary>Per pool index, the index of the image in <see cref="Images"/>.</summary>
    public IReadOnlyList<int> Kept { get; }

    /// <summary>The files that were not embedded.</summary>
    public IReadOnlyList<SkippedImage> Skipped { get; }

    /// <summary>Wall time of the embedding pass.</summary>
    public TimeSpan Elapsed { get; }

    /// <summary>Embedded images.</summary>
    public int Count => Kept.Count;

    /// <summary>The labels the embedded images carry, each once.</summary>
    public int LabelCount => Kept.Select(i => Images.Labels[i]).Distinct().Count();

    /// <summary>The item id of pool image <paramref name="index"/>.</summary>
    public string ItemId(int index) => Images.ItemIds[Kept[index]];

    /// <summary>The label number of pool image <paramref name="index"/>.</summary>
    public int Label(int index) => Images.Labels[Kept[index]];

    /// <summary>The vectors of model <paramref name="model"/> for the listed pool images, one row each, as the model output them.</summary>
    public float[] Rows(int model, IReadOnlyList<int> indices)
    {
        ArgumentNullException.ThrowIfNull(indices);
        var d = Models[model].OutputDimension;
        var rows = new float[indices.Count * d];
        for (var k = 0; k < indices.Count; k++) _vectors[model].AsSpan(indices[k] * d, d).CopyTo(rows.AsSpan(k * d, d));
        return rows;
    }

    /// <summary>
    /// Embeds every image of <paramref name="images"/> with every model, in batches; models whose manifests preprocess
    /// alike share one decode. Progress goes to <paramref name="log"/> every 15 seconds and at the end.
    /// </summary>
    public static FolderPool Embed(FolderImages images, IReadOnlyList<FolderModel> models, TextWriter? log = null, int batchSize = DefaultBatchSize)
    {
        ArgumentNullException.ThrowIfNull(images);
        ArgumentNullException.ThrowIfNull(models);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(batchSize);
        if (models.Count == 0) throw new ArgumentException("at least one model is needed", nameof(models));
        var groups = models.Select((m, k) => (Key: PreprocessingKey(m.Manifest), Model: k)).GroupBy(x => x.Key).Select(g => g.Select(x => x.Model).ToArray()).ToArray();
        var groupOf = new int[models.Count];
        for (var g = 0; g < groups.Length; g++)
        {
            foreach (var k in groups[g]) groupOf[k] = g;
        }

        var manifests = groups.Select(g => models[g[0]].Manifest).ToArray();
        var lengths = groups.Select(g => models[g[0]].Embedder.TensorLength).ToArray();
        var buffers = lengths.Select(length => new float[batchSize * length]).ToArray();
        var vectors = models.Select(m => new float[(long)images.Count * m.Embedder.Dimension]).ToArray();
        var kept = new List<int>(images.Count);
        var skipped = new List<SkippedImage>();
        var failures = new string?[batchSize];
        log?.WriteLine($"embedding: {images.Count} images with {string.Join(", ", models.Select(m => $"{m.Version} ({m.Manifest.InputWidth}x{m.Manifest.InputHeight} → {m.Embedder.Dimension}-d)"))}, " +
            $"{groups.Length} decode(s) per image, on the {models[0].Embedder.ExecutionProvider}");
        var clock = Stopwatch.StartNew();
        var reported = TimeSpan.Zero;
        for (var start = 0; start < images.Count; start += batchSize)
        {
            var n = Math.Min(batchSize, images.Count - start);
            Parallel.For(0, n, i => failures[i] = Decode(images.PathOf(start + i), manifests, buffers, lengths, i));

            // The decodable images move to the front of each buffer, so the models see one contiguous batch.
            var good = 0;
            for (var i = 0; i < n; i++)
            {
                if (failures[i] is { } reason)
                {
                    skipped.Add(new SkippedImage(images.ItemIds[start + i], reason));
                    continue;
                }

                if (good != i)
                {
                    for (var g = 0; g < groups.Length; g++) buffers[g].AsSpan(i * lengths[g], lengths[g]).CopyTo(buffers[g].AsSpan(good * lengths[g], lengths[g]));
                }

                kept.Add(start + i);
                good++;
            }

            var row = kept.Count - good;
            for (var k = 0; k < models.Count; k++)
            {
                var d = models[k].Embedder.Dimension;
                var length = lengths[groupOf[k]];
                models[k].Embedder.Embed(buffers[groupOf[k]].AsSpan(0, good * length), good, vectors[k].AsSpan(row * d, good * d));
            }

            var done = start + n;
            if (log is not null && (done == images.Count || clock.Elapsed - reported >= ProgressInterval))
            {
                reported = clock.Elapsed;
                var rate = done / Math.Max(1e-3, clock.Elapsed.TotalSeconds);
                log.WriteLine(Invariant($"embedding: {done}/{images.Count} images ({skipped.Count} skipped) in {clock.Elapsed.TotalSeconds:F0} s, {rate:F1} images/s through {models.Count} model(s)") +
                    (done < images.Count ? Invariant($", about {(images.Count - done) / rate:F0} s left") : string.Empty));
            }
        }

        for (var k = 0; k < models.Count; k++) Array.Resize(ref vectors[k], kept.Count * models[k].Embedder.Dimension);
        return new FolderPool(images, models.Select(m => m.Manifest).ToArray(), kept.ToArray(), skipped, vectors, clock.Elapsed);
    }

    /// <summary>Reads one file and preprocesses it for every decode group into slot <paramref name="slot"/>; the reason it failed, or null.</summary>
    private static string? Decode(string path, ModelManifest[] manifests, float[][] buffers, int[] lengths, int slot)
    {
        byte[] bytes;
        try
        {
            // Checked before reading, so that a huge file in the folder is not read into memory only to be refused.
            var size = new FileInfo(path).Length;
            if (size > ImageLimits.Default.MaxBytes) return Invariant($"{size} bytes; the limit is {ImageLimits.Default.MaxBytes}");
            bytes = File.ReadAllBytes(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return $"unreadable: {ex.Message}";
        }

        try
        {
            ImageDecoder.Probe(bytes, ImageLimits.Default);
            for (var g = 0; g < manifests.Length; g++)
            {
                ImageDecoder.Preprocess(bytes, manifests[g], ImageLimits.Default, buffers[g].AsSpan(slot * lengths[g], lengths[g]));
            }

            return null;
        }
        catch (InvalidImageException ex)
        {
            return ex.Reason;
        }
    }

    /// <summary>What decides a preprocessed tensor: two manifests with the same key give the same tensor for any image.</summary>
    private static string PreprocessingKey(ModelManifest m) =>
        Invariant($"{m.InputWidth}x{m.InputHeight} {m.ChannelOrder} mean {string.Join(',', m.Mean)} scale {string.Join(',', m.Scale)}");

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}

/// <summary>What <see cref="FolderEvaluation.Run"/> measured, and on what.</summary>
/// <param name="Report">The report, as written.</param>
/// <param name="Pool">The folder's images and every model's vectors of them.</param>
/// <param name="Users">The simulated users, as pool indices.</param>
/// <param name="Datasets">One dataset per new model, in the order given.</param>
public sealed record FolderEvaluationResult(EvaluationReport Report, FolderPool Pool, IReadOnlyList<SimulatedUser> Users, IReadOnlyList<EvaluationDataset> Datasets);

/// <summary>
/// The offline evaluation on any labeled image folder and any registrable models: the folder's images are embedded by
/// the old and every new model (<see cref="FolderPool"/>), dealt to simulated users by <see cref="UserProtocol"/> as
/// the Fashion-MNIST pool is, and measured and reported by <see cref="OfflineEvaluation"/>, one upgrade per new model.
/// </summary>
public static class FolderEvaluation
{
    /// <summary>Labels, skipped files and the like listed by name in the report's notes, at most.</summary>
    private const int ListedInNotes = 12;

    /// <summary>
    /// Checks every input before the long embedding pass, then embeds, deals, evaluates and writes the report into
    /// <paramref name="outputDirectory"/>. Progress and figures go to <paramref name="log"/>.
    /// </summary>
    /// <exception cref="ArgumentException">
    /// Bad input: the folder is missing or holds fewer than two labels or too few images for the protocol (before or
    /// after skipping unreadable files), a model directory is missing or invalid, two models share a version name, or
    /// <see cref="UpgradeEvaluationOptions.UseMap"/> is off and the dimensions differ.
    /// </exception>
    public static FolderEvaluationResult Run(
        string imagesDirectory,
        string oldModelDirectory,
        IReadOnlyList<string> newModelDirectories,
        UserProtocol protocol,
        UpgradeEvaluationOptions options,
        string outputDirectory,
        string command,
        TextWriter log)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        var pool = Embed(imagesDirectory, oldModelDirectory, newModelDirectories, protocol, !options.UseMap, log);
        var images = pool.Images;
        var users = protocol.Deal(pool.Count);
        var name = FolderName(images);
        var description = Invariant($"{pool.Count} images in {pool.LabelCount} labels from the folder '{name}'") +
            (pool.Skipped.Count == 0 ? string.Empty : Invariant($" ({pool.Skipped.Count} unreadable file(s) skipped)")) +
            ", each embedded by every model as an upload is (ImageDecoder with the model's manifest, then its ONNX graph)";
        var datasets = Enumerable.Range(1, pool.Models.Count - 1).Select(k => Build(pool, 0, k, users, description)).ToList();
        var report = OfflineEvaluation.Run(
            datasets,
            options,
            outputDirectory,
            $"Model upgrades on the image folder '{name}'",
            command,
            Notes(pool, protocol),
            log);
        foreach (var upgrade in report.Upgrades) log.WriteLine(Summary(upgrade));
        return new FolderEvaluationResult(report, pool, users, datasets);
    }

    /// <summary>The folder's own name (the last part of its full path), as reports name it.</summary>
    public static string FolderName(FolderImages images)
    {
        ArgumentNullException.ThrowIfNull(images);
        return Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(images.Root)));
    }

    /// <summary>
    /// Checks every input before the long embedding pass, then embeds the folder's images with the old model and every new
    /// one (<see cref="FolderPool"/>) and checks that enough readable images remain for <paramref name="protocol"/>; the
    /// skipped files are listed in <paramref name="log"/>. The models are unloaded before it returns.
    /// </summary>
    /// <param name="imagesDirectory">The labeled images, one sub-folder per label.</param>
    /// <param name="oldModelDirectory">The old model's directory (<c>--old</c>).</param>
    /// <param name="newModelDirectories">The new models' directories (<c>--new</c>), at least one.</param>
    /// <param name="protocol">The users the images are dealt to: the folder must hold enough readable images for them.</param>
    /// <param name="equalDimensions">Refuse new models whose dimension differs from the old one's (old vectors served as stored).</param>
    /// <param name="log">Progress, and the files skipped.</param>
    /// <exception cref="ArgumentException">
    /// Bad input: the folder is missing or holds fewer than two labels or too few images for the protocol (before or
    /// after skipping unreadable files), a model directory is missing or invalid, two models share a version name, or
    /// <paramref name="equalDimensions"/> is set and the dimensions differ.
    /// </exception>
    public static FolderPool Embed(
        string imagesDirectory, string oldModelDirectory, IReadOnlyList<string> newModelDirectories, UserProtocol protocol, bool equalDimensions, TextWriter log)
    {
        ArgumentNullException.ThrowIfNull(newModelDirectories);
        ArgumentNullException.ThrowIfNull(protocol);
        ArgumentNullException.ThrowIfNull(log);
        protocol.Validate(int.MaxValue); // the sizes alone; the folder is checked below
        if (newModelDirectories.Count == 0) throw new ArgumentException("at least one new model (--new) is needed");

        var images = FolderImages.Scan(imagesDirectory);
        log.WriteLine($"folder: {images.Count} images in {images.LabelNames.Count} labels ({images.Ignored} other files ignored)");
        CheckEnough($"{images.Count} images", images.Count, images.Root, protocol);

        var models = new List<FolderModel>();
        try
        {
            models.Add(FolderModel.Load(oldModelDirectory, "--old"));
            foreach (var directory in newModelDirectories) models.Add(FolderModel.Load(directory, "--new"));
            var twice = models.GroupBy(m => m.Version, StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1);
            if (twice is not null)
            {
                throw new ArgumentException($"the models in {string.Join(" and ", twice.Select(m => m.Directory))} share the version name '{twice.Key}'; the report names upgrades by version");
            }

            var old = models[0];
            foreach (var model in models.Skip(1).Where(m => equalDimensions && m.Embedder.Dimension != old.Embedder.Dimension))
            {
                throw new ArgumentException(
                    $"--no-map serves old vectors as stored, which needs equal dimensions: {old.Version} gives {old.Embedder.Dimension}-d vectors, {model.Version} {model.Embedder.Dimension}-d");
            }

            var pool = FolderPool.Embed(images, models, log);
            if (pool.Skipped.Count > 0)
            {
                log.WriteLine($"skipped {pool.Skipped.Count} file(s) that could not be read or decoded: " +
                    string.Join("; ", pool.Skipped.Take(ListedInNotes).Select(s => $"{s.ItemId} ({s.Reason})")) + (pool.Skipped.Count > ListedInNotes ? "; …" : string.Empty));
            }

            var skippedNote = pool.Skipped.Count == 0 ? string.Empty : $" after skipping {pool.Skipped.Count} unreadable file(s)";
            if (pool.LabelCount < 2) throw new ArgumentException($"the image folder {images.Root} holds readable images of {pool.LabelCount} label(s){skippedNote}; at least 2 are needed");
            CheckEnough($"{pool.Count} readable images{skippedNote}", pool.Count, images.Root, protocol);
            return pool;
        }
        finally
        {
            foreach (var model in models) model.Dispose();
        }
    }

    /// <summary>One upgrade's dataset: every user's gallery and queries as model <paramref name="oldModel"/> and model <paramref name="newModel"/> of the pool embedded them.</summary>
    /// <param name="pool">The embedded images.</param>
    /// <param name="oldModel">The old model's index in the pool.</param>
    /// <param name="newModel">The new model's index in the pool.</param>
    /// <param name="users">The users' galleries and queries (pool indices).</param>
    /// <param name="description">How the report describes the data.</param>
    /// <param name="itemId">The id each pool index goes by; the pool's own (the relative path) when null.</param>
    public static EvaluationDataset Build(FolderPool pool, int oldModel, int newModel, IReadOnlyList<SimulatedUser> users, string description, Func<int, string>? itemId = null)
    {
        ArgumentNullException.ThrowIfNull(pool);
        ArgumentNullException.ThrowIfNull(users);
        var dOld = pool.Models[oldModel].OutputDimension;
        var dNew = pool.Models[newModel].OutputDimension;
        var galleries = users.Select(user => new EvaluationGallery(
            user.Name,
            user.Items.Select(itemId ?? pool.ItemId).ToArray(),
            user.Items.Select(pool.Label).ToArray(),
            pool.Rows(oldModel, user.Items),
            pool.Rows(newModel, user.Items),
            user.Queries.Select(pool.Label).ToArray(),
            pool.Rows(oldModel, user.Queries),
            pool.Rows(newModel, user.Queries),
            dOld,
            dNew)).ToArray();
        return new EvaluationDataset(pool.Models[oldModel].Version, pool.Models[newModel].Version, description, galleries);
    }

    /// <summary>The cross-model figures and the predicted-order curve of one upgrade, one line (the lazy policy has its own line in the log).</summary>
    public static string Summary(UpgradeResult u)
    {
        var t = u.CrossModel;
        var comparable = u.OldDimension == u.NewDimension;
        var predicted = u.Predicted.MeanAveragePrecision;
        return $"{u.Name}: mAP / top-1 in %: old/old {Targets.P(t.OldOld.MeanAveragePrecision)} / {Targets.P(t.OldOld.CmcAt(1))}, " +
            $"new/new {Targets.P(t.NewNew.MeanAveragePrecision)} / {Targets.P(t.NewNew.CmcAt(1))}, " +
            $"new/old {(comparable ? $"{Targets.P(t.NewOld.MeanAveragePrecision)} / {Targets.P(t.NewOld.CmcAt(1))}" : "n/a (dimensions differ)")}, " +
            $"new/h(old) {(t.NewMapped is null ? "–" : $"{Targets.P(t.NewMapped.MeanAveragePrecision)} / {Targets.P(t.NewMapped.CmcAt(1))}")} " +
            $"({u.MapKind.ToString().ToLowerInvariant()} map); predicted order: area {Targets.P(predicted.AreaFraction)}% of full, β*(1%) {Targets.P(predicted.BetaStar, 0)}%, " +
            $"regret {Targets.P(predicted.Regret, 2)} points; calibration sample {u.CalibrationItems} of {u.Items} items";
    }

    /// <summary>Throws when <paramref name="images"/> cannot serve the protocol; <paramref name="what"/> says what the folder holds.</summary>
    private static void CheckEnough(string what, int images, string root, UserProtocol protocol)
    {
        if (images >= protocol.ImagesNeeded) return;
        throw new ArgumentException(
            $"the image folder {root} holds {what}; " + Invariant($"{protocol.Galleries} users x ({protocol.GallerySize} gallery images + {protocol.Queries} queries) ") +
            Invariant($"need {protocol.ImagesNeeded}: give a larger folder or lower --galleries, --gallery-size or --queries"));
    }

    /// <summary>The report's notes on a folder run: users, labels, models and the files skipped.</summary>
    public static IReadOnlyList<string> Notes(FolderPool pool, UserProtocol protocol)
    {
        var labels = pool.Images.LabelNames;
        var notes = new List<string>
        {
            $"Users: {protocol.Describe()}; queries without a positive in their user's gallery are skipped and counted.",
            $"Labels are the folder's sub-folder names ({labels.Count}): " + string.Join(", ", labels.Take(ListedInNotes).Select(l => $"'{l}'")) + (labels.Count > ListedInNotes ? ", …" : string.Empty) + ".",
            "Models: " + string.Join("; ", pool.Models.Select((m, k) => $"{(k == 0 ? "old" : "new")} {m.Version} ({m.InputWidth}x{m.InputHeight} input, {m.OutputDimension}-d{(m.Lineage is null ? string.Empty : $", lineage {m.Lineage}")})")) +
                ". Every vector is the model's own output on the image file: each item costs each model a full forward pass.",
        };
        if (pool.Skipped.Count > 0)
        {
            notes.Add($"{pool.Skipped.Count} file(s) could not be read or decoded and were left out for every model: " +
                string.Join("; ", pool.Skipped.Take(ListedInNotes).Select(s => $"`{s.ItemId}` ({s.Reason})")) + (pool.Skipped.Count > ListedInNotes ? "; …" : string.Empty) + ".");
        }

        return notes;
    }

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
