using System.Buffers.Binary;
using System.Collections.ObjectModel;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;

namespace Indexer.Storage;

/// <summary>
/// Binary encoding of vector segments. A compact, self-checking format keeps a 512-d record near its
/// 2 KiB of raw floats (JSON costs 2.5–5.7 KiB per vector, PLATFORM.md §2) and lets a reader reject a
/// damaged blob instead of loading garbage vectors into an index.
/// </summary>
/// <remarks>
/// Layout, all integers little-endian:
/// <code>
/// header   : "IXSG" (4 bytes) | int32 format version = 1 | int32 record count
/// record   : string ItemId | string ContentHash | string ModelVersion | int64 AddedAtUnixMs
///            | int32 metadata pair count | (string key | string value) * count   (keys in ordinal order)
///            | byte vector flag (0 = tombstone, 1 = vector)
///            | if flag = 1: int32 dimension | float32 * dimension
/// string   : int32 UTF-8 byte length | UTF-8 bytes
/// trailer  : SHA-256 (32 bytes) of every byte before it
/// </code>
/// Records may have different dimensions (segments can mix model versions). Every length read while
/// decoding is checked against the bytes that remain and against a fixed cap before anything is allocated.
/// </remarks>
public static class SegmentCodec
{
    /// <summary>The format version this code writes and reads.</summary>
    public const int FormatVersion = 1;

    /// <summary>
    /// Longest string accepted, in UTF-8 bytes. Ids, hashes, model versions and metadata are short labels;
    /// 64 KiB is far above any legitimate one and bounds what a corrupted length field can make us allocate.
    /// </summary>
    public const int MaxStringBytes = 64 * 1024;

    /// <summary>Most metadata pairs per record: metadata is a handful of tags, so 1024 only stops runaway counts.</summary>
    public const int MaxMetadataPairs = 1024;

    /// <summary>Largest vector dimension accepted: embedding models stay well below 64 Ki floats (256 KiB per vector).</summary>
    public const int MaxDimension = 64 * 1024;

    /// <summary>"IXSG" as stored: the four ASCII bytes in file order.</summary>
    private static ReadOnlySpan<byte> Magic => "IXSG"u8;

    /// <summary>Magic (4) + version (4) + record count (4).</summary>
    private const int HeaderBytes = 12;

    /// <summary>SHA-256 output size.</summary>
    private const int ChecksumBytes = SHA256.HashSizeInBytes;

    /// <summary>
    /// Smallest possible record: three empty strings (3 × 4), the timestamp (8), the metadata count (4)
    /// and the vector flag (1). Used to reject record counts the data cannot possibly hold.
    /// </summary>
    private const int MinRecordBytes = (3 * sizeof(int)) + sizeof(long) + sizeof(int) + 1;

    /// <summary>Smallest metadata pair: two empty strings.</summary>
    private const int MinPairBytes = 2 * sizeof(int);

