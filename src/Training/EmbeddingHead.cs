using System.Numerics.Tensors;
using System.Security.Cryptography;
using System.Text;
using Indexer.Embedding;

namespace Indexer.Training;

/// <summary>
/// A classifier stored with a head: unit rows, the scale on the cosines and the dataset label of each row.
/// </summary>
/// <param name="ClassLabels">The dataset label each row stands for.</param>
/// <param name="Rows">Unit rows, classes x dimension, row-major.</param>
/// <param name="Scale">s, the factor on the cosine logits.</param>
public sealed record HeadClassifier(int[] ClassLabels, float[] Rows, float Scale)
{
    /// <summary>Number of rows.</summary>
    public int Classes => ClassLabels.Length;
}

/// <summary>
/// An exported head exactly as the ONNX model computes it on top of the backbone: optional L2 normalisation of the
/// backbone feature, the dense layers, L2 normalisation of the result. <see cref="Embed(ReadOnlySpan{float}, int)"/> turns cached backbone features
/// (raw or L2-normalised, when <see cref="NormalizeInput"/>) into the model version's embeddings without ONNX Runtime;
/// <see cref="Save"/>/<see cref="Load"/> read and write the <c>head.bin</c> sidecar next to <c>model.onnx</c>.
/// </summary>
public sealed class EmbeddingHead
{
    /// <summary>The sidecar's file name in a version directory.</summary>
    public const string FileName = "head.bin";

    private const int FormatVersion = 1;
    private static readonly byte[] _magic = "IXHD"u8.ToArray();

    /// <summary>A head over <paramref name="layers"/>; the first layer's input width is the backbone dimension.</summary>
    public EmbeddingHead(IReadOnlyList<DenseLayer> layers, bool normalizeInput, HeadClassifier? classifier = null)
    {
        ArgumentNullException.ThrowIfNull(layers);
        if (layers.Count == 0) throw new ArgumentException("a head needs at least one layer", nameof(layers));
        var d = layers[0].InputDimension;
        foreach (var layer in layers)
        {
            layer.Validate();
            if (layer.InputDimension != d) throw new ArgumentException("the layers' dimensions do not chain", nameof(layers));
            d = layer.OutputDimension;
        }

        if (classifier is not null && classifier.Rows.Length != classifier.Classes * d)
        {
            throw new ArgumentException($"the classifier must hold {classifier.Classes} rows of {d}", nameof(classifier));
        }

        Layers = layers.ToArray();
        NormalizeInput = normalizeInput;
        Classifier = classifier;
    }

    /// <summary>
    /// The exportable form of a trained head: the input standardisation folded into the first layer, L2 normalisation
    /// of the backbone feature in front, and the trained classifier's unit rows labelled with <paramref name="classLabels"/>.
    /// </summary>
    public static EmbeddingHead FromTrained(TrainedHead trained, FeatureStandardizer standardizer, IReadOnlyList<int> classLabels)
    {
        ArgumentNullException.ThrowIfNull(trained);
        ArgumentNullException.ThrowIfNull(standardizer);
        ArgumentNullException.ThrowIfNull(classLabels);
        if (classLabels.Count != trained.Classifier.Classes) throw new ArgumentException("one dataset label per classifier row is needed", nameof(classLabels));
        var layers = trained.Network.Layers.Select(l => l.ToDenseLayer()).ToList();
        layers[0] = standardizer.Fold(layers[0]);
        var classifier = new HeadClassifier(classLabels.ToArray(), trained.Classifier.NormalizedRows(), trained.Classifier.Scale);
        return new EmbeddingHead(layers, normalizeInput: true, classifier);
    }

    /// <summary>The backbone feature width the head takes.</summary>
    public int InputDimension => Layers[0].InputDimension;

    /// <summary>The embedding dimension.</summary>
    public int OutputDimension => Layers[^1].OutputDimension;

    /// <summary>The dense layers in order, with any input standardisation already folded in.</summary>
    public IReadOnlyList<DenseLayer> Layers { get; }

    /// <summary>Whether the backbone feature is L2-normalised before the first layer (then raw and normalised features give the same embedding).</summary>
    public bool NormalizeInput { get; }

