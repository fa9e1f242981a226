using System.Text.Json;
using Indexer.Client;
using Indexer.Compatibility;
using Indexer.Galleries;
using Indexer.Models;
using Indexer.Silo.Hosting;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;

namespace Indexer.Silo.Api;

/// <summary>
/// The HTTP API. Every gallery route is under <c>/v1/users/{userId}</c> and needs that user's API key: no key or an
/// unknown key is 401, another user's key is 403, and neither reveals whether the gallery exists.
/// </summary>
public static class IndexerApi
{
    /// <summary>Largest request body: a batch of photos. Single images are limited further by the image checks.</summary>
    public const long MaxRequestBytes = 512L * 1024 * 1024;

    /// <summary>Images accepted in one upload request; more are rejected rather than silently truncated.</summary>
    public const int MaxFilesPerUpload = 256;

    public static WebApplication MapIndexerApi(this WebApplication app)
    {
        var v1 = app.MapGroup("/v1").AddEndpointFilter<IndexerErrorFilter>();
        v1.MapGet("/models", ListModels).WithSummary("Registered model versions and the current one.");
        v1.MapGet("/galleries", ListGalleries).AddEndpointFilter<AdminFilter>().WithTags("Operations")
            .WithSummary("The cluster's galleries as user/gallery keys, shard by shard, at most 'limit' (operators only).");
        var compatibility = v1.MapGroup("/compatibility/{from}/{to}").AddEndpointFilter<AdminFilter>().WithTags("Operations");
        compatibility.MapPost("/calibration", Calibrate)
            .WithSummary("Calibrates the upgrade from one model version to another on a sample across galleries (operators only); returns the report.");
        compatibility.MapGet("/", GetCalibration).WithSummary("The latest calibration report of an upgrade (operators only).");
        var rollout = v1.MapGroup("/rollout").AddEndpointFilter<AdminFilter>().WithTags("Operations");
        rollout.MapPost("/", StartRollout)
            .WithSummary("Starts a rollout from the current model version to 'to' (operators only): calibrate, verify, activate, backfill by the policy.");
        rollout.MapGet("/", GetRollout).WithSummary("The latest rollout and its progress (operators only).");
        rollout.MapPost("/{action}", RolloutAction).WithSummary("pause | resume | cancel | rollback | commit the rollout (operators only).");
        v1.MapGet("/models/{version}", GetModel).WithSummary("One registered model version.");
        v1.MapPost("/models/{version}/retire", RetireModel).AddEndpointFilter<AdminFilter>().WithTags("Models")
            .WithSummary("Retires a model version (operators only): it can no longer be rolled out. Refused (409) while queries, uploads or a route use it.");
        v1.MapPost("/models", RegisterModel).DisableAntiforgery().AddEndpointFilter<AdminFilter>().WithTags("Models")
            .WithSummary("Registers a model version (operators only; multipart: 'model' = the ONNX file, 'manifest' = its JSON manifest). The model is loaded and probed first; it does not become current.");

        var gallery = v1.MapGroup("/users/{userId}/galleries/{galleryId}")
            .AddEndpointFilter<UserAuthorizationFilter>()
            .WithTags("Galleries");
        gallery.MapPut("/", Create).WithSummary("Creates the gallery (idempotent).");
        gallery.MapGet("/", Stats).WithSummary("What the gallery holds and how far indexing has come.");
        gallery.MapPost("/images", Upload).DisableAntiforgery()
            .WithSummary("Uploads images (multipart: one part per file, named 'files', whose file name is the item id; optional 'metadata' part: {itemId: {key: value}}).");
        gallery.MapGet("/items", ListItems).WithSummary("Items in item-id order; pass 'next' back as 'after'.");
        gallery.MapGet("/items/{itemId}", GetItem).WithSummary("One item.");
        gallery.MapDelete("/items/{itemId}", DeleteItem).WithSummary("Deletes an item.");
        gallery.MapGet("/items/{itemId}/similar", SimilarToItem).WithSummary("Items most similar to an item of the gallery.");
        gallery.MapPost("/search", SearchByImage).DisableAntiforgery()
            .WithSummary("Items most similar to an uploaded image (multipart part 'file', or the raw image as the body).");
        gallery.MapGet("/clusters", ListClusters)
            .WithSummary("The gallery's clusters, largest first, each with a few representative items ('all=true' also lists the small unnamed ones).");
        gallery.MapGet("/clusters/{clusterId:long}/items", ClusterItems).WithSummary("A page of a cluster's items in item-id order.");
        gallery.MapPut("/clusters/{clusterId:long}/name", NameCluster).WithSummary("Names or renames a cluster ({\"name\": \"...\"}); the name survives model upgrades.");
        gallery.MapPost("/clusters/{clusterId:long}/merge", MergeClusters).WithSummary("Merges the cluster 'from' into this one; returns the merged cluster.");
        gallery.MapPost("/clusters/refine", RefineClusters).WithSummary("Runs a refinement pass over the clusters now (names and the user's moves are respected).");
        gallery.MapGet("/clusters/moves", ClusterMoves).WithSummary("The clusters' state and the latest moves the clustering made on its own (upgrades, refinement).");
        gallery.MapGet("/clusters/suggestions", ClusterSuggestions)
            .WithSummary("Members of named clusters the clustering would have moved (after an upgrade or a refinement) and left to the user, strongest evidence first.");
        gallery.MapPost("/clusters/suggestions/{itemId}/accept", AcceptSuggestion).WithSummary("Moves the item to the suggested cluster and pins it there; returns that cluster.");
        gallery.MapPost("/clusters/suggestions/{itemId}/dismiss", DismissSuggestion).WithSummary("Keeps the item in its named cluster and pins it there; returns that cluster.");
        gallery.MapPost("/items/{itemId}/cluster", MoveItem).WithSummary("Moves an item into a cluster ({\"clusterId\": n}) and pins it there.");
        gallery.MapDelete("/items/{itemId}/cluster", MoveItemOut).WithSummary("Takes an item out of every cluster, for good.");
        return app;
    }

