using System.Numerics.Tensors;

namespace Indexer.Training;

/// <summary>Softmax cross-entropy on logits, averaged over the batch, with its gradient.</summary>
public static class SoftmaxCrossEntropy
{
    /// <summary>
    /// Returns (1/n) Σ_r w_r · (−log softmax(logits_r)[label_r]) and writes its gradient w.r.t. the logits,
    /// (w_r / n) (softmax(logits_r) − onehot(label_r)), to <paramref name="gradient"/>. Without weights every w_r is 1.
    /// </summary>
    public static double Compute(ReadOnlySpan<float> logits, ReadOnlySpan<int> labels, int classes, Span<float> gradient, ReadOnlySpan<float> weights = default)
    {
        var n = labels.Length;
        if (logits.Length != n * classes || gradient.Length != n * classes) throw new ArgumentException("logits and gradient must hold n x classes floats");
        if (!weights.IsEmpty && weights.Length != n) throw new ArgumentException("one weight per row is needed", nameof(weights));
        double loss = 0;
        for (var r = 0; r < n; r++)
        {
            var label = labels[r];
            if ((uint)label >= (uint)classes) throw new ArgumentOutOfRangeException(nameof(labels), label, $"a label must be in 0..{classes - 1}");
            var row = logits.Slice(r * classes, classes);
            var g = gradient.Slice(r * classes, classes);
            var w = weights.IsEmpty ? 1f : weights[r];
            TensorPrimitives.SoftMax(row, g);
            var logSumExp = LogSumExp(row);
            loss += w * (logSumExp - row[label]);
            g[label] -= 1f;
            TensorPrimitives.Multiply(g, w / n, g);
        }

        return loss / n;
    }

    /// <summary>log Σ exp(x), computed stably.</summary>
    public static double LogSumExp(ReadOnlySpan<float> x)
    {
        var max = TensorPrimitives.Max(x);
        double sum = 0;
        foreach (var v in x) sum += Math.Exp(v - max);
        return max + Math.Log(sum);
    }
}
