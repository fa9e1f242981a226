namespace Indexer.Search.Maps;

/// <summary>
/// Binary form of a <see cref="ScoreCalibration"/>, little-endian: "IXSC", format version, knot count, the source knots,
/// the target knots, then a SHA-256 of everything before it. The identity has no knots.
/// </summary>
public static class ScoreCalibrationCodec
{
    public const int FormatVersion = 1;

    private const int MaxKnots = 1 << 20;

    public static byte[] Encode(ScoreCalibration calibration)
    {
        ArgumentNullException.ThrowIfNull(calibration);
        return SealedFormat.Seal("IXSC"u8, writer =>
        {
            writer.Write(FormatVersion);
            writer.Write(calibration.FromKnots.Length);
            foreach (var x in calibration.FromKnots) writer.Write(x);
            foreach (var x in calibration.ToKnots) writer.Write(x);
        });
    }

    /// <exception cref="InvalidDataException">The bytes are not a complete, intact score calibration of this format.</exception>
    public static ScoreCalibration Decode(byte[] bytes)
    {
        using var reader = SealedFormat.Open(bytes, "IXSC"u8, "score calibration");
        try
        {
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