    private const byte TombstoneFlag = 0;
    private const byte VectorFlag = 1;

    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>Encodes <paramref name="records"/> into one segment blob.</summary>
    /// <exception cref="ArgumentException">A record has a null field, invalid UTF-16, or exceeds a format limit.</exception>
    public static byte[] Encode(IReadOnlyList<SegmentRecord> records)
    {
        ArgumentNullException.ThrowIfNull(records);

        // Pass 1: validate and measure, so the output is allocated exactly once.
        long size = HeaderBytes + ChecksumBytes;
        var sortedMetadata = new KeyValuePair<string, string>[records.Count][];
        for (int i = 0; i < records.Count; i++)
        {
            SegmentRecord record = records[i] ?? throw new ArgumentException($"Record {i} is null.", nameof(records));
            size += MeasureString(record.ItemId, i, nameof(SegmentRecord.ItemId));
            size += MeasureString(record.ContentHash, i, nameof(SegmentRecord.ContentHash));
            size += MeasureString(record.ModelVersion, i, nameof(SegmentRecord.ModelVersion));
            size += sizeof(long) + sizeof(int) + 1;

            IReadOnlyDictionary<string, string> metadata = record.Metadata
                ?? throw new ArgumentException($"Record {i} has null metadata.", nameof(records));
            if (metadata.Count > MaxMetadataPairs)
            {
                throw new ArgumentException($"Record {i} has {metadata.Count} metadata pairs; at most {MaxMetadataPairs} are allowed.", nameof(records));
            }

            KeyValuePair<string, string>[] pairs = [.. metadata];
            Array.Sort(pairs, static (a, b) => string.CompareOrdinal(a.Key, b.Key));
            sortedMetadata[i] = pairs;
            foreach (KeyValuePair<string, string> pair in pairs)
            {
                size += MeasureString(pair.Key, i, "metadata key");
                size += MeasureString(pair.Value, i, "metadata value");
            }

            if (record.Vector is { } vector)
            {
                if (vector.Length > MaxDimension)
                {
                    throw new ArgumentException($"Record {i} has a {vector.Length}-d vector; at most {MaxDimension} dimensions are allowed.", nameof(records));
                }

                size += sizeof(int) + ((long)vector.Length * sizeof(float));
            }
        }

        if (size > Array.MaxLength)
        {
            throw new ArgumentException($"The segment would take {size} bytes, more than one array can hold; write smaller segments.", nameof(records));
        }

        // Pass 2: write.
        byte[] output = GC.AllocateUninitializedArray<byte>((int)size);
        var writer = new SpanWriter(output);
        writer.WriteBytes(Magic);
        writer.WriteInt32(FormatVersion);
        writer.WriteInt32(records.Count);
        for (int i = 0; i < records.Count; i++)
        {
            SegmentRecord record = records[i];
            writer.WriteString(record.ItemId);
            writer.WriteString(record.ContentHash);
            writer.WriteString(record.ModelVersion);
            writer.WriteInt64(record.AddedAtUnixMs);
            KeyValuePair<string, string>[] pairs = sortedMetadata[i];
            writer.WriteInt32(pairs.Length);
            foreach (KeyValuePair<string, string> pair in pairs)
            {
                writer.WriteString(pair.Key);
                writer.WriteString(pair.Value);
            }

            if (record.Vector is { } vector)
            {
                writer.WriteByte(VectorFlag);
                writer.WriteInt32(vector.Length);
                writer.WriteFloats(vector);
            }
            else
            {
                writer.WriteByte(TombstoneFlag);
            }
        }

        SHA256.HashData(output.AsSpan(0, writer.Position), output.AsSpan(writer.Position, ChecksumBytes));
        return output;
    }

