using Indexer.Search.Maps;

namespace Indexer.Search.Tests.Maps;

public sealed class CompatibilityPredictorCodecTests
{
    /// <summary>Agreement that depends on a direction of the old space (linear wins) or on a region (neighbours win).</summary>
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void EncodeDecode_GivesAPredictorThatPredictsExactlyTheSame(bool linearStructure)
    {
        const int d = 16, n = 200;
        var random = new Random(linearStructure ? 1 : 2);
        var vectors = new float[n * d];
        for (var i = 0; i < vectors.Length; i++) vectors[i] = (float)(random.NextDouble() - 0.5);
        var agreements = Enumerable.Range(0, n)
            .Select(i => linearStructure ? 0.8 + 0.3 * vectors[i * d] : vectors[i * d] * vectors[i * d + 1] > 0 ? 0.95 : 0.4)
            .ToArray();
        var predictor = CompatibilityPredictor.Fit(vectors, agreements, d, seed: 5);

        var restored = CompatibilityPredictorCodec.Decode(CompatibilityPredictorCodec.Encode(predictor));

        Assert.Equal(predictor.Kind, restored.Kind);
        Assert.Equal(predictor.HeldOutSpearman, restored.HeldOutSpearman);
        for (var i = 0; i < 50; i++)
        {
            var probe = Enumerable.Range(0, d).Select(_ => (float)(random.NextDouble() - 0.5)).ToArray();
            Assert.Equal(predictor.Predict(probe), restored.Predict(probe));
        }
    }

    [Fact]
    public void Decode_CorruptOrTruncatedBytes_IsRejected()
    {
        var vectors = Enumerable.Range(0, 40 * 4).Select(i => (float)Math.Sin(i)).ToArray();
        var bytes = CompatibilityPredictorCodec.Encode(CompatibilityPredictor.Fit(vectors, Enumerable.Range(0, 40).Select(i => i / 40.0).ToArray(), 4));
        var flipped = bytes.ToArray();
        flipped[bytes.Length / 2] ^= 0x10;

        Assert.Throws<InvalidDataException>(() => CompatibilityPredictorCodec.Decode(flipped));
        Assert.Throws<InvalidDataException>(() => CompatibilityPredictorCodec.Decode(bytes[..^40]));
        Assert.Throws<InvalidDataException>(() => CompatibilityPredictorCodec.Decode("IXMP not a predictor at all, long enough"u8.ToArray()));
    }
}
