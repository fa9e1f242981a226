using System.Numerics;
using System.Numerics.Tensors;
using System.Runtime.InteropServices;

namespace Indexer.Search.Maps;

/// <summary>
/// The few dense linear-algebra routines the maps between model spaces need, on row-major double arrays. Sizes here
/// are embedding dimensions (hundreds), so plain O(n³) loops in double precision are fast enough and exact enough.
/// </summary>
public static class DenseMath
{
    /// <summary>AᵀB for A (n x p) and B (n x q), row-major float rows; the result is p x q.</summary>
    public static double[] TransposeTimes(ReadOnlySpan<float> a, ReadOnlySpan<float> b, int n, int p, int q)
    {
        var result = new double[p * q];
        var rowB = new double[q];
        for (var r = 0; r < n; r++)
        {
            var rowA = a.Slice(r * p, p);
            TensorPrimitives.ConvertChecked<float, double>(b.Slice(r * q, q), rowB);
            for (var i = 0; i < p; i++)
            {
                double ai = rowA[i];
                if (ai == 0) continue;
                var resultRow = result.AsSpan(i * q, q);
                TensorPrimitives.MultiplyAdd<double>(rowB, ai, resultRow, resultRow);
            }
        }

        return result;
    }

    /// <summary>
    /// Solves (S) X = B for a symmetric positive definite S (n x n) and B (n x m) by Cholesky factorisation.
    /// Throws when S is not positive definite (add a ridge term).
    /// </summary>
    public static double[] SolveSymmetricPositiveDefinite(double[] s, double[] b, int n, int m)
    {
        var l = new double[n * n];
        for (var i = 0; i < n; i++)
        {
            for (var j = 0; j <= i; j++)
            {
                var sum = s[i * n + j] - System.Numerics.Tensors.TensorPrimitives.Dot(l.AsSpan(i * n, j), l.AsSpan(j * n, j));
                if (i == j)
                {
                    if (sum <= 0) throw new ArgumentException("the matrix is not positive definite", nameof(s));
                    l[i * n + i] = Math.Sqrt(sum);
                }
                else
                {
                    l[i * n + j] = sum / l[j * n + j];
                }
            }
        }

        // Solve row by row on all right-hand sides at once: L Y = B, then Lᵀ X = Y, each step a vectorised row update.
        var x = (double[])b.Clone();
        for (var i = 0; i < n; i++)
        {
            var row = x.AsSpan(i * m, m);
            for (var k = 0; k < i; k++)
            {
                var lik = l[i * n + k];
                if (lik != 0) TensorPrimitives.MultiplyAdd<double>(x.AsSpan(k * m, m), -lik, row, row);
            }

            TensorPrimitives.Divide<double>(row, l[i * n + i], row);
        }

        for (var i = n - 1; i >= 0; i--)
        {
            var row = x.AsSpan(i * m, m);
            for (var k = i + 1; k < n; k++)
            {
                var lki = l[k * n + i];
                if (lki != 0) TensorPrimitives.MultiplyAdd<double>(x.AsSpan(k * m, m), -lki, row, row);
            }

            TensorPrimitives.Divide<double>(row, l[i * n + i], row);
        }

        return x;
    }

