using SkiaSharp;

namespace Indexer.Embedding.Tests;

public sealed class ImageDecoderTests
{
    private static readonly ModelManifest _rgb = new(
        "test-rgb", "input", "output", 32, 24, ChannelOrder.Rgb, [0f, 0f, 0f], [1f, 1f, 1f], 4, true);

    private static readonly ModelManifest _bgr = _rgb with { Version = "test-bgr", ChannelOrder = ChannelOrder.Bgr };

    [Fact]
    public void Probe_ForPng_ReturnsSizeAndFormat()
    {
        var png = TestImages.Solid(64, 48, SKColors.Red, SKEncodedImageFormat.Png);

        var info = ImageDecoder.Probe(png, ImageLimits.Default);

        Assert.Equal(new ImageInfo(64, 48, "PNG"), info);
    }

    [Theory]
    [InlineData(SKEncodedImageFormat.Jpeg, "JPEG")]
    [InlineData(SKEncodedImageFormat.Webp, "WebP")]
    public void Probe_ForEncodedImage_ReturnsFormat(SKEncodedImageFormat format, string expected)
    {
        var bytes = TestImages.Solid(40, 30, SKColors.Blue, format);

        Assert.Equal(new ImageInfo(40, 30, expected), ImageDecoder.Probe(bytes, ImageLimits.Default));
    }

    [Fact]
    public void Probe_ForBmp_ReturnsFormat() =>
        Assert.Equal(new ImageInfo(20, 10, "BMP"), ImageDecoder.Probe(TestImages.Bmp(20, 10, 1, 2, 3), ImageLimits.Default));

    [Fact]
    public void Probe_ForGif_ReturnsFormat()
    {
        // The classic 43-byte 1x1 GIF; Skia cannot encode GIF, so it is inlined.
        var gif = Convert.FromBase64String("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7");

        Assert.Equal(new ImageInfo(1, 1, "GIF"), ImageDecoder.Probe(gif, new ImageLimits(MinSide: 1)));
        Assert.Equal(ImageRejection.TooSmall, Assert.Throws<InvalidImageException>(() => ImageDecoder.Probe(gif, ImageLimits.Default)).Kind);
    }

    [Fact]
    public void Preprocess_WhenPngIsTransparent_IgnoresAlpha()
    {
        using var bitmap = new SKBitmap(new SKImageInfo(64, 48, SKColorType.Rgba8888, SKAlphaType.Unpremul));
        for (int y = 0; y < 48; y++)
        {
            for (int x = 0; x < 64; x++)
            {
                bitmap.SetPixel(x, y, new SKColor(255, 0, 0, 0)); // red, fully transparent, stored unpremultiplied
            }
        }

        using var image = SKImage.FromBitmap(bitmap);
        var png = image.Encode(SKEncodedImageFormat.Png, 100).ToArray();
        var tensor = new float[ImageDecoder.TensorLength(_rgb)];

        ImageDecoder.Preprocess(png, _rgb, ImageLimits.Default, tensor);

        Assert.Equal((255f, 0f, 0f), PlaneAverages(tensor, _rgb));
    }

    [Fact]
    public void Probe_WhenEmpty_Throws()
    {
        var ex = Assert.Throws<InvalidImageException>(() => ImageDecoder.Probe([], ImageLimits.Default));

        Assert.Equal(ImageRejection.Empty, ex.Kind);
        Assert.Equal("image is empty (0 bytes)", ex.Reason);
    }

    [Fact]
    public void Probe_WhenBytesAreRandom_ThrowsUnsupportedFormat()
    {
        var random = new Random(42);
        for (int i = 0; i < 50; i++)
        {
            var bytes = new byte[1000];
            random.NextBytes(bytes);
            bytes[0] = (byte)i; // includes 0x00, which Skia's WBMP sniffer accepts for some inputs

            var ex = Assert.Throws<InvalidImageException>(() => ImageDecoder.Probe(bytes, ImageLimits.Default));

            Assert.Equal(ImageRejection.UnsupportedFormat, ex.Kind);
            Assert.Equal("not a supported image format (JPEG, PNG, WebP, GIF, BMP)", ex.Reason);
        }
    }

