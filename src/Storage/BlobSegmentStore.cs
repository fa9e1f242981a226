using System.Buffers.Binary;
using System.Globalization;
using System.Runtime.CompilerServices;
using Azure;
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Models;

namespace Indexer.Storage;

/// <summary>Where a segment was written: its blob name, sequence number, record count and size in bytes.</summary>
/// <param name="Name">Blob name, <c>{escaped gallery key}/{sequence:D12}.seg</c>; pass it to read or delete the segment.</param>
/// <param name="Sequence">The gallery-local sequence number given at write time.</param>
/// <param name="RecordCount">Number of records (vectors and tombstones) in the segment.</param>
/// <param name="Bytes">Encoded size of the blob.</param>
public sealed record SegmentInfo(string Name, long Sequence, int RecordCount, long Bytes);

/// <summary>
/// Immutable vector segments of galleries, one blob per segment under a per-gallery folder. Segments
/// are never edited: a gallery grain appends new segments and keeps only their names in its state, so its
/// state stays small no matter how many vectors the gallery holds.
/// </summary>
/// <remarks>
/// Gallery keys are escaped with <see cref="Uri.EscapeDataString(string)"/> (plus '.' → %2E so no path segment
/// is "." or "..") into one safe path segment, terminated by '/': the prefix of gallery "u1/g" is
/// "u1%2Fg/", which never matches gallery "u1/g2". Zero-padded sequences list in numeric order.
/// </remarks>
public sealed class BlobSegmentStore
{
    /// <summary>Highest sequence number: the most that fits in 12 zero-padded digits, so names sort numerically.</summary>
    public const long MaxSequence = 999_999_999_999;

    /// <summary>Blob-name suffix of segments; other blobs under a gallery prefix are ignored by listings.</summary>
    private const string Suffix = ".seg";

    /// <summary>Digits in the sequence part of a name (see <see cref="MaxSequence"/>).</summary>
    private const int SequenceDigits = 12;

    /// <summary>Azure's limit on blob-name length, in characters.</summary>
    private const int MaxBlobNameLength = 1024;

    /// <summary>Blob metadata entry holding the record count, so listings need not download segments.</summary>
    private const string RecordCountMetadata = "records";

    /// <summary>Bytes of the segment header that hold the record count (magic, version, count).</summary>
    private const int HeaderBytes = 12;

    private readonly LazyContainer _container;

    /// <summary>Creates a store over <paramref name="containerName"/>; the container is created on first use.</summary>
    public BlobSegmentStore(BlobServiceClient service, string containerName = "segments")
    {
        _container = new LazyContainer(service, containerName);
    }

    /// <summary>Escapes a gallery key into one blob path segment; reversible with <see cref="UnescapeGalleryKey"/>.</summary>
    public static string EscapeGalleryKey(string galleryKey)
    {
        ArgumentException.ThrowIfNullOrEmpty(galleryKey);
        return Uri.EscapeDataString(galleryKey).Replace(".", "%2E", StringComparison.Ordinal);
    }

    /// <summary>Inverse of <see cref="EscapeGalleryKey"/>.</summary>
    public static string UnescapeGalleryKey(string escaped) => Uri.UnescapeDataString(escaped);

    /// <summary>The prefix every segment blob of <paramref name="galleryKey"/> starts with (ends with '/').</summary>
    public static string GalleryPrefix(string galleryKey) => EscapeGalleryKey(galleryKey) + "/";

    /// <summary>The blob name of segment <paramref name="sequence"/> of <paramref name="galleryKey"/>.</summary>
    public static string SegmentName(string galleryKey, long sequence)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(sequence);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(sequence, MaxSequence);
        string name = GalleryPrefix(galleryKey) + sequence.ToString("D12", CultureInfo.InvariantCulture) + Suffix;
        if (name.Length > MaxBlobNameLength)
        {
            throw new ArgumentException($"The escaped gallery key makes a blob name of {name.Length} characters; Azure allows {MaxBlobNameLength}.", nameof(galleryKey));
        }

