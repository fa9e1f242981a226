using System.Buffers.Binary;
using System.Security.Cryptography;

namespace Indexer.Search.Maps;

/// <summary>
/// Binary form of a <see cref="LinearMap"/>, little-endian: "IXMP", format version, kind, input and output dimensions,
/// regularisation, the weights (none for the identity), then a SHA-256 of everything before it.
/// </summary>
public static class LinearMapCodec
{
    public const int FormatVersion = 1;

    private const int HeaderBytes = 4 + 4 + 4 + 4 + 4 + 8;
    private const int ChecksumBytes = 32;

    /// <summary>Largest dimension accepted when decoding, so a corrupt header cannot ask for an absurd allocation.</summary>
    private const int MaxDimension = 65_536;

    public static byte[] Encode(LinearMap map)
    {
        ArgumentNullException.ThrowIfNull(map);
        var weights = map.Weights;
        var bytes = new byte[HeaderBytes + weights.Length * sizeof(float) + ChecksumBytes];
        var span = bytes.AsSpan();
        "IXMP"u8.CopyTo(span);
        BinaryPrimitives.WriteInt32LittleEndian(span[4..], FormatVersion);
        BinaryPrimitives.WriteInt32LittleEndian(span[8..], (int)map.Kind);
        BinaryPrimitives.WriteInt32LittleEndian(span[12..], map.InputDimension);
        BinaryPrimitives.WriteInt32LittleEndian(span[16..], map.OutputDimension);
        BinaryPrimitives.WriteDoubleLittleEndian(span[20..], map.Regularisation);
        for (var i = 0; i < weights.Length; i++) BinaryPrimitives.WriteSingleLittleEndian(span[(HeaderBytes + i * sizeof(float))..], weights[i]);
        SHA256.HashData(span[..^ChecksumBytes], span[^ChecksumBytes..]);
        return bytes;
    }

    /// <exception cref="InvalidDataException">The bytes are not a complete, intact map of this format.</exception>
    public static LinearMap Decode(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length < HeaderBytes + ChecksumBytes || !bytes.StartsWith("IXMP"u8)) throw new InvalidDataException("not a map (bad magic or too short)");
        var version = BinaryPrimitives.ReadInt32LittleEndian(bytes[4..]);
        if (version != FormatVersion) throw new InvalidDataException($"map format version {version} is not supported");
        if (!SHA256.HashData(bytes[..^ChecksumBytes]).AsSpan().SequenceEqual(bytes[^ChecksumBytes..])) throw new InvalidDataException("map checksum mismatch: the blob is corrupt");
        var kind = (MapKind)BinaryPrimitives.ReadInt32LittleEndian(bytes[8..]);
        var input = BinaryPrimitives.ReadInt32LittleEndian(bytes[12..]);
        var output = BinaryPrimitives.ReadInt32LittleEndian(bytes[16..]);
        var regularisation = BinaryPrimitives.ReadDoubleLittleEndian(bytes[20..]);
        if (!Enum.IsDefined(kind) || input is < 1 or > MaxDimension || output is < 1 or > MaxDimension) throw new InvalidDataException("map header is invalid");
        var weightBytes = bytes.Length - HeaderBytes - ChecksumBytes;
        if (kind == MapKind.Identity)
        {
            if (weightBytes != 0 || input != output) throw new InvalidDataException("an identity map carries no weights and keeps its dimension");
            return LinearMap.Identity(input);
        }

        if (weightBytes != (long)input * output * sizeof(float)) throw new InvalidDataException($"map declares {input}x{output} weights but holds {weightBytes} bytes");
        var weights = new float[input * output];
        for (var i = 0; i < weights.Length; i++) weights[i] = BinaryPrimitives.ReadSingleLittleEndian(bytes[(HeaderBytes + i * sizeof(float))..]);
        return LinearMap.FromWeights(kind, input, output, weights, regularisation);
    }
}
