using System.Buffers.Binary;
using System.Globalization;
using SkiaSharp;

namespace Indexer.Embedding;

/// <summary>
/// Turns uploaded image bytes into model input tensors. All validation happens on the header first,
/// so oversized or hostile files are rejected before any pixel memory is allocated.
/// </summary>
public static class ImageDecoder
{
    private static readonly SKSamplingOptions _resizeSampling = new(SKFilterMode.Linear, SKMipmapMode.Linear);

    /// <summary>Number of floats one preprocessed image occupies: 3 × width × height.</summary>
    public static int TensorLength(ModelManifest m)
    {
        ArgumentNullException.ThrowIfNull(m);
        return 3 * m.InputWidth * m.InputHeight;
    }

    /// <summary>
    /// Cheap check without decoding pixels: format, dimensions and limits, and, for formats whose end can be checked
    /// from the bytes alone (PNG, WebP, GIF, BMP), that the file is complete. Use it at upload time to reject bad files
    /// before storing them. A truncated JPEG passes: JPEG files may legally carry data after their end marker (motion
    /// photos append a video), so only decoding tells; <see cref="Preprocess"/> rejects it.
    /// </summary>
    /// <exception cref="InvalidImageException">The image is empty, too large, of an unsupported format, corrupt, or outside the size limits.</exception>
    public static unsafe ImageInfo Probe(ReadOnlySpan<byte> bytes, ImageLimits limits)
    {
        ArgumentNullException.ThrowIfNull(limits);
        CheckByteCount(bytes.Length, limits);
        fixed (byte* data = bytes)
        {
            using var skData = SKData.Create((IntPtr)data, bytes.Length);
            using var codec = OpenCodec(skData, bytes);
            var info = CheckHeader(codec, limits).Info;
            if (!LooksComplete(codec.EncodedFormat, bytes)) throw Corrupt();
            return info;
        }
    }

    /// <summary>
    /// Bytes at the end of a PNG searched for its IEND chunk: some writers append a little data after it, and a file cut
    /// off anywhere before it has no IEND at all.
    /// </summary>
    private const int PngTrailerWindow = 1024;

    /// <summary>Whether the file reaches the end its format declares: PNG's IEND chunk, the stored size of RIFF (WebP) and BMP.</summary>
    private static bool LooksComplete(SKEncodedImageFormat format, ReadOnlySpan<byte> b) => format switch
    {
        // The last chunk: length 0, type IEND, CRC AE 42 60 82.
        SKEncodedImageFormat.Png => b[Math.Max(0, b.Length - PngTrailerWindow)..]
            .IndexOf((ReadOnlySpan<byte>)[0, 0, 0, 0, (byte)'I', (byte)'E', (byte)'N', (byte)'D', 0xAE, 0x42, 0x60, 0x82]) >= 0,
        SKEncodedImageFormat.Webp => b.Length >= 12 && (long)BinaryPrimitives.ReadUInt32LittleEndian(b[4..]) + 8 <= b.Length,
        SKEncodedImageFormat.Bmp => b.Length >= 6 && BinaryPrimitives.ReadUInt32LittleEndian(b[2..]) <= b.Length,
        _ => true,
    };

    /// <summary>
    /// Decodes the whole image, resizes it (ignoring aspect ratio) to the manifest's input size and
    /// writes planar CHW floats in the manifest's channel order: (pixel − Mean[c]) × Scale[c].
    /// Alpha is ignored; grayscale images yield three identical planes; EXIF orientation is applied.
    /// </summary>
    /// <exception cref="ArgumentException"><paramref name="destination"/> is not 3 × width × height long.</exception>
    /// <exception cref="InvalidImageException">The image cannot be decoded completely or violates the limits.</exception>
    public static unsafe void Preprocess(ReadOnlySpan<byte> bytes, ModelManifest manifest, ImageLimits limits, Span<float> destination)
    {
        ArgumentNullException.ThrowIfNull(manifest);
        ArgumentNullException.ThrowIfNull(limits);
        manifest.Validate();
        int targetWidth = manifest.InputWidth;
        int targetHeight = manifest.InputHeight;

        int expected = TensorLength(manifest);
        if (destination.Length != expected)
        {
            throw new ArgumentException(
                $"destination has {destination.Length} floats but the manifest needs 3x{targetWidth}x{targetHeight} = {expected}",
                nameof(destination));
        }

        CheckByteCount(bytes.Length, limits);
        fixed (byte* data = bytes)
        {
            using var skData = SKData.Create((IntPtr)data, bytes.Length);
            using var codec = OpenCodec(skData, bytes);
            var (_, origin) = CheckHeader(codec, limits);

            // For 90-degree orientations the stored image is transposed relative to what is displayed.
            bool transposed = origin >= SKEncodedOrigin.LeftTop;
            int storedWidth = transposed ? targetHeight : targetWidth;
            int storedHeight = transposed ? targetWidth : targetHeight;

            using var decoded = Decode(codec, storedWidth, storedHeight);
            if (decoded.Width == storedWidth && decoded.Height == storedHeight)
            {
                WritePlanes(decoded.GetPixelSpan(), storedWidth, storedHeight, origin, manifest, destination);
                return;
            }

            var resizedInfo = new SKImageInfo(storedWidth, storedHeight, SKColorType.Rgba8888, SKAlphaType.Unpremul);
            using var resized = decoded.Resize(resizedInfo, _resizeSampling)
                ?? throw new InvalidImageException(ImageRejection.Corrupt, "image could not be resized");
            WritePlanes(resized.GetPixelSpan(), storedWidth, storedHeight, origin, manifest, destination);
        }
    }

