using Indexer.Embedding;
using Indexer.Galleries;
using Indexer.Models;
using Indexer.Storage;

namespace Indexer.Client;

/// <summary>
/// Indexer for .NET services that talk to the cluster through Orleans. It checks images, stores their bytes
/// (content-addressed) and hands the gallery grain references only, so image bytes never travel through a gallery.
/// Callers here are trusted with any user's galleries: user-level authorisation happens at the HTTP front end.
/// </summary>
public sealed class IndexerClient(IGrainFactory grains, BlobImageStore images, BlobModelStore models)
{
    public GalleryClient Gallery(string userId, string galleryId) => new(grains, images, GalleryKey.Create(userId, galleryId));

    public Task<IReadOnlyList<ModelVersionInfo>> ListModelsAsync() => Registry.ListAsync();

    public Task<ModelVersionInfo?> GetModelAsync(string version) => Registry.GetAsync(version);

    /// <summary>
    /// Retires a model version: it can no longer be rolled out. Refused while queries, uploads or a route use it (roll
    /// out and commit another version first). Idempotent.
    /// </summary>
    public Task<ModelVersionInfo> RetireModelAsync(string version) => Registry.RetireAsync(version);

    public Task<string?> GetCurrentModelAsync() => Registry.GetCurrentAsync();

    /// <summary>Every gallery of the cluster (user/gallery keys), shard by shard; for operators and cross-gallery jobs.</summary>
    public async IAsyncEnumerable<GalleryKey> ListGalleriesAsync()
    {
        const int page = 1000;
        for (var shard = 0; shard < IGalleryDirectoryGrain.Shards; shard++)
        {
            var directory = grains.GetGrain<IGalleryDirectoryGrain>(shard);
            string? after = null;
            while (true)
            {
                var keys = await directory.ListAsync(after, page);
                foreach (var key in keys) yield return GalleryKey.Parse(key);
                if (keys.Count < page) break;
                after = keys[^1];
            }
        }
    }

    /// <summary>
    /// Registers a model version from its ONNX artifact and manifest: the manifest is checked, both are stored, and an
    /// embedding worker loads the artifact and runs it on a probe image. If anything fails, the error says what and
    /// nothing stays registered or stored. Registering does not make the version current.
    /// </summary>
    public async Task<ModelVersionInfo> RegisterModelAsync(ReadOnlyMemory<byte> onnx, string manifestJson, CancellationToken cancellationToken = default)
    {
        ModelManifest manifest;
        try
        {
            manifest = ModelManifest.FromJson(manifestJson);
        }
        catch (InvalidModelException ex)
        {
            throw new IndexerException(IndexerErrorCode.InvalidModel, $"the manifest is not valid: {ex.Message}");
        }

        Ids.Require(manifest.Version, "model version");
        if (await Registry.GetAsync(manifest.Version) is not null)
        {
            throw new IndexerException(IndexerErrorCode.Conflict, $"model version '{manifest.Version}' is already registered; register the new model under a new version");
        }

        if (onnx.IsEmpty) throw new IndexerException(IndexerErrorCode.InvalidModel, "the model artifact is empty");
        await models.PutAsync(manifest.Version, onnx, manifest.ToJson(), cancellationToken);
        try
        {
            return await Registry.RegisterAsync(manifest.Version);
        }
        catch (IndexerException ex) when (ex.Code is IndexerErrorCode.InvalidModel or IndexerErrorCode.NotFound)
        {
            await models.DeleteAsync(manifest.Version, CancellationToken.None);
            throw;
        }
    }

    private IModelRegistryGrain Registry => grains.GetGrain<IModelRegistryGrain>(IModelRegistryGrain.Key);
}

/// <summary>Operations on one gallery.</summary>
public sealed class GalleryClient
{
    private readonly IGrainFactory _grains;
    private readonly BlobImageStore _images;
    private readonly IGalleryGrain _gallery;

    internal GalleryClient(IGrainFactory grains, BlobImageStore images, GalleryKey key)
    {
        _grains = grains;
        _images = images;
        Key = key;
        _gallery = grains.GetGrain<IGalleryGrain>(key.ToString());
    }

    public GalleryKey Key { get; }

    public Task<GalleryStats> CreateAsync() => _gallery.CreateAsync();

    public Task<GalleryStats> GetStatsAsync() => _gallery.GetStatsAsync();

    /// <summary>
    /// Checks each image (format, size, pixel count), stores the good ones and adds them to the gallery in one batch.
    /// A bad image is rejected with its reason and does not stop the others.
    /// </summary>
    public async Task<AddImagesResult> UploadAsync(IReadOnlyList<ImageUpload> uploads, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(uploads);
        var rejected = new List<ItemError>();
        var toAdd = new List<ImageToAdd>(uploads.Count);
        foreach (var upload in uploads)
        {
            if (upload.ItemId is null || !Ids.IsValid(upload.ItemId))
            {
                rejected.Add(new ItemError(upload.ItemId ?? "", $"item id '{upload.ItemId}' is not valid: use 1 to {Ids.MaxLength} letters, digits, '.', '_', '-' or spaces"));
                continue;
            }

            try
            {
                ImageDecoder.Probe(upload.Bytes.Span, ImageLimits.Default);
            }
            catch (InvalidImageException ex)
            {
                rejected.Add(new ItemError(upload.ItemId, ex.Message));
                continue;
            }

            var hash = await _images.PutAsync(upload.Bytes, contentType: null, cancellationToken);
            toAdd.Add(new ImageToAdd(upload.ItemId, hash, upload.Metadata ?? new Dictionary<string, string>()));
        }

        if (toAdd.Count == 0 && rejected.Count > 0 && uploads.Count > 0)
        {
            return new AddImagesResult([], [], rejected);
        }

        var result = await _gallery.AddImagesAsync(toAdd);
        return rejected.Count == 0 ? result : result with { Rejected = [.. rejected, .. result.Rejected] };
    }

