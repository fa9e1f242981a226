namespace Indexer.Embedding.Tests;

public sealed class OnnxEmbedderTests
{
    private static readonly EmbedderOptions _cpu = new(PreferGpu: false, IntraOpThreads: 1);

    [Fact]
    public void Constructor_WhenGpuPreferredOnMachineWithoutCuda_FallsBackToCpu()
    {
        using var embedder = new OnnxEmbedder(TinyModels.AveragePool(), TinyModels.Manifest(), new EmbedderOptions(PreferGpu: true));

        // This suite runs on CPU-only machines; on a CUDA host this assertion documents the other branch.
        if (embedder.ExecutionProvider == "CUDA")
        {
            Assert.Null(embedder.GpuFallbackReason);
            return;
        }

        Assert.Equal("CPU", embedder.ExecutionProvider);
        Assert.Contains("CUDA", embedder.GpuFallbackReason);
        Assert.Equal(3, embedder.EmbedProbe().Length);
    }

    [Fact]
    public void Constructor_WhenCpuRequested_UsesCpuWithoutFallbackReason()
    {
        using var embedder = new OnnxEmbedder(TinyModels.AveragePool(), TinyModels.Manifest(), _cpu);

        Assert.Equal("CPU", embedder.ExecutionProvider);
        Assert.Null(embedder.GpuFallbackReason);
        Assert.Equal(3, embedder.Dimension);
        Assert.Equal(int.MaxValue, embedder.MaxBatch);
    }

    [Fact]
    public void Constructor_WhenBytesAreGarbage_ThrowsInvalidModel()
    {
        var garbage = new byte[4096];
        new Random(3).NextBytes(garbage);

        var ex = Assert.Throws<InvalidModelException>(() => new OnnxEmbedder(garbage, TinyModels.Manifest(), _cpu));

        Assert.Contains("could not be loaded", ex.Message);
    }

    [Fact]
    public void Constructor_WhenBytesAreEmpty_ThrowsInvalidModel() =>
        Assert.Throws<InvalidModelException>(() => new OnnxEmbedder([], TinyModels.Manifest(), _cpu));

    public static TheoryData<string, string> MismatchedManifests() => new()
    {
        { "dimension", "says 4" },
        { "width", "[N,3,8,16]" },
        { "height", "[N,3,4,8]" },
        { "inputName", "no input named 'pixels'" },
        { "outputName", "no output named 'features'" },
    };

    [Theory]
    [MemberData(nameof(MismatchedManifests))]
    public void Constructor_WhenManifestDisagreesWithGraph_ThrowsInvalidModel(string change, string expectedMessage)
    {
        var manifest = TinyModels.Manifest();
        manifest = change switch
        {
            "dimension" => manifest with { OutputDimension = 4 },
            "width" => manifest with { InputWidth = 16 },
            "height" => manifest with { InputHeight = 4 },
            "inputName" => manifest with { InputName = "pixels" },
            _ => manifest with { OutputName = "features" },
        };

        var ex = Assert.Throws<InvalidModelException>(() => new OnnxEmbedder(TinyModels.AveragePool(), manifest, _cpu));

        Assert.Contains(expectedMessage, ex.Message);
    }

    [Fact]
    public void Constructor_WhenManifestIsInvalid_ThrowsInvalidModel() =>
        Assert.Throws<InvalidModelException>(
            () => new OnnxEmbedder(TinyModels.AveragePool(), TinyModels.Manifest() with { Version = "" }, _cpu));

    [Fact]
    public void Embed_NormalisesEachRowToUnitLength()
    {
        using var embedder = new OnnxEmbedder(TinyModels.AveragePool(), TinyModels.Manifest(), _cpu);
        var inputs = Images(2, (image, channel) => image == 0 ? channel + 1 : 5f);
        var output = new float[2 * 3];

        embedder.Embed(inputs, 2, output);

        float n = MathF.Sqrt(14f);
        Assert.Equal([1f / n, 2f / n, 3f / n], output[..3], new FloatComparer(1e-6f));
        Assert.Equal([1f / MathF.Sqrt(3f), 1f / MathF.Sqrt(3f), 1f / MathF.Sqrt(3f)], output[3..], new FloatComparer(1e-6f));
    }

    [Fact]
    public void Embed_WhenManifestSaysNoNormalisation_ReturnsRawOutput()
    {
        using var embedder = new OnnxEmbedder(TinyModels.AveragePool(), TinyModels.Manifest() with { L2Normalize = false }, _cpu);
        var output = new float[3];

        embedder.Embed(Images(1, (_, channel) => channel * 10f), 1, output);

        Assert.Equal([0f, 10f, 20f], output, new FloatComparer(1e-5f));
    }

