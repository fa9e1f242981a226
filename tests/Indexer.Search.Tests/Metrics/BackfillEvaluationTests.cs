using Indexer.Search.Maps;
using Indexer.Search.Metrics;

namespace Indexer.Search.Tests.Metrics;

public sealed class BackfillEvaluationTests
{
    /// <summary>
    /// One gallery on the unit circle, labels 0, 0, 1, 1, served without a map (old vectors as they are).
    /// Query 1 (label 0): old (0,1), new (1,0). Query 2 (label 1): old (0.6,0.8), new (0,1).
    /// </summary>
    private static EvaluationDataset HandDataset() => new("old", "new", "hand", [
        new EvaluationGallery(
            "u",
            ["a", "b", "c", "d"],
            [0, 0, 1, 1],
            oldVectors: [0, 1, 1, 0, 0.6f, 0.8f, 0.8f, -0.6f],
            newVectors: [1, 0, 0.8f, 0.6f, 0, 1, -1, 0],
            queryLabels: [0, 1],
            queryOldVectors: [0, 1, 0.6f, 0.8f],
            queryNewVectors: [1, 0, 0, 1],
            oldDimension: 2,
            newDimension: 2),
    ]);

    [Fact]
    public void CrossModel_HandComputed()
    {
        var table = new BackfillEvaluation(HandDataset()).CrossModel;

        // old/old: q1 ranks a, c, b, d: AP (1 + 2/3)/2; q2 ranks c, a, b, d: AP (1 + 2/4)/2. Both find a positive first.
        Assert.Equal((5.0 / 6 + 0.75) / 2, table.OldOld.MeanAveragePrecision, 12);
        Assert.Equal(1.0, table.OldOld.CmcAt(1));
        // new/new: q1 AP 1; q2 ranks c (1), b (0.6), then a and d tied at 0: 0.5·1 + 0.5·(2/4).
        Assert.Equal((1 + 0.75) / 2, table.NewNew.MeanAveragePrecision, 12);
        // new/old: q1 ranks b, d, c, a: AP (1 + 2/4)/2; q2 ranks a, c, b, d: AP (1/2 + 2/4)/2, first hit at rank 2.
        Assert.Equal((0.75 + 0.5) / 2, table.NewOld.MeanAveragePrecision, 12);
        Assert.Equal(0.5, table.NewOld.CmcAt(1));
        Assert.Equal(1.0, table.NewOld.CmcAt(5));
        Assert.Null(table.NewMapped);
        Assert.False(table.CriterionHolds);
    }

    [Fact]
    public void Curve_HandComputed()
    {
        var evaluation = new BackfillEvaluation(HandDataset());
        int[][] order = [[0, 1, 2, 3]];

        var curve = evaluation.Curve(BackfillOrder.Random, order);

        // ⌊β·4⌋ items hold φ_new: 0 for β < 0.25, then 1, 2, 3 and 4 (β = 1).
        // 0 new: the new/old figures above, mAP 0.625, and query 2 lost its top hit: NFR@1 = 1/2.
        // 1 new (a): q1 finds a and b tied at 1, AP 1; q2 ranks c, {a, b} tied at 0, d: 0.5 + 0.5·(2/4). mAP 0.875.
        // 2 new (a, b): q1 ranks a, {b, d} tied at 0.8, c: 0.5 + 0.5·(2/3); q2 ranks c, b, a, d: (1 + 2/4)/2.
        // 3 new (a, b, c): q1 as with 2; q2 ranks c, b, a, d: the same. 4 new: new/new, 0.875.
        double m0 = 0.625, m1 = 0.875, m2 = (5.0 / 6 + 0.75) / 2, m3 = m2, m4 = 0.875;
        double[] expected = [.. Enumerable.Repeat(m0, 5), .. Enumerable.Repeat(m1, 5), .. Enumerable.Repeat(m2, 5), .. Enumerable.Repeat(m3, 5), m4];
        Assert.Equal(21, curve.Points.Count);
        for (var i = 0; i < expected.Length; i++) Assert.Equal(expected[i], curve.Points[i].MeanAveragePrecision, 12);
        Assert.Equal(0.5, curve.Points[0].NegativeFlipRate1);
        Assert.Equal(0.5, curve.Points[0].Cmc1);
        Assert.All(curve.Points.Skip(5), p => Assert.Equal(0, p.NegativeFlipRate1));

        var map = curve.MeanAveragePrecision;
        Assert.Equal(expected.Average(), map.Area, 12);
        Assert.Equal(expected.Average() / 0.875, map.AreaFraction, 12);
        Assert.Equal(0.25, map.BetaStar, 12); // 0.875 ≥ 0.99 · 0.875 first at β = 0.25
        Assert.Equal(m2 - m0, map.Regret, 12); // old/old mAP is m2
        Assert.Equal(0.5, curve.MaxNegativeFlipRate1);
    }

