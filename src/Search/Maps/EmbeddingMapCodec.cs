using System.Buffers.Binary;
using System.Security.Cryptography;

namespace Indexer.Search.Maps;

/// <summary>
/// Binary form of an <see cref="EmbeddingMap"/>, little-endian: "IXMP", format version, then the stages in order, then
/// a SHA-256 of everything before it. Version 3 starts with the stage count; each stage holds the kind of its linear
/// part, input and output dimensions, regularisation and weights (none for the identity or a kernel stage), then its
/// correction's anchor count (0 for none) and, when it has one, weighting, neighbours, sharpness, penalty, anchors and
/// values. Versions 2 (no weighting and no penalty: every correction a nearest-neighbour one) and 1 (one linear
/// stage, no count and no correction) are still read, so maps stored before are served as they were.
/// </summary>
public static class EmbeddingMapCodec
{
    public const int FormatVersion = 3;

    private const int ChecksumBytes = 32;

    /// <summary>Largest dimension accepted when decoding, so a corrupt header cannot ask for an absurd allocation.</summary>
    private const int MaxDimension = 65_536;

    /// <summary>Largest anchor count and stage count accepted when decoding.</summary>
    private const int MaxAnchors = 1_000_000, MaxStages = 64;

    public static byte[] Encode(EmbeddingMap map)
    {
        ArgumentNullException.ThrowIfNull(map);
        using var stream = new MemoryStream();
        using (var writer = new BinaryWriter(stream, System.Text.Encoding.UTF8, leaveOpen: true))
        {
            writer.Write("IXMP"u8);
            writer.Write(FormatVersion);
            var stages = new List<EmbeddingMap>();
            for (var stage = map; stage is not null; stage = stage.Next) stages.Add(stage);
            writer.Write(stages.Count);
            foreach (var stage in stages)
            {
                writer.Write((int)stage.StageKind);
                writer.Write(stage.InputDimension);
                writer.Write(stage.StageOutputDimension);
                writer.Write(stage.Regularisation);
                writer.Write(stage.Weights.Length);
                foreach (var w in stage.Weights) writer.Write(w);
                var correction = stage.Correction;
                writer.Write(correction?.Count ?? 0);
                if (correction is null) continue;
                writer.Write((int)correction.Weighting);
                writer.Write(correction.Neighbours);
                writer.Write(correction.Sharpness);
                writer.Write(correction.Penalty);
                foreach (var x in correction.Anchors) writer.Write(x);
                foreach (var x in correction.Values) writer.Write(x);
            }
        }

        var body = stream.ToArray();
        var bytes = new byte[body.Length + ChecksumBytes];
        body.CopyTo(bytes, 0);
        SHA256.HashData(body, bytes.AsSpan(body.Length));
        return bytes;
    }