    [Fact]
    public void Embed_WhenModelHasFixedBatchOfOne_RunsRowsOneByOne()
    {
        using var fixedBatch = new OnnxEmbedder(TinyModels.AveragePool(dynamicBatch: false), TinyModels.Manifest(), _cpu);
        using var dynamicBatch = new OnnxEmbedder(TinyModels.AveragePool(), TinyModels.Manifest(), _cpu);
        var inputs = Images(5, (image, channel) => (image * 3) + channel + 1);
        var expected = new float[5 * 3];
        var actual = new float[5 * 3];

        dynamicBatch.Embed(inputs, 5, expected);
        fixedBatch.Embed(inputs, 5, actual);

        Assert.Equal(1, fixedBatch.MaxBatch);
        Assert.Equal(expected, actual, new FloatComparer(1e-6f));
    }

    [Fact]
    public void Embed_WhenModelProducesNaN_ThrowsInvalidModel()
    {
        using var embedder = new OnnxEmbedder(TinyModels.AveragePool(log: true), TinyModels.Manifest(), _cpu);
        var output = new float[3];

        var ex = Assert.Throws<InvalidModelException>(() => embedder.Embed(Images(1, (_, _) => -1f), 1, output));

        Assert.Contains("non-finite", ex.Message);
    }

    [Fact]
    public void Embed_WhenSpanLengthsDisagreeWithBatch_ThrowsArgumentException()
    {
        using var embedder = new OnnxEmbedder(TinyModels.AveragePool(), TinyModels.Manifest(), _cpu);

        Assert.Throws<ArgumentException>(() => embedder.Embed(new float[embedder.TensorLength], 2, new float[6]));
        Assert.Throws<ArgumentException>(() => embedder.Embed(new float[embedder.TensorLength], 1, new float[4]));
    }

    [Fact]
    public void Embed_WhenBatchIsEmpty_DoesNothing()
    {
        using var embedder = new OnnxEmbedder(TinyModels.AveragePool(), TinyModels.Manifest(), _cpu);

        embedder.Embed([], 0, []);
    }

    [Fact]
    public void Embed_WhenDisposed_ThrowsObjectDisposed()
    {
        var embedder = new OnnxEmbedder(TinyModels.AveragePool(), TinyModels.Manifest(), _cpu);
        embedder.Dispose();

        Assert.Throws<ObjectDisposedException>(() => embedder.EmbedProbe());
    }

    [Fact]
    public async Task Embed_WhenCalledConcurrently_GivesSameResultsAsSequential()
    {
        using var embedder = new OnnxEmbedder(TinyModels.AveragePool(), TinyModels.Manifest(), _cpu);
        var inputs = Enumerable.Range(0, 16).Select(i => Images(3, (image, channel) => (i * 7) + (image * 3) + channel + 1)).ToArray();
        var expected = inputs.Select(input =>
        {
            var output = new float[9];
            embedder.Embed(input, 3, output);
            return output;
        }).ToArray();

        var actual = await Task.WhenAll(inputs.Select(input => Task.Run(() =>
        {
            var output = new float[9];
            for (int repeat = 0; repeat < 20; repeat++)
            {
                embedder.Embed(input, 3, output);
            }

            return output;
        })));

        for (int i = 0; i < inputs.Length; i++)
        {
            Assert.Equal(expected[i], actual[i]);
        }
    }

    [Fact]
    public void EmbedProbe_ReturnsFiniteUnitVector()
    {
        using var embedder = new OnnxEmbedder(TinyModels.AveragePool(), TinyModels.Manifest(), _cpu);

        var vector = embedder.EmbedProbe();

        Assert.All(vector, v => Assert.True(float.IsFinite(v)));
        Assert.Equal(1f, MathF.Sqrt(vector.Sum(v => v * v)), 1e-5f);
    }

    /// <summary>Batch of constant-per-channel images.</summary>
    private static float[] Images(int count, Func<int, int, float> value)
    {
        int plane = TinyModels.Side * TinyModels.Side;
        var data = new float[count * 3 * plane];
        for (int image = 0; image < count; image++)
        {
            for (int channel = 0; channel < 3; channel++)
            {
                data.AsSpan(((image * 3) + channel) * plane, plane).Fill(value(image, channel));
            }
        }

        return data;
    }
}

internal sealed class FloatComparer(float tolerance) : IEqualityComparer<float>
{
    public bool Equals(float x, float y) => MathF.Abs(x - y) <= tolerance;

    public int GetHashCode(float obj) => 0;
}
