using System.Globalization;
using System.Text;
using Indexer.Embedding;
using Indexer.Search.Metrics;
using Indexer.Training;

namespace Indexer.Evaluation;

/// <summary>
/// What a system-mode run uploads and registers: the images (per pool index, the bytes uploaded, the label and the item
/// id) and the models (per name, what is registered), and the second offline source each measured point is recomputed
/// on besides the vectors the system stored. <see cref="SystemEvaluation"/> runs the same upgrades and measurements on
/// any source: the model zoo on Fashion-MNIST (<see cref="ZooSystemSource"/>) or a folder of labeled images with model
/// directories (<see cref="FolderSystemSource"/>).
/// </summary>
public abstract class SystemSource
{
    /// <summary>Images in the pool; the users are dealt pool indices 0..Count-1.</summary>
    public abstract int Count { get; }

    /// <summary>The item id image <paramref name="index"/> is uploaded under (a valid id of the gallery API).</summary>
    public abstract string ItemId(int index);

    /// <summary>The label number of image <paramref name="index"/>.</summary>
    public abstract int Label(int index);

    /// <summary>The label name of image <paramref name="index"/>, uploaded as its <c>label</c> metadata.</summary>
    public abstract string LabelName(int index);

    /// <summary>The bytes of image <paramref name="index"/> as they are uploaded (and sent as a query).</summary>
    public abstract byte[] ImageBytes(int index);

    /// <summary>What is registered for the model named <paramref name="name"/> (before the run's version prefix is applied).</summary>
    public abstract ImportedModel Model(string name);

    /// <summary>
    /// The users' galleries and queries embedded by the old and the new model outside the system, item ids as
    /// <see cref="ItemId"/> gives them: the second source the system's figures are recomputed on, and the input of the
    /// offline evaluation of the same galleries.
    /// </summary>
    public abstract EvaluationDataset Reference(string oldName, string newName, IReadOnlyList<SimulatedUser> users);

    /// <summary>How the report describes the data and the reference vectors; null for the zoo's wording.</summary>
    public virtual SystemSourceInfo? Info => null;
}

/// <summary>How a system-mode report describes a source other than the model zoo.</summary>
/// <param name="Data">The images, e.g. "120 images in 4 labels from the folder 'fashion'".</param>
/// <param name="Reference">What the second offline computation ran on, e.g. the models' own output on the image files.</param>
/// <param name="ReferenceShort">The same in a few words, for table captions ("the folder pool's vectors").</param>
public sealed record SystemSourceInfo(string Data, string Reference, string ReferenceShort);

/// <summary>
/// The model zoo's source: the Fashion-MNIST test split PNG-encoded, item ids <see cref="ImagePool.ItemId"/>, the zoo's
/// ONNX models registered, and the reference vectors the zoo heads' output on the cached backbone features.
/// </summary>
public sealed class ZooSystemSource(string zooDirectory, ImagePool pool) : SystemSource
{
    private readonly Dictionary<string, EmbeddingHead> _heads = new(StringComparer.Ordinal);

    /// <summary>The zoo directory.</summary>
    public string ZooDirectory { get; } = zooDirectory;

    /// <summary>The images and their cached backbone features.</summary>
    public ImagePool Pool { get; } = pool;

    /// <inheritdoc />
    public override int Count => Pool.Count;

    /// <inheritdoc />
    public override string ItemId(int index) => ImagePool.ItemId(index);

    /// <inheritdoc />
    public override int Label(int index) => Pool.Label(index);

    /// <inheritdoc />
    public override string LabelName(int index) => Pool.LabelName(index);

    /// <inheritdoc />
    public override byte[] ImageBytes(int index) => Pool.Images.EncodePng(index);

    /// <inheritdoc />
    public override ImportedModel Model(string name) => ModelZoo.LoadModel(ZooDirectory, name);

    /// <inheritdoc />
    public override EvaluationDataset Reference(string oldName, string newName, IReadOnlyList<SimulatedUser> users) =>
        ZooDatasets.Build(oldName, Head(oldName), newName, Head(newName), Pool, users, $"Fashion-MNIST test split, the running system's {users.Count} galleries");

    private EmbeddingHead Head(string name)
    {
        if (!_heads.TryGetValue(name, out var head)) _heads[name] = head = ModelZoo.LoadHead(ZooDirectory, name);
        return head;
    }
}

/// <summary>
/// A labeled image folder's source: each readable image's file bytes as they are, its label folder's name as its label,
/// an item id derived from its path (<see cref="FolderItemIds"/>); the model directories' ONNX graphs and manifests
/// registered as they are (names: the manifests' versions); the reference vectors the models' own output on the files
/// (<see cref="FolderPool"/>, the upload path's preprocessing).
/// </summary>
public sealed class FolderSystemSource : SystemSource
{
    private readonly IReadOnlyDictionary<string, string> _directories;
    private readonly string[] _itemIds;