    [Fact]
    public void Probe_WhenHeaderDeclares144Megapixels_ThrowsWithoutDecoding()
    {
        var png = TestImages.PngWithDeclaredSize(12000, 12000);
        Assert.True(png.Length < 100);

        var ex = Assert.Throws<InvalidImageException>(() => ImageDecoder.Probe(png, ImageLimits.Default));

        Assert.Equal(ImageRejection.TooManyPixels, ex.Kind);
        Assert.Equal("image is 12000x12000 = 144.0 megapixels; the limit is 64 megapixels", ex.Reason);
    }

    [Fact]
    public void Preprocess_WhenHeaderDeclares144Megapixels_ThrowsBeforeAllocating()
    {
        var png = TestImages.PngWithDeclaredSize(12000, 12000);
        var destination = new float[ImageDecoder.TensorLength(_rgb)];

        var ex = Assert.Throws<InvalidImageException>(() => ImageDecoder.Preprocess(png, _rgb, ImageLimits.Default, destination));

        Assert.Equal(ImageRejection.TooManyPixels, ex.Kind);
    }

    [Fact]
    public void Probe_WhenByteCountExceedsLimit_Throws()
    {
        var png = TestImages.Solid(64, 48, SKColors.Red, SKEncodedImageFormat.Png);

        var ex = Assert.Throws<InvalidImageException>(() => ImageDecoder.Probe(png, new ImageLimits(MaxBytes: 100)));

        Assert.Equal(ImageRejection.TooLarge, ex.Kind);
        Assert.Contains("the limit is 100 bytes", ex.Reason);
    }

    [Fact]
    public void Probe_WhenSideIsBelowMinimum_Throws()
    {
        var png = TestImages.Solid(4, 40, SKColors.Red, SKEncodedImageFormat.Png);

        var ex = Assert.Throws<InvalidImageException>(() => ImageDecoder.Probe(png, ImageLimits.Default));

        Assert.Equal(ImageRejection.TooSmall, ex.Kind);
        Assert.Contains("4x40", ex.Reason);
    }

    [Fact]
    public void Probe_WhenPngIsCutInsideHeader_ThrowsCorrupt()
    {
        var png = TestImages.Solid(64, 48, SKColors.Red, SKEncodedImageFormat.Png);

        var ex = Assert.Throws<InvalidImageException>(() => ImageDecoder.Probe(png.AsSpan(0, 20), ImageLimits.Default));

        Assert.Equal(ImageRejection.Corrupt, ex.Kind);
    }

    [Fact]
    public void Preprocess_WhenPngIsRed_FillsRedPlaneInRgbOrder()
    {
        var png = TestImages.Solid(64, 48, SKColors.Red, SKEncodedImageFormat.Png);
        var tensor = new float[ImageDecoder.TensorLength(_rgb)];

        ImageDecoder.Preprocess(png, _rgb, ImageLimits.Default, tensor);

        var (r, g, b) = PlaneAverages(tensor, _rgb);
        Assert.Equal(255f, r, 0.01f);
        Assert.Equal(0f, g, 0.01f);
        Assert.Equal(0f, b, 0.01f);
    }

    [Fact]
    public void Preprocess_WhenJpegIsRedAndOrderIsBgr_PutsRedInLastPlane()
    {
        var jpeg = TestImages.Solid(64, 48, SKColors.Red, SKEncodedImageFormat.Jpeg);
        var tensor = new float[ImageDecoder.TensorLength(_bgr)];

        ImageDecoder.Preprocess(jpeg, _bgr, ImageLimits.Default, tensor);

        var (p0, p1, p2) = PlaneAverages(tensor, _bgr);
        Assert.InRange(p2, 245f, 255f);
        Assert.InRange(p1, 0f, 10f);
        Assert.InRange(p0, 0f, 10f);
    }