    private static async Task<Ok<ModelList>> ListModels(IndexerClient client) =>
        TypedResults.Ok(new ModelList(await client.GetCurrentModelAsync(), await client.ListModelsAsync()));

    private static async Task<Ok<CalibrationReport>> Calibrate(string from, string to, IGrainFactory grains, int sample = 2000) =>
        TypedResults.Ok(await grains.GetGrain<ICompatibilityGrain>(ICompatibilityGrain.KeyOf(Ids.Require(from, "model version"), Ids.Require(to, "model version"))).CalibrateAsync(sample));

    private static async Task<Results<Ok<CalibrationReport>, ProblemHttpResult>> GetCalibration(string from, string to, IGrainFactory grains) =>
        await grains.GetGrain<ICompatibilityGrain>(ICompatibilityGrain.KeyOf(Ids.Require(from, "model version"), Ids.Require(to, "model version"))).GetReportAsync() is { } report
            ? TypedResults.Ok(report)
            : Problem(404, $"the upgrade from '{from}' to '{to}' has not been calibrated");

    private static async Task<Ok<RolloutStatus>> StartRollout(RolloutRequest request, IGrainFactory grains) =>
        TypedResults.Ok(await grains.GetGrain<IRolloutGrain>(IRolloutGrain.Key).StartAsync(request));

    private static async Task<Results<Ok<RolloutStatus>, ProblemHttpResult>> GetRollout(IGrainFactory grains) =>
        await grains.GetGrain<IRolloutGrain>(IRolloutGrain.Key).GetStatusAsync() is { } status
            ? TypedResults.Ok(status)
            : Problem(404, "there has been no rollout");

    private static async Task<Results<Ok<RolloutStatus>, ProblemHttpResult>> RolloutAction(string action, IGrainFactory grains)
    {
        var rollout = grains.GetGrain<IRolloutGrain>(IRolloutGrain.Key);
        return action switch
        {
            "pause" => TypedResults.Ok(await rollout.PauseAsync()),
            "resume" => TypedResults.Ok(await rollout.ResumeAsync()),
            "cancel" => TypedResults.Ok(await rollout.CancelAsync()),
            "rollback" => TypedResults.Ok(await rollout.RollbackAsync()),
            "commit" => TypedResults.Ok(await rollout.CommitAsync()),
            _ => Problem(400, $"unknown rollout action '{action}': use pause, resume, cancel, rollback or commit"),
        };
    }

    private static async Task<Results<Ok<List<string>>, ProblemHttpResult>> ListGalleries(IndexerClient client, int limit = 1000)
    {
        if (limit is < 1 or > 10_000) return Problem(400, $"limit must be between 1 and 10000; got {limit}");
        var keys = new List<string>();
        await foreach (var key in client.ListGalleriesAsync())
        {
            keys.Add(key.ToString());
            if (keys.Count == limit) break;
        }

        return TypedResults.Ok(keys);
    }

