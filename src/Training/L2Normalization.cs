using System.Numerics.Tensors;

namespace Indexer.Training;

/// <summary>Row-wise u = z / ‖z‖ and its backward pass; embeddings are compared by cosine, so training sees unit rows.</summary>
public static class L2Normalization
{
    /// <summary>Norms below this are treated as this, so an all-zero row cannot produce infinities.</summary>
    public const float MinNorm = 1e-12f;

    /// <summary>Writes the normalised rows of <paramref name="z"/> (n x d) to <paramref name="u"/> and returns the row norms.</summary>
    public static float[] Forward(ReadOnlySpan<float> z, Span<float> u, int n, int d)
    {
        if (z.Length != n * d || u.Length != n * d) throw new ArgumentException("z and u must hold n x d floats");
        var norms = new float[n];
        for (var r = 0; r < n; r++)
        {
            var norm = MathF.Max(TensorPrimitives.Norm(z.Slice(r * d, d)), MinNorm);
            norms[r] = norm;
            TensorPrimitives.Divide(z.Slice(r * d, d), norm, u.Slice(r * d, d));
        }

        return norms;
    }

    /// <summary>∂loss/∂z = (∂loss/∂u − u (u · ∂loss/∂u)) / ‖z‖, row by row.</summary>
    public static float[] Backward(ReadOnlySpan<float> u, ReadOnlySpan<float> norms, ReadOnlySpan<float> du, int n, int d)
    {
        if (u.Length != n * d || du.Length != n * d || norms.Length != n) throw new ArgumentException("u and du must hold n x d floats and norms n");
        var dz = new float[n * d];
        for (var r = 0; r < n; r++)
        {
            var ur = u.Slice(r * d, d);
            var gr = du.Slice(r * d, d);
            var target = dz.AsSpan(r * d, d);
            var projection = TensorPrimitives.Dot(ur, gr);
            TensorPrimitives.MultiplyAdd(ur, -projection, gr, target);
            TensorPrimitives.Divide(target, norms[r], target);
        }

        return dz;
    }
}