    private static SKBitmap Decode(SKCodec codec, int storedWidth, int storedHeight)
    {
        // JPEG and WebP can decode at a reduced scale, which is several times faster for photos.
        // Pick the smallest scale whose result still covers the target so the final resize only shrinks.
        var size = codec.Info.Size;
        for (int eighths = 1; eighths < 8; eighths++)
        {
            var scaled = codec.GetScaledDimensions(eighths / 8f);
            if (scaled.Width >= storedWidth && scaled.Height >= storedHeight && scaled.Width > 0 && scaled.Height > 0)
            {
                size = scaled;
                break;
            }
        }

        var info = new SKImageInfo(size.Width, size.Height, SKColorType.Rgba8888, SKAlphaType.Unpremul);
        var bitmap = new SKBitmap();
        try
        {
            if (!bitmap.TryAllocPixels(info))
            {
                throw new InvalidImageException(ImageRejection.TooManyPixels, "image is too large to decode");
            }

            var result = codec.GetPixels(info, bitmap.GetPixels());
            if (result != SKCodecResult.Success)
            {
                // IncompleteInput would otherwise yield a partially grey image; never embed that.
                throw Corrupt();
            }

            return bitmap;
        }
        catch
        {
            bitmap.Dispose();
            throw;
        }
    }

    private static void WritePlanes(
        ReadOnlySpan<byte> rgba,
        int storedWidth,
        int storedHeight,
        SKEncodedOrigin origin,
        ModelManifest manifest,
        Span<float> destination)
    {
        int planeSize = storedWidth * storedHeight;
        bool bgr = manifest.ChannelOrder == ChannelOrder.Bgr;
        var plane0 = destination[..planeSize];
        var plane1 = destination.Slice(planeSize, planeSize);
        var plane2 = destination.Slice(2 * planeSize, planeSize);
        var redPlane = bgr ? plane2 : plane0;
        var bluePlane = bgr ? plane0 : plane2;
        int redChannel = bgr ? 2 : 0;
        int blueChannel = bgr ? 0 : 2;
        float redMean = manifest.Mean[redChannel], redScale = manifest.Scale[redChannel];
        float greenMean = manifest.Mean[1], greenScale = manifest.Scale[1];
        float blueMean = manifest.Mean[blueChannel], blueScale = manifest.Scale[blueChannel];

        if (origin == SKEncodedOrigin.TopLeft)
        {
            for (int i = 0, p = 0; i < planeSize; i++, p += 4)
            {
                redPlane[i] = (rgba[p] - redMean) * redScale;
                plane1[i] = (rgba[p + 1] - greenMean) * greenScale;
                bluePlane[i] = (rgba[p + 2] - blueMean) * blueScale;
            }

            return;
        }

        bool transposed = origin >= SKEncodedOrigin.LeftTop;
        int displayWidth = transposed ? storedHeight : storedWidth;
        int displayHeight = transposed ? storedWidth : storedHeight;
        for (int y = 0; y < displayHeight; y++)
        {
            for (int x = 0; x < displayWidth; x++)
            {
                var (sx, sy) = origin switch
                {
                    SKEncodedOrigin.TopRight => (storedWidth - 1 - x, y),
                    SKEncodedOrigin.BottomRight => (storedWidth - 1 - x, storedHeight - 1 - y),
                    SKEncodedOrigin.BottomLeft => (x, storedHeight - 1 - y),
                    SKEncodedOrigin.LeftTop => (y, x),
                    SKEncodedOrigin.RightTop => (y, storedHeight - 1 - x),
                    SKEncodedOrigin.RightBottom => (storedWidth - 1 - y, storedHeight - 1 - x),
                    SKEncodedOrigin.LeftBottom => (storedWidth - 1 - y, x),
                    _ => (x, y),
                };
                int p = ((sy * storedWidth) + sx) * 4;
                int i = (y * displayWidth) + x;
                redPlane[i] = (rgba[p] - redMean) * redScale;
                plane1[i] = (rgba[p + 1] - greenMean) * greenScale;
                bluePlane[i] = (rgba[p + 2] - blueMean) * blueScale;
            }
        }
    }