    [Fact]
    public void MeasureAt_MatchesTheMaskOfTheOrder()
    {
        var evaluation = new BackfillEvaluation(HandDataset());

        var point = evaluation.MeasureAt([[3, 2, 1, 0]], 0.5);
        var same = evaluation.Measure([[false, false, true, true]], 0.5);

        Assert.Equal(same, point);
        Assert.Throws<ArgumentException>(() => evaluation.MeasureAt([[0, 0, 1, 2]], 0.5));
        Assert.Throws<ArgumentException>(() => evaluation.Measure([[true]]));
    }

    /// <summary>The table's figures equal <see cref="RetrievalMetrics.Evaluate"/> run per gallery and averaged over galleries.</summary>
    [Fact]
    public void CrossModel_EqualsRetrievalMetricsAveragedOverGalleries()
    {
        var random = new Random(3);
        const int d = 8;
        var galleries = new List<EvaluationGallery>();
        for (var g = 0; g < 3; g++)
        {
            var n = 20 + 5 * g;
            const int q = 9;
            var queryLabels = Enumerable.Range(0, q).Select(_ => random.Next(5)).ToArray();
            queryLabels[0] = 7; // nobody in the gallery: skipped
            galleries.Add(new EvaluationGallery(
                $"u{g}",
                Enumerable.Range(0, n).Select(i => $"i{i}").ToArray(),
                Enumerable.Range(0, n).Select(_ => random.Next(5)).ToArray(),
                Vectors(random, n, d), Vectors(random, n, d),
                queryLabels, Vectors(random, q, d), Vectors(random, q, d), d, d));
        }

        var dataset = new EvaluationDataset("a", "b", "random", galleries);
        var map = EmbeddingMap.FromWeights(MapKind.Ridge, d, d, Vectors(random, d, d));
        var table = new BackfillEvaluation(dataset, map).CrossModel;

        RetrievalReport Expected(Func<EvaluationGallery, float[]> queries, Func<EvaluationGallery, float[]> items) =>
            Average(galleries.Select(g => RetrievalMetrics.Evaluate(queries(g), g.QueryLabels, null, items(g), g.Labels, d, [1, 5])).ToArray());
        float[] Mapped(EvaluationGallery g) => Enumerable.Range(0, g.Count).SelectMany(i => map.Apply(g.OldVectors.Span.Slice(i * d, d))).ToArray();

        AssertSame(Expected(g => g.QueryOldVectors.ToArray(), g => g.OldVectors.ToArray()), table.OldOld);
        AssertSame(Expected(g => g.QueryNewVectors.ToArray(), g => g.NewVectors.ToArray()), table.NewNew);
        AssertSame(Expected(g => g.QueryNewVectors.ToArray(), g => g.OldVectors.ToArray()), table.NewOld);
        AssertSame(Expected(g => g.QueryNewVectors.ToArray(), Mapped), table.NewMapped!);
        Assert.Equal(3, table.NewNew.SkippedWithoutPositive);
    }

