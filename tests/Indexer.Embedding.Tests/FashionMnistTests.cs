using System.Buffers.Binary;
using System.IO.Compression;
using SkiaSharp;

namespace Indexer.Embedding.Tests;

public sealed class FashionMnistTests : IDisposable
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), $"fmnist-test-{Guid.NewGuid():N}");

    public FashionMnistTests() => Directory.CreateDirectory(_directory);

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Fact]
    [Trait("Category", "Model")]
    public void Load_TestSplitFromDebianPackage_Has10000BalancedImages()
    {
        var images = FashionMnist.Load(FashionMnist.DefaultDirectory, FashionMnistSplit.Test);

        Assert.Equal(10000, images.Count);
        Assert.Equal((28, 28), (images.Width, images.Height));
        Assert.Equal(10000 * 28 * 28, images.Pixels.Length);
        Assert.All(images.Labels.GroupBy(l => l), g => Assert.Equal(1000, g.Count()));
        Assert.Equal(Enumerable.Range(0, 10).Select(i => (byte)i), images.Labels.Distinct().Order());
    }

    [Fact]
    [Trait("Category", "Model")]
    public void Load_WithLimit_ReadsOnlyThePrefix()
    {
        var all = FashionMnist.Load(FashionMnist.DefaultDirectory, FashionMnistSplit.Train, limit: 500);

        Assert.Equal(500, all.Count);
        Assert.Equal(500 * 784, all.Pixels.Length);
    }

    [Fact]
    public void Load_FromGzippedAndPlainFiles_ReadsPixelsAndLabels()
    {
        WriteIdx("t10k-images-idx3-ubyte.gz", 0x803, [3, 2, 2], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12], gzip: true);
        WriteIdx("t10k-labels-idx1-ubyte", 0x801, [3], [9, 0, 4], gzip: false);

        var images = FashionMnist.Load(_directory, FashionMnistSplit.Test);

        Assert.Equal(3, images.Count);
        Assert.Equal(new byte[] { 5, 6, 7, 8 }, images.Image(1).ToArray());
        Assert.Equal("Ankle boot", images.LabelName(0));
        Assert.Equal("Coat", images.LabelName(2));
    }

    [Fact]
    public void Load_WhenFilesAreMissing_ThrowsFileNotFound()
    {
        var ex = Assert.Throws<FileNotFoundException>(() => FashionMnist.Load(_directory, FashionMnistSplit.Train));

        Assert.Contains("train-images-idx3-ubyte.gz", ex.Message);
    }

    [Fact]
    public void Load_WhenMagicIsWrong_ThrowsInvalidData()
    {
        WriteIdx("train-images-idx3-ubyte.gz", 0x801, [1, 2, 2], [1, 2, 3, 4], gzip: true);
        WriteIdx("train-labels-idx1-ubyte.gz", 0x801, [1], [0], gzip: true);

        var ex = Assert.Throws<InvalidDataException>(() => FashionMnist.Load(_directory, FashionMnistSplit.Train));

        Assert.Contains("magic", ex.Message);
    }

    [Fact]
    public void Load_WhenFileIsShorterThanDeclared_ThrowsInvalidData()
    {
        WriteIdx("train-images-idx3-ubyte.gz", 0x803, [5, 2, 2], [1, 2, 3, 4], gzip: true);
        WriteIdx("train-labels-idx1-ubyte.gz", 0x801, [5], [0, 1, 2, 3, 4], gzip: true);

        Assert.Throws<InvalidDataException>(() => FashionMnist.Load(_directory, FashionMnistSplit.Train));
    }

    [Fact]
    public void Load_WhenLabelIsOutOfRange_ThrowsInvalidData()
    {
        WriteIdx("train-images-idx3-ubyte.gz", 0x803, [1, 1, 1], [7], gzip: true);
        WriteIdx("train-labels-idx1-ubyte.gz", 0x801, [1], [10], gzip: true);

        Assert.Throws<InvalidDataException>(() => FashionMnist.Load(_directory, FashionMnistSplit.Train));
    }

    [Fact]
    public void EncodePng_ProducesGrayscalePngWithSamePixels()
    {
        var pixels = Enumerable.Range(0, 2 * 28 * 28).Select(i => (byte)(i * 7)).ToArray();
        var images = new LabeledImages(28, 28, pixels, [3, 8]);

        var png = images.EncodePng(1);

        Assert.Equal(0, png[25]); // IHDR colour type 0 = grayscale
        Assert.Equal(new ImageInfo(28, 28, "PNG"), ImageDecoder.Probe(png, ImageLimits.Default));
        using var decoded = SKBitmap.Decode(png);
        for (int y = 0; y < 28; y++)
        {
            for (int x = 0; x < 28; x++)
            {
                Assert.Equal(images.Image(1)[(y * 28) + x], decoded.GetPixel(x, y).Red);
            }
        }
    }

    [Fact]
    public void ClassNames_AreTheTenFashionMnistClasses() =>
        Assert.Equal(
            ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"],
            LabeledImages.ClassNames);

    private void WriteIdx(string name, int magic, int[] dims, byte[] data, bool gzip)
    {
        using var file = File.Create(Path.Combine(_directory, name));
        using Stream stream = gzip ? new GZipStream(file, CompressionLevel.Fastest) : file;
        Span<byte> word = stackalloc byte[4];
        BinaryPrimitives.WriteInt32BigEndian(word, magic);
        stream.Write(word);
        foreach (var d in dims)
        {
            BinaryPrimitives.WriteInt32BigEndian(word, d);
            stream.Write(word);
        }

        stream.Write(data);
    }
}
