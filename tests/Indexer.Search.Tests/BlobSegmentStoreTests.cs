using Azure.Storage.Blobs;
using Indexer.Storage;

namespace Indexer.Search.Tests;

[Collection(AzuriteCollection.Name)]
[Trait("Category", "Storage")]
public sealed class BlobSegmentStoreTests(AzuriteFixture azurite)
{
    private readonly string _containerName = AzuriteFixture.NewContainerName("segments");

    private BlobSegmentStore NewStore() => new(azurite.Service, _containerName);

    [Fact]
    public async Task Write_then_read_round_trips_records()
    {
        BlobSegmentStore store = NewStore();
        SegmentRecord[] records = Records(seed: 1, count: 20);
        SegmentInfo info = await store.WriteAsync("u1/g", 7, records, CancellationToken.None);

        Assert.Equal("u1%2Fg/000000000007.seg", info.Name);
        Assert.Equal(7, info.Sequence);
        Assert.Equal(20, info.RecordCount);
        Assert.Equal(SegmentCodec.Encode(records).Length, info.Bytes);

        SegmentCodecTests.AssertSameRecords(records, await store.ReadAsync(info.Name, CancellationToken.None));
    }

    [Fact]
    public async Task Rewriting_a_segment_name_overwrites_it()
    {
        BlobSegmentStore store = NewStore();
        await store.WriteAsync("g", 1, Records(seed: 2, count: 3), CancellationToken.None);
        SegmentRecord[] second = Records(seed: 3, count: 5);
        SegmentInfo info = await store.WriteAsync("g", 1, second, CancellationToken.None);

        SegmentCodecTests.AssertSameRecords(second, await store.ReadAsync(info.Name, CancellationToken.None));
        SegmentInfo listed = Assert.Single(await ListAsync(store, "g"));
        Assert.Equal(info, listed);
    }

    [Fact]
    public async Task TryCreate_never_overwrites_a_taken_name()
    {
        BlobSegmentStore store = NewStore();
        SegmentRecord[] first = Records(seed: 4, count: 3);
        SegmentInfo? created = await store.TryCreateAsync("g", 1, first, CancellationToken.None);
        SegmentInfo? again = await store.TryCreateAsync("g", 1, Records(seed: 5, count: 4), CancellationToken.None);
        SegmentInfo? next = await store.TryCreateAsync("g", 2, Records(seed: 5, count: 4), CancellationToken.None);

        Assert.NotNull(created);
        Assert.Null(again);
        Assert.NotNull(next);
        SegmentCodecTests.AssertSameRecords(first, await store.ReadAsync(created.Name, CancellationToken.None));
    }

    [Fact]
    public async Task List_returns_segments_in_sequence_order_with_counts_and_sizes()
    {
        BlobSegmentStore store = NewStore();
        var written = new List<SegmentInfo>();
        foreach (long sequence in new long[] { 10, 2, 1000, 0 })
        {
            written.Add(await store.WriteAsync("gallery", sequence, Records(seed: (int)sequence, count: (int)(sequence % 7) + 1), CancellationToken.None));
        }

        List<SegmentInfo> listed = await ListAsync(store, "gallery");
        Assert.Equal(written.OrderBy(s => s.Sequence), listed);
    }

    [Fact]
    public async Task Galleries_whose_keys_are_prefixes_of_each_other_stay_apart()
    {
        BlobSegmentStore store = NewStore();
        await store.WriteAsync("u1/g", 1, Records(seed: 1, count: 1), CancellationToken.None);
        await store.WriteAsync("u1/g2", 1, Records(seed: 2, count: 2), CancellationToken.None);
        await store.WriteAsync("u1/g2", 2, Records(seed: 3, count: 3), CancellationToken.None);
        await store.WriteAsync("u1", 1, Records(seed: 4, count: 4), CancellationToken.None);
        await store.WriteAsync("u1/g/x", 1, Records(seed: 5, count: 5), CancellationToken.None);

        Assert.Equal([1], (await ListAsync(store, "u1/g")).Select(s => s.RecordCount));
        Assert.Equal([2, 3], (await ListAsync(store, "u1/g2")).Select(s => s.RecordCount));
        Assert.Equal([4], (await ListAsync(store, "u1")).Select(s => s.RecordCount));
        Assert.Equal([5], (await ListAsync(store, "u1/g/x")).Select(s => s.RecordCount));
        Assert.Empty(await ListAsync(store, "u"));
    }

    [Theory]
    [InlineData("ユーザー/ギャラリー:1 🎨")]
    [InlineData("tenant:42/über gallery")]
    [InlineData(".")]
    [InlineData("..")]
    [InlineData("a%2Fb")]
    [InlineData("trailing/")]
    public async Task Unusual_gallery_keys_round_trip(string galleryKey)
    {
        BlobSegmentStore store = NewStore();
        SegmentRecord[] records = Records(seed: galleryKey.Length, count: 2);
        SegmentInfo info = await store.WriteAsync(galleryKey, 3, records, CancellationToken.None);

        Assert.True(BlobSegmentStore.TryParseSegmentName(info.Name, out string parsedKey, out long sequence));
        Assert.Equal(galleryKey, parsedKey);
        Assert.Equal(3, sequence);
        Assert.Equal([info], await ListAsync(store, galleryKey));
        SegmentCodecTests.AssertSameRecords(records, await store.ReadAsync(info.Name, CancellationToken.None));
    }

    [Fact]
    public async Task Read_of_missing_segment_throws_KeyNotFound()
    {
        BlobSegmentStore store = NewStore();
        await Assert.ThrowsAsync<KeyNotFoundException>(() => store.ReadAsync(BlobSegmentStore.SegmentName("nobody", 1), CancellationToken.None));
    }