    private static void CheckByteCount(int length, ImageLimits limits)
    {
        if (length == 0)
        {
            throw new InvalidImageException(ImageRejection.Empty, "image is empty (0 bytes)");
        }

        if (length > limits.MaxBytes)
        {
            throw new InvalidImageException(
                ImageRejection.TooLarge,
                $"image is {FormatBytes(length)}; the limit is {FormatBytes(limits.MaxBytes)}");
        }
    }

    private static SKCodec OpenCodec(SKData data, ReadOnlySpan<byte> bytes)
    {
        var codec = SKCodec.Create(data);
        if (codec is null)
        {
            // Skia refuses both garbage and files cut off inside the header; tell the user which one it is.
            throw HasKnownSignature(bytes) ? Corrupt() : Unsupported();
        }

        if (FormatName(codec.EncodedFormat) is null)
        {
            codec.Dispose();
            throw Unsupported();
        }

        return codec;
    }

    private static (ImageInfo Info, SKEncodedOrigin Origin) CheckHeader(SKCodec codec, ImageLimits limits)
    {
        var size = codec.Info.Size;
        var origin = codec.EncodedOrigin;
        if (origin < SKEncodedOrigin.TopLeft || origin > SKEncodedOrigin.LeftBottom)
        {
            origin = SKEncodedOrigin.TopLeft;
        }

        long pixels = (long)size.Width * size.Height;
        if (pixels > limits.MaxPixels)
        {
            throw new InvalidImageException(
                ImageRejection.TooManyPixels,
                string.Create(
                    CultureInfo.InvariantCulture,
                    $"image is {size.Width}x{size.Height} = {pixels / 1e6:0.0} megapixels; the limit is {limits.MaxPixels / 1e6:0.##} megapixels"));
        }

        if (size.Width < limits.MinSide || size.Height < limits.MinSide)
        {
            throw new InvalidImageException(
                ImageRejection.TooSmall,
                $"image is {size.Width}x{size.Height}; both sides must be at least {limits.MinSide} pixels");
        }

        bool transposed = origin >= SKEncodedOrigin.LeftTop;
        var info = transposed
            ? new ImageInfo(size.Height, size.Width, FormatName(codec.EncodedFormat)!)
            : new ImageInfo(size.Width, size.Height, FormatName(codec.EncodedFormat)!);
        return (info, origin);
    }

    private static string? FormatName(SKEncodedImageFormat format) => format switch
    {
        SKEncodedImageFormat.Jpeg => "JPEG",
        SKEncodedImageFormat.Png => "PNG",
        SKEncodedImageFormat.Webp => "WebP",
        SKEncodedImageFormat.Gif => "GIF",
        SKEncodedImageFormat.Bmp => "BMP",
        _ => null,
    };

    private static bool HasKnownSignature(ReadOnlySpan<byte> b) =>
        b.StartsWith((ReadOnlySpan<byte>)[0xFF, 0xD8, 0xFF])
        || b.StartsWith((ReadOnlySpan<byte>)[0x89, (byte)'P', (byte)'N', (byte)'G'])
        || b.StartsWith("GIF8"u8)
        || b.StartsWith("BM"u8)
        || (b.StartsWith("RIFF"u8) && b.Length >= 12 && b.Slice(8, 4).SequenceEqual("WEBP"u8));

    private static InvalidImageException Corrupt() =>
        new(ImageRejection.Corrupt, "image is truncated or corrupt");

    private static InvalidImageException Unsupported() =>
        new(ImageRejection.UnsupportedFormat, "not a supported image format (JPEG, PNG, WebP, GIF, BMP)");

    private static string FormatBytes(long bytes) =>
        bytes >= 1024 * 1024
            ? string.Create(CultureInfo.InvariantCulture, $"{bytes / (1024.0 * 1024.0):0.#} MiB")
            : string.Create(CultureInfo.InvariantCulture, $"{bytes} bytes");
}
