using System.Numerics;
using System.Numerics.Tensors;
using System.Runtime.InteropServices;

namespace Indexer.Search;

/// <summary>
/// Small vector helpers shared by the index and its callers, so that every part of the system
/// normalises and compares embeddings the same way (cosine similarity = dot of unit vectors).
/// </summary>
public static class VectorMath
{
    /// <summary>
    /// Scales <paramref name="v"/> to unit L2 length in place. An all-zero vector stays zero
    /// (it has no direction). Very large or very small finite values are pre-scaled by their
    /// largest magnitude first, so the sum of squares neither overflows nor underflows.
    /// </summary>
    public static void NormalizeInPlace(Span<float> v)
    {
        if (v.IsEmpty)
        {
            return;
        }

        float norm = TensorPrimitives.Norm(v);
        if (float.IsNormal(norm))
        {
            TensorPrimitives.Divide(v, norm, v);
            return;
        }

        // The norm overflowed to infinity, underflowed to zero/subnormal, or the input is zero/non-finite.
        float maxAbs = TensorPrimitives.MaxMagnitude(v);
        maxAbs = MathF.Abs(maxAbs);
        if (maxAbs == 0f || !float.IsFinite(maxAbs))
        {
            return;
        }

        TensorPrimitives.Divide(v, maxAbs, v);
        norm = TensorPrimitives.Norm(v);
        if (norm > 0f)
        {
            TensorPrimitives.Divide(v, norm, v);
        }
    }

    /// <summary>Dot product of two equal-length vectors (SIMD through <see cref="TensorPrimitives"/>).</summary>
    /// <exception cref="ArgumentException">The lengths differ.</exception>
    public static float Dot(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        if (a.Length != b.Length)
        {
            throw new ArgumentException($"Vector lengths differ: {a.Length} and {b.Length}.", nameof(b));
        }

        return TensorPrimitives.Dot(a, b);
    }

    /// <summary>True when no element is NaN or infinite; such values would poison every score they touch.</summary>
    public static bool IsFinite(ReadOnlySpan<float> v)
    {
        // x - x is 0 for every finite x and NaN for NaN or ±infinity, so one SIMD compare per chunk suffices.
        int i = 0;
        if (Vector.IsHardwareAccelerated)
        {
            ReadOnlySpan<Vector<float>> chunks = MemoryMarshal.Cast<float, Vector<float>>(v);
            foreach (Vector<float> chunk in chunks)
            {
                if (!Vector.EqualsAll(chunk - chunk, Vector<float>.Zero))
                {
                    return false;
                }
            }

            i = chunks.Length * Vector<float>.Count;
        }

        for (; i < v.Length; i++)
        {
            if (!float.IsFinite(v[i]))
            {
                return false;
            }
        }

        return true;
    }
}