    /// <summary>The classifier the head was trained with, if stored.</summary>
    public HeadClassifier? Classifier { get; }

    /// <summary>The unit embeddings (count x <see cref="OutputDimension"/>) of <paramref name="count"/> backbone features.</summary>
    public float[] Embed(ReadOnlySpan<float> backboneFeatures, int count)
    {
        var result = new float[count * OutputDimension];
        Embed(backboneFeatures, count, result);
        return result;
    }

    /// <summary>Writes the unit embeddings of <paramref name="count"/> backbone features to <paramref name="destination"/>.</summary>
    public void Embed(ReadOnlySpan<float> backboneFeatures, int count, Span<float> destination)
    {
        if (backboneFeatures.Length != count * InputDimension) throw new ArgumentException($"{count} rows of {InputDimension} floats are needed", nameof(backboneFeatures));
        if (destination.Length != count * OutputDimension) throw new ArgumentException($"{count} rows of {OutputDimension} floats are needed", nameof(destination));
        var h = backboneFeatures.ToArray();
        if (NormalizeInput) BatchMath.NormalizeRows(h, count, InputDimension);
        foreach (var layer in Layers)
        {
            var next = new float[count * layer.OutputDimension];
            BatchMath.Multiply(h, layer.Weights, layer.Bias ?? ReadOnlyMemory<float>.Empty, next, count, layer.InputDimension, layer.OutputDimension);
            if (layer.Relu) TensorPrimitives.Max(next, 0f, next);
            h = next;
        }

        BatchMath.NormalizeRows(h, count, OutputDimension);
        h.CopyTo(destination);
    }

    /// <summary>The stored classifier's predicted dataset label for each unit embedding.</summary>
    /// <exception cref="InvalidOperationException">No classifier is stored.</exception>
    public int[] Classify(ReadOnlySpan<float> embeddings, int count)
    {
        var classifier = Classifier ?? throw new InvalidOperationException("this head was saved without its classifier");
        if (embeddings.Length != count * OutputDimension) throw new ArgumentException($"{count} rows of {OutputDimension} floats are needed", nameof(embeddings));
        var labels = new int[count];
        var scores = new float[classifier.Classes];
        for (var r = 0; r < count; r++)
        {
            var u = embeddings.Slice(r * OutputDimension, OutputDimension);
            for (var c = 0; c < scores.Length; c++) scores[c] = TensorPrimitives.Dot(u, classifier.Rows.AsSpan(c * OutputDimension, OutputDimension));
            labels[r] = classifier.ClassLabels[TensorPrimitives.IndexOfMax(scores)];
        }

        return labels;
    }

    /// <summary>Loads <c>head.bin</c> from a version directory of the zoo.</summary>
    public static EmbeddingHead LoadFromDirectory(string versionDirectory) => Load(Path.Combine(versionDirectory, FileName));

    /// <summary>Writes the sidecar: a header, the layers, the classifier and a SHA-256 of all of it.</summary>
    public void Save(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        using var buffer = new MemoryStream();
        using (var writer = new BinaryWriter(buffer, Encoding.UTF8, leaveOpen: true))
        {
            writer.Write(_magic);
            writer.Write(FormatVersion);
            writer.Write((NormalizeInput ? 1 : 0) | (Classifier is null ? 0 : 2));
            writer.Write(Layers.Count);
            foreach (var layer in Layers)
            {
                writer.Write(layer.InputDimension);
                writer.Write(layer.OutputDimension);
                writer.Write(layer.Relu);
                writer.Write(layer.Bias is not null);
                WriteFloats(writer, layer.Weights);
                if (layer.Bias is not null) WriteFloats(writer, layer.Bias);
            }

            if (Classifier is not null)
            {
                writer.Write(Classifier.Classes);
                writer.Write(Classifier.Scale);
                foreach (var label in Classifier.ClassLabels) writer.Write(label);
                WriteFloats(writer, Classifier.Rows);
            }
        }

        var payload = buffer.ToArray();
        var directory = Path.GetDirectoryName(Path.GetFullPath(path))!;
        Directory.CreateDirectory(directory);
        var temporary = path + ".tmp";
        using (var file = File.Create(temporary))
        {
            file.Write(payload);
            file.Write(SHA256.HashData(payload));
        }

        File.Move(temporary, path, overwrite: true);
    }