    /// <summary>
    /// Searches the gallery with <paramref name="image"/>, embedded by the gallery with the serving model version (and
    /// with an old version too where old items are served in their own space).
    /// </summary>
    public async Task<SearchResult> SearchByImageAsync(ReadOnlyMemory<byte> image, int k)
    {
        // A corrupt or oversized image is refused here, before it travels to the cluster.
        try
        {
            ImageDecoder.Probe(image.Span, ImageLimits.Default);
        }
        catch (InvalidImageException ex)
        {
            throw new IndexerException(IndexerErrorCode.InvalidImage, ex.Message);
        }

        return await _gallery.SearchByImageAsync(image.ToArray(), k);
    }

    public Task<SearchResult> SearchByItemAsync(string itemId, int k) => _gallery.SearchByItemAsync(itemId, k);

    /// <summary>Searches with many query vectors in one call (one pass over the gallery per block of queries).</summary>
    public Task<IReadOnlyList<SearchResult>> SearchManyAsync(IReadOnlyList<QueryEmbedding> queries, int k) => _gallery.SearchManyAsync(queries, k);

    public Task<bool> DeleteAsync(string itemId) => _gallery.DeleteItemAsync(itemId);

    public Task<GalleryItem?> GetItemAsync(string itemId) => _gallery.GetItemAsync(itemId);

    public Task<ItemPage> ListAsync(string? after = null, int limit = 100) => _gallery.ListItemsAsync(after, limit);

    /// <summary>
    /// The gallery's clusters, largest first, each with up to <paramref name="representatives"/> items nearest its centre;
    /// small unnamed clusters only with <paramref name="includeHidden"/>.
    /// </summary>
    public Task<IReadOnlyList<ClusterInfo>> ListClustersAsync(int representatives = 3, bool includeHidden = false) =>
        _gallery.ListClustersAsync(representatives, includeHidden);

    /// <summary>A page of a cluster's items in item-id order.</summary>
    public Task<ClusterPage> GetClusterItemsAsync(long clusterId, int offset = 0, int limit = 100) => _gallery.GetClusterItemsAsync(clusterId, offset, limit);

    /// <summary>Names or renames a cluster; the name stays with it through model upgrades.</summary>
    public Task<ClusterInfo> NameClusterAsync(long clusterId, string name) => _gallery.NameClusterAsync(clusterId, name);

    /// <summary>Merges <paramref name="fromClusterId"/> into <paramref name="intoClusterId"/>; returns the merged cluster.</summary>
    public Task<ClusterInfo> MergeClustersAsync(long intoClusterId, long fromClusterId) => _gallery.MergeClustersAsync(intoClusterId, fromClusterId);

    /// <summary>Moves an item into a cluster and pins it there (a correction nothing undoes); returns the cluster.</summary>
    public Task<ClusterInfo> MoveItemToClusterAsync(string itemId, long clusterId) => _gallery.MoveItemAsync(itemId, clusterId);

    /// <summary>Takes an item out of every cluster, for good.</summary>
    public Task MoveItemOutOfClusterAsync(string itemId) => _gallery.MoveItemOutAsync(itemId);

    /// <summary>Runs a refinement pass over the gallery's clusters now.</summary>
    public Task<ClusterRefineSummary> RefineClustersAsync() => _gallery.RefineClustersAsync();

    /// <summary>The clusters' state and the latest moves the clustering made on its own (upgrades' re-embedding, refinement).</summary>
    public Task<ClusterReport> GetClusterReportAsync() => _gallery.GetClusterMovesAsync();

    /// <summary>Open suggestions: members of named clusters the clustering would have moved and left to the user, strongest evidence first.</summary>
    public Task<IReadOnlyList<ClusterMoveRecord>> ListClusterSuggestionsAsync() => _gallery.ListClusterSuggestionsAsync();

    /// <summary>Accepts an item's open suggestion: it moves to the suggested cluster and is pinned there; returns that cluster.</summary>
    public Task<ClusterInfo> AcceptClusterSuggestionAsync(string itemId) => _gallery.AcceptClusterSuggestionAsync(itemId);

    /// <summary>Dismisses an item's open suggestion: it stays in its named cluster, pinned; returns that cluster.</summary>
    public Task<ClusterInfo> DismissClusterSuggestionAsync(string itemId) => _gallery.DismissClusterSuggestionAsync(itemId);

    /// <summary>Polls until nothing is pending, reporting each change of the stats; returns the final stats.</summary>
    public async Task<GalleryStats> WaitUntilIndexedAsync(IProgress<GalleryStats>? progress = null, TimeSpan? pollInterval = null, CancellationToken cancellationToken = default)
    {
        var interval = pollInterval ?? TimeSpan.FromMilliseconds(200);
        while (true)
        {
            var stats = await _gallery.GetStatsAsync();
            progress?.Report(stats);
            if (stats.Pending == 0) return stats;
            await Task.Delay(interval, cancellationToken);
        }
    }
}
