using Indexer.Galleries;
using Microsoft.Extensions.Logging;
using Orleans.Storage;

namespace Indexer.Grains.Galleries;

[GenerateSerializer, Alias("indexer.gallery-directory-state")]
public sealed class GalleryDirectoryState
{
    [Id(0)] public SortedSet<string> Galleries { get; set; } = new(StringComparer.Ordinal);
}

/// <summary>One shard of the gallery directory: a sorted set of gallery keys, written only when a gallery is new.</summary>
public sealed partial class GalleryDirectoryGrain(
    [PersistentState("directory", IndexerStorageNames.GrainStateProvider)] IPersistentState<GalleryDirectoryState> state,
    ILogger<GalleryDirectoryGrain> logger) : Grain, IGalleryDirectoryGrain
{
    /// <remarks>
    /// When the write finds the stored record is not the one this activation last wrote (a write that was stored but
    /// whose answer was lost, and which the client retried against the new ETag), the record is read again and the key
    /// added once more: adding a key twice is adding it once. Should that fail as well, the key is taken out of memory,
    /// this copy leaves, the caller gets the error, and the next call activates a copy that reads the stored record.
    /// </remarks>
    public async Task RegisterAsync(string galleryKey)
    {
        GalleryKey.Parse(galleryKey);
        if (!state.State.Galleries.Add(galleryKey)) return;
        try
        {
            await state.WriteStateAsync();
            return;
        }
        catch (InconsistentStateException ex)
        {
            LogStateReread(ex, galleryKey);
        }
        catch
        {
            state.State.Galleries.Remove(galleryKey);
            throw;
        }

        try
        {
            await state.ReadStateAsync();
            if (!state.State.Galleries.Add(galleryKey)) return;
            await state.WriteStateAsync();
        }
        catch (Exception ex)
        {
            LogStateStale(ex, galleryKey);
            state.State.Galleries.Remove(galleryKey);
            DeactivateOnIdle();
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

    [LoggerMessage(Level = LogLevel.Warning, Message = "Gallery directory: the stored record changed under this activation while registering {Gallery}; it reads the record again and adds the key once more")]
    private partial void LogStateReread(Exception ex, string gallery);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Gallery directory: {Gallery} could not be registered after reading the record again; the activation deactivates and the next call reads the stored record")]
    private partial void LogStateStale(Exception ex, string gallery);
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
