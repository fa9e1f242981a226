using SkiaSharp;

namespace Indexer.Embedding;

/// <summary>
/// A set of equally sized 8-bit grayscale images with class labels, stored contiguously so that
/// thousands of them cost one array. Used for demos and retrieval-quality checks.
/// </summary>
public sealed class LabeledImages
{
    private static readonly string[] _classNames =
    [
        "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
    ];

    /// <summary>Wraps row-major pixels (<paramref name="width"/> × <paramref name="height"/> per image) and one label per image.</summary>
    public LabeledImages(int width, int height, byte[] pixels, byte[] labels)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(width);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(height);
        ArgumentNullException.ThrowIfNull(pixels);
        ArgumentNullException.ThrowIfNull(labels);
        if (pixels.LongLength != (long)labels.Length * width * height)
        {
            throw new ArgumentException($"{pixels.LongLength} pixels do not make {labels.Length} images of {width}x{height}", nameof(pixels));
        }

        Width = width;
        Height = height;
        Pixels = pixels;
        Labels = labels;
    }

    /// <summary>Fashion-MNIST class names, indexed by label.</summary>
    public static IReadOnlyList<string> ClassNames => _classNames;

    /// <summary>Number of images.</summary>
    public int Count => Labels.Length;

    /// <summary>Image width in pixels.</summary>
    public int Width { get; }

    /// <summary>Image height in pixels.</summary>
    public int Height { get; }

    /// <summary>All images back to back, row-major, 0 = black.</summary>
    public byte[] Pixels { get; }

    /// <summary>Class label per image (0..9 for Fashion-MNIST).</summary>
    public byte[] Labels { get; }

    /// <summary>The pixels of image <paramref name="i"/>.</summary>
    public ReadOnlySpan<byte> Image(int i)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(i);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(i, Count);
        int size = Width * Height;
        return Pixels.AsSpan(i * size, size);
    }

    /// <summary>Class name of image <paramref name="i"/>, or the label number when it has no name.</summary>
    public string LabelName(int i)
    {
        int label = Labels[i];
        return label < _classNames.Length ? _classNames[label] : label.ToString(System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>Encodes image <paramref name="i"/> as a grayscale PNG so it can be ingested like an uploaded file.</summary>
    public byte[] EncodePng(int i)
    {
        var pixels = Image(i);
        var info = new SKImageInfo(Width, Height, SKColorType.Gray8, SKAlphaType.Opaque);
        using var image = SKImage.FromPixelCopy(info, pixels)
            ?? throw new InvalidOperationException("SkiaSharp could not wrap the grayscale pixels");
        using var data = image.Encode(SKEncodedImageFormat.Png, 100)
            ?? throw new InvalidOperationException("SkiaSharp could not encode the PNG");
        return data.ToArray();
    }
}