    private static async Task<Results<Ok<ModelVersionInfo>, ProblemHttpResult>> GetModel(string version, IndexerClient client) =>
        await client.GetModelAsync(version) is { } info ? TypedResults.Ok(info) : Problem(404, $"model version '{version}' is not registered");

    private static async Task<Ok<ModelVersionInfo>> RetireModel(string version, IndexerClient client) =>
        TypedResults.Ok(await client.RetireModelAsync(version));

    private static async Task<Results<Created<ModelVersionInfo>, ProblemHttpResult>> RegisterModel(HttpRequest request, IndexerClient client, CancellationToken ct)
    {
        if (!request.HasFormContentType) return Problem(400, "send multipart/form-data with parts 'model' (the ONNX file) and 'manifest' (its JSON manifest)");
        var form = await request.ReadFormAsync(ct);
        if (form.Files.GetFile("model") is not { } model) return Problem(400, "the request has no part named 'model'");
        string? manifest = form.TryGetValue("manifest", out var text) && !string.IsNullOrWhiteSpace(text) ? text.ToString() : null;
        if (manifest is null && form.Files.GetFile("manifest") is { } manifestFile)
        {
            using var reader = new StreamReader(manifestFile.OpenReadStream());
            manifest = await reader.ReadToEndAsync(ct);
        }

        if (manifest is null) return Problem(400, "the request has no part named 'manifest'");
        using var buffer = new MemoryStream();
        await model.CopyToAsync(buffer, ct);
        var info = await client.RegisterModelAsync(buffer.ToArray(), manifest, ct);
        return TypedResults.Created($"/v1/models/{Uri.EscapeDataString(info.Version)}", info);
    }

    private static async Task<Ok<GalleryStats>> Create(string userId, string galleryId, IndexerClient client) =>
        TypedResults.Ok(await client.Gallery(userId, galleryId).CreateAsync());

    private static async Task<Ok<GalleryStats>> Stats(string userId, string galleryId, IndexerClient client) =>
        TypedResults.Ok(await client.Gallery(userId, galleryId).GetStatsAsync());

    private static async Task<Results<Ok<AddImagesResult>, ProblemHttpResult>> Upload(
        string userId, string galleryId, HttpRequest request, IndexerClient client, CancellationToken ct)
    {
        var target = client.Gallery(userId, galleryId);
        if (!request.HasFormContentType) return Problem(400, "send the images as multipart/form-data, one part named 'files' per image");
        var form = await request.ReadFormAsync(ct);
        var files = form.Files.GetFiles("files");
        if (files.Count == 0) return Problem(400, "the request has no part named 'files'");
        if (files.Count > MaxFilesPerUpload) return Problem(400, $"at most {MaxFilesPerUpload} images per request; this one has {files.Count}");

        Dictionary<string, Dictionary<string, string>>? metadata = null;
        if (form.TryGetValue("metadata", out var metadataJson) && !string.IsNullOrWhiteSpace(metadataJson))
        {
            try
            {
                metadata = JsonSerializer.Deserialize<Dictionary<string, Dictionary<string, string>>>(metadataJson.ToString());
            }
            catch (JsonException ex)
            {
                return Problem(400, $"the 'metadata' part is not a JSON object of objects of strings: {ex.Message}");
            }
        }
        else if (form.Files.GetFile("metadata") is { } metadataFile)
        {
            try
            {
                await using var stream = metadataFile.OpenReadStream();
                metadata = await JsonSerializer.DeserializeAsync<Dictionary<string, Dictionary<string, string>>>(stream, cancellationToken: ct);
            }
            catch (JsonException ex)
            {
                return Problem(400, $"the 'metadata' part is not a JSON object of objects of strings: {ex.Message}");
            }
        }

        var uploads = new List<ImageUpload>(files.Count);
        foreach (var file in files)
        {
            using var buffer = new MemoryStream((int)Math.Min(file.Length, int.MaxValue));
            await file.CopyToAsync(buffer, ct);
            var itemId = file.FileName;
            uploads.Add(new ImageUpload(itemId, buffer.ToArray(), metadata?.GetValueOrDefault(itemId)));
        }

        return TypedResults.Ok(await target.UploadAsync(uploads, ct));
    }

