using System.Security.Cryptography;

namespace Indexer.Search.Maps;

/// <summary>
/// The frame the upgrade blobs share: a four-byte magic, a body, then a SHA-256 of everything before it. A blob that
/// is not of the kind asked for, or whose checksum does not match, is refused before its body is read.
/// </summary>
internal static class SealedFormat
{
    private const int MagicBytes = 4;

    private const int ChecksumBytes = 32;

    /// <summary>Writes <paramref name="magic"/>, lets <paramref name="writeBody"/> write the body, and appends the checksum.</summary>
    public static byte[] Seal(ReadOnlySpan<byte> magic, Action<BinaryWriter> writeBody)
    {
        using var stream = new MemoryStream();
        using (var writer = new BinaryWriter(stream, System.Text.Encoding.UTF8, leaveOpen: true))
        {
            writer.Write(magic);
            writeBody(writer);
        }

        var body = stream.ToArray();
        return [.. body, .. SHA256.HashData(body)];
    }

    /// <summary>A reader over the body of a blob sealed with <paramref name="magic"/>; <paramref name="what"/> names the kind in errors.</summary>
    /// <exception cref="InvalidDataException">Wrong magic, too short, or a checksum mismatch.</exception>
    public static BinaryReader Open(byte[] bytes, ReadOnlySpan<byte> magic, string what)
    {
        ArgumentNullException.ThrowIfNull(bytes);
        if (bytes.Length < MagicBytes + ChecksumBytes || !bytes.AsSpan().StartsWith(magic)) throw new InvalidDataException($"not a {what} (bad magic or too short)");
        if (!SHA256.HashData(bytes.AsSpan(0, bytes.Length - ChecksumBytes)).AsSpan().SequenceEqual(bytes.AsSpan(bytes.Length - ChecksumBytes)))
        {
            throw new InvalidDataException($"{what} checksum mismatch: the blob is corrupt");
        }

        return new BinaryReader(new MemoryStream(bytes, MagicBytes, bytes.Length - MagicBytes - ChecksumBytes));
    }
}
