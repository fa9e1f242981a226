using System.Numerics;
using System.Runtime.Intrinsics;

namespace Indexer.Search;

/// <summary>
/// Dot products of one query against a run of contiguous rows. Brute-force search is bound by
/// memory bandwidth, so the kernel scores four rows per step: one load of the query chunk serves
/// four rows, and four independent accumulators keep the FMA units busy while the next cache lines stream in.
/// </summary>
/// <remarks>
/// The single-row path performs exactly the same operations in the same order per row as the
/// four-row path, so a row's score never depends on where it falls in a block; this keeps
/// <see cref="FlatVectorIndex.Search"/> and <see cref="FlatVectorIndex.SearchMany"/> bit-identical
/// and makes identical vectors tie exactly.
/// </remarks>
internal static unsafe class DotKernels
{
    /// <summary>Rows scored together by the unrolled kernel; four accumulators cover the FMA latency.</summary>
    public const int RowUnroll = 4;

    /// <summary>Writes dot(query, row r) to <paramref name="scores"/>[r] for r in [0, rowCount).</summary>
    public static void ScoreRows(float* query, float* rows, int rowCount, int dimension, float* scores)
    {
        int r = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            for (; r <= rowCount - RowUnroll; r += RowUnroll)
            {
                Dot4Vector512(query, rows + ((nint)r * dimension), dimension, scores + r);
            }

            for (; r < rowCount; r++)
            {
                scores[r] = Dot1Vector512(query, rows + ((nint)r * dimension), dimension);
            }
        }
        else
        {
            for (; r <= rowCount - RowUnroll; r += RowUnroll)
            {
                Dot4Vector(query, rows + ((nint)r * dimension), dimension, scores + r);
            }

            for (; r < rowCount; r++)
            {
                scores[r] = Dot1Vector(query, rows + ((nint)r * dimension), dimension);
            }
        }
    }

    private static void Dot4Vector512(float* q, float* r0, int dim, float* scores)
    {
        float* r1 = r0 + dim;
        float* r2 = r1 + dim;
        float* r3 = r2 + dim;
        Vector512<float> a0 = Vector512<float>.Zero, a1 = a0, a2 = a0, a3 = a0;
        int i = 0;
        for (; i <= dim - Vector512<float>.Count; i += Vector512<float>.Count)
        {
            Vector512<float> qv = Vector512.Load(q + i);
            a0 = Vector512.FusedMultiplyAdd(qv, Vector512.Load(r0 + i), a0);
            a1 = Vector512.FusedMultiplyAdd(qv, Vector512.Load(r1 + i), a1);
            a2 = Vector512.FusedMultiplyAdd(qv, Vector512.Load(r2 + i), a2);
            a3 = Vector512.FusedMultiplyAdd(qv, Vector512.Load(r3 + i), a3);
        }

        float s0 = Vector512.Sum(a0), s1 = Vector512.Sum(a1), s2 = Vector512.Sum(a2), s3 = Vector512.Sum(a3);
        for (; i < dim; i++)
        {
            float qi = q[i];
            s0 = MathF.FusedMultiplyAdd(qi, r0[i], s0);
            s1 = MathF.FusedMultiplyAdd(qi, r1[i], s1);
            s2 = MathF.FusedMultiplyAdd(qi, r2[i], s2);
            s3 = MathF.FusedMultiplyAdd(qi, r3[i], s3);
        }

        scores[0] = s0;
        scores[1] = s1;
        scores[2] = s2;
        scores[3] = s3;
    }

    private static float Dot1Vector512(float* q, float* r0, int dim)
    {
        Vector512<float> a0 = Vector512<float>.Zero;
        int i = 0;
        for (; i <= dim - Vector512<float>.Count; i += Vector512<float>.Count)
        {
            a0 = Vector512.FusedMultiplyAdd(Vector512.Load(q + i), Vector512.Load(r0 + i), a0);
        }

        float s0 = Vector512.Sum(a0);
        for (; i < dim; i++)
        {
            s0 = MathF.FusedMultiplyAdd(q[i], r0[i], s0);
        }

        return s0;
    }

    private static void Dot4Vector(float* q, float* r0, int dim, float* scores)
    {
        float* r1 = r0 + dim;
        float* r2 = r1 + dim;
        float* r3 = r2 + dim;
        Vector<float> a0 = Vector<float>.Zero, a1 = a0, a2 = a0, a3 = a0;
        int i = 0;
        for (; i <= dim - Vector<float>.Count; i += Vector<float>.Count)
        {
            Vector<float> qv = Vector.Load(q + i);
            a0 = Vector.FusedMultiplyAdd(qv, Vector.Load(r0 + i), a0);
            a1 = Vector.FusedMultiplyAdd(qv, Vector.Load(r1 + i), a1);
            a2 = Vector.FusedMultiplyAdd(qv, Vector.Load(r2 + i), a2);
            a3 = Vector.FusedMultiplyAdd(qv, Vector.Load(r3 + i), a3);
        }

        float s0 = Vector.Sum(a0), s1 = Vector.Sum(a1), s2 = Vector.Sum(a2), s3 = Vector.Sum(a3);
        for (; i < dim; i++)
        {
            float qi = q[i];
            s0 = MathF.FusedMultiplyAdd(qi, r0[i], s0);
            s1 = MathF.FusedMultiplyAdd(qi, r1[i], s1);
            s2 = MathF.FusedMultiplyAdd(qi, r2[i], s2);
            s3 = MathF.FusedMultiplyAdd(qi, r3[i], s3);
        }

        scores[0] = s0;
        scores[1] = s1;
        scores[2] = s2;
        scores[3] = s3;
    }

    private static float Dot1Vector(float* q, float* r0, int dim)
    {
        Vector<float> a0 = Vector<float>.Zero;
        int i = 0;
        for (; i <= dim - Vector<float>.Count; i += Vector<float>.Count)
        {
            a0 = Vector.FusedMultiplyAdd(Vector.Load(q + i), Vector.Load(r0 + i), a0);
        }

        float s0 = Vector.Sum(a0);
        for (; i < dim; i++)
        {
            s0 = MathF.FusedMultiplyAdd(q[i], r0[i], s0);
        }

        return s0;
    }
}
