using System.Buffers.Binary;
using SkiaSharp;

namespace Indexer.Testing;

/// <summary>Files that are not usable images, each of a kind users really upload.</summary>
public static class BadImages
{
    public static byte[] Empty => [];

    public static byte[] RandomBytes(int length = 4096)
    {
        var bytes = new byte[length];
        new Random(7).NextBytes(bytes);
        return bytes;
    }

    public static byte[] Text => "these are my holiday notes, not a photo"u8.ToArray();

    /// <summary>A photo-sized JPEG cut off after 40% of its bytes, as an interrupted upload leaves it.</summary>
    public static byte[] TruncatedJpeg()
    {
        var jpeg = Jpeg(640, 480);
        return jpeg[..(jpeg.Length * 2 / 5)];
    }

    public static byte[] Jpeg(int width, int height)
    {
        using var bitmap = new SKBitmap(width, height);
        for (var y = 0; y < height; y++)
        {
            for (var x = 0; x < width; x++) bitmap.SetPixel(x, y, new SKColor((byte)(x * 255 / width), (byte)(y * 255 / height), (byte)((x ^ y) & 0xff)));
        }

        using var image = SKImage.FromBitmap(bitmap);
        return image.Encode(SKEncodedImageFormat.Jpeg, 90).ToArray();
    }

    /// <summary>
    /// A PNG whose header declares 12000x12000 pixels (144 megapixels): the real PNG of a small image with its IHDR
    /// width and height rewritten and the chunk's CRC recomputed, so it is well-formed up to its pixel data.
    /// </summary>
    public static byte[] HugePng()
    {
        using var bitmap = new SKBitmap(16, 16);
        using var image = SKImage.FromBitmap(bitmap);
        var png = image.Encode(SKEncodedImageFormat.Png, 100).ToArray();
        // Signature (8) + chunk length (4) + "IHDR" (4): width and height follow, then the rest of IHDR, then its CRC.
        BinaryPrimitives.WriteUInt32BigEndian(png.AsSpan(16), 12000);
        BinaryPrimitives.WriteUInt32BigEndian(png.AsSpan(20), 12000);
        BinaryPrimitives.WriteUInt32BigEndian(png.AsSpan(29), Crc32(png.AsSpan(12, 17)));
        return png;
    }

    private static uint Crc32(ReadOnlySpan<byte> data)
    {
        var crc = 0xFFFFFFFFu;
        foreach (var b in data)
        {
            crc ^= b;
            for (var k = 0; k < 8; k++) crc = (crc & 1) != 0 ? (crc >> 1) ^ 0xEDB88320u : crc >> 1;
        }

        return ~crc;
    }
}