    /// <summary>Decodes a segment written by <see cref="Encode"/>.</summary>
    /// <exception cref="InvalidDataException">
    /// The data is not a segment, has an unknown version, is truncated or corrupted, or holds a length beyond the format limits.
    /// </exception>
    public static IReadOnlyList<SegmentRecord> Decode(ReadOnlySpan<byte> data)
    {
        if (data.Length < Magic.Length)
        {
            throw new InvalidDataException($"Segment is truncated: {data.Length} bytes is shorter than the magic number.");
        }

        if (!data[..Magic.Length].SequenceEqual(Magic))
        {
            throw new InvalidDataException($"Not a vector segment: bad magic {Convert.ToHexString(data[..Magic.Length])} (expected \"IXSG\").");
        }

        if (data.Length < Magic.Length + sizeof(int))
        {
            throw new InvalidDataException("Segment is truncated: the format version is missing.");
        }

        int version = BinaryPrimitives.ReadInt32LittleEndian(data[Magic.Length..]);
        if (version != FormatVersion)
        {
            throw new InvalidDataException($"Unknown segment format version {version}; this build reads version {FormatVersion}.");
        }

        if (data.Length < HeaderBytes + ChecksumBytes)
        {
            throw new InvalidDataException($"Segment is truncated: {data.Length} bytes is shorter than a header and checksum ({HeaderBytes + ChecksumBytes}).");
        }

        ReadOnlySpan<byte> payload = data[..^ChecksumBytes];
        Span<byte> actual = stackalloc byte[ChecksumBytes];
        SHA256.HashData(payload, actual);
        if (!actual.SequenceEqual(data[^ChecksumBytes..]))
        {
            throw new InvalidDataException("Segment checksum mismatch: the data is corrupted or truncated.");
        }

        var reader = new SpanReader(payload, HeaderBytes - sizeof(int));
        int count = reader.ReadInt32();
        if (count < 0 || count > reader.Remaining / MinRecordBytes)
        {
            throw new InvalidDataException($"Segment claims {count} records, which {reader.Remaining} remaining bytes cannot hold.");
        }

        var records = new SegmentRecord[count];
        for (int i = 0; i < count; i++)
        {
            string itemId = reader.ReadString();
            string contentHash = reader.ReadString();
            string modelVersion = reader.ReadString();
            long addedAt = reader.ReadInt64();

            int pairCount = reader.ReadInt32();
            if (pairCount < 0 || pairCount > MaxMetadataPairs || pairCount > reader.Remaining / MinPairBytes)
            {
                throw new InvalidDataException($"Record {i} claims {pairCount} metadata pairs at offset {reader.Position - sizeof(int)}; the limit is {MaxMetadataPairs} and {reader.Remaining} bytes remain.");
            }

            IReadOnlyDictionary<string, string> metadata = ReadOnlyDictionary<string, string>.Empty;
            if (pairCount > 0)
            {
                var map = new Dictionary<string, string>(pairCount, StringComparer.Ordinal);
                for (int p = 0; p < pairCount; p++)
                {
                    string key = reader.ReadString();
                    string value = reader.ReadString();
                    if (!map.TryAdd(key, value))
                    {
                        throw new InvalidDataException($"Record {i} repeats metadata key \"{key}\".");
                    }
                }

                metadata = map.AsReadOnly();
            }

            float[]? vector;
            byte flag = reader.ReadByte();
            switch (flag)
            {
                case TombstoneFlag:
                    vector = null;
                    break;
                case VectorFlag:
                    int dimension = reader.ReadInt32();
                    if (dimension < 0 || dimension > MaxDimension || (long)dimension * sizeof(float) > reader.Remaining)
                    {
                        throw new InvalidDataException($"Record {i} claims a {dimension}-d vector at offset {reader.Position - sizeof(int)}; the limit is {MaxDimension} and {reader.Remaining} bytes remain.");
                    }

                    vector = reader.ReadFloats(dimension);
                    break;
                default:
                    throw new InvalidDataException($"Record {i} has an unknown vector flag {flag} at offset {reader.Position - 1}.");
            }

            records[i] = new SegmentRecord(itemId, contentHash, modelVersion, addedAt, metadata, vector);
        }

        if (reader.Remaining != 0)
        {
            throw new InvalidDataException($"Segment has {reader.Remaining} unexpected bytes after its last record.");
        }

        return records;
    }

    private static long MeasureString(string? value, int record, string field)
    {
        if (value is null)
        {
            throw new ArgumentException($"Record {record} has a null {field}.", "records");
        }

        int bytes;
        try
        {
            bytes = StrictUtf8.GetByteCount(value);
        }
        catch (EncoderFallbackException e)
        {
            throw new ArgumentException($"Record {record} has a {field} that is not valid UTF-16 (lone surrogate).", "records", e);
        }

        if (bytes > MaxStringBytes)
        {
            throw new ArgumentException($"Record {record} has a {field} of {bytes} UTF-8 bytes; at most {MaxStringBytes} are allowed.", "records");
        }

        return sizeof(int) + bytes;
    }

