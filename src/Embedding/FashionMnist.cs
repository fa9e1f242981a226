using System.Buffers.Binary;
using System.IO.Compression;

namespace Indexer.Embedding;

/// <summary>
/// Reads Fashion-MNIST (Zalando's 28×28 grayscale clothing images) from its IDX files. It is the
/// demo and evaluation dataset: labelled, small, and installable as a Debian package.
/// </summary>
public static class FashionMnist
{
    /// <summary>
    /// Install location of Debian's <c>dataset-fashion-mnist</c> package; pass another directory
    /// when the files were downloaded elsewhere.
    /// </summary>
    public const string DefaultDirectory = "/usr/share/datasets/fashion-mnist";

    private const int ImageMagic = 0x803;
    private const int LabelMagic = 0x801;
    private const int ClassCount = 10;

    /// <summary>
    /// Loads one split. Files may be gzipped (<c>*-ubyte.gz</c>, as shipped) or plain (<c>*-ubyte</c>).
    /// </summary>
    /// <param name="directory">Folder holding the four IDX files.</param>
    /// <param name="split">Train or test.</param>
    /// <param name="limit">Read only the first images; decompression stops early.</param>
    /// <exception cref="FileNotFoundException">An IDX file is missing.</exception>
    /// <exception cref="InvalidDataException">A file has a wrong magic number, inconsistent counts or out-of-range labels.</exception>
    public static LabeledImages Load(string directory, FashionMnistSplit split, int? limit = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        if (limit is < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(limit), limit, "limit must not be negative");
        }

        var prefix = split == FashionMnistSplit.Train ? "train" : "t10k";
        using var images = Open(directory, $"{prefix}-images-idx3-ubyte");
        using var labels = Open(directory, $"{prefix}-labels-idx1-ubyte");

        Span<byte> header = stackalloc byte[16];
        ReadExactly(images.Stream, header, images.Name);
        CheckMagic(header, ImageMagic, images.Name);
        int imageCount = ReadCount(header[4..], images.Name);
        int height = ReadCount(header[8..], images.Name);
        int width = ReadCount(header[12..], images.Name);

        ReadExactly(labels.Stream, header[..8], labels.Name);
        CheckMagic(header, LabelMagic, labels.Name);
        int labelCount = ReadCount(header[4..], labels.Name);
        if (labelCount != imageCount)
        {
            throw new InvalidDataException($"{images.Name} holds {imageCount} images but {labels.Name} holds {labelCount} labels");
        }

        if (width <= 0 || height <= 0 || (long)width * height > 1 << 20)
        {
            throw new InvalidDataException($"{images.Name} declares implausible image size {width}x{height}");
        }

        int count = Math.Min(imageCount, limit ?? int.MaxValue);
        var pixels = new byte[(long)count * width * height];
        var labelBytes = new byte[count];
        ReadExactly(images.Stream, pixels, images.Name);
        ReadExactly(labels.Stream, labelBytes, labels.Name);
        int bad = labelBytes.AsSpan().IndexOfAnyExceptInRange((byte)0, (byte)(ClassCount - 1));
        if (bad >= 0)
        {
            throw new InvalidDataException($"{labels.Name} has label {labelBytes[bad]} at index {bad}; expected 0..{ClassCount - 1}");
        }

        return new LabeledImages(width, height, pixels, labelBytes);
    }

    private static IdxFile Open(string directory, string baseName)
    {
        var gz = Path.Combine(directory, baseName + ".gz");
        if (File.Exists(gz))
        {
            var file = File.OpenRead(gz);
            return new IdxFile(gz, new BufferedStream(new GZipStream(file, CompressionMode.Decompress), 1 << 16));
        }

        var plain = Path.Combine(directory, baseName);
        if (File.Exists(plain))
        {
            return new IdxFile(plain, File.OpenRead(plain));
        }

        throw new FileNotFoundException(
            $"Fashion-MNIST file {baseName}.gz not found in {directory} (install the dataset-fashion-mnist package or point to a folder holding the IDX files)",
            gz);
    }

    private static void CheckMagic(ReadOnlySpan<byte> header, int expected, string name)
    {
        int magic = BinaryPrimitives.ReadInt32BigEndian(header);
        if (magic != expected)
        {
            throw new InvalidDataException($"{name} has magic number 0x{magic:X8}; expected 0x{expected:X8} (is this an IDX file?)");
        }
    }

    private static int ReadCount(ReadOnlySpan<byte> bytes, string name)
    {
        int value = BinaryPrimitives.ReadInt32BigEndian(bytes);
        return value >= 0 ? value : throw new InvalidDataException($"{name} declares a negative size {value}");
    }

    private static void ReadExactly(Stream stream, Span<byte> buffer, string name)
    {
        try
        {
            stream.ReadExactly(buffer);
        }
        catch (EndOfStreamException ex)
        {
            throw new InvalidDataException($"{name} is shorter than its header declares", ex);
        }
    }

    private sealed class IdxFile(string name, Stream stream) : IDisposable
    {
        public string Name { get; } = Path.GetFileName(name);

        public Stream Stream { get; } = stream;

        public void Dispose() => Stream.Dispose();
    }
}