    [Fact]
    public async Task Read_of_a_corrupted_blob_throws_InvalidData()
    {
        BlobSegmentStore store = NewStore();
        SegmentInfo info = await store.WriteAsync("g", 1, Records(seed: 1, count: 2), CancellationToken.None);
        await Container().GetBlobClient(info.Name).UploadAsync(BinaryData.FromString("garbage that is not a segment at all......"), overwrite: true);
        await Assert.ThrowsAsync<InvalidDataException>(() => store.ReadAsync(info.Name, CancellationToken.None));
    }

    [Fact]
    public async Task Delete_is_idempotent_and_DeleteGallery_removes_only_that_gallery()
    {
        BlobSegmentStore store = NewStore();
        SegmentInfo a = await store.WriteAsync("g", 1, Records(seed: 1, count: 1), CancellationToken.None);
        await store.WriteAsync("g", 2, Records(seed: 2, count: 1), CancellationToken.None);
        await store.WriteAsync("g2", 1, Records(seed: 3, count: 1), CancellationToken.None);

        await store.DeleteAsync(a.Name, CancellationToken.None);
        await store.DeleteAsync(a.Name, CancellationToken.None);
        Assert.Equal([2L], (await ListAsync(store, "g")).Select(s => s.Sequence));

        Assert.Equal(1, await store.DeleteGalleryAsync("g", CancellationToken.None));
        Assert.Empty(await ListAsync(store, "g"));
        Assert.Single(await ListAsync(store, "g2"));
    }

    [Fact]
    public async Task List_reads_the_count_from_the_header_when_metadata_is_missing()
    {
        BlobSegmentStore store = NewStore();
        await store.WriteAsync("g", 0, [], CancellationToken.None); // creates the container
        SegmentRecord[] records = Records(seed: 9, count: 4);
        string name = BlobSegmentStore.SegmentName("g", 5);
        await Container().GetBlobClient(name).UploadAsync(BinaryData.FromBytes(SegmentCodec.Encode(records)), overwrite: true);

        SegmentInfo listed = (await ListAsync(store, "g")).Single(s => s.Sequence == 5);
        Assert.Equal(4, listed.RecordCount);
    }

    [Fact]
    public async Task List_ignores_blobs_that_are_not_segments()
    {
        BlobSegmentStore store = NewStore();
        await store.WriteAsync("g", 1, Records(seed: 1, count: 1), CancellationToken.None);
        await Container().GetBlobClient("g/notes.txt").UploadAsync(BinaryData.FromString("x"), overwrite: true);
        await Container().GetBlobClient("g/sub/000000000001.seg").UploadAsync(BinaryData.FromString("x"), overwrite: true);
        Assert.Single(await ListAsync(store, "g"));
    }

    [Fact]
    public void Names_escape_reversibly_and_reject_bad_input()
    {
        Assert.Equal("u1%2Fg%3Ax/000000000012.seg", BlobSegmentStore.SegmentName("u1/g:x", 12));
        Assert.Equal("%2E%2E/000000000000.seg", BlobSegmentStore.SegmentName("..", 0));
        Assert.Throws<ArgumentException>(() => BlobSegmentStore.SegmentName("", 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => BlobSegmentStore.SegmentName("g", -1));
        Assert.Throws<ArgumentOutOfRangeException>(() => BlobSegmentStore.SegmentName("g", BlobSegmentStore.MaxSequence + 1));
        Assert.Throws<ArgumentException>(() => BlobSegmentStore.SegmentName(new string('é', 200), 1));

        Assert.False(BlobSegmentStore.TryParseSegmentName("g/1.seg", out _, out _));
        Assert.False(BlobSegmentStore.TryParseSegmentName("g/00000000000a.seg", out _, out _));
        Assert.False(BlobSegmentStore.TryParseSegmentName("000000000001.seg", out _, out _));
        Assert.False(BlobSegmentStore.TryParseSegmentName("g/x/000000000001.seg", out _, out _));
        Assert.False(BlobSegmentStore.TryParseSegmentName("g/000000000001.bin", out _, out _));
    }

    [Fact]
    public async Task Read_and_delete_reject_names_that_are_not_segment_names()
    {
        BlobSegmentStore store = NewStore();
        await Assert.ThrowsAsync<ArgumentException>(() => store.ReadAsync("../images/abc", CancellationToken.None));
        await Assert.ThrowsAsync<ArgumentException>(() => store.DeleteAsync("whatever", CancellationToken.None));
    }

    private BlobContainerClient Container() => azurite.Service.GetBlobContainerClient(_containerName);

    private static async Task<List<SegmentInfo>> ListAsync(BlobSegmentStore store, string galleryKey)
    {
        var list = new List<SegmentInfo>();
        await foreach (SegmentInfo info in store.ListAsync(galleryKey, CancellationToken.None))
        {
            list.Add(info);
        }

        return list;
    }

    private static SegmentRecord[] Records(int seed, int count)
    {
        var random = new Random(seed);
        return
        [
            .. Enumerable.Range(0, count).Select(i => new SegmentRecord(
                $"item-{seed}-{i}",
                BlobImageStore.ComputeHash([(byte)seed, (byte)i]),
                i % 3 == 0 ? "model-b" : "model-a",
                1_700_000_000_000 + i,
                SegmentCodecTests.Meta(("n", i.ToString(System.Globalization.CultureInfo.InvariantCulture))),
                i % 4 == 3 ? null : TestData.RandomVector(random, i % 3 == 0 ? 64 : 32))),
        ];
    }
}