    /// <summary>
    /// Mixed galleries scored by the merge of two sorted lists equal <see cref="RetrievalMetrics"/> on the mixed vectors
    /// written out, per query. Signed one-hot vectors make every score exactly −1, 0 or 1: runs of ties everywhere,
    /// within and across the two lists.
    /// </summary>
    [Fact]
    public void Measure_EqualsRetrievalMetricsOnTheMixedGallery_WithManyTies()
    {
        var random = new Random(8);
        const int d = 5, n = 30, q = 12;
        var galleries = RandomGalleries(random, 3, n, q, d, labels: 4, OneHot);
        var evaluation = new BackfillEvaluation(new EvaluationDataset("a", "b", "ties", galleries));

        for (var trial = 0; trial < 10; trial++)
        {
            var masks = galleries.Select(_ => Enumerable.Range(0, n).Select(_ => random.NextDouble() < trial / 9.0).ToArray()).ToArray();
            var point = evaluation.Measure(masks);

            double map = 0, top1 = 0, top5 = 0, flips = 0;
            for (var g = 0; g < galleries.Length; g++)
            {
                var gallery = galleries[g];
                var mixed = new float[n * d];
                for (var i = 0; i < n; i++) (masks[g][i] ? gallery.NewVectors : gallery.OldVectors).Span.Slice(i * d, d).CopyTo(mixed.AsSpan(i * d, d));
                var report = RetrievalMetrics.Evaluate(gallery.QueryNewVectors.Span, gallery.QueryLabels, null, mixed, gallery.Labels, d, [1, 5]);
                map += report.MeanAveragePrecision / galleries.Length;
                top1 += report.CmcAt(1) / galleries.Length;
                top5 += report.CmcAt(5) / galleries.Length;
                var scored = Enumerable.Range(0, q).Where(k => gallery.Labels.Contains(gallery.QueryLabels[k])).ToArray();
                var before = scored.Select(k => RetrievalMetrics.Evaluate(gallery.QueryOldVectors.Span.Slice(k * d, d), [gallery.QueryLabels[k]], null, gallery.OldVectors.Span, gallery.Labels, d, [1]).CmcAt(1) == 1).ToArray();
                var after = scored.Select(k => RetrievalMetrics.Evaluate(gallery.QueryNewVectors.Span.Slice(k * d, d), [gallery.QueryLabels[k]], null, mixed, gallery.Labels, d, [1]).CmcAt(1) == 1).ToArray();
                flips += NegativeFlips.Retrieval(before, after) / galleries.Length;
            }

            Assert.Equal(map, point.MeanAveragePrecision, 12);
            Assert.Equal(top1, point.Cmc1, 12);
            Assert.Equal(top5, point.Cmc5, 12);
            Assert.Equal(flips, point.NegativeFlipRate1, 12);
        }
    }

    [Fact]
    public void QueryRanking_AgreesWithRetrievalMetrics_WithTies()
    {
        var random = new Random(11);
        for (var c = 0; c < 200; c++)
        {
            var n = random.Next(1, 50);
            var scores = Enumerable.Range(0, n).Select(_ => (float)Math.Round(random.NextDouble(), 1)).ToArray();
            var relevant = Enumerable.Range(0, n).Select(_ => random.NextDouble() < 0.3).ToArray();
            relevant[random.Next(n)] = true;
            var ap = QueryRanking.AveragePrecision(scores, relevant, relevant.Count(r => r), new float[n], new int[n]);
            Assert.Equal(RetrievalMetrics.AveragePrecision(scores.Select(s => (double)s).ToArray(), relevant), ap, 12);

            var rank = QueryRanking.FirstRelevantRank(scores, relevant);
            var single = RetrievalMetrics.Evaluate([1f], [1], null, scores, relevant.Select(r => r ? 1 : 0).ToArray(), 1, [rank]);
            Assert.Equal(1.0, single.CmcAt(rank)); // found at its rank...
            if (rank > 1) Assert.Equal(0.0, RetrievalMetrics.Evaluate([1f], [1], null, scores, relevant.Select(r => r ? 1 : 0).ToArray(), 1, [rank - 1]).CmcAt(rank - 1)); // ...and not before
        }
    }

    [Fact]
    public void Construction_RejectsInconsistentInput()
    {
        Assert.Throws<ArgumentException>(() => new EvaluationGallery("u", ["a"], [0], [1, 0], [1, 0, 0], [0], [1, 0], [1, 0, 0], 2, 2));
        var gallery = new EvaluationGallery("u", ["a"], [0], [1, 0], [1, 0, 0], [0], [1, 0], [1, 0, 0], 2, 3);
        var dataset = new EvaluationDataset("a", "b", "x", [gallery]);
        Assert.Throws<ArgumentException>(() => new BackfillEvaluation(dataset)); // 2-d old vectors need a map into 3-d
        Assert.Throws<ArgumentException>(() => new BackfillEvaluation(dataset, EmbeddingMap.Identity(2)));
    }