    /// <exception cref="InvalidDataException">The bytes are not a complete, intact map of a known format.</exception>
    public static EmbeddingMap Decode(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length < 8 + ChecksumBytes || !bytes.StartsWith("IXMP"u8)) throw new InvalidDataException("not a map (bad magic or too short)");
        var version = BinaryPrimitives.ReadInt32LittleEndian(bytes[4..]);
        if (version is not (1 or 2 or FormatVersion)) throw new InvalidDataException($"map format version {version} is not supported");
        if (!SHA256.HashData(bytes[..^ChecksumBytes]).AsSpan().SequenceEqual(bytes[^ChecksumBytes..])) throw new InvalidDataException("map checksum mismatch: the blob is corrupt");
        var reader = new Reader(bytes[8..^ChecksumBytes]);
        var map = version == 1 ? DecodeVersion1(ref reader) : DecodeStages(ref reader, version);
        if (!reader.AtEnd) throw new InvalidDataException("map holds bytes after its last stage");
        return map;
    }

    private static EmbeddingMap DecodeVersion1(ref Reader reader)
    {
        var (kind, input, output, regularisation) = (reader.Kind(), reader.Dimension(), reader.Dimension(), reader.Double());
        var weights = reader.Floats(reader.Remaining / sizeof(float));
        if (reader.Remaining != 0) throw new InvalidDataException("map weights are not whole floats");
        return Stage(kind, input, output, regularisation, weights, null);
    }

    private static EmbeddingMap DecodeStages(ref Reader reader, int version)
    {
        var count = reader.Int();
        if (count is < 1 or > MaxStages) throw new InvalidDataException($"map declares {count} stages");
        var stages = new EmbeddingMap[count];
        for (var s = 0; s < count; s++)
        {
            var (kind, input, output, regularisation) = (reader.Kind(), reader.Dimension(), reader.Dimension(), reader.Double());
            var weights = reader.Floats(reader.Int());
            var anchors = reader.Int();
            LocalCorrection? correction = null;
            if (anchors is < 0 or > MaxAnchors) throw new InvalidDataException($"map stage declares {anchors} anchors");
            if (anchors > 0)
            {
                var weighting = version >= 3 ? (CorrectionWeighting)reader.Int() : CorrectionWeighting.NearestNeighbours;
                var (neighbours, sharpness) = (reader.Int(), reader.Double());
                var penalty = version >= 3 ? reader.Double() : 0;
                try
                {
                    correction = new LocalCorrection(
                        reader.Floats((long)anchors * input), reader.Floats((long)anchors * output), anchors, input, output, neighbours, sharpness, weighting, penalty);
                }
                catch (ArgumentException e)
                {
                    throw new InvalidDataException($"map stage {s + 1} has an invalid correction: {e.Message}", e);
                }
            }

            stages[s] = Stage(kind, input, output, regularisation, weights, correction);
        }

        var map = stages[^1];
        for (var s = count - 2; s >= 0; s--)
        {
            if (stages[s].OutputDimension != map.InputDimension) throw new InvalidDataException("map stages do not fit together");
            map = stages[s].Then(map); // stored stages are never two linear ones in a row, so nothing is merged
        }

        return map;
    }

    private static EmbeddingMap Stage(MapKind kind, int input, int output, double regularisation, float[] weights, LocalCorrection? correction)
    {
        if (kind == MapKind.Local) throw new InvalidDataException("a map stage's linear part is identity, orthogonal, ridge or none (kernel)");
        if (kind == MapKind.Kernel)
        {
            if (weights.Length != 0 || correction is not { Weighting: CorrectionWeighting.KernelRidge }) throw new InvalidDataException("a kernel stage carries no weights and a kernel ridge correction");
            return EmbeddingMap.Kernel(correction);
        }

        if (kind == MapKind.Identity)
        {
            if (weights.Length != 0 || input != output) throw new InvalidDataException("an identity stage carries no weights and keeps its dimension");
            var identity = EmbeddingMap.Identity(input);
            return correction is null ? identity : identity.WithCorrection(correction);
        }

        if (weights.Length != (long)input * output) throw new InvalidDataException($"map declares {input}x{output} weights but holds {weights.Length}");
        var linear = EmbeddingMap.FromWeights(kind, input, output, weights, regularisation);
        return correction is null ? linear : linear.WithCorrection(correction);
    }

    private ref struct Reader(ReadOnlySpan<byte> bytes)
    {
        private readonly ReadOnlySpan<byte> _bytes = bytes;
        private int _at;

        public readonly bool AtEnd => _at == _bytes.Length;

        public readonly int Remaining => _bytes.Length - _at;

        public int Int() => BinaryPrimitives.ReadInt32LittleEndian(Take(4));

        public double Double() => BinaryPrimitives.ReadDoubleLittleEndian(Take(8));

        public MapKind Kind()
        {
            var kind = (MapKind)Int();
            return Enum.IsDefined(kind) ? kind : throw new InvalidDataException("map header is invalid (unknown kind)");
        }

        public int Dimension()
        {
            var d = Int();
            return d is >= 1 and <= MaxDimension ? d : throw new InvalidDataException("map header is invalid (dimension)");
        }

        public float[] Floats(long count)
        {
            if (count < 0 || count * sizeof(float) > Remaining) throw new InvalidDataException($"map declares {count} numbers but holds fewer");
            var result = new float[count];
            var span = Take((int)count * sizeof(float));
            for (var i = 0; i < result.Length; i++) result[i] = BinaryPrimitives.ReadSingleLittleEndian(span[(i * sizeof(float))..]);
            return result;
        }

        private ReadOnlySpan<byte> Take(int count)
        {
            if (count > Remaining) throw new InvalidDataException("map is truncated");
            var span = _bytes.Slice(_at, count);
            _at += count;
            return span;
        }
    }
}