    /// <summary>
    /// The orthogonal matrix nearest to a square M (n x n) in the Frobenius norm, U Vᵀ from M = U Σ Vᵀ, computed with
    /// one-sided Jacobi rotations. Directions where M is (numerically) zero are completed to an orthonormal basis, so
    /// the result is orthogonal even when M is rank-deficient (fewer samples than dimensions).
    /// </summary>
    public static double[] NearestOrthogonal(double[] m, int n)
    {
        // Rows of b are the columns of M, and rows of vt the columns of V, so every rotation touches contiguous memory.
        // Rotating pairs of columns of M until all are orthogonal gives M V = U Σ.
        var b = new double[n * n];
        for (var i = 0; i < n; i++)
        {
            for (var j = 0; j < n; j++) b[j * n + i] = m[i * n + j];
        }

        var vt = new double[n * n];
        for (var i = 0; i < n; i++) vt[i * n + i] = 1;
        const int maxSweeps = 30;
        const double tolerance = 1e-12;
        for (var sweep = 0; sweep < maxSweeps; sweep++)
        {
            var rotated = false;
            for (var p = 0; p < n - 1; p++)
            {
                var bp = b.AsSpan(p * n, n);
                for (var q = p + 1; q < n; q++)
                {
                    var bq = b.AsSpan(q * n, n);
                    var alpha = TensorPrimitives.Dot<double>(bp, bp);
                    var beta = TensorPrimitives.Dot<double>(bq, bq);
                    var gamma = TensorPrimitives.Dot<double>(bp, bq);

                    if (gamma == 0 || Math.Abs(gamma) <= tolerance * Math.Sqrt(alpha * beta)) continue;
                    rotated = true;
                    var zeta = (beta - alpha) / (2 * gamma);
                    var t = (zeta >= 0 ? 1 : -1) / (Math.Abs(zeta) + Math.Sqrt(1 + zeta * zeta));
                    var c = 1 / Math.Sqrt(1 + t * t);
                    var s = c * t;
                    Rotate(bp, bq, c, s);
                    Rotate(vt.AsSpan(p * n, n), vt.AsSpan(q * n, n), c, s);
                }
            }

            if (!rotated) break;
        }

        // U's columns are M V's columns normalised; those that are (near) zero are completed by Gram-Schmidt.
        var norms = new double[n];
        for (var k = 0; k < n; k++)
        {
            var row = b.AsSpan(k * n, n);
            var sum = 0.0;
            foreach (var x in row) sum += x * x;
            norms[k] = Math.Sqrt(sum);
        }

        var largest = norms.Max();
        var filled = new bool[n];
        for (var k = 0; k < n; k++)
        {
            if (norms[k] <= 1e-9 * largest) continue;
            var row = b.AsSpan(k * n, n);
            for (var r = 0; r < n; r++) row[r] /= norms[k];
            filled[k] = true;
        }

        var next = 0;
        for (var k = 0; k < n; k++)
        {
            if (filled[k]) continue;
            var row = b.AsSpan(k * n, n);
            while (true)
            {
                row.Clear();
                row[next++ % n] = 1;
                for (var pass = 0; pass < 2; pass++)
                {
                    for (var other = 0; other < n; other++)
                    {
                        if (!filled[other]) continue;
                        var basis = b.AsSpan(other * n, n);
                        var dot = 0.0;
                        for (var r = 0; r < n; r++) dot += row[r] * basis[r];
                        for (var r = 0; r < n; r++) row[r] -= dot * basis[r];
                    }
                }

                var norm = 0.0;
                foreach (var x in row) norm += x * x;
                norm = Math.Sqrt(norm);
                if (norm < 1e-6) continue;
                for (var r = 0; r < n; r++) row[r] /= norm;
                filled[k] = true;
                break;
            }
        }

        // W = U Vᵀ = Σ_k u_k v_kᵀ, with u_k = row k of b and v_k = row k of vt.
        var w = new double[n * n];
        for (var k = 0; k < n; k++)
        {
            var u = b.AsSpan(k * n, n);
            var v = vt.AsSpan(k * n, n);
            for (var i = 0; i < n; i++)
            {
                var ui = u[i];
                if (ui == 0) continue;
                var wi = w.AsSpan(i * n, n);
                for (var j = 0; j < n; j++) wi[j] += ui * v[j];
            }
        }

        return w;
    }

    /// <summary>(p, q) ← (c p − s q, s p + c q), vectorised.</summary>
    private static void Rotate(Span<double> p, Span<double> q, double c, double s)
    {
        var r = 0;
        if (Vector.IsHardwareAccelerated && p.Length >= Vector<double>.Count)
        {
            var vc = new Vector<double>(c);
            var vs = new Vector<double>(s);
            var ps = MemoryMarshal.Cast<double, Vector<double>>(p);
            var qs = MemoryMarshal.Cast<double, Vector<double>>(q);
            for (var k = 0; k < ps.Length; k++)
            {
                var x = ps[k];
                var y = qs[k];
                ps[k] = vc * x - vs * y;
                qs[k] = vs * x + vc * y;
            }

            r = ps.Length * Vector<double>.Count;
        }

        for (; r < p.Length; r++)
        {
            var x = p[r];
            var y = q[r];
            p[r] = c * x - s * y;
            q[r] = s * x + c * y;
        }
    }
}
