using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using Indexer.Embedding;

namespace Indexer.Training;

/// <summary>
/// Embeds a labelled image set with the (frozen) backbone once and keeps the raw features in a small binary file, so
/// training and evaluation never run the backbone twice. Each file carries its key (dataset, selection, backbone
/// version and checksum, input size) and a SHA-256 of its contents; a file whose key or checksum disagrees is rebuilt.
/// </summary>
/// <param name="directory">Where the feature files live; created on first write.</param>
public sealed class BackboneFeatureCache(string directory)
{
    /// <summary>Extension of the feature files.</summary>
    public const string Extension = ".features";

    /// <summary>Images per backbone call.</summary>
    public const int DefaultBatchSize = 16;

    private const int FormatVersion = 1;
    private const int HashLength = 32;
    private static readonly byte[] _magic = "IXBF"u8.ToArray();

    /// <summary>The cache directory.</summary>
    public string Directory { get; } = directory ?? throw new ArgumentNullException(nameof(directory));

    /// <summary>
    /// The identity of a feature set: which images (<paramref name="dataset"/>, <paramref name="selection"/>) went through
    /// which backbone (version, source checksum, input size). Features are always the backbone's raw output.
    /// </summary>
    public static string KeyOf(string dataset, string selection, ModelManifest backbone)
    {
        ArgumentException.ThrowIfNullOrEmpty(dataset);
        ArgumentException.ThrowIfNullOrEmpty(selection);
        ArgumentNullException.ThrowIfNull(backbone);
        var source = backbone.Properties?.GetValueOrDefault("sourceSha256") ?? "unknown";
        return $"{dataset}|{selection}|{backbone.Version}|{source}|{backbone.InputWidth}x{backbone.InputHeight}|{backbone.OutputName}|raw";
    }

