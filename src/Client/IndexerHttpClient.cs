using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Indexer.Galleries;
using Indexer.Models;

namespace Indexer.Client;

/// <summary>
/// Indexer's HTTP API for front ends and tools. Every call is made as the user whose API key the client holds.
/// Failures throw <see cref="IndexerApiException"/> carrying the status code and the server's message.
/// </summary>
public sealed class IndexerHttpClient(HttpClient http, string userId)
{
    /// <summary>The header that carries a user's API key.</summary>
    public const string ApiKeyHeader = "X-Api-Key";

    internal static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        Converters = { new System.Text.Json.Serialization.JsonStringEnumConverter(JsonNamingPolicy.CamelCase) },
    };

    public static IndexerHttpClient Create(Uri baseAddress, string userId, string apiKey, TimeSpan? timeout = null)
    {
        var http = new HttpClient { BaseAddress = baseAddress, Timeout = timeout ?? TimeSpan.FromMinutes(2) };
        http.DefaultRequestHeaders.Add(ApiKeyHeader, apiKey);
        return new IndexerHttpClient(http, userId);
    }

    public string UserId { get; } = userId;

    public Task<GalleryStats> CreateGalleryAsync(string galleryId, CancellationToken ct = default) =>
        SendAsync<GalleryStats>(HttpMethod.Put, GalleryPath(galleryId), null, ct);

    public Task<GalleryStats> GetStatsAsync(string galleryId, CancellationToken ct = default) =>
        SendAsync<GalleryStats>(HttpMethod.Get, GalleryPath(galleryId), null, ct);

    /// <summary>Uploads a batch of images in one multipart request.</summary>
    public Task<AddImagesResult> UploadAsync(string galleryId, IReadOnlyList<ImageUpload> uploads, CancellationToken ct = default)
    {
        var form = new MultipartFormDataContent();
        var metadata = new Dictionary<string, IReadOnlyDictionary<string, string>>();
        foreach (var upload in uploads)
        {
            var part = new ReadOnlyMemoryContent(upload.Bytes);
            part.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
            form.Add(part, "files", upload.ItemId);
            if (upload.Metadata is { Count: > 0 }) metadata[upload.ItemId] = upload.Metadata;
        }

        if (metadata.Count > 0) form.Add(JsonContent.Create(metadata, options: Json), "metadata");
        return SendAsync<AddImagesResult>(HttpMethod.Post, $"{GalleryPath(galleryId)}/images", form, ct);
    }

    public Task<SearchResult> SearchByImageAsync(string galleryId, ReadOnlyMemory<byte> image, int k, CancellationToken ct = default)
    {
        var form = new MultipartFormDataContent();
        var part = new ReadOnlyMemoryContent(image);
        part.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        form.Add(part, "file", "query");
        return SendAsync<SearchResult>(HttpMethod.Post, $"{GalleryPath(galleryId)}/search?k={k}", form, ct);
    }

    public Task<SearchResult> SearchByItemAsync(string galleryId, string itemId, int k, CancellationToken ct = default) =>
        SendAsync<SearchResult>(HttpMethod.Get, $"{ItemPath(galleryId, itemId)}/similar?k={k}", null, ct);

    public Task<ItemPage> ListItemsAsync(string galleryId, string? after = null, int limit = 100, CancellationToken ct = default) =>
        SendAsync<ItemPage>(HttpMethod.Get, $"{GalleryPath(galleryId)}/items?limit={limit}" + (after is null ? "" : $"&after={Uri.EscapeDataString(after)}"), null, ct);

    public Task<GalleryItem> GetItemAsync(string galleryId, string itemId, CancellationToken ct = default) =>
        SendAsync<GalleryItem>(HttpMethod.Get, ItemPath(galleryId, itemId), null, ct);

    public async Task DeleteItemAsync(string galleryId, string itemId, CancellationToken ct = default) =>
        await SendAsync<JsonElement>(HttpMethod.Delete, ItemPath(galleryId, itemId), null, ct);

    /// <summary>The gallery's clusters, largest first; small unnamed ones only with <paramref name="includeHidden"/>.</summary>
    public Task<IReadOnlyList<ClusterInfo>> ListClustersAsync(string galleryId, int representatives = 3, bool includeHidden = false, CancellationToken ct = default) =>
        SendAsync<IReadOnlyList<ClusterInfo>>(HttpMethod.Get, $"{GalleryPath(galleryId)}/clusters?representatives={representatives}&all={(includeHidden ? "true" : "false")}", null, ct);

    /// <summary>A page of a cluster's items in item-id order.</summary>
    public Task<ClusterPage> GetClusterItemsAsync(string galleryId, long clusterId, int offset = 0, int limit = 100, CancellationToken ct = default) =>
        SendAsync<ClusterPage>(HttpMethod.Get, $"{ClusterPath(galleryId, clusterId)}/items?offset={offset}&limit={limit}", null, ct);

    /// <summary>Names or renames a cluster.</summary>
    public Task<ClusterInfo> NameClusterAsync(string galleryId, long clusterId, string name, CancellationToken ct = default) =>
        SendAsync<ClusterInfo>(HttpMethod.Put, $"{ClusterPath(galleryId, clusterId)}/name", JsonContent.Create(new ClusterNameRequest(name), options: Json), ct);

    /// <summary>Merges <paramref name="fromClusterId"/> into <paramref name="intoClusterId"/>; returns the merged cluster.</summary>
    public Task<ClusterInfo> MergeClustersAsync(string galleryId, long intoClusterId, long fromClusterId, CancellationToken ct = default) =>
        SendAsync<ClusterInfo>(HttpMethod.Post, $"{ClusterPath(galleryId, intoClusterId)}/merge?from={fromClusterId}", null, ct);

    /// <summary>Moves an item into a cluster and pins it there; returns the cluster.</summary>
    public Task<ClusterInfo> MoveItemToClusterAsync(string galleryId, string itemId, long clusterId, CancellationToken ct = default) =>
        SendAsync<ClusterInfo>(HttpMethod.Post, $"{ItemPath(galleryId, itemId)}/cluster", JsonContent.Create(new ClusterMoveRequest(clusterId), options: Json), ct);

    /// <summary>Takes an item out of every cluster, for good.</summary>
    public async Task MoveItemOutOfClusterAsync(string galleryId, string itemId, CancellationToken ct = default) =>
        await SendAsync<JsonElement>(HttpMethod.Delete, $"{ItemPath(galleryId, itemId)}/cluster", null, ct);

    /// <summary>Runs a refinement pass over the gallery's clusters now.</summary>
    public Task<ClusterRefineSummary> RefineClustersAsync(string galleryId, CancellationToken ct = default) =>
        SendAsync<ClusterRefineSummary>(HttpMethod.Post, $"{GalleryPath(galleryId)}/clusters/refine", null, ct);

    /// <summary>The clusters' state and the latest moves the clustering made on its own.</summary>
    public Task<ClusterReport> GetClusterReportAsync(string galleryId, CancellationToken ct = default) =>
        SendAsync<ClusterReport>(HttpMethod.Get, $"{GalleryPath(galleryId)}/clusters/moves", null, ct);

    /// <summary>Open suggestions: members of named clusters the clustering would have moved and left to the user, strongest evidence first.</summary>
    public Task<IReadOnlyList<ClusterMoveRecord>> ListClusterSuggestionsAsync(string galleryId, CancellationToken ct = default) =>
        SendAsync<IReadOnlyList<ClusterMoveRecord>>(HttpMethod.Get, $"{GalleryPath(galleryId)}/clusters/suggestions", null, ct);

    /// <summary>Accepts an item's open suggestion: it moves to the suggested cluster and is pinned there; returns that cluster.</summary>
    public Task<ClusterInfo> AcceptClusterSuggestionAsync(string galleryId, string itemId, CancellationToken ct = default) =>
        SendAsync<ClusterInfo>(HttpMethod.Post, $"{GalleryPath(galleryId)}/clusters/suggestions/{Uri.EscapeDataString(itemId)}/accept", null, ct);

    /// <summary>Dismisses an item's open suggestion: it stays in its named cluster, pinned; returns that cluster.</summary>
    public Task<ClusterInfo> DismissClusterSuggestionAsync(string galleryId, string itemId, CancellationToken ct = default) =>
        SendAsync<ClusterInfo>(HttpMethod.Post, $"{GalleryPath(galleryId)}/clusters/suggestions/{Uri.EscapeDataString(itemId)}/dismiss", null, ct);

    public Task<ModelList> ListModelsAsync(CancellationToken ct = default) => SendAsync<ModelList>(HttpMethod.Get, "v1/models", null, ct);

    /// <summary>One registered model version; 404 when it is not registered.</summary>
    public Task<ModelVersionInfo> GetModelAsync(string version, CancellationToken ct = default) =>
        SendAsync<ModelVersionInfo>(HttpMethod.Get, $"v1/models/{Uri.EscapeDataString(version)}", null, ct);

    /// <summary>Retires a model version (operators only); 409 while queries, uploads or a route use it.</summary>
    public Task<ModelVersionInfo> RetireModelAsync(string version, CancellationToken ct = default) =>
        SendAsync<ModelVersionInfo>(HttpMethod.Post, $"v1/models/{Uri.EscapeDataString(version)}/retire", null, ct);

    /// <summary>Registers a model version (operators only). It is loaded and probed by the cluster first; it does not become current.</summary>
    public Task<ModelVersionInfo> RegisterModelAsync(ReadOnlyMemory<byte> onnx, string manifestJson, CancellationToken ct = default)
    {
        var form = new MultipartFormDataContent();
        var model = new ReadOnlyMemoryContent(onnx);
        model.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        form.Add(model, "model", "model.onnx");
        form.Add(new StringContent(manifestJson, System.Text.Encoding.UTF8, "application/json"), "manifest");
        return SendAsync<ModelVersionInfo>(HttpMethod.Post, "v1/models", form, ct);
    }

    /// <summary>Calibrates an upgrade on up to <paramref name="sampleSize"/> items across galleries (operators only).</summary>
    public Task<Compatibility.CalibrationReport> CalibrateAsync(string from, string to, int sampleSize, CancellationToken ct = default) =>
        SendAsync<Compatibility.CalibrationReport>(HttpMethod.Post, $"{CompatibilityPath(from, to)}/calibration?sample={sampleSize}", null, ct);

    /// <summary>The latest calibration report of an upgrade (operators only).</summary>
    public Task<Compatibility.CalibrationReport> GetCalibrationAsync(string from, string to, CancellationToken ct = default) =>
        SendAsync<Compatibility.CalibrationReport>(HttpMethod.Get, CompatibilityPath(from, to), null, ct);

    /// <summary>Starts a rollout from the current version to <see cref="Models.RolloutRequest.To"/> (operators only).</summary>
    public Task<Models.RolloutStatus> StartRolloutAsync(Models.RolloutRequest request, CancellationToken ct = default) =>
        SendAsync<Models.RolloutStatus>(HttpMethod.Post, "v1/rollout", JsonContent.Create(request, options: Json), ct);

    /// <summary>The latest rollout (operators only); null when there never was one.</summary>
    public async Task<Models.RolloutStatus?> GetRolloutAsync(CancellationToken ct = default)
    {
        try
        {
            return await SendAsync<Models.RolloutStatus>(HttpMethod.Get, "v1/rollout", null, ct);
        }
        catch (IndexerApiException ex) when (ex.StatusCode == HttpStatusCode.NotFound)
        {
            return null;
        }
    }

    /// <summary>Pauses, resumes, cancels, rolls back or commits the rollout (operators only): <paramref name="action"/> is one of those verbs.</summary>
    public Task<Models.RolloutStatus> RolloutActionAsync(string action, CancellationToken ct = default) =>
        SendAsync<Models.RolloutStatus>(HttpMethod.Post, $"v1/rollout/{Uri.EscapeDataString(action)}", null, ct);

    private static string CompatibilityPath(string from, string to) => $"v1/compatibility/{Uri.EscapeDataString(from)}/{Uri.EscapeDataString(to)}";

    private string GalleryPath(string galleryId) => $"v1/users/{Uri.EscapeDataString(UserId)}/galleries/{Uri.EscapeDataString(galleryId)}";

    private string ClusterPath(string galleryId, long clusterId) => $"{GalleryPath(galleryId)}/clusters/{clusterId}";

    private string ItemPath(string galleryId, string itemId) => $"{GalleryPath(galleryId)}/items/{Uri.EscapeDataString(itemId)}";

    private async Task<T> SendAsync<T>(HttpMethod method, string path, HttpContent? content, CancellationToken ct)
    {
        using var request = new HttpRequestMessage(method, path) { Content = content };
        using var response = await http.SendAsync(request, ct);
        if (!response.IsSuccessStatusCode)
        {
            throw new IndexerApiException(response.StatusCode, await ReadErrorAsync(response, ct));
        }

        if (response.StatusCode == HttpStatusCode.NoContent) return default!;
        return (await response.Content.ReadFromJsonAsync<T>(Json, ct))!;
    }

    private static async Task<string> ReadErrorAsync(HttpResponseMessage response, CancellationToken ct)
    {
        var body = await response.Content.ReadAsStringAsync(ct);
        try
        {
            using var doc = JsonDocument.Parse(body);
            if (doc.RootElement.TryGetProperty("detail", out var detail) && detail.GetString() is { Length: > 0 } text) return text;
            if (doc.RootElement.TryGetProperty("title", out var title) && title.GetString() is { Length: > 0 } t) return t;
        }
        catch (JsonException)
        {
        }

        return string.IsNullOrWhiteSpace(body) ? response.ReasonPhrase ?? response.StatusCode.ToString() : body;
    }
}

/// <summary>The registered model versions and the current one, as the HTTP API lists them.</summary>
public sealed record ModelList(string? Current, IReadOnlyList<ModelVersionInfo> Versions);

/// <summary>The body of <c>PUT …/clusters/{id}/name</c>.</summary>
/// <param name="Name">The cluster's new name: 1 to 100 characters of text, no control characters.</param>
public sealed record ClusterNameRequest(string? Name);

/// <summary>The body of <c>POST …/items/{id}/cluster</c>.</summary>
/// <param name="ClusterId">The cluster to move the item into.</param>
public sealed record ClusterMoveRequest(long? ClusterId);

/// <summary>An HTTP API call that failed; <see cref="Exception.Message"/> is the server's explanation.</summary>
public sealed class IndexerApiException(HttpStatusCode statusCode, string message) : Exception(message)
{
    public HttpStatusCode StatusCode { get; } = statusCode;
}