    [Fact]
    public void Preprocess_AppliesMeanThenScalePerTensorChannel()
    {
        var png = TestImages.Solid(16, 16, new SKColor(200, 100, 50), SKEncodedImageFormat.Png);
        var manifest = _bgr with { Mean = [10f, 20f, 30f], Scale = [0.5f, 2f, -1f] };
        var tensor = new float[ImageDecoder.TensorLength(manifest)];

        ImageDecoder.Preprocess(png, manifest, ImageLimits.Default, tensor);

        var (p0, p1, p2) = PlaneAverages(tensor, manifest);
        Assert.Equal((50f - 10f) * 0.5f, p0, 0.01f); // blue
        Assert.Equal((100f - 20f) * 2f, p1, 0.01f); // green
        Assert.Equal((200f - 30f) * -1f, p2, 0.01f); // red
    }

    [Fact]
    public void Preprocess_WhenImageIsGrayscale_WritesThreeIdenticalPlanes()
    {
        var png = TestImages.GrayPng(28, 28, (x, y) => (byte)((x * 9) + y));
        var tensor = new float[ImageDecoder.TensorLength(_rgb)];

        ImageDecoder.Preprocess(png, _rgb, ImageLimits.Default, tensor);

        int plane = _rgb.InputWidth * _rgb.InputHeight;
        Assert.Equal(tensor.AsSpan(0, plane).ToArray(), tensor.AsSpan(plane, plane).ToArray());
        Assert.Equal(tensor.AsSpan(0, plane).ToArray(), tensor.AsSpan(2 * plane, plane).ToArray());
        Assert.True(tensor.AsSpan(0, plane).ToArray().Distinct().Count() > 10, "the gradient should survive the resize");
    }

    [Fact]
    public void Preprocess_ForBmp_DecodesColours()
    {
        var bmp = TestImages.Bmp(20, 10, 10, 20, 250);
        var tensor = new float[ImageDecoder.TensorLength(_rgb)];

        ImageDecoder.Preprocess(bmp, _rgb, ImageLimits.Default, tensor);

        var (r, g, b) = PlaneAverages(tensor, _rgb);
        Assert.Equal(10f, r, 0.01f);
        Assert.Equal(20f, g, 0.01f);
        Assert.Equal(250f, b, 0.01f);
    }

    [Fact]
    public void Preprocess_WhenLargeJpegUsesScaledDecode_KeepsLayout()
    {
        // 2000x1600 decodes at 1/8 scale (250x200), still covering the 224x224 target.
        var manifest = _rgb with { InputWidth = 224, InputHeight = 224 };
        var jpeg = TestImages.Halves(2000, 1600, SKColors.Red, SKColors.Blue, SKEncodedImageFormat.Jpeg);
        var tensor = new float[ImageDecoder.TensorLength(manifest)];

        ImageDecoder.Preprocess(jpeg, manifest, ImageLimits.Default, tensor);

        int plane = 224 * 224;
        float leftRed = tensor[(100 * 224) + 20], rightRed = tensor[(100 * 224) + 200];
        float leftBlue = tensor[(2 * plane) + (100 * 224) + 20], rightBlue = tensor[(2 * plane) + (100 * 224) + 200];
        Assert.True(leftRed > 240 && rightRed < 15, $"red: left {leftRed}, right {rightRed}");
        Assert.True(leftBlue < 15 && rightBlue > 240, $"blue: left {leftBlue}, right {rightBlue}");
    }

    [Fact]
    public void Preprocess_WhenJpegHasExifRotation_AppliesIt()
    {
        // Stored: left red, right blue. Orientation 6 means "rotate 90° clockwise to display",
        // which moves the stored left side to the top.
        var jpeg = TestImages.WithExifOrientation(
            TestImages.Halves(80, 40, SKColors.Red, SKColors.Blue, SKEncodedImageFormat.Jpeg), 6);
        var manifest = _rgb with { InputWidth = 20, InputHeight = 40 };
        var tensor = new float[ImageDecoder.TensorLength(manifest)];

        Assert.Equal(new ImageInfo(40, 80, "JPEG"), ImageDecoder.Probe(jpeg, ImageLimits.Default));
        ImageDecoder.Preprocess(jpeg, manifest, ImageLimits.Default, tensor);

        float topRed = tensor[(5 * 20) + 10], bottomRed = tensor[(35 * 20) + 10];
        Assert.True(topRed > 240 && bottomRed < 15, $"red: top {topRed}, bottom {bottomRed}");
    }