        return name;
    }

    /// <summary>Splits a segment blob name into its gallery key and sequence; false when it is not a segment name.</summary>
    public static bool TryParseSegmentName(string name, out string galleryKey, out long sequence)
    {
        galleryKey = string.Empty;
        sequence = 0;
        if (string.IsNullOrEmpty(name) || !name.EndsWith(Suffix, StringComparison.Ordinal))
        {
            return false;
        }

        int slash = name.IndexOf('/', StringComparison.Ordinal);
        if (slash <= 0 || slash != name.LastIndexOf('/'))
        {
            return false;
        }

        ReadOnlySpan<char> digits = name.AsSpan(slash + 1, name.Length - slash - 1 - Suffix.Length);
        if (digits.Length != SequenceDigits
            || digits.ContainsAnyExceptInRange('0', '9')
            || !long.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out sequence))
        {
            return false;
        }

        galleryKey = UnescapeGalleryKey(name[..slash]);
        return true;
    }

    /// <summary>
    /// Encodes and writes a segment, overwriting a blob of the same name. Galleries use <see cref="TryCreateAsync"/>,
    /// which never overwrites; this is for tools that rewrite a segment on purpose.
    /// </summary>
    public async Task<SegmentInfo> WriteAsync(string galleryKey, long sequence, IReadOnlyList<SegmentRecord> records, CancellationToken ct)
    {
        string name = SegmentName(galleryKey, sequence);
        long bytes = await UploadAsync(name, records, conditions: null, ct).ConfigureAwait(false);
        return new SegmentInfo(name, sequence, records.Count, bytes);
    }

    /// <summary>
    /// Writes a segment only if no blob has its name yet, and returns null when one has. A writer that gets null takes
    /// the next sequence number: a name once written is never overwritten, so a stale writer (a crashed or partitioned
    /// activation) can never replace a segment that a manifest lists.
    /// </summary>
    public async Task<SegmentInfo?> TryCreateAsync(string galleryKey, long sequence, IReadOnlyList<SegmentRecord> records, CancellationToken ct)
    {
        string name = SegmentName(galleryKey, sequence);
        try
        {
            long bytes = await UploadAsync(name, records, new BlobRequestConditions { IfNoneMatch = ETag.All }, ct).ConfigureAwait(false);
            return new SegmentInfo(name, sequence, records.Count, bytes);
        }
        catch (RequestFailedException ex) when (ex.Status is 409 or 412)
        {
            return null;
        }
    }

    private async Task<long> UploadAsync(string name, IReadOnlyList<SegmentRecord> records, BlobRequestConditions? conditions, CancellationToken ct)
    {
        byte[] bytes = SegmentCodec.Encode(records);
        BlobContainerClient container = await _container.GetAsync(ct).ConfigureAwait(false);
        var options = new BlobUploadOptions
        {
            HttpHeaders = new BlobHttpHeaders { ContentType = "application/octet-stream" },
            Metadata = new Dictionary<string, string>
            {
                [RecordCountMetadata] = records.Count.ToString(CultureInfo.InvariantCulture),
            },
            Conditions = conditions,
        };
        await container.GetBlobClient(name).UploadAsync(BinaryData.FromBytes(bytes), options, ct).ConfigureAwait(false);
        return bytes.Length;
    }

    /// <summary>Reads and decodes the segment called <paramref name="name"/>.</summary>
    /// <exception cref="KeyNotFoundException">No such segment.</exception>
    /// <exception cref="InvalidDataException">The blob is not a valid segment.</exception>
    public async Task<IReadOnlyList<SegmentRecord>> ReadAsync(string name, CancellationToken ct)
    {
        ValidateName(name);
        BlobContainerClient container = await _container.GetAsync(ct).ConfigureAwait(false);
        BlobDownloadResult result;
        try
        {
            result = await container.GetBlobClient(name).DownloadContentAsync(ct).ConfigureAwait(false);
        }
        catch (RequestFailedException e) when (BlobErrors.IsNotFound(e))
        {
            throw new KeyNotFoundException($"No segment named {name}.", e);
        }

        return SegmentCodec.Decode(result.Content.ToMemory().Span);
    }

    /// <summary>Deletes the segment called <paramref name="name"/>; deleting a missing segment does nothing.</summary>
    public async Task DeleteAsync(string name, CancellationToken ct)
    {
        ValidateName(name);
        BlobContainerClient container = await _container.GetAsync(ct).ConfigureAwait(false);
        await container.GetBlobClient(name).DeleteIfExistsAsync(DeleteSnapshotsOption.IncludeSnapshots, conditions: null, ct).ConfigureAwait(false);
    }

    /// <summary>Lists the segments of <paramref name="galleryKey"/> in sequence order.</summary>
    public async IAsyncEnumerable<SegmentInfo> ListAsync(string galleryKey, [EnumeratorCancellation] CancellationToken ct)
    {
        string prefix = GalleryPrefix(galleryKey);
        BlobContainerClient container = await _container.GetAsync(ct).ConfigureAwait(false);
        await foreach (BlobItem item in container.GetBlobsAsync(BlobTraits.Metadata, BlobStates.None, prefix, ct).ConfigureAwait(false))
        {
            if (!TryParseSegmentName(item.Name, out _, out long sequence))
            {
                continue;
            }

            int recordCount = item.Metadata is not null
                && item.Metadata.TryGetValue(RecordCountMetadata, out string? text)
                && int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out int parsed)
                ? parsed
                : await ReadRecordCountAsync(container, item.Name, ct).ConfigureAwait(false);
            yield return new SegmentInfo(item.Name, sequence, recordCount, item.Properties.ContentLength ?? 0);
        }
    }

    /// <summary>Deletes every segment of <paramref name="galleryKey"/>; returns how many were deleted.</summary>
    public async Task<int> DeleteGalleryAsync(string galleryKey, CancellationToken ct)
    {
        var names = new List<string>();
        await foreach (SegmentInfo segment in ListAsync(galleryKey, ct).ConfigureAwait(false))
        {
            names.Add(segment.Name);
        }

        foreach (string name in names)
        {
            await DeleteAsync(name, ct).ConfigureAwait(false);
        }

        return names.Count;
    }

    /// <summary>Fallback for blobs written without the metadata entry: read the count from the header.</summary>
    private static async Task<int> ReadRecordCountAsync(BlobContainerClient container, string name, CancellationToken ct)
    {
        var options = new BlobDownloadOptions { Range = new HttpRange(0, HeaderBytes) };
        BlobDownloadResult header = await container.GetBlobClient(name).DownloadContentAsync(options, ct).ConfigureAwait(false);
        ReadOnlySpan<byte> bytes = header.Content.ToMemory().Span;
        if (bytes.Length < HeaderBytes)
        {
            throw new InvalidDataException($"Segment {name} is shorter than its header.");
        }

        return BinaryPrimitives.ReadInt32LittleEndian(bytes[(HeaderBytes - sizeof(int))..]);
    }

    private static void ValidateName(string name)
    {
        if (!TryParseSegmentName(name, out _, out _))
        {
            throw new ArgumentException($"\"{name}\" is not a segment name ({{escaped gallery key}}/{{sequence:D12}}.seg).", nameof(name));
        }
    }
}