    /// <summary>Sequential little-endian writer over a buffer already sized by the measuring pass.</summary>
    private ref struct SpanWriter(Span<byte> buffer)
    {
        private readonly Span<byte> _buffer = buffer;

        public int Position { get; private set; }

        public void WriteBytes(ReadOnlySpan<byte> bytes)
        {
            bytes.CopyTo(_buffer[Position..]);
            Position += bytes.Length;
        }

        public void WriteByte(byte value) => _buffer[Position++] = value;

        public void WriteInt32(int value)
        {
            BinaryPrimitives.WriteInt32LittleEndian(_buffer[Position..], value);
            Position += sizeof(int);
        }

        public void WriteInt64(long value)
        {
            BinaryPrimitives.WriteInt64LittleEndian(_buffer[Position..], value);
            Position += sizeof(long);
        }

        public void WriteString(string value)
        {
            int length = StrictUtf8.GetBytes(value, _buffer[(Position + sizeof(int))..]);
            WriteInt32(length);
            Position += length;
        }

        public void WriteFloats(ReadOnlySpan<float> values)
        {
            Span<byte> target = _buffer.Slice(Position, values.Length * sizeof(float));
            if (BitConverter.IsLittleEndian)
            {
                MemoryMarshal.AsBytes(values).CopyTo(target);
            }
            else
            {
                for (int i = 0; i < values.Length; i++)
                {
                    BinaryPrimitives.WriteSingleLittleEndian(target[(i * sizeof(float))..], values[i]);
                }
            }

            Position += target.Length;
        }
    }

    /// <summary>Sequential little-endian reader that turns every overrun into an <see cref="InvalidDataException"/>.</summary>
    private ref struct SpanReader(ReadOnlySpan<byte> data, int position)
    {
        private readonly ReadOnlySpan<byte> _data = data;

        public int Position { get; private set; } = position;

        public readonly int Remaining => _data.Length - Position;

        public byte ReadByte()
        {
            Need(1);
            return _data[Position++];
        }

        public int ReadInt32()
        {
            Need(sizeof(int));
            int value = BinaryPrimitives.ReadInt32LittleEndian(_data[Position..]);
            Position += sizeof(int);
            return value;
        }

        public long ReadInt64()
        {
            Need(sizeof(long));
            long value = BinaryPrimitives.ReadInt64LittleEndian(_data[Position..]);
            Position += sizeof(long);
            return value;
        }

        public string ReadString()
        {
            int at = Position;
            int length = ReadInt32();
            if (length < 0 || length > MaxStringBytes || length > Remaining)
            {
                throw new InvalidDataException($"String length {length} at offset {at} is invalid: the limit is {MaxStringBytes} and {Remaining} bytes remain.");
            }

            string value;
            try
            {
                value = StrictUtf8.GetString(_data.Slice(Position, length));
            }
            catch (DecoderFallbackException e)
            {
                throw new InvalidDataException($"String at offset {at} is not valid UTF-8.", e);
            }

            Position += length;
            return value;
        }

        /// <summary>Reads <paramref name="count"/> floats; the caller has checked count against <see cref="Remaining"/>.</summary>
        public float[] ReadFloats(int count)
        {
            Need(count * sizeof(float));
            ReadOnlySpan<byte> source = _data.Slice(Position, count * sizeof(float));
            var values = new float[count];
            if (BitConverter.IsLittleEndian)
            {
                source.CopyTo(MemoryMarshal.AsBytes(values.AsSpan()));
            }
            else
            {
                for (int i = 0; i < count; i++)
                {
                    values[i] = BinaryPrimitives.ReadSingleLittleEndian(source[(i * sizeof(float))..]);
                }
            }

            Position += source.Length;
            return values;
        }

        private readonly void Need(int bytes)
        {
            if (bytes > Remaining)
            {
                throw new InvalidDataException($"Segment is truncated: {bytes} bytes needed at offset {Position}, {Remaining} remain.");
            }
        }
    }
}
