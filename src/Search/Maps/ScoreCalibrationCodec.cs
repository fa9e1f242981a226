using System.Security.Cryptography;

namespace Indexer.Search.Maps;

/// <summary>
/// Binary form of a <see cref="ScoreCalibration"/>, little-endian: "IXSC", format version, knot count, the source knots,
/// the target knots, then a SHA-256 of everything before it. The identity has no knots.
/// </summary>
public static class ScoreCalibrationCodec
{
    public const int FormatVersion = 1;

    private const int ChecksumBytes = 32;

    private const int MaxKnots = 1 << 20;

    public static byte[] Encode(ScoreCalibration calibration)
    {
        ArgumentNullException.ThrowIfNull(calibration);
        using var stream = new MemoryStream();
        using (var writer = new BinaryWriter(stream, System.Text.Encoding.UTF8, leaveOpen: true))
        {
            writer.Write("IXSC"u8);
            writer.Write(FormatVersion);
            writer.Write(calibration.FromKnots.Length);
            foreach (var x in calibration.FromKnots) writer.Write(x);
            foreach (var x in calibration.ToKnots) writer.Write(x);
        }

        var body = stream.ToArray();
        return [.. body, .. SHA256.HashData(body)];
    }

    /// <exception cref="InvalidDataException">The bytes are not a complete, intact score calibration of this format.</exception>
    public static ScoreCalibration Decode(byte[] bytes)
    {
        ArgumentNullException.ThrowIfNull(bytes);
        if (bytes.Length < 4 + ChecksumBytes || !bytes.AsSpan().StartsWith("IXSC"u8)) throw new InvalidDataException("not a score calibration (bad magic or too short)");
        if (!SHA256.HashData(bytes.AsSpan(0, bytes.Length - ChecksumBytes)).AsSpan().SequenceEqual(bytes.AsSpan(bytes.Length - ChecksumBytes)))
        {
            throw new InvalidDataException("score calibration checksum mismatch: the blob is corrupt");
        }

        try
        {
            using var reader = new BinaryReader(new MemoryStream(bytes, 4, bytes.Length - 4 - ChecksumBytes));
            var version = reader.ReadInt32();
            if (version != FormatVersion) throw new InvalidDataException($"score calibration format version {version} is not supported");
            var count = reader.ReadInt32();
            if (count is < 0 or > MaxKnots) throw new InvalidDataException($"score calibration knot count {count} is invalid");
            var from = new float[count];
            var to = new float[count];
            for (var i = 0; i < count; i++) from[i] = reader.ReadSingle();
            for (var i = 0; i < count; i++) to[i] = reader.ReadSingle();
            return ScoreCalibration.FromKnotValues(from, to);
        }
        catch (EndOfStreamException ex)
        {
            throw new InvalidDataException("score calibration is truncated", ex);
        }
        catch (ArgumentException ex)
        {
            throw new InvalidDataException($"score calibration is invalid: {ex.Message}", ex);
        }
    }
}
