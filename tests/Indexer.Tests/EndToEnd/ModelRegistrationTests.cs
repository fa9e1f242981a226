using System.Net;
using Indexer.Client;
using Indexer.Embedding;
using Indexer.Search;
using Indexer.Storage;
using Indexer.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace Indexer.Tests.EndToEnd;

/// <summary>
/// Registering model versions through the HTTP API, with versions derived from the real backbone so that their
/// relation to v1 is known exactly.
/// </summary>
[Collection(SiloCollection.Name), Trait("Category", "EndToEnd")]
public sealed class ModelRegistrationTests(SiloFixture fixture)
{
    private static readonly Lazy<ImportedModel> Backbone = new(() =>
        ResNet18Model.Import(ResNet18Model.DefaultModelPath, ResNet18Model.DefaultPreprocessPath, "base"));

    private IndexerHttpClient Operator => fixture.Host.Operator;

    [Fact]
    public async Task Register_v1FollowedByARotation_IsProbedListedAndEmbedsAsTheRotationOfv1()
    {
        var rotation = RandomOrthogonal.Create(512, seed: 11);
        var rotated = ModelDerivation.AppendLinearMap(Backbone.Value, rotation, 512, "v1-rotated", "v1 followed by a random rotation", "test derivative");

        var info = await Operator.RegisterModelAsync(rotated.Onnx, rotated.Manifest.ToJson());

        Assert.Equal("v1-rotated", info.Version);
        Assert.Equal(512, info.Dimension);
        var models = await Operator.ListModelsAsync();
        Assert.Contains(models.Versions, v => v.Version == "v1-rotated" && v.Lineage == "v1 followed by a random rotation");
        Assert.Equal("v1", models.Current); // registering never switches what serves queries

        var worker = fixture.Host.Services.GetRequiredService<IGrainFactory>().GetGrain<IEmbeddingWorkerGrain>(0);
        var image = SampleImages.Images.EncodePng(5);
        var old = await worker.EmbedBytesAsync("v1", image);
        var @new = await worker.EmbedBytesAsync("v1-rotated", image);
        var expected = new float[512];
        for (var j = 0; j < 512; j++)
        {
            for (var i = 0; i < 512; i++) expected[j] += old[i] * rotation[i * 512 + j];
        }

        Assert.True(VectorMath.Dot(expected, @new) > 0.9999f, "the registered model's embedding is v1's, rotated");
        Assert.True(VectorMath.Dot(old, @new) < 0.5f, "and not v1's own");
    }

    [Fact]
    public async Task Register_ManifestDeclaringTheWrongDimension_Is400AndNothingIsKept()
    {
        var model = ModelDerivation.AppendLinearMap(Backbone.Value, RandomOrthogonal.Create(512, 3), 512, "wrong-dim", null, "test");
        var manifest = (model.Manifest with { OutputDimension = 256 }).ToJson();

        var error = await Assert.ThrowsAsync<IndexerApiException>(() => Operator.RegisterModelAsync(model.Onnx, manifest));

        Assert.Equal(HttpStatusCode.BadRequest, error.StatusCode);
        Assert.Contains("256", error.Message);
        await AssertNotKeptAsync("wrong-dim");
    }

    [Fact]
    public async Task Register_CorruptArtifact_Is400AndNothingIsKept()
    {
        var manifest = (Backbone.Value.Manifest with { Version = "corrupt" }).ToJson();

        var error = await Assert.ThrowsAsync<IndexerApiException>(() => Operator.RegisterModelAsync(BadImages.RandomBytes(100_000), manifest));

        Assert.Equal(HttpStatusCode.BadRequest, error.StatusCode);
        await AssertNotKeptAsync("corrupt");
    }

    [Fact]
    public async Task Register_BadManifestOrAnExistingVersion_IsRefused()
    {
        var invalid = await Assert.ThrowsAsync<IndexerApiException>(() => Operator.RegisterModelAsync(Backbone.Value.Onnx, "{\"version\": \"\"}"));
        var existing = await Assert.ThrowsAsync<IndexerApiException>(() => Operator.RegisterModelAsync(Backbone.Value.Onnx, (Backbone.Value.Manifest with { Version = "v1" }).ToJson()));

        Assert.Equal(HttpStatusCode.BadRequest, invalid.StatusCode);
        Assert.Contains("manifest", invalid.Message);
        Assert.Equal(HttpStatusCode.Conflict, existing.StatusCode);
    }

    [Fact]
    public async Task Register_ByAUserWhoIsNotAnOperator_Is403()
    {
        var error = await Assert.ThrowsAsync<IndexerApiException>(() =>
            fixture.Host.Alice.RegisterModelAsync(Backbone.Value.Onnx, (Backbone.Value.Manifest with { Version = "alices" }).ToJson()));

        Assert.Equal(HttpStatusCode.Forbidden, error.StatusCode);
        await AssertNotKeptAsync("alices");
    }

    private async Task AssertNotKeptAsync(string version)
    {
        Assert.DoesNotContain((await Operator.ListModelsAsync()).Versions, v => v.Version == version);
        Assert.Null(await fixture.Host.Services.GetRequiredService<BlobModelStore>().GetManifestJsonAsync(version, CancellationToken.None));
    }
}
