using System.Buffers.Binary;
using SkiaSharp;

namespace Indexer.Embedding.Tests;

/// <summary>Builds small images in memory so the decoder tests need no fixture files.</summary>
internal static class TestImages
{
    public static byte[] Solid(int width, int height, SKColor color, SKEncodedImageFormat format, int quality = 95) =>
        Draw(width, height, format, quality, canvas => canvas.Clear(color));

    /// <summary>Left half <paramref name="left"/>, right half <paramref name="right"/>.</summary>
    public static byte[] Halves(int width, int height, SKColor left, SKColor right, SKEncodedImageFormat format, int quality = 95) =>
        Draw(width, height, format, quality, canvas =>
        {
            canvas.Clear(left);
            using var paint = new SKPaint { Color = right };
            canvas.DrawRect(width / 2f, 0, width / 2f, height, paint);
        });

    /// <summary>Random coloured rectangles and circles: a deterministic, colourful, photo-like input.</summary>
    public static byte[] Pattern(int seed, int width, int height, SKEncodedImageFormat format) =>
        Draw(width, height, format, 92, canvas =>
        {
            var random = new Random(seed);
            canvas.Clear(RandomColor(random));
            using var paint = new SKPaint { IsAntialias = true };
            for (int i = 0; i < 12; i++)
            {
                paint.Color = RandomColor(random);
                float x = random.Next(width), y = random.Next(height), s = random.Next(8, Math.Max(9, width / 2));
                if (random.Next(2) == 0)
                {
                    canvas.DrawCircle(x, y, s / 2, paint);
                }
                else
                {
                    canvas.DrawRect(x - (s / 2), y - (s / 3), s, s * 0.66f, paint);
                }
            }
        });

    public static byte[] GrayPng(int width, int height, Func<int, int, byte> pixel)
    {
        var pixels = new byte[width * height];
        for (int y = 0; y < height; y++)
        {
            for (int x = 0; x < width; x++)
            {
                pixels[(y * width) + x] = pixel(x, y);
            }
        }

        var info = new SKImageInfo(width, height, SKColorType.Gray8, SKAlphaType.Opaque);
        using var image = SKImage.FromPixelCopy(info, pixels);
        using var data = image.Encode(SKEncodedImageFormat.Png, 100);
        return data.ToArray();
    }

    /// <summary>An uncompressed 24-bit BMP written by hand (Skia cannot encode BMP).</summary>
    public static byte[] Bmp(int width, int height, byte r, byte g, byte b)
    {
        int rowSize = ((width * 3) + 3) & ~3;
        int size = 54 + (rowSize * height);
        var bytes = new byte[size];
        bytes[0] = (byte)'B';
        bytes[1] = (byte)'M';
        BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(2), size);
        BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(10), 54);
        BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(14), 40);
        BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(18), width);
        BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(22), height);
        BinaryPrimitives.WriteInt16LittleEndian(bytes.AsSpan(26), 1);
        BinaryPrimitives.WriteInt16LittleEndian(bytes.AsSpan(28), 24);
        BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(34), rowSize * height);
        for (int y = 0; y < height; y++)
        {
            for (int x = 0; x < width; x++)
            {
                int p = 54 + (y * rowSize) + (x * 3);
                bytes[p] = b;
                bytes[p + 1] = g;
                bytes[p + 2] = r;
            }
        }

        return bytes;
    }

    /// <summary>
    /// A syntactically valid PNG whose IHDR declares the given size but whose pixel data is a
    /// single empty zlib block: enough for a header probe, never decodable, and only ~60 bytes.
    /// </summary>
    public static byte[] PngWithDeclaredSize(int width, int height)
    {
        var ihdr = new byte[13];
        BinaryPrimitives.WriteInt32BigEndian(ihdr, width);
        BinaryPrimitives.WriteInt32BigEndian(ihdr.AsSpan(4), height);
        ihdr[8] = 8; // bit depth
        ihdr[9] = 2; // colour type RGB
        using var stream = new MemoryStream();
        stream.Write([0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A]);
        WriteChunk(stream, "IHDR", ihdr);
        WriteChunk(stream, "IDAT", [0x78, 0x9C, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01]);
        WriteChunk(stream, "IEND", []);
        return stream.ToArray();
    }

    /// <summary>Inserts an EXIF APP1 segment with the given orientation tag right after the JPEG SOI marker.</summary>
    public static byte[] WithExifOrientation(byte[] jpeg, ushort orientation)
    {
        Assert.True(jpeg[0] == 0xFF && jpeg[1] == 0xD8, "not a JPEG");
        byte[] app1 =
        [
            0xFF, 0xE1, 0x00, 0x22, // APP1, length 34
            (byte)'E', (byte)'x', (byte)'i', (byte)'f', 0x00, 0x00,
            (byte)'M', (byte)'M', 0x00, 0x2A, 0x00, 0x00, 0x00, 0x08, // big-endian TIFF header, IFD0 at 8
            0x00, 0x01, // one entry
            0x01, 0x12, 0x00, 0x03, 0x00, 0x00, 0x00, 0x01, (byte)(orientation >> 8), (byte)orientation, 0x00, 0x00, // Orientation SHORT
            0x00, 0x00, 0x00, 0x00, // no next IFD
        ];
        return [.. jpeg.AsSpan(0, 2), .. app1, .. jpeg.AsSpan(2)];
    }

    private static byte[] Draw(int width, int height, SKEncodedImageFormat format, int quality, Action<SKCanvas> draw)
    {
        using var bitmap = new SKBitmap(new SKImageInfo(width, height, SKColorType.Rgba8888, SKAlphaType.Premul));
        using (var canvas = new SKCanvas(bitmap))
        {
            draw(canvas);
        }

        using var image = SKImage.FromBitmap(bitmap);
        using var data = image.Encode(format, quality);
        return data.ToArray();
    }

    private static SKColor RandomColor(Random random) =>
        new((byte)random.Next(256), (byte)random.Next(256), (byte)random.Next(256));

    private static void WriteChunk(Stream stream, string type, byte[] data)
    {
        Span<byte> word = stackalloc byte[4];
        BinaryPrimitives.WriteInt32BigEndian(word, data.Length);
        stream.Write(word);
        byte[] typeAndData = [.. System.Text.Encoding.ASCII.GetBytes(type), .. data];
        stream.Write(typeAndData);
        BinaryPrimitives.WriteUInt32BigEndian(word, Crc32(typeAndData));
        stream.Write(word);
    }

    private static uint Crc32(ReadOnlySpan<byte> bytes)
    {
        uint crc = 0xFFFFFFFF;
        foreach (var b in bytes)
        {
            crc ^= b;
            for (int k = 0; k < 8; k++)
            {
                crc = (crc & 1) != 0 ? (crc >> 1) ^ 0xEDB88320u : crc >> 1;
            }
        }

        return ~crc;
    }
}
