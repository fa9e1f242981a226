namespace Indexer.Search.Maps;

/// <summary>
/// Binary form of a <see cref="CompatibilityPredictor"/>, little-endian: "IXCP", format version, kind, dimension, fitted
/// count, held-out Spearman, mean, then the neighbour vectors and agreements or the linear weights (each prefixed by its
/// length); from version 2, the knots' lengths of a map-length predictor and its map (<see cref="EmbeddingMapCodec"/>,
/// prefixed by its byte count, 0 for none); then a SHA-256 of everything before it. Version 1 is still read.
/// </summary>
public static class CompatibilityPredictorCodec
{
    public const int FormatVersion = 2;

    /// <summary>Largest array accepted when decoding (a 50k-item, 4096-d sample is 205M floats; nothing legitimate is larger).</summary>
    private const int MaxLength = 256 * 1024 * 1024;

    public static byte[] Encode(CompatibilityPredictor predictor)
    {
        ArgumentNullException.ThrowIfNull(predictor);
        var p = predictor.Parameters;
        return SealedFormat.Seal("IXCP"u8, writer =>
        {
            writer.Write(FormatVersion);
            writer.Write((int)p.Kind);
            writer.Write(p.Dimension);
            writer.Write(p.FittedCount);
            writer.Write(predictor.HeldOutSpearman);
            writer.Write(p.Mean);
            writer.Write(p.Vectors.Length);
            foreach (var x in p.Vectors) writer.Write(x);
            writer.Write(p.Agreements.Length);
            foreach (var x in p.Agreements) writer.Write(x);
            writer.Write(p.Weights.Length);
            foreach (var x in p.Weights) writer.Write(x);
            writer.Write(p.Lengths.Length);
            foreach (var x in p.Lengths) writer.Write(x);
            var map = p.Map is null ? [] : EmbeddingMapCodec.Encode(p.Map);
            writer.Write(map.Length);
            writer.Write(map);
        });
    }

    /// <exception cref="InvalidDataException">The bytes are not a complete, intact predictor of this format.</exception>
    public static CompatibilityPredictor Decode(byte[] bytes)
    {
        using var reader = SealedFormat.Open(bytes, "IXCP"u8, "compatibility predictor");
        try
        {
            var version = reader.ReadInt32();
            if (version is not (1 or FormatVersion)) throw new InvalidDataException($"predictor format version {version} is not supported");
            var kind = (PredictorKind)reader.ReadInt32();
            var dimension = reader.ReadInt32();
            var fitted = reader.ReadInt32();
            var spearman = reader.ReadDouble();
            var mean = reader.ReadDouble();
            var vectors = ReadArray(reader, r => r.ReadSingle());
            var agreements = ReadArray(reader, r => r.ReadDouble());
            var weights = ReadArray(reader, r => r.ReadSingle());
            var lengths = version >= 2 ? ReadArray(reader, r => r.ReadDouble()) : [];
            var mapBytes = version >= 2 ? ReadArray(reader, r => r.ReadByte()) : [];
            var map = mapBytes.Length > 0 ? EmbeddingMapCodec.Decode(mapBytes) : null;
            var valid = Enum.IsDefined(kind) && dimension > 0 && kind switch
            {
                PredictorKind.Linear => weights.Length == dimension,
                PredictorKind.MapLength => map is not null && map.InputDimension == dimension && lengths.Length > 0 && lengths.Length == agreements.Length && IsCurve(lengths, agreements),
                _ => agreements.Length > 0 && vectors.Length == (long)agreements.Length * dimension,
            };
            if (!valid) throw new InvalidDataException("predictor header does not match its contents");
            return CompatibilityPredictor.FromParameters(
                new PredictorParameters(kind, dimension, vectors, agreements, mean, weights, fitted) { Map = map, Lengths = lengths }, spearman);
        }
        catch (EndOfStreamException ex)
        {
            throw new InvalidDataException("predictor is truncated", ex);
        }
    }

    private static bool IsCurve(double[] knots, double[] values)
    {
        try
        {
            _ = new MonotoneCurve(knots, values);
            return true;
        }
        catch (ArgumentException)
        {
            return false;
        }
    }

    private static T[] ReadArray<T>(BinaryReader reader, Func<BinaryReader, T> read)
    {
        var length = reader.ReadInt32();
        if (length is < 0 or > MaxLength) throw new InvalidDataException($"predictor array length {length} is invalid");
        var values = new T[length];
        for (var i = 0; i < length; i++) values[i] = read(reader);
        return values;
    }
}