    private static async Task<Ok<ItemPage>> ListItems(string userId, string galleryId, IndexerClient client, string? after = null, int limit = 100) =>
        TypedResults.Ok(await client.Gallery(userId, galleryId).ListAsync(after, limit));

    private static async Task<Results<Ok<GalleryItem>, ProblemHttpResult>> GetItem(string userId, string galleryId, string itemId, IndexerClient client) =>
        await client.Gallery(userId, galleryId).GetItemAsync(itemId) is { } item
            ? TypedResults.Ok(item)
            : Problem(404, $"gallery '{galleryId}' has no item '{itemId}'");

    private static async Task<Results<NoContent, ProblemHttpResult>> DeleteItem(string userId, string galleryId, string itemId, IndexerClient client) =>
        await client.Gallery(userId, galleryId).DeleteAsync(itemId)
            ? TypedResults.NoContent()
            : Problem(404, $"gallery '{galleryId}' has no item '{itemId}'");

    private static async Task<Ok<SearchResult>> SimilarToItem(string userId, string galleryId, string itemId, IndexerClient client, int k = 10) =>
        TypedResults.Ok(await client.Gallery(userId, galleryId).SearchByItemAsync(itemId, k));

    private static async Task<Results<Ok<SearchResult>, ProblemHttpResult>> SearchByImage(
        string userId, string galleryId, HttpRequest request, IndexerClient client, CancellationToken ct, int k = 10)
    {
        var target = client.Gallery(userId, galleryId);
        byte[] image;
        if (request.HasFormContentType)
        {
            var form = await request.ReadFormAsync(ct);
            if (form.Files.GetFile("file") is not { } file) return Problem(400, "the request has no part named 'file'");
            using var buffer = new MemoryStream();
            await file.CopyToAsync(buffer, ct);
            image = buffer.ToArray();
        }
        else
        {
            using var buffer = new MemoryStream();
            await request.Body.CopyToAsync(buffer, ct);
            image = buffer.ToArray();
        }

        return TypedResults.Ok(await target.SearchByImageAsync(image, k));
    }

    private static async Task<Ok<IReadOnlyList<ClusterInfo>>> ListClusters(
        string userId, string galleryId, IndexerClient client, int representatives = 3, bool all = false) =>
        TypedResults.Ok(await client.Gallery(userId, galleryId).ListClustersAsync(representatives, all));

    private static async Task<Ok<ClusterPage>> ClusterItems(string userId, string galleryId, long clusterId, IndexerClient client, int offset = 0, int limit = 100) =>
        TypedResults.Ok(await client.Gallery(userId, galleryId).GetClusterItemsAsync(clusterId, offset, limit));

    private static async Task<Results<Ok<ClusterInfo>, ProblemHttpResult>> NameCluster(string userId, string galleryId, long clusterId, ClusterNameRequest? request, IndexerClient client) =>
        request?.Name is { } name
            ? TypedResults.Ok(await client.Gallery(userId, galleryId).NameClusterAsync(clusterId, name))
            : Problem(400, "send the name as JSON: {\"name\": \"...\"}");

    private static async Task<Results<Ok<ClusterInfo>, ProblemHttpResult>> MergeClusters(string userId, string galleryId, long clusterId, IndexerClient client, long? from = null) =>
        from is { } other
            ? TypedResults.Ok(await client.Gallery(userId, galleryId).MergeClustersAsync(clusterId, other))
            : Problem(400, "say which cluster to merge into this one: ?from=<cluster id>");

    private static async Task<Ok<ClusterRefineSummary>> RefineClusters(string userId, string galleryId, IndexerClient client) =>
        TypedResults.Ok(await client.Gallery(userId, galleryId).RefineClustersAsync());

    private static async Task<Ok<ClusterReport>> ClusterMoves(string userId, string galleryId, IndexerClient client) =>
        TypedResults.Ok(await client.Gallery(userId, galleryId).GetClusterReportAsync());

    private static async Task<Ok<IReadOnlyList<ClusterMoveRecord>>> ClusterSuggestions(string userId, string galleryId, IndexerClient client) =>
        TypedResults.Ok(await client.Gallery(userId, galleryId).ListClusterSuggestionsAsync());

    private static async Task<Ok<ClusterInfo>> AcceptSuggestion(string userId, string galleryId, string itemId, IndexerClient client) =>
        TypedResults.Ok(await client.Gallery(userId, galleryId).AcceptClusterSuggestionAsync(itemId));