    [Fact]
    public void Preprocess_WhenJpegIsTruncated_Throws()
    {
        var jpeg = TestImages.Pattern(1, 320, 240, SKEncodedImageFormat.Jpeg);
        var tensor = new float[ImageDecoder.TensorLength(_rgb)];

        var ex = Assert.Throws<InvalidImageException>(
            () => ImageDecoder.Preprocess(jpeg.AsSpan(0, jpeg.Length / 2), _rgb, ImageLimits.Default, tensor));

        Assert.Equal(ImageRejection.Corrupt, ex.Kind);
        Assert.Equal("image is truncated or corrupt", ex.Reason);
    }

    [Fact]
    public void Preprocess_WhenPngIsTruncated_Throws()
    {
        var png = TestImages.Pattern(2, 320, 240, SKEncodedImageFormat.Png);
        var tensor = new float[ImageDecoder.TensorLength(_rgb)];

        var ex = Assert.Throws<InvalidImageException>(
            () => ImageDecoder.Preprocess(png.AsSpan(0, png.Length * 2 / 3), _rgb, ImageLimits.Default, tensor));

        Assert.Equal(ImageRejection.Corrupt, ex.Kind);
    }

    [Fact]
    public void Probe_WhenJpegIsTruncatedAfterHeader_SucceedsBecauseItReadsOnlyTheHeader()
    {
        var jpeg = TestImages.Pattern(3, 320, 240, SKEncodedImageFormat.Jpeg);

        Assert.Equal(new ImageInfo(320, 240, "JPEG"), ImageDecoder.Probe(jpeg.AsSpan(0, jpeg.Length / 2), ImageLimits.Default));
    }

    [Theory]
    [InlineData(SKEncodedImageFormat.Png)]
    [InlineData(SKEncodedImageFormat.Webp)]
    public void Probe_WhenAFormatWithADeclaredEndIsTruncated_ThrowsCorrupt(SKEncodedImageFormat format)
    {
        var image = TestImages.Pattern(4, 320, 240, format);

        var ex = Assert.Throws<InvalidImageException>(() => ImageDecoder.Probe(image.AsSpan(0, image.Length * 2 / 3), ImageLimits.Default));

        Assert.Equal(ImageRejection.Corrupt, ex.Kind);
    }

    [Fact]
    public void Probe_WhenAPngCarriesAFewBytesAfterItsEnd_Succeeds()
    {
        var png = TestImages.Pattern(5, 64, 48, SKEncodedImageFormat.Png);

        Assert.Equal(new ImageInfo(64, 48, "PNG"), ImageDecoder.Probe([.. png, .. "trailing metadata"u8], ImageLimits.Default));
    }

    [Fact]
    public void Preprocess_WhenDestinationHasWrongLength_ThrowsArgumentException()
    {
        var png = TestImages.Solid(16, 16, SKColors.Red, SKEncodedImageFormat.Png);

        Assert.Throws<ArgumentException>(() => ImageDecoder.Preprocess(png, _rgb, ImageLimits.Default, new float[10]));
    }

    [Fact]
    public void Preprocess_WhenBytesAreRandom_Throws()
    {
        var bytes = new byte[4096];
        new Random(7).NextBytes(bytes);
        var tensor = new float[ImageDecoder.TensorLength(_rgb)];

        Assert.Throws<InvalidImageException>(() => ImageDecoder.Preprocess(bytes, _rgb, ImageLimits.Default, tensor));
    }

    [Fact]
    public void TensorLength_IsThreeTimesWidthTimesHeight() =>
        Assert.Equal(3 * 32 * 24, ImageDecoder.TensorLength(_rgb));

    private static (float Plane0, float Plane1, float Plane2) PlaneAverages(float[] tensor, ModelManifest manifest)
    {
        int plane = manifest.InputWidth * manifest.InputHeight;
        return (
            tensor.AsSpan(0, plane).ToArray().Average(),
            tensor.AsSpan(plane, plane).ToArray().Average(),
            tensor.AsSpan(2 * plane, plane).ToArray().Average());
    }
}
