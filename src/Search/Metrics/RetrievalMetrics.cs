namespace Indexer.Search.Metrics;

/// <summary>
/// Retrieval quality of one query set against one gallery, as METRICS.md defines it: CMC@k (top-k accuracy) and mean
/// average precision. Queries without any positive in the gallery are skipped and counted.
/// </summary>
public sealed record RetrievalReport(int Queries, int SkippedWithoutPositive, IReadOnlyDictionary<int, double> Cmc, double MeanAveragePrecision)
{
    /// <summary>Top-k accuracy at the given k (which must have been asked for).</summary>
    public double CmcAt(int k) => Cmc[k];
}

public static class RetrievalMetrics
{
    /// <summary>
    /// Ranks the gallery for every query by inner product (features L2-normalised, so cosine) and scores the rankings.
    /// <paramref name="querySelf"/>[q], when not negative, is the gallery row of the query itself, left out of its
    /// ranking (leave-one-out, for queries drawn from the gallery).
    /// </summary>
    public static RetrievalReport Evaluate(
        ReadOnlySpan<float> queries, IReadOnlyList<int> queryLabels, IReadOnlyList<int>? querySelf,
        ReadOnlySpan<float> gallery, IReadOnlyList<int> galleryLabels, int dimension, IReadOnlyList<int> ks)
    {
        var queryCount = queryLabels.Count;
        var galleryCount = galleryLabels.Count;
        if (queries.Length != (long)queryCount * dimension || gallery.Length != (long)galleryCount * dimension)
        {
            throw new ArgumentException("the feature arrays do not hold one row per label");
        }

        if (querySelf is not null && querySelf.Count != queryCount) throw new ArgumentException("one self index per query is needed", nameof(querySelf));
        var hits = ks.ToDictionary(k => k, _ => 0);
        double apSum = 0;
        var evaluated = 0;
        var skipped = 0;
        var scores = new List<double>(galleryCount);
        var relevant = new List<bool>(galleryCount);
        for (var q = 0; q < queryCount; q++)
        {
            scores.Clear();
            relevant.Clear();
            var query = queries.Slice(q * dimension, dimension);
            var self = querySelf?[q] ?? -1;
            for (var g = 0; g < galleryCount; g++)
            {
                if (g == self) continue;
                scores.Add(VectorMath.Dot(query, gallery.Slice(g * dimension, dimension)));
                relevant.Add(galleryLabels[g] == queryLabels[q]);
            }

            if (!relevant.Contains(true))
            {
                skipped++;
                continue;
            }

            evaluated++;
            apSum += AveragePrecision(scores, relevant);
            var firstHit = FirstRelevantRank(scores, relevant);
            foreach (var k in ks)
            {
                if (firstHit <= k) hits[k]++;
            }
        }

        var cmc = ks.ToDictionary(k => k, k => evaluated == 0 ? double.NaN : (double)hits[k] / evaluated);
        return new RetrievalReport(evaluated, skipped, cmc, evaluated == 0 ? double.NaN : apSum / evaluated);
    }

    /// <summary>
    /// Average precision of a ranking by descending score: Σₙ (Rₙ − Rₙ₋₁) Pₙ over the distinct score thresholds, which is
    /// (1/|P|) Σ_{k: rel_k} Precision@k when no scores tie, and equals scikit-learn's average_precision_score with ties.
    /// </summary>
    public static double AveragePrecision(IReadOnlyList<double> scores, IReadOnlyList<bool> relevant)
    {
        if (scores.Count != relevant.Count) throw new ArgumentException("scores and labels differ in length");
        var positives = relevant.Count(r => r);
        if (positives == 0) return double.NaN;
        var order = Enumerable.Range(0, scores.Count).OrderByDescending(i => scores[i]).ToArray();
        double ap = 0, previousRecall = 0;
        int truePositives = 0, seen = 0;
        for (var start = 0; start < order.Length;)
        {
            var end = start;
            while (end < order.Length && scores[order[end]] == scores[order[start]])
            {
                if (relevant[order[end]]) truePositives++;
                end++;
            }

            seen = end;
            var recall = (double)truePositives / positives;
            ap += (recall - previousRecall) * truePositives / seen;
            previousRecall = recall;
            start = end;
        }

        return ap;
    }

    /// <summary>1-based rank of the first relevant item by descending score (ties: earlier item first).</summary>
    private static int FirstRelevantRank(List<double> scores, List<bool> relevant)
    {
        var best = double.NegativeInfinity;
        var bestIndex = -1;
        for (var i = 0; i < scores.Count; i++)
        {
            if (relevant[i] && scores[i] > best) (best, bestIndex) = (scores[i], i);
        }

        var rank = 1;
        for (var i = 0; i < scores.Count; i++)
        {
            if (scores[i] > best || (scores[i] == best && i < bestIndex)) rank++;
        }

        return rank;
    }
}
