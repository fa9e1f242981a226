using System.Numerics.Tensors;

namespace Indexer.Training;

/// <summary>
/// The products a dense layer needs on a mini-batch, on row-major float arrays. Work is split across cores by output
/// row, so every element is summed by one thread in a fixed order and results do not depend on scheduling.
/// </summary>
public static class BatchMath
{
    /// <summary>Below this many multiply-adds a product runs on the calling thread; the thread hand-off costs more.</summary>
    private const long ParallelThreshold = 1 << 16;

    /// <summary>Y = X W (+ bias on every row): X is n x p, W is p x q, Y is n x q. Pass an empty bias for none.</summary>
    public static void Multiply(ReadOnlyMemory<float> x, ReadOnlyMemory<float> w, ReadOnlyMemory<float> bias, Memory<float> y, int n, int p, int q)
    {
        Check(x.Length, n, p, nameof(x));
        Check(w.Length, p, q, nameof(w));
        Check(y.Length, n, q, nameof(y));
        if (!bias.IsEmpty && bias.Length != q) throw new ArgumentException($"bias must have {q} values", nameof(bias));
        For(n, (long)n * p * q, r =>
        {
            var row = y.Span.Slice(r * q, q);
            if (bias.IsEmpty) row.Clear();
            else bias.Span.CopyTo(row);
            var input = x.Span.Slice(r * p, p);
            var weights = w.Span;
            for (var i = 0; i < p; i++)
            {
                var xi = input[i];
                if (xi != 0f) TensorPrimitives.MultiplyAdd(weights.Slice(i * q, q), xi, row, row);
            }
        });
    }

    /// <summary>DX = DY Wᵀ: DY is n x q, W is p x q, DX is n x p.</summary>
    public static void MultiplyTransposed(ReadOnlyMemory<float> dy, ReadOnlyMemory<float> w, Memory<float> dx, int n, int p, int q)
    {
        Check(dy.Length, n, q, nameof(dy));
        Check(w.Length, p, q, nameof(w));
        Check(dx.Length, n, p, nameof(dx));
        For(n, (long)n * p * q, r =>
        {
            var g = dy.Span.Slice(r * q, q);
            var row = dx.Span.Slice(r * p, p);
            var weights = w.Span;
            for (var i = 0; i < p; i++) row[i] = TensorPrimitives.Dot(g, weights.Slice(i * q, q));
        });
    }

    /// <summary>DW += Xᵀ DY: X is n x p, DY is n x q, DW is p x q.</summary>
    public static void AccumulateTransposedProduct(ReadOnlyMemory<float> x, ReadOnlyMemory<float> dy, Memory<float> dw, int n, int p, int q)
    {
        Check(x.Length, n, p, nameof(x));
        Check(dy.Length, n, q, nameof(dy));
        Check(dw.Length, p, q, nameof(dw));
        For(p, (long)n * p * q, i =>
        {
            var row = dw.Span.Slice(i * q, q);
            var inputs = x.Span;
            var gradients = dy.Span;
            for (var r = 0; r < n; r++)
            {
                var xri = inputs[r * p + i];
                if (xri != 0f) TensorPrimitives.MultiplyAdd(gradients.Slice(r * q, q), xri, row, row);
            }
        });
    }

    /// <summary>db += the column sums of DY (n x q).</summary>
    public static void AccumulateColumnSums(ReadOnlySpan<float> dy, Span<float> db, int n, int q)
    {
        Check(dy.Length, n, q, nameof(dy));
        if (db.Length != q) throw new ArgumentException($"db must have {q} values", nameof(db));
        for (var r = 0; r < n; r++) TensorPrimitives.Add(db, dy.Slice(r * q, q), db);
    }

    /// <summary>Scales every row of <paramref name="rows"/> (n x d) to unit length; all-zero rows stay zero.</summary>
    public static void NormalizeRows(Span<float> rows, int n, int d)
    {
        Check(rows.Length, n, d, nameof(rows));
        for (var r = 0; r < n; r++)
        {
            var row = rows.Slice(r * d, d);
            var norm = TensorPrimitives.Norm(row);
            if (norm > 0f) TensorPrimitives.Divide(row, norm, row);
        }
    }

    private static void Check(int length, int rows, int columns, string name)
    {
        if (length != (long)rows * columns) throw new ArgumentException($"{name} must hold {rows} x {columns} floats; it holds {length}", name);
    }

    private static void For(int count, long work, Action<int> body)
    {
        if (work < ParallelThreshold || Environment.ProcessorCount == 1)
        {
            for (var i = 0; i < count; i++) body(i);
        }
        else
        {
            Parallel.For(0, count, body);
        }
    }
}
