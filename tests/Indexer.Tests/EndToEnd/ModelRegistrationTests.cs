using System.Net;
using Indexer.Client;
using Indexer.Compatibility;
using Indexer.Embedding;
using Indexer.Grains.Compatibility;
using Indexer.Grains.Models;
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

    /// <summary>
    /// The registry's stored record changes under its activation (same content, new ETag), as when a write was stored
    /// but its answer lost and the client retried it: every later write of that activation fails its ETag condition.
    /// Registering and retiring must carry on, and the stored record must keep every version it held.
    /// </summary>
    [Fact]
    public async Task Registry_WhoseStoredRecordChangesUnderIt_KeepsRegisteringAndRetiringAndLosesNothing()
    {
        var model = ModelDerivation.AppendLinearMap(Backbone.Value, RandomOrthogonal.Create(512, seed: 41), 512, "v1-rotated-stale", "v1 rotated", "test derivative");
        var before = (await Operator.ListModelsAsync()).Versions.Select(v => v.Version).ToList();

        await fixture.Host.RestoreGrainStateAsync("models");
        var registered = await Operator.RegisterModelAsync(model.Onnx, model.Manifest.ToJson());
        await fixture.Host.RestoreGrainStateAsync("models");
        var retired = await Operator.RetireModelAsync("v1-rotated-stale");

        Assert.Equal("v1-rotated-stale", registered.Version);
        Assert.True(retired.Retired);
        var expected = before.Append("v1-rotated-stale").Order(StringComparer.Ordinal).ToList();
        var listed = await Operator.ListModelsAsync();
        Assert.Equal(expected, listed.Versions.Select(v => v.Version).Order(StringComparer.Ordinal));
        Assert.Equal("v1", listed.Current);
        var stored = await fixture.Host.ReadGrainStateAsync<ModelRegistryState>("models");
        Assert.Equal(expected, stored.Versions.Keys.Order(StringComparer.Ordinal));
        Assert.True(stored.Versions["v1-rotated-stale"].Retired);
        Assert.Equal("v1", stored.Current);
    }

    private async Task AssertNotKeptAsync(string version)
    {
        Assert.DoesNotContain((await Operator.ListModelsAsync()).Versions, v => v.Version == version);
        Assert.Null(await fixture.Host.Services.GetRequiredService<BlobModelStore>().GetManifestJsonAsync(version, CancellationToken.None));
    }

    [Fact]
    public async Task Calibrate_UpgradeToARotatedVersion_FitsAMapThatRecoversTheRotationOnHeldOutItems()
    {
        var rotated = ModelDerivation.AppendLinearMap(Backbone.Value, RandomOrthogonal.Create(512, seed: 31), 512, "v1-rotated-cal", "v1 rotated", "test derivative");
        await Operator.RegisterModelAsync(rotated.Onnx, rotated.Manifest.ToJson());
        var upgrade = fixture.Host.Services.GetRequiredService<IGrainFactory>().GetGrain<ICompatibilityGrain>(ICompatibilityGrain.KeyOf("v1", "v1-rotated-cal"));

        // A 512-d map needs a sample of several hundred items to span the features: measured here, 200 items gave a
        // held-out minimum of 0.90 and 400 gave 0.98, because held-out items reach outside the fitted span. So a second
        // gallery brings the sample to 800, drawn half and half.
        foreach (var batch in SampleImages.Uploads(1550, 400).Chunk(100)) await fixture.Host.Alice.UploadAsync("calibration-extra", batch);
        await fixture.WaitUntilIndexedAsync("calibration-extra");
        var report = await upgrade.CalibrateAsync(800);

        Assert.Equal(800, report.SampleSize);
        Assert.True(report.Galleries >= 2);
        Assert.Equal(0, report.EmbeddingFailures);
        Assert.True(report.HeldOut.Min >= 0.99, $"held-out agreement min {report.HeldOut.Min:F4}, mean {report.HeldOut.Mean:F4} ({report.MapKind}, {report.SampleSize} items)");
        Assert.True(report.Candidates.Single(c => c.Kind == "Identity").HeldOutMean < 0.5, "without a map the versions disagree");
        Assert.Equal(report, await upgrade.GetReportAsync());
        var stored = await fixture.Host.Services.GetRequiredService<BlobModelStore>().GetMapAsync("v1", "v1-rotated-cal", CancellationToken.None);
        var map = Search.Maps.EmbeddingMapCodec.Decode(stored);
        Assert.Equal(report.MapKind, map.Kind.ToString());
        var worker = fixture.Host.Services.GetRequiredService<IGrainFactory>().GetGrain<IEmbeddingWorkerGrain>(0);
        var image = SampleImages.Images.EncodePng(1999);
        var mapped = map.Apply(await worker.EmbedBytesAsync("v1", image));
        var truth = await worker.EmbedBytesAsync("v1-rotated-cal", image);
        Assert.True(VectorMath.Dot(mapped, truth) > 0.99f, "the stored map takes v1 vectors to the new version's");
    }

    /// <summary>
    /// An upgrade's stored report changes under its activation (same content, new ETag) between two calibrations: the
    /// second calibration's write fails its ETag condition. It must still store and return the new report.
    /// </summary>
    [Fact]
    public async Task Calibrate_WhenTheStoredRecordChangedUnderIt_StoresTheNewReport()
    {
        var rotated = ModelDerivation.AppendLinearMap(Backbone.Value, RandomOrthogonal.Create(512, seed: 43), 512, "v1-rotated-recal", "v1 rotated", "test derivative");
        await Operator.RegisterModelAsync(rotated.Onnx, rotated.Manifest.ToJson());
        var upgrade = fixture.Host.Services.GetRequiredService<IGrainFactory>().GetGrain<ICompatibilityGrain>(ICompatibilityGrain.KeyOf("v1", "v1-rotated-recal"));
        var first = await upgrade.CalibrateAsync(100);

        await fixture.Host.RestoreGrainStateAsync("compatibility", "v1-rotated-recal");
        var second = await upgrade.CalibrateAsync(100);

        Assert.True(second.CalibratedAt > first.CalibratedAt);
        Assert.Equal(second, await upgrade.GetReportAsync());
        var stored = await fixture.Host.ReadGrainStateAsync<CompatibilityState>("compatibility", "v1-rotated-recal");
        Assert.Equal(second.CalibratedAt, stored.Report?.CalibratedAt);
        Assert.Equal(second.HeldOut, stored.Report?.HeldOut);
    }

    [Fact]
    public async Task Calibrate_WithBadArguments_IsRefused()
    {
        var grains = fixture.Host.Services.GetRequiredService<IGrainFactory>();

        var tooSmall = await Assert.ThrowsAsync<IndexerException>(() => grains.GetGrain<ICompatibilityGrain>(ICompatibilityGrain.KeyOf("v1", "v1-rotated")).CalibrateAsync(5));
        var unknown = await Assert.ThrowsAsync<IndexerException>(() => grains.GetGrain<ICompatibilityGrain>(ICompatibilityGrain.KeyOf("v1", "no-such-model")).CalibrateAsync(100));
        var same = await Assert.ThrowsAsync<IndexerException>(() => grains.GetGrain<ICompatibilityGrain>(ICompatibilityGrain.KeyOf("v1", "v1")).CalibrateAsync(100));

        Assert.Equal(IndexerErrorCode.InvalidArgument, tooSmall.Code);
        Assert.Equal(IndexerErrorCode.NotFound, unknown.Code);
        Assert.Equal(IndexerErrorCode.InvalidArgument, same.Code);
    }

    [Fact]
    public async Task CalibrationApi_IsForOperatorsAndSaysWhenAnUpgradeWasNeverCalibrated()
    {
        var forbidden = await Assert.ThrowsAsync<IndexerApiException>(() => fixture.Host.Alice.CalibrateAsync("v1", "v1-rotated", 100));
        var never = await Assert.ThrowsAsync<IndexerApiException>(() => Operator.GetCalibrationAsync("v1", "never-registered"));
        var badSample = await Assert.ThrowsAsync<IndexerApiException>(() => Operator.CalibrateAsync("v1", "v1-rotated", 3));

        Assert.Equal(HttpStatusCode.Forbidden, forbidden.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, never.StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, badSample.StatusCode);
    }
}