    /// <summary>Reads a sidecar written by <see cref="Save"/>.</summary>
    /// <exception cref="InvalidDataException">The file is not a head sidecar, is of another format version, is truncated or fails its checksum.</exception>
    public static EmbeddingHead Load(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        var bytes = File.ReadAllBytes(path);
        const int hashLength = 32;
        if (bytes.Length < _magic.Length + hashLength || !bytes.AsSpan(0, _magic.Length).SequenceEqual(_magic))
        {
            throw new InvalidDataException($"{path} is not an embedding-head file");
        }

        var payload = bytes.AsSpan(0, bytes.Length - hashLength);
        if (!SHA256.HashData(payload).AsSpan().SequenceEqual(bytes.AsSpan(bytes.Length - hashLength)))
        {
            throw new InvalidDataException($"{path} fails its checksum (truncated or corrupted)");
        }

        try
        {
            using var reader = new BinaryReader(new MemoryStream(bytes, 0, payload.Length), Encoding.UTF8);
            reader.ReadBytes(_magic.Length);
            var format = reader.ReadInt32();
            if (format != FormatVersion) throw new InvalidDataException($"{path} has format version {format}; this build reads {FormatVersion}");
            var flags = reader.ReadInt32();
            var layerCount = reader.ReadInt32();
            if (layerCount is <= 0 or > 64) throw new InvalidDataException($"{path} declares {layerCount} layers");
            var layers = new List<DenseLayer>(layerCount);
            for (var i = 0; i < layerCount; i++)
            {
                var input = reader.ReadInt32();
                var output = reader.ReadInt32();
                var relu = reader.ReadBoolean();
                var hasBias = reader.ReadBoolean();
                if (input <= 0 || output <= 0 || (long)input * output > 1 << 26) throw new InvalidDataException($"{path} declares a {input} x {output} layer");
                var weights = ReadFloats(reader, input * output);
                var bias = hasBias ? ReadFloats(reader, output) : null;
                layers.Add(new DenseLayer(input, output, weights, bias, relu));
            }

            HeadClassifier? classifier = null;
            if ((flags & 2) != 0)
            {
                var classes = reader.ReadInt32();
                if (classes is <= 0 or > 1 << 16) throw new InvalidDataException($"{path} declares {classes} classes");
                var scale = reader.ReadSingle();
                var labels = new int[classes];
                for (var c = 0; c < classes; c++) labels[c] = reader.ReadInt32();
                classifier = new HeadClassifier(labels, ReadFloats(reader, classes * layers[^1].OutputDimension), scale);
            }

            return new EmbeddingHead(layers, (flags & 1) != 0, classifier);
        }
        catch (EndOfStreamException ex)
        {
            throw new InvalidDataException($"{path} is shorter than its header declares", ex);
        }
        catch (ArgumentException ex)
        {
            throw new InvalidDataException($"{path} holds an invalid head: {ex.Message}", ex);
        }
    }

    /// <summary>The ONNX model of this head on top of <paramref name="backbone"/>, through <see cref="ModelDerivation.AppendHead"/>.</summary>
    public ImportedModel AppendTo(ImportedModel backbone, string version, string? lineage, string description, IReadOnlyDictionary<string, string>? properties = null)
    {
        ArgumentNullException.ThrowIfNull(backbone);
        return ModelDerivation.AppendHead(backbone, Layers, version, lineage, description, properties, NormalizeInput);
    }

    private static void WriteFloats(BinaryWriter writer, float[] values)
    {
        var bytes = new byte[values.Length * sizeof(float)];
        Buffer.BlockCopy(values, 0, bytes, 0, bytes.Length); // little-endian, as on every platform .NET runs on here
        writer.Write(bytes);
    }

    private static float[] ReadFloats(BinaryReader reader, int count)
    {
        var bytes = reader.ReadBytes(count * sizeof(float));
        if (bytes.Length != count * sizeof(float)) throw new EndOfStreamException();
        var values = new float[count];
        Buffer.BlockCopy(bytes, 0, values, 0, bytes.Length);
        return values;
    }
}