    /// <param name="pool">The folder's readable images, embedded by every model (old first).</param>
    /// <param name="modelDirectories">The models' directories, in the pool's model order.</param>
    public FolderSystemSource(FolderPool pool, IReadOnlyList<string> modelDirectories)
    {
        ArgumentNullException.ThrowIfNull(pool);
        ArgumentNullException.ThrowIfNull(modelDirectories);
        if (modelDirectories.Count != pool.Models.Count) throw new ArgumentException($"{modelDirectories.Count} directories for {pool.Models.Count} models", nameof(modelDirectories));
        Pool = pool;
        _directories = pool.Models.Select((m, k) => (m.Version, Directory: modelDirectories[k])).ToDictionary(m => m.Version, m => m.Directory, StringComparer.Ordinal);
        _itemIds = FolderItemIds.Map(Enumerable.Range(0, pool.Count).Select(pool.ItemId).ToArray()).ToArray();
        FolderName = Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(pool.Images.Root)));
    }

    /// <summary>The folder's images and every model's vectors of them.</summary>
    public FolderPool Pool { get; }

    /// <summary>The folder's own name, as reports name it.</summary>
    public string FolderName { get; }

    /// <inheritdoc />
    public override int Count => Pool.Count;

    /// <inheritdoc />
    public override string ItemId(int index) => _itemIds[index];

    /// <summary>The file of image <paramref name="index"/> as a path under the folder ('/'-separated): what the item id was derived from.</summary>
    public string RelativePath(int index) => Pool.ItemId(index);

    /// <inheritdoc />
    public override int Label(int index) => Pool.Label(index);

    /// <inheritdoc />
    public override string LabelName(int index) => Pool.Images.LabelNames[Pool.Label(index)];

    /// <inheritdoc />
    public override byte[] ImageBytes(int index) => File.ReadAllBytes(Pool.Images.PathOf(Pool.Kept[index]));

    /// <inheritdoc />
    public override ImportedModel Model(string name)
    {
        if (!_directories.TryGetValue(name, out var directory)) throw new ArgumentException($"no model directory holds the version '{name}'", nameof(name));
        return new ImportedModel(
            File.ReadAllBytes(Path.Combine(directory, ModelZoo.ModelFileName)),
            ModelManifest.FromJson(File.ReadAllText(Path.Combine(directory, ModelZoo.ManifestFileName))));
    }

    /// <inheritdoc />
    public override EvaluationDataset Reference(string oldName, string newName, IReadOnlyList<SimulatedUser> users)
    {
        ArgumentNullException.ThrowIfNull(users);
        // The models are found by version, so the dataset's names are oldName and newName; the items go by their upload ids.
        return FolderEvaluation.Build(Pool, ModelIndex(oldName), ModelIndex(newName), users, Data + $", the running system's {users.Count} galleries", ItemId);
    }

    /// <inheritdoc />
    public override SystemSourceInfo Info => new(
        Data,
        "the folder pool's vectors (every image file embedded in the harness's process by each model's ONNX graph through the upload path's preprocessing, " +
        "as `indexer-eval folder` embeds them; a folder's models have no second implementation to compare with, unlike the zoo's heads)",
        "the folder pool's vectors");

    private string Data => Invariant($"{Pool.Count} images in {Pool.LabelCount} labels from the folder '{FolderName}'") +
        (Pool.Skipped.Count == 0 ? string.Empty : Invariant($" ({Pool.Skipped.Count} unreadable file(s) skipped)"));

    private int ModelIndex(string name)
    {
        for (var k = 0; k < Pool.Models.Count; k++)
        {
            if (Pool.Models[k].Version == name) return k;
        }

        throw new ArgumentException($"no model of the pool has the version '{name}'", nameof(name));
    }

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}

/// <summary>
/// Item ids for files of a folder: the gallery API takes 1 to <see cref="Ids.MaxLength"/> letters, digits, '.', '_', '-'
/// and ' ', starting with a letter or digit, so a relative path like "Sandal/00012.png" cannot be one. The id is the path
/// with every other character turned into '_' ("Sandal_00012.png"), as <c>indexer ingest</c> does; an id that would
/// start with another character gets an 'f' in front, a long one keeps its last characters, and an id that two paths
/// would share gets "-2", "-3", … (in path order), so that every file has its own id.
/// </summary>
public static class FolderItemIds
{
    /// <summary>One id per path, in the same order, all valid and distinct.</summary>
    public static IReadOnlyList<string> Map(IReadOnlyList<string> relativePaths)
    {
        ArgumentNullException.ThrowIfNull(relativePaths);
        var taken = new HashSet<string>(StringComparer.Ordinal);
        var ids = new string[relativePaths.Count];
        for (var i = 0; i < relativePaths.Count; i++)
        {
            var id = Id(relativePaths[i], string.Empty);
            for (var n = 2; !taken.Add(id); n++) id = Id(relativePaths[i], "-" + n.ToString(CultureInfo.InvariantCulture));
            if (!Ids.IsValid(id)) throw new InvalidOperationException($"'{relativePaths[i]}' maps to the invalid item id '{id}'");
            ids[i] = id;
        }

        return ids;
    }

    /// <summary>The id of one path with <paramref name="suffix"/> appended (before the limit is applied to the rest).</summary>
    private static string Id(string path, string suffix)
    {
        var id = new StringBuilder(path.Length + 1);
        foreach (var c in path) id.Append(char.IsLetterOrDigit(c) || c is '.' or '-' or '_' ? c : '_');
        var room = Ids.MaxLength - suffix.Length;
        var text = id.ToString();
        if (text.Length > room) text = text[^room..];
        if (text.Length == 0 || !char.IsLetterOrDigit(text[0])) text = "f" + (text.Length == room ? text[1..] : text);
        return text + suffix;
    }
}
