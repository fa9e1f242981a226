using Indexer.Galleries;

namespace Indexer.Grains.Galleries;

[GenerateSerializer, Alias("indexer.gallery-directory-state")]
public sealed class GalleryDirectoryState
{
    [Id(0)] public SortedSet<string> Galleries { get; set; } = new(StringComparer.Ordinal);
}

/// <summary>One shard of the gallery directory: a sorted set of gallery keys, written only when a gallery is new.</summary>
public sealed class GalleryDirectoryGrain(
    [PersistentState("directory", IndexerStorageNames.GrainStateProvider)] IPersistentState<GalleryDirectoryState> state) : Grain, IGalleryDirectoryGrain
{
    public async Task RegisterAsync(string galleryKey)
    {
        GalleryKey.Parse(galleryKey);
        if (!state.State.Galleries.Add(galleryKey)) return;
        try
        {
            await state.WriteStateAsync();
        }
        catch
        {
            state.State.Galleries.Remove(galleryKey);
            throw;
        }
    }

    public Task<IReadOnlyList<string>> ListAsync(string? after, int limit)
    {
        if (limit is < 1 or > 10_000) throw new IndexerException(IndexerErrorCode.InvalidArgument, $"limit must be between 1 and 10000; got {limit}");
        var set = state.State.Galleries;
        IEnumerable<string> keys = after is null || set.Count == 0 ? set
            : StringComparer.Ordinal.Compare(after, set.Max!) >= 0 ? []
            : set.GetViewBetween(after, set.Max!).Where(k => !string.Equals(k, after, StringComparison.Ordinal));
        return Task.FromResult<IReadOnlyList<string>>(keys.Take(limit).ToList());
    }
}

/// <summary>Work across galleries: every gallery key, shard by shard.</summary>
public static class GalleryDirectory
{
    private const int PageSize = 1000;

    /// <summary>Every registered gallery key (a key whose creation failed after registering may be among them).</summary>
    public static async Task<List<string>> ListAllAsync(IGrainFactory grains)
    {
        var keys = new List<string>();
        for (var shard = 0; shard < IGalleryDirectoryGrain.Shards; shard++)
        {
            string? after = null;
            while (true)
            {
                var page = await grains.GetGrain<IGalleryDirectoryGrain>(shard).ListAsync(after, PageSize);
                keys.AddRange(page);
                if (page.Count < PageSize) break;
                after = page[^1];
            }
        }

        return keys;
    }
}
