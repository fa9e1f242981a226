namespace Indexer.Search.Maps;

/// <summary>
/// Binary form of a <see cref="CompatibilityPredictor"/>, little-endian: "IXCP", format version, kind, dimension, fitted
/// count, held-out Spearman, mean, then the neighbour vectors and agreements or the linear weights (each prefixed by its
/// length), then a SHA-256 of everything before it.
/// </summary>
public static class CompatibilityPredictorCodec
{
    public const int FormatVersion = 1;

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
        });
    }

    /// <exception cref="InvalidDataException">The bytes are not a complete, intact predictor of this format.</exception>
    public static CompatibilityPredictor Decode(byte[] bytes)
    {
        using var reader = SealedFormat.Open(bytes, "IXCP"u8, "compatibility predictor");
        try
        {
            var version = reader.ReadInt32();
            if (version != FormatVersion) throw new InvalidDataException($"predictor format version {version} is not supported");
            var kind = (PredictorKind)reader.ReadInt32();
            var dimension = reader.ReadInt32();
            var fitted = reader.ReadInt32();
            var spearman = reader.ReadDouble();
            var mean = reader.ReadDouble();
            var vectors = ReadArray(reader, r => r.ReadSingle());
            var agreements = ReadArray(reader, r => r.ReadDouble());
            var weights = ReadArray(reader, r => r.ReadSingle());
            var valid = Enum.IsDefined(kind) && dimension > 0 && kind switch
            {
                PredictorKind.Linear => weights.Length == dimension,
                _ => agreements.Length > 0 && vectors.Length == (long)agreements.Length * dimension,
            };
            if (!valid) throw new InvalidDataException("predictor header does not match its contents");
            return CompatibilityPredictor.FromParameters(new PredictorParameters(kind, dimension, vectors, agreements, mean, weights, fitted), spearman);
        }
        catch (EndOfStreamException ex)
        {
            throw new InvalidDataException("predictor is truncated", ex);
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