    /// <summary>The file a key is stored in: readable dataset and selection names plus a hash of the whole key.</summary>
    public string PathOf(string key)
    {
        ArgumentException.ThrowIfNullOrEmpty(key);
        var parts = key.Split('|');
        var readable = string.Join("-", parts.Take(2)).ToLowerInvariant();
        readable = new string(readable.Select(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' ? c : '_').ToArray());
        var hash = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key)))[..12];
        return Path.Combine(Directory, $"{readable}-{hash}{Extension}");
    }

    /// <summary>
    /// The features of <paramref name="indices"/> of <paramref name="images"/> under <paramref name="backbone"/>: read
    /// from the cache when a valid file exists, otherwise computed and written.
    /// </summary>
    /// <param name="dataset">Names the image set, e.g. "fashion-mnist-train".</param>
    /// <param name="selection">Names the choice of images, e.g. "first1200perclass".</param>
    /// <param name="images">The image set.</param>
    /// <param name="indices">The images to embed, in order.</param>
    /// <param name="backbone">The backbone model (its manifest's L2 setting is ignored: raw features are stored).</param>
    /// <param name="progress">Called with (done, total) after every batch of a computation.</param>
    /// <param name="log">Where to say whether the cache was hit.</param>
    public BackboneFeatures GetOrCreate(
        string dataset, string selection, LabeledImages images, IReadOnlyList<int> indices, ImportedModel backbone,
        Action<int, int>? progress = null, TextWriter? log = null)
    {
        ArgumentNullException.ThrowIfNull(images);
        ArgumentNullException.ThrowIfNull(indices);
        ArgumentNullException.ThrowIfNull(backbone);
        var key = KeyOf(dataset, selection, backbone.Manifest);
        var path = PathOf(key);
        if (File.Exists(path))
        {
            try
            {
                var cached = Load(path);
                if (cached.Key == key && cached.Count == indices.Count && cached.SourceIndices.AsSpan().SequenceEqual(indices.ToArray()))
                {
                    log?.WriteLine($"cache: {cached.Count} {dataset} features from {path}");
                    return cached;
                }

                log?.WriteLine($"cache: {path} holds other features; recomputing");
            }
            catch (InvalidDataException ex)
            {
                log?.WriteLine($"cache: {ex.Message}; recomputing");
            }
        }

        var stopwatch = Stopwatch.StartNew();
        var features = Embed(key, images, indices, backbone, progress);
        Save(path, features);
        log?.WriteLine($"cache: embedded {features.Count} {dataset} images in {stopwatch.Elapsed.TotalSeconds:0.0} s ({features.Count / stopwatch.Elapsed.TotalSeconds:0.0} img/s) -> {path}");
        return features;
    }

    /// <summary>
    /// Runs the backbone on the images, going through PNG exactly as an uploaded file would, and returns its raw output.
    /// </summary>
    public static BackboneFeatures Embed(string key, LabeledImages images, IReadOnlyList<int> indices, ImportedModel backbone, Action<int, int>? progress = null, int batchSize = DefaultBatchSize)
    {
        ArgumentNullException.ThrowIfNull(images);
        ArgumentNullException.ThrowIfNull(indices);
        ArgumentNullException.ThrowIfNull(backbone);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(batchSize);
        var manifest = backbone.Manifest with { L2Normalize = false };
        using var embedder = new OnnxEmbedder(backbone.Onnx, manifest, new EmbedderOptions(PreferGpu: false));
        var length = embedder.TensorLength;
        var dimension = embedder.Dimension;
        batchSize = Math.Min(batchSize, embedder.MaxBatch);
        var count = indices.Count;
        var features = new float[count * dimension];
        var labels = new int[count];
        var batch = new float[batchSize * length];
        for (var start = 0; start < count; start += batchSize)
        {
            var n = Math.Min(batchSize, count - start);
            Parallel.For(0, n, i =>
            {
                var png = images.EncodePng(indices[start + i]);
                ImageDecoder.Preprocess(png, manifest, ImageLimits.Default, batch.AsSpan(i * length, length));
            });
            embedder.Embed(batch.AsSpan(0, n * length), n, features.AsSpan(start * dimension, n * dimension));
            for (var i = 0; i < n; i++) labels[start + i] = images.Labels[indices[start + i]];
            progress?.Invoke(start + n, count);
        }

        return new BackboneFeatures(key, dimension, features, labels, indices.ToArray());
    }

    /// <summary>Writes a feature file: magic, format version, key, sizes, labels, source indices, features, SHA-256.</summary>
    public static void Save(string path, BackboneFeatures features)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentNullException.ThrowIfNull(features);
        System.IO.Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        var temporary = path + ".tmp";
        using (var file = File.Create(temporary))
        using (var hashing = new HashingStream(file))
        {
            using (var writer = new BinaryWriter(hashing, Encoding.UTF8, leaveOpen: true))
            {
                writer.Write(_magic);
                writer.Write(FormatVersion);
                writer.Write(features.Key);
                writer.Write(features.Dimension);
                writer.Write(features.Count);
                WriteInts(writer, features.Labels);
                WriteInts(writer, features.SourceIndices);
                var bytes = new byte[features.Features.Length * sizeof(float)];
                Buffer.BlockCopy(features.Features, 0, bytes, 0, bytes.Length);
                writer.Write(bytes);
            }

            file.Write(hashing.Hash());
        }

        File.Move(temporary, path, overwrite: true);
    }

    /// <summary>Reads a feature file written by <see cref="Save"/>.</summary>
    /// <exception cref="InvalidDataException">Not a feature file, another format version, truncated, or the checksum fails.</exception>
    public static BackboneFeatures Load(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        var bytes = File.ReadAllBytes(path);
        if (bytes.Length < _magic.Length + HashLength || !bytes.AsSpan(0, _magic.Length).SequenceEqual(_magic))
        {
            throw new InvalidDataException($"{path} is not a backbone feature file");
        }

        var payloadLength = bytes.Length - HashLength;
        if (!SHA256.HashData(bytes.AsSpan(0, payloadLength)).AsSpan().SequenceEqual(bytes.AsSpan(payloadLength)))
        {
            throw new InvalidDataException($"{path} fails its checksum (truncated or corrupted)");
        }

        try
        {
            using var reader = new BinaryReader(new MemoryStream(bytes, 0, payloadLength), Encoding.UTF8);
            reader.ReadBytes(_magic.Length);
            var format = reader.ReadInt32();
            if (format != FormatVersion) throw new InvalidDataException($"{path} has format version {format}; this build reads {FormatVersion}");
            var key = reader.ReadString();
            var dimension = reader.ReadInt32();
            var count = reader.ReadInt32();
            if (dimension <= 0 || count < 0 || (long)dimension * count * sizeof(float) > payloadLength)
            {
                throw new InvalidDataException($"{path} declares {count} rows of {dimension}, more than it holds");
            }

            var labels = ReadInts(reader, count);
            var sources = ReadInts(reader, count);
            var featureBytes = reader.ReadBytes(count * dimension * sizeof(float));
            if (featureBytes.Length != count * dimension * sizeof(float)) throw new EndOfStreamException();
            var features = new float[count * dimension];
            Buffer.BlockCopy(featureBytes, 0, features, 0, featureBytes.Length);
            return new BackboneFeatures(key, dimension, features, labels, sources);
        }
        catch (EndOfStreamException ex)
        {
            throw new InvalidDataException($"{path} is shorter than its header declares", ex);
        }
    }

    private static void WriteInts(BinaryWriter writer, int[] values)
    {
        var bytes = new byte[values.Length * sizeof(int)];
        Buffer.BlockCopy(values, 0, bytes, 0, bytes.Length);
        writer.Write(bytes);
    }

    private static int[] ReadInts(BinaryReader reader, int count)
    {
        var bytes = reader.ReadBytes(count * sizeof(int));
        if (bytes.Length != count * sizeof(int)) throw new EndOfStreamException();
        var values = new int[count];
        Buffer.BlockCopy(bytes, 0, values, 0, bytes.Length);
        return values;
    }

    /// <summary>Passes writes through to a file while hashing them, so the checksum costs no second pass.</summary>
    private sealed class HashingStream(Stream inner) : Stream
    {
        private readonly IncrementalHash _hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);

        public override bool CanRead => false;

        public override bool CanSeek => false;

        public override bool CanWrite => true;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public byte[] Hash() => _hash.GetHashAndReset();

        public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

        public override void Write(ReadOnlySpan<byte> buffer)
        {
            _hash.AppendData(buffer);
            inner.Write(buffer);
        }

        public override void Flush() => inner.Flush();

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            if (disposing) _hash.Dispose();
            base.Dispose(disposing);
        }
    }
}