    private static async Task<Ok<ClusterInfo>> DismissSuggestion(string userId, string galleryId, string itemId, IndexerClient client) =>
        TypedResults.Ok(await client.Gallery(userId, galleryId).DismissClusterSuggestionAsync(itemId));

    private static async Task<Results<Ok<ClusterInfo>, ProblemHttpResult>> MoveItem(string userId, string galleryId, string itemId, ClusterMoveRequest? request, IndexerClient client) =>
        request?.ClusterId is { } clusterId
            ? TypedResults.Ok(await client.Gallery(userId, galleryId).MoveItemToClusterAsync(itemId, clusterId))
            : Problem(400, "send the target cluster as JSON: {\"clusterId\": n}");

    private static async Task<NoContent> MoveItemOut(string userId, string galleryId, string itemId, IndexerClient client)
    {
        await client.Gallery(userId, galleryId).MoveItemOutOfClusterAsync(itemId);
        return TypedResults.NoContent();
    }

    internal static ProblemHttpResult Problem(int status, string detail) => TypedResults.Problem(detail: detail, statusCode: status);
}

/// <summary>Answers 401 without a known API key and 403 when the key belongs to another user than the route's.</summary>
internal sealed class UserAuthorizationFilter(ApiKeyAuthenticator authenticator) : IEndpointFilter
{
    public async ValueTask<object?> InvokeAsync(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        var http = context.HttpContext;
        var user = authenticator.Authenticate(http.Request);
        if (user is null)
        {
            http.Response.Headers.WWWAuthenticate = "ApiKey header=\"" + IndexerHttpClient.ApiKeyHeader + "\"";
            return IndexerApi.Problem(401, $"send your API key in the {IndexerHttpClient.ApiKeyHeader} header");
        }

        var routeUser = http.GetRouteValue("userId") as string;
        if (!string.Equals(user, routeUser, StringComparison.Ordinal))
        {
            return IndexerApi.Problem(403, "this API key does not give access to that user's galleries");
        }

        return await next(context);
    }
}

/// <summary>Operators only: 401 without a known API key, 403 for a user who is not an operator.</summary>
internal sealed class AdminFilter(ApiKeyAuthenticator authenticator) : IEndpointFilter
{
    public async ValueTask<object?> InvokeAsync(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        var request = context.HttpContext.Request;
        if (authenticator.Authenticate(request) is null) return IndexerApi.Problem(401, $"send your API key in the {IndexerHttpClient.ApiKeyHeader} header");
        if (!authenticator.IsAdmin(request)) return IndexerApi.Problem(403, "only operators may do this");
        return await next(context);
    }
}

/// <summary>
/// Turns <see cref="IndexerException"/>s (also those thrown inside grains) into problem responses with their message, and a
/// grain call's timeout into a 504.
/// </summary>
internal sealed class IndexerErrorFilter : IEndpointFilter
{
    public async ValueTask<object?> InvokeAsync(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        try
        {
            return await next(context);
        }
        catch (IndexerException ex)
        {
            var status = ex.Code switch
            {
                IndexerErrorCode.NotFound => StatusCodes.Status404NotFound,
                IndexerErrorCode.Conflict => StatusCodes.Status409Conflict,
                IndexerErrorCode.Busy => StatusCodes.Status503ServiceUnavailable,
                _ => StatusCodes.Status400BadRequest,
            };
            if (status == StatusCodes.Status503ServiceUnavailable) context.HttpContext.Response.Headers.RetryAfter = "2";
            return IndexerApi.Problem(status, ex.Message);
        }
        catch (BadHttpRequestException ex)
        {
            return IndexerApi.Problem(ex.StatusCode, BadRequestExceptionHandler.Describe(ex));
        }
        catch (InvalidDataException ex)
        {
            return IndexerApi.Problem(StatusCodes.Status400BadRequest, ex.Message);
        }
        catch (TimeoutException)
        {
            // A grain call that did not answer within Orleans' response timeout. It is not cancelled and may still complete,
            // so the client is told that it timed out (a client may repeat an idempotent call) rather than given a bare 500.
            return IndexerApi.Problem(StatusCodes.Status504GatewayTimeout,
                "the silo did not answer in time; the request may still complete: repeat it only if doing it twice is harmless");
        }
    }
}