    private static RetrievalReport Average(RetrievalReport[] reports)
    {
        var scored = reports.Where(r => r.Queries > 0).ToArray();
        return new RetrievalReport(
            reports.Sum(r => r.Queries),
            reports.Sum(r => r.SkippedWithoutPositive),
            new Dictionary<int, double> { [1] = scored.Average(r => r.CmcAt(1)), [5] = scored.Average(r => r.CmcAt(5)) },
            scored.Average(r => r.MeanAveragePrecision));
    }

    private static void AssertSame(RetrievalReport expected, RetrievalReport actual)
    {
        Assert.Equal(expected.Queries, actual.Queries);
        Assert.Equal(expected.MeanAveragePrecision, actual.MeanAveragePrecision, 12);
        Assert.Equal(expected.CmcAt(1), actual.CmcAt(1), 12);
        Assert.Equal(expected.CmcAt(5), actual.CmcAt(5), 12);
    }

    [Fact]
    public void MarginalGains_HandComputed()
    {
        var gains = new BackfillEvaluation(HandDataset()).MarginalGains().Single();

        // Curve_HandComputed: with no item new the mAP is 0.625; with a alone it is 0.875.
        var evaluation = new BackfillEvaluation(HandDataset());
        var none = evaluation.Measure([new bool[4]]).MeanAveragePrecision;
        for (var i = 0; i < 4; i++)
        {
            var alone = new bool[4];
            alone[i] = true;
            Assert.Equal(evaluation.Measure([alone]).MeanAveragePrecision - none, gains[i], 12);
        }

        Assert.Equal(0.875 - 0.625, gains[0], 12);
    }

    [Fact]
    public void MarginalGains_AreEachItemAloneAgainstNone_InEveryGallery()
    {
        var random = new Random(12);
        const int d = 6, n = 25, q = 9;
        var galleries = RandomGalleries(random, 2, n, q, d, labels: 3, Vectors);
        var evaluation = new BackfillEvaluation(new EvaluationDataset("a", "b", "gains", galleries));

        var gains = evaluation.MarginalGains();

        Assert.All(gains, g => Assert.Equal(n, g.Length));
        for (var g = 0; g < galleries.Length; g++)
        {
            for (var i = 0; i < n; i++)
            {
                // Only gallery g changes; the macro average over two galleries halves its change.
                var masks = new[] { new bool[n], new bool[n] };
                var none = evaluation.Measure(masks).MeanAveragePrecision;
                masks[g][i] = true;
                Assert.Equal(2 * (evaluation.Measure(masks).MeanAveragePrecision - none), gains[g][i], 10);
            }
        }
    }

    /// <summary>
    /// Galleries of <paramref name="n"/> items and <paramref name="q"/> queries with random labels, old and new vectors
    /// drawn by <paramref name="vectors"/> (in the order items old, items new, queries old, queries new).
    /// </summary>
    private static EvaluationGallery[] RandomGalleries(Random random, int count, int n, int q, int d, int labels, Func<Random, int, int, float[]> vectors) =>
        Enumerable.Range(0, count).Select(g => new EvaluationGallery(
            $"u{g}", Enumerable.Range(0, n).Select(i => $"{i}").ToArray(), Enumerable.Range(0, n).Select(_ => random.Next(labels)).ToArray(),
            vectors(random, n, d), vectors(random, n, d), Enumerable.Range(0, q).Select(_ => random.Next(labels)).ToArray(), vectors(random, q, d), vectors(random, q, d), d, d)).ToArray();

    /// <summary>Rows with a single ±1: unit length exactly, so normalising changes nothing and every dot product is exact.</summary>
    private static float[] OneHot(Random random, int count, int dimension)
    {
        var rows = new float[count * dimension];
        for (var i = 0; i < count; i++) rows[i * dimension + random.Next(dimension)] = random.Next(2) == 0 ? 1 : -1;
        return rows;
    }

    private static float[] Vectors(Random random, int count, int dimension)
    {
        var rows = new float[count * dimension];
        for (var i = 0; i < rows.Length; i++) rows[i] = (float)(random.NextDouble() * 2 - 1);
        return rows;
    }
}
