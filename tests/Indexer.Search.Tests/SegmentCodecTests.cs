using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using Indexer.Storage;

namespace Indexer.Search.Tests;

public sealed class SegmentCodecTests
{
    /// <summary>Header (12) + checksum (32): the fixed cost of any segment.</summary>
    private const int FixedBytes = 12 + 32;

    [Fact]
    public void Round_trip_preserves_every_field()
    {
        var random = new Random(42);
        SegmentRecord[] records =
        [
            new("item-1", new string('a', 64), "resnet18-v1", 1_700_000_000_123, Meta(("title", "cat"), ("source", "upload")), TestData.RandomVector(random, 512)),
            new("item-2", new string('b', 64), "resnet18-v1", 0, Meta(), TestData.RandomVector(random, 512)),
            new("gone", "", "", -5, Meta(), null),
            new("画像/🐱:1\u0301", "h", "clip-v2", long.MaxValue, Meta(("ключ", "値 🎨"), ("", "")), TestData.RandomVector(random, 768)),
            new("tiny", "h", "m", long.MinValue, Meta(("k", "v")), [1.5f]),
            new("empty-vector", "h", "m", 1, Meta(), []),
            new("special-floats", "h", "m", 1, Meta(), [float.NaN, float.PositiveInfinity, -0f, float.Epsilon, float.MaxValue]),
        ];

        IReadOnlyList<SegmentRecord> decoded = SegmentCodec.Decode(SegmentCodec.Encode(records));
        AssertSameRecords(records, decoded);
    }

    [Fact]
    public void Empty_segment_round_trips()
    {
        byte[] bytes = SegmentCodec.Encode([]);
        Assert.Equal(FixedBytes, bytes.Length);
        Assert.Empty(SegmentCodec.Decode(bytes));
    }

    [Fact]
    public void Layout_starts_with_magic_version_and_count()
    {
        byte[] bytes = SegmentCodec.Encode([new("a", "b", "c", 1, Meta(), null), new("d", "e", "f", 2, Meta(), null)]);
        Assert.Equal("IXSG"u8.ToArray(), bytes[..4]);
        Assert.Equal(1, BinaryPrimitives.ReadInt32LittleEndian(bytes.AsSpan(4)));
        Assert.Equal(2, BinaryPrimitives.ReadInt32LittleEndian(bytes.AsSpan(8)));
        Assert.Equal(SHA256.HashData(bytes.AsSpan(0, bytes.Length - 32)), bytes[^32..]);
    }

    [Fact]
    public void Encoding_is_deterministic_whatever_the_metadata_order()
    {
        var first = new Dictionary<string, string> { ["b"] = "2", ["a"] = "1", ["c"] = "3" };
        var second = new Dictionary<string, string> { ["c"] = "3", ["a"] = "1", ["b"] = "2" };
        byte[] one = SegmentCodec.Encode([new("x", "h", "m", 1, first, [1f, 2f])]);
        byte[] two = SegmentCodec.Encode([new("x", "h", "m", 1, second, [1f, 2f])]);
        Assert.Equal(one, two);
    }

    [Fact]
    public void A_512d_record_costs_at_most_2148_bytes_plus_its_strings()
    {
        var record = new SegmentRecord("item-123", new string('f', 64), "resnet18-v1", 1_700_000_000_000, Meta(("k", "value")), new float[512]);
        int strings = Encoding.UTF8.GetByteCount("item-123") + 64 + Encoding.UTF8.GetByteCount("resnet18-v1") + 1 + 5;
        byte[] bytes = SegmentCodec.Encode([record]);
        int recordBytes = bytes.Length - FixedBytes;
        Assert.True(recordBytes <= 2048 + 100 + strings, $"record took {recordBytes} bytes");

        // And 1000 such records stay within the same per-record budget.
        byte[] many = SegmentCodec.Encode(Enumerable.Repeat(record, 1000).ToArray());
        Assert.True(many.Length - FixedBytes <= 1000 * (2048 + 100 + strings));
    }

    [Fact]
    public void Decode_rejects_empty_and_short_input()
    {
        AssertInvalid([], "truncated");
        AssertInvalid("IX"u8.ToArray(), "truncated");
        AssertInvalid("IXSG"u8.ToArray(), "truncated");
        AssertInvalid([.. "IXSG"u8, 1, 0, 0, 0], "truncated");
    }

    [Fact]
    public void Decode_rejects_bad_magic()
    {
        byte[] bytes = SegmentCodec.Encode([new("a", "b", "c", 1, Meta(), [1f])]);
        bytes[0] = (byte)'J';
        AssertInvalid(bytes, "magic");
        AssertInvalid(Encoding.UTF8.GetBytes("{\"json\": \"not a segment at all, but long enough to have a checksum\"}"), "magic");
    }

