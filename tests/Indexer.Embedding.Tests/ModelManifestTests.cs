namespace Indexer.Embedding.Tests;

public sealed class ModelManifestTests
{
    private static readonly ModelManifest _valid = new(
        Version: "resnet18-v1.2_b",
        InputName: "Input247",
        OutputName: "Pooling395_Output_0",
        InputWidth: 224,
        InputHeight: 224,
        ChannelOrder: ChannelOrder.Bgr,
        Mean: [0f, 0f, 0f],
        Scale: [1f, 1f, 1f],
        OutputDimension: 512,
        L2Normalize: true,
        Lineage: "backward-compatible with v1",
        Description: "ResNet18 (ImageNet), pooled 512-d features",
        Properties: new Dictionary<string, string> { ["trainedOn"] = "ImageNet" });

    [Fact]
    public void ToJson_ThenFromJson_RoundTrips()
    {
        var json = _valid.ToJson();
        var parsed = ModelManifest.FromJson(json);

        Assert.Equal(_valid, parsed);
        Assert.Equal(_valid.Mean, parsed.Mean);
        Assert.Equal("ImageNet", parsed.Properties!["trainedOn"]);
    }

    [Fact]
    public void ToJson_UsesCamelCaseAndEnumNames()
    {
        var json = _valid.ToJson();

        Assert.Contains("\"inputWidth\": 224", json);
        Assert.Contains("\"channelOrder\": \"bgr\"", json);
        Assert.Contains("\"l2Normalize\": true", json);
    }

    [Fact]
    public void FromJson_WhenOptionalFieldsAreAbsent_LeavesThemNull()
    {
        var json = (_valid with { Lineage = null, Description = null, Properties = null }).ToJson();

        var parsed = ModelManifest.FromJson(json);

        Assert.Null(parsed.Lineage);
        Assert.Null(parsed.Properties);
        Assert.DoesNotContain("lineage", json);
    }

    [Fact]
    public void Equals_ComparesArraysByContent() =>
        Assert.Equal(_valid, _valid with { Mean = [0f, 0f, 0f] });

    public static TheoryData<string, string> InvalidManifests() => new()
    {
        { Json(m => m with { Version = "" }), "version" },
        { Json(m => m with { Version = "-starts-with-dash" }), "version" },
        { Json(m => m with { Version = "has space" }), "version" },
        { Json(m => m with { Version = new string('a', 65) }), "version" },
        { Json(m => m with { InputName = " " }), "inputName" },
        { Json(m => m with { OutputName = "" }), "outputName" },
        { Json(m => m with { InputWidth = 0 }), "inputWidth" },
        { Json(m => m with { InputHeight = -3 }), "inputHeight" },
        { Json(m => m with { OutputDimension = 0 }), "outputDimension" },
        { Json(m => m with { Mean = [1f, 2f] }), "mean" },
        { Json(m => m with { Scale = [1f, 1f, 1f, 1f] }), "scale" },
        { Json(m => m with { Scale = [1f, 0f, 1f] }), "scale" },
        { Remove("inputName"), "inputName" },
        { Remove("mean"), "mean" },
        { Remove("outputDimension"), "outputDimension" },
        { Replace("\"version\": \"resnet18-v1.2_b\"", "\"version\": null"), "version" },
        { Replace("\"channelOrder\": \"bgr\"", "\"channelOrder\": \"rgba\""), "channelOrder" },
        { Replace("\"channelOrder\": \"bgr\"", "\"channelOrder\": 1"), "channelOrder" },
        { Replace("\"inputWidth\": 224", "\"inputWidth\": \"wide\""), "inputWidth" },
    };

    [Theory]
    [MemberData(nameof(InvalidManifests))]
    public void FromJson_WhenFieldIsInvalid_ThrowsNamingTheField(string json, string field)
    {
        var ex = Assert.Throws<InvalidModelException>(() => ModelManifest.FromJson(json));

        Assert.Contains($"'{field}'", ex.Message);
    }

    [Theory]
    [InlineData("")]
    [InlineData("{")]
    [InlineData("null")]
    [InlineData("[1,2]")]
    public void FromJson_WhenNotAManifestObject_Throws(string json) =>
        Assert.Throws<InvalidModelException>(() => ModelManifest.FromJson(json));

    [Fact]
    public void Validate_WhenBuiltInCodeWithBadVersion_ThrowsNamingVersion()
    {
        var ex = Assert.Throws<InvalidModelException>(() => (_valid with { Version = "v1/../../etc" }).Validate());

        Assert.Contains("'version'", ex.Message);
    }

    [Fact]
    public void Validate_WhenParameterlessConstructed_Throws() =>
        Assert.Throws<InvalidModelException>(() => new ModelManifest().Validate());

    [Fact]
    public void Validate_WhenValid_DoesNotThrow() => _valid.Validate();

    private static string Json(Func<ModelManifest, ModelManifest> change) => change(_valid).ToJson();

    private static string Replace(string from, string to)
    {
        var json = _valid.ToJson();
        Assert.Contains(from, json);
        return json.Replace(from, to, StringComparison.Ordinal);
    }

    private static string Remove(string field)
    {
        var node = System.Text.Json.Nodes.JsonNode.Parse(_valid.ToJson())!.AsObject();
        Assert.True(node.Remove(field));
        return node.ToJsonString();
    }
}
