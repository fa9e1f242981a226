using Indexer.Search;

namespace Indexer.Search.Tests;

public sealed class VectorMathTests
{
    [Theory]
    [InlineData(1f)]
    [InlineData(1e30f)]
    [InlineData(1e-30f)]
    [InlineData(1e-42f)]
    public void NormalizeInPlace_gives_unit_length_at_any_scale(float scale)
    {
        float[] v = [3f * scale, -4f * scale, 0f];
        VectorMath.NormalizeInPlace(v);
        Assert.Equal(0.6f, v[0], 5);
        Assert.Equal(-0.8f, v[1], 5);
        Assert.Equal(0f, v[2]);
    }

    [Fact]
    public void NormalizeInPlace_leaves_zero_vector_zero()
    {
        float[] v = new float[33];
        VectorMath.NormalizeInPlace(v);
        Assert.All(v, x => Assert.Equal(0f, x));
    }

    [Fact]
    public void NormalizeInPlace_accepts_empty_span()
    {
        VectorMath.NormalizeInPlace(Span<float>.Empty);
    }

    [Fact]
    public void NormalizeInPlace_long_vector_has_unit_norm()
    {
        var random = new Random(11);
        float[] v = TestData.RandomVector(random, 515);
        VectorMath.NormalizeInPlace(v);
        Assert.Equal(1f, MathF.Sqrt(VectorMath.Dot(v, v)), 5);
    }

    [Fact]
    public void Dot_matches_scalar_sum()
    {
        var random = new Random(3);
        float[] a = TestData.RandomVector(random, 100);
        float[] b = TestData.RandomVector(random, 100);
        double expected = 0;
        for (int i = 0; i < a.Length; i++)
        {
            expected += (double)a[i] * b[i];
        }

        Assert.Equal(expected, VectorMath.Dot(a, b), 4);
    }

    [Fact]
    public void Dot_rejects_different_lengths()
    {
        Assert.Throws<ArgumentException>(() => VectorMath.Dot(new float[3], new float[4]));
    }

    [Fact]
    public void IsFinite_is_true_for_finite_and_empty()
    {
        Assert.True(VectorMath.IsFinite(ReadOnlySpan<float>.Empty));
        Assert.True(VectorMath.IsFinite([float.MaxValue, float.MinValue, float.Epsilon, -0f]));
    }

    [Theory]
    [InlineData(float.NaN)]
    [InlineData(float.PositiveInfinity)]
    [InlineData(float.NegativeInfinity)]
    public void IsFinite_finds_bad_value_at_any_position(float bad)
    {
        for (int length = 1; length <= 40; length++)
        {
            for (int at = 0; at < length; at++)
            {
                float[] v = new float[length];
                v.AsSpan().Fill(0.5f);
                v[at] = bad;
                Assert.False(VectorMath.IsFinite(v), $"length {length}, position {at}");
            }
        }
    }
}