    [Theory]
    [InlineData(0)]
    [InlineData(2)]
    [InlineData(-1)]
    public void Decode_rejects_unknown_version(int version)
    {
        byte[] bytes = SegmentCodec.Encode([new("a", "b", "c", 1, Meta(), [1f])]);
        BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(4), version);
        AssertInvalid(Reseal(bytes), "version");
    }

    [Fact]
    public void Decode_rejects_every_truncation()
    {
        byte[] bytes = SegmentCodec.Encode(
        [
            new("a", "hash", "m1", 1, Meta(("k", "v")), [1f, 2f, 3f]),
            new("b", "hash", "m1", 2, Meta(), null),
        ]);
        for (int length = 0; length < bytes.Length; length++)
        {
            Assert.Throws<InvalidDataException>(() => SegmentCodec.Decode(bytes.AsSpan(0, length)));
        }
    }

    [Fact]
    public void Decode_rejects_every_single_bit_flip()
    {
        byte[] original = SegmentCodec.Encode([new("a", "hash", "m1", 1, Meta(("k", "v")), [1f, 2f])]);
        for (int i = 0; i < original.Length; i++)
        {
            for (int bit = 0; bit < 8; bit++)
            {
                byte[] bytes = (byte[])original.Clone();
                bytes[i] ^= (byte)(1 << bit);
                Assert.Throws<InvalidDataException>(() => SegmentCodec.Decode(bytes));
            }
        }
    }

    [Fact]
    public void Decode_reports_checksum_mismatch()
    {
        byte[] bytes = SegmentCodec.Encode([new("a", "b", "c", 1, Meta(), [1f, 2f])]);
        bytes[^40] ^= 0x55; // inside the vector
        AssertInvalid(bytes, "checksum");
        bytes = SegmentCodec.Encode([new("a", "b", "c", 1, Meta(), [1f, 2f])]);
        bytes[^1] ^= 0x01; // inside the checksum itself
        AssertInvalid(bytes, "checksum");
    }

    [Theory]
    [InlineData(int.MaxValue)]
    [InlineData(-1)]
    [InlineData(2)]
    public void Decode_rejects_record_count_the_data_cannot_hold(int count)
    {
        byte[] payload = Payload(w =>
        {
            w.Write(count);
            WriteRecordHead(w, "a");
            w.Write(0); // metadata pairs
            w.Write((byte)0); // tombstone
        });
        Assert.Throws<InvalidDataException>(() => SegmentCodec.Decode(Reseal(payload)));
    }

    [Theory]
    [InlineData(int.MaxValue)]
    [InlineData(-1)]
    [InlineData(64 * 1024 + 1)]
    [InlineData(100)]
    public void Decode_rejects_absurd_string_length(int length)
    {
        byte[] payload = Payload(w =>
        {
            w.Write(1);
            w.Write(length);
            w.Write(new byte[40]);
        });
        AssertInvalid(Reseal(payload), "length");
    }

    [Theory]
    [InlineData(int.MaxValue)]
    [InlineData(-7)]
    [InlineData(1025)]
    [InlineData(50)]
    public void Decode_rejects_absurd_metadata_count(int pairs)
    {
        byte[] payload = Payload(w =>
        {
            w.Write(1);
            WriteRecordHead(w, "a");
            w.Write(pairs);
            w.Write(new byte[64]);
        });
        AssertInvalid(Reseal(payload), "metadata pairs");
    }

    [Theory]
    [InlineData(int.MaxValue)]
    [InlineData(-1)]
    [InlineData(64 * 1024 + 1)]
    [InlineData(1000)]
    public void Decode_rejects_absurd_dimension(int dimension)
    {
        byte[] payload = Payload(w =>
        {
            w.Write(1);
            WriteRecordHead(w, "a");
            w.Write(0);
            w.Write((byte)1);
            w.Write(dimension);
            w.Write(new byte[16]);
        });
        AssertInvalid(Reseal(payload), "-d vector");
    }

    [Fact]
    public void Decode_rejects_unknown_vector_flag()
    {
        byte[] payload = Payload(w =>
        {
            w.Write(1);
            WriteRecordHead(w, "a");
            w.Write(0);
            w.Write((byte)7);
        });
        AssertInvalid(Reseal(payload), "vector flag");
    }

    [Fact]
    public void Decode_rejects_duplicate_metadata_key()
    {
        byte[] payload = Payload(w =>
        {
            w.Write(1);
            WriteRecordHead(w, "a");
            w.Write(2);
            WriteString(w, "k");
            WriteString(w, "1");
            WriteString(w, "k");
            WriteString(w, "2");
            w.Write((byte)0);
        });
        AssertInvalid(Reseal(payload), "repeats");
    }

    [Fact]
    public void Decode_rejects_invalid_utf8()
    {
        byte[] payload = Payload(w =>
        {
            w.Write(1);
            w.Write(2);
            w.Write([(byte)0xC3, (byte)0x28]);
            WriteString(w, "h");
            WriteString(w, "m");
            w.Write(1L);
            w.Write(0);
            w.Write((byte)0);
        });
        AssertInvalid(Reseal(payload), "UTF-8");
    }

    [Fact]
    public void Decode_rejects_trailing_bytes()
    {
        byte[] bytes = SegmentCodec.Encode([new("a", "b", "c", 1, Meta(), null)]);
        byte[] payload = [.. bytes[..^32], 0, 0, 0];
        AssertInvalid(Reseal(payload), "unexpected bytes");
    }

    [Fact]
    public void Encode_rejects_invalid_records()
    {
        Assert.Throws<ArgumentNullException>(() => SegmentCodec.Encode(null!));
        Assert.Throws<ArgumentException>(() => SegmentCodec.Encode([null!]));
        Assert.Throws<ArgumentException>(() => SegmentCodec.Encode([new(null!, "h", "m", 1, Meta(), null)]));
        Assert.Throws<ArgumentException>(() => SegmentCodec.Encode([new("a", "h", "m", 1, null!, null)]));
        Assert.Throws<ArgumentException>(() => SegmentCodec.Encode([new("bad\ud800", "h", "m", 1, Meta(), null)]));
        Assert.Throws<ArgumentException>(() => SegmentCodec.Encode([new(new string('x', 64 * 1024 + 1), "h", "m", 1, Meta(), null)]));
        Assert.Throws<ArgumentException>(() => SegmentCodec.Encode([new("a", "h", "m", 1, Meta(), new float[64 * 1024 + 1])]));
    }

    [Fact]
    public void Tombstone_flag_is_exposed()
    {
        Assert.True(new SegmentRecord("a", "h", "m", 1, Meta(), null).IsTombstone);
        Assert.False(new SegmentRecord("a", "h", "m", 1, Meta(), []).IsTombstone);
    }

    internal static IReadOnlyDictionary<string, string> Meta(params (string Key, string Value)[] pairs) =>
        pairs.ToDictionary(p => p.Key, p => p.Value, StringComparer.Ordinal);

    internal static void AssertSameRecords(IReadOnlyList<SegmentRecord> expected, IReadOnlyList<SegmentRecord> actual)
    {
        Assert.Equal(expected.Count, actual.Count);
        for (int i = 0; i < expected.Count; i++)
        {
            SegmentRecord e = expected[i];
            SegmentRecord a = actual[i];
            Assert.Equal(e.ItemId, a.ItemId);
            Assert.Equal(e.ContentHash, a.ContentHash);
            Assert.Equal(e.ModelVersion, a.ModelVersion);
            Assert.Equal(e.AddedAtUnixMs, a.AddedAtUnixMs);
            Assert.Equal(
                e.Metadata.OrderBy(p => p.Key, StringComparer.Ordinal),
                a.Metadata.OrderBy(p => p.Key, StringComparer.Ordinal));
            if (e.Vector is null)
            {
                Assert.Null(a.Vector);
            }
            else
            {
                Assert.NotNull(a.Vector);
                Assert.Equal(
                    e.Vector.Select(BitConverter.SingleToInt32Bits),
                    a.Vector.Select(BitConverter.SingleToInt32Bits));
            }
        }
    }

    private static void AssertInvalid(byte[] data, string messagePart)
    {
        InvalidDataException e = Assert.Throws<InvalidDataException>(() => SegmentCodec.Decode(data));
        Assert.Contains(messagePart, e.Message, StringComparison.OrdinalIgnoreCase);
    }

    /// <summary>Magic + version 1 followed by whatever <paramref name="body"/> writes (starting with the record count).</summary>
    private static byte[] Payload(Action<BinaryWriter> body)
    {
        using var stream = new MemoryStream();
        using (var writer = new BinaryWriter(stream, Encoding.UTF8, leaveOpen: true))
        {
            writer.Write("IXSG"u8);
            writer.Write(1);
            body(writer);
        }

        return stream.ToArray();
    }

    /// <summary>Appends a valid checksum, so a test reaches the structural checks behind it.</summary>
    private static byte[] Reseal(byte[] payload) => [.. payload, .. SHA256.HashData(payload)];

    private static void WriteRecordHead(BinaryWriter w, string itemId)
    {
        WriteString(w, itemId);
        WriteString(w, "hash");
        WriteString(w, "model");
        w.Write(123L);
    }

    private static void WriteString(BinaryWriter w, string value)
    {
        byte[] bytes = Encoding.UTF8.GetBytes(value);
        w.Write(bytes.Length);
        w.Write(bytes);
    }
}
