using System.Globalization;
using Indexer.Search.Maps;

namespace Indexer.Search.Metrics;

/// <summary>
/// Retrieval over the mixed galleries of a partial backfill (METRICS.md, "Partial backfill"), on feature matrices only.
/// For every simulated user the queries are embedded with φ_new; each gallery item is served either by φ_new (once
/// re-embedded) or by h(φ_old). Both scores of every (query, item) pair are computed once, by the system's own
/// <see cref="FlatVectorIndex"/>, so a mixed gallery at any β only selects, per item, which of the two scores counts:
/// 21 points x several orderings cost a few rankings per query, not a new index each.
/// </summary>
/// <remarks>
/// Every figure is a macro average over galleries: each user's queries are scored against that user's gallery only,
/// averaged per user, then the users are averaged with equal weight. Queries without a positive in their gallery are
/// skipped and counted (<see cref="RetrievalReport.SkippedWithoutPositive"/>); a user with no scorable query is left out.
/// </remarks>
public sealed class BackfillEvaluation
{
    private readonly GalleryScores[] _galleries;
    private readonly float[][] _mapped;
    private double[][]? _agreements;

    /// <param name="dataset">The users, their galleries and queries, embedded by both models.</param>
    /// <param name="map">
    /// The map h serving old vectors in the new space; null serves them as they are (h = identity), which needs equal
    /// dimensions.
    /// </param>
    /// <param name="guard">
    /// The regression guard re-ranking the head of every mixed gallery's ranking with the old model's scores (the queries'
    /// old vectors against the items' old vectors, all held until a commit), as the system serves a rollout; null ranks
    /// by the new space alone. The cross-model table is never guarded: it describes the models.
    /// </param>
    public BackfillEvaluation(EvaluationDataset dataset, EmbeddingMap? map = null, RegressionGuard? guard = null)
    {
        ArgumentNullException.ThrowIfNull(dataset);
        if (map is null && dataset.OldDimension != dataset.NewDimension)
        {
            throw new ArgumentException($"old vectors ({dataset.OldDimension}-d) cannot be served in the new space ({dataset.NewDimension}-d) without a map", nameof(map));
        }

        if (map is not null && (map.InputDimension != dataset.OldDimension || map.OutputDimension != dataset.NewDimension))
        {
            throw new ArgumentException($"the map takes {map.InputDimension}-d to {map.OutputDimension}-d; the dataset needs {dataset.OldDimension}-d to {dataset.NewDimension}-d", nameof(map));
        }

        Dataset = dataset;
        UsesMap = map is not null;
        Guard = guard;
        Map = map ?? EmbeddingMap.Identity(dataset.OldDimension);
        _galleries = new GalleryScores[dataset.Galleries.Count];
        _mapped = new float[dataset.Galleries.Count][];
        Parallel.For(0, _galleries.Length, g =>
        {
            var gallery = dataset.Galleries[g];
            _mapped[g] = UsesMap ? Apply(Map, gallery.OldVectors.Span, gallery.Count) : gallery.OldVectors.ToArray();
            _galleries[g] = new GalleryScores(gallery, _mapped[g], guard);
        });

        var oldOld = Report(s => s.OldOld);
        var newNew = Report(s => s.NewNew);
        var newOld = dataset.OldDimension == dataset.NewDimension
            ? Report(s => s.NewOld!)
            : new RetrievalReport(newNew.Queries, newNew.SkippedWithoutPositive, CrossModelEvaluation.Cutoffs.ToDictionary(k => k, _ => 0.0), 0); // incomparable spaces find nothing
        CrossModel = new CrossModelTable(oldOld, newNew, newOld, UsesMap ? Report(s => s.Served) : null);
        FullReindex = Average(1, _galleries.Select(s => s.Measure(s.NewNew)).ToArray());
    }

    /// <summary>
    /// A full re-index once committed: every item holds φ_new and the old vectors are gone, so never guarded. Its NFR@1
    /// is the reference of the negative-flip target.
    /// </summary>
    public BackfillPoint FullReindex { get; }

    /// <summary>The users, galleries and queries measured.</summary>
    public EvaluationDataset Dataset { get; }

    /// <summary>The map h serving old vectors; the identity when none was given.</summary>
    public EmbeddingMap Map { get; }

    /// <summary>The regression guard of the mixed galleries' rankings; null when they are ranked by the new space alone.</summary>
    public RegressionGuard? Guard { get; }

    /// <summary>False when old vectors are served as they are (no map was given).</summary>
    public bool UsesMap { get; }

    /// <summary>
    /// M(old,old), M(new,new), M(new,old) and, with a map, M(new,h(old)), macro-averaged over galleries.
    /// M(new,old) is 0 when the dimensions differ: the spaces are incomparable.
    /// </summary>
    public CrossModelTable CrossModel { get; }

    /// <summary>
    /// Per gallery, per item: the agreement cos(h(φ_old), φ_new) between the vector served before re-embedding and the
    /// new model's. Ascending, it is the oracle order.
    /// </summary>
    public IReadOnlyList<double[]> Agreements()
    {
        if (_agreements is not null) return _agreements;
        var agreements = new double[_galleries.Length][];
        for (var g = 0; g < agreements.Length; g++)
        {
            var gallery = Dataset.Galleries[g];
            var d = gallery.NewDimension;
            var newVectors = gallery.NewVectors.Span;
            agreements[g] = new double[gallery.Count];
            for (var i = 0; i < gallery.Count; i++)
            {
                agreements[g][i] = VectorMath.Dot(_mapped[g].AsSpan(i * d, d), newVectors.Slice(i * d, d));
            }
        }

        return _agreements = agreements;
    }

    /// <summary>The vectors gallery <paramref name="gallery"/>'s items are served with before re-embedding: h(φ_old), row-major.</summary>
    public ReadOnlyMemory<float> ServedVectors(int gallery) => _mapped[gallery];

    /// <summary>
    /// Per gallery, per item: the change of the gallery's mAP over its held-out queries when that item alone holds φ_new
    /// and every other item is served h(φ_old). It reads the queries and their labels, which no running system has, so
    /// ordered by it (largest first) it is a reference for how much an order can front-load, not a method; it ignores
    /// how the items' effects combine.
    /// </summary>
    public IReadOnlyList<double[]> MarginalGains()
    {
        var gains = new double[_galleries.Length][];
        Parallel.For(0, _galleries.Length, g => gains[g] = _galleries[g].MarginalGains());
        return gains;
    }

    /// <summary>
    /// Quality of one mixed gallery per user: <paramref name="holdsNew"/>[g][i] says whether item i of gallery g holds
    /// φ_new (otherwise h(φ_old)). <paramref name="beta"/> is only recorded in the result.
    /// </summary>
    public BackfillPoint Measure(IReadOnlyList<IReadOnlyList<bool>> holdsNew, double beta = double.NaN)
    {
        CheckPerGallery(holdsNew, nameof(holdsNew));
        var points = new GalleryPoint[_galleries.Length];
        Parallel.For(0, _galleries.Length, g => points[g] = _galleries[g].Measure(holdsNew[g]));
        return Average(beta, points);
    }

    /// <summary>The mixed gallery in which the first ⌊β·|G|⌋ items of each gallery's ordering hold φ_new.</summary>
    public BackfillPoint MeasureAt(IReadOnlyList<IReadOnlyList<int>> orderings, double beta)
    {
        CheckOrderings(orderings);
        return Measure(orderings.Select(o => (IReadOnlyList<bool>)BackfillOrdering.Mask(o, BackfillOrdering.Prefix(beta, o.Count))).ToArray(), beta);
    }

    /// <summary>
    /// The backfilling curve M(β), β = i/20, i = 0..20, when each gallery is re-embedded in the given order (a permutation
    /// of its items), with its area, area fraction, β*(ε) and regret on mAP, CMC@1 and CMC@5, and its NFR@1 curve.
    /// </summary>
    public BackfillCurve Curve(BackfillOrder order, IReadOnlyList<IReadOnlyList<int>> orderings, double epsilon = CurveSummary.DefaultEpsilon)
    {
        CheckOrderings(orderings);
        var betas = BackfillCurve.Betas;
        var perGallery = new GalleryPoint[_galleries.Length][];
        Parallel.For(0, _galleries.Length, g =>
        {
            var ordering = orderings[g];
            perGallery[g] = betas.Select(beta => _galleries[g].Measure(BackfillOrdering.Mask(ordering, BackfillOrdering.Prefix(beta, ordering.Count)))).ToArray();
        });

        var points = betas.Select((beta, i) => Average(beta, perGallery.Select(p => p[i]).ToArray())).ToArray();
        return BackfillCurve.Create(order, points, CrossModel.OldOld, CrossModel.NewNew, epsilon);
    }

    private static float[] Apply(EmbeddingMap map, ReadOnlySpan<float> oldVectors, int count)
    {
        var mapped = new float[count * map.OutputDimension];
        for (var i = 0; i < count; i++)
        {
            map.Apply(oldVectors.Slice(i * map.InputDimension, map.InputDimension), mapped.AsSpan(i * map.OutputDimension, map.OutputDimension));
        }

        return mapped;
    }

    private RetrievalReport Report(Func<GalleryScores, float[]> matrix)
    {
        var points = _galleries.Select(s => s.Measure(matrix(s))).ToArray();
        var average = Average(double.NaN, points);
        var cmc = new Dictionary<int, double> { [1] = average.Cmc1, [5] = average.Cmc5 };
        return new RetrievalReport(_galleries.Sum(s => s.Queries), _galleries.Sum(s => s.Skipped), cmc, average.MeanAveragePrecision);
    }

    private static BackfillPoint Average(double beta, GalleryPoint[] points)
    {
        var scored = points.Where(p => p.Queries > 0).ToArray();
        if (scored.Length == 0) return new BackfillPoint(beta, double.NaN, double.NaN, double.NaN, double.NaN);
        return new BackfillPoint(
            beta,
            scored.Average(p => p.Cmc1),
            scored.Average(p => p.Cmc5),
            scored.Average(p => p.AveragePrecision),
            scored.Average(p => p.NegativeFlips1));
    }

    private void CheckPerGallery<T>(IReadOnlyList<IReadOnlyList<T>> perGallery, string parameter)
    {
        ArgumentNullException.ThrowIfNull(perGallery, parameter);
        if (perGallery.Count != _galleries.Length) throw new ArgumentException($"{_galleries.Length} galleries, {perGallery.Count} given", parameter);
        for (var g = 0; g < _galleries.Length; g++)
        {
            if (perGallery[g].Count != _galleries[g].Items)
            {
                throw new ArgumentException($"gallery {g} ('{Dataset.Galleries[g].Name}') holds {_galleries[g].Items} items; {perGallery[g].Count} given", parameter);
            }
        }
    }

    private void CheckOrderings(IReadOnlyList<IReadOnlyList<int>> orderings)
    {
        CheckPerGallery(orderings, nameof(orderings));
        for (var g = 0; g < orderings.Count; g++)
        {
            var seen = new bool[orderings[g].Count];
            foreach (var i in orderings[g])
            {
                if (i < 0 || i >= seen.Length || seen[i]) throw new ArgumentException($"the ordering of gallery {g} is not a permutation of its items", nameof(orderings));
                seen[i] = true;
            }
        }
    }

    /// <summary>Per-query means of one gallery: CMC@1, CMC@5, AP, and NFR@1 against old/old.</summary>
    private readonly record struct GalleryPoint(int Queries, double Cmc1, double Cmc5, double AveragePrecision, double NegativeFlips1);

    /// <summary>Running sums over one gallery's queries.</summary>
    private struct Sums
    {
        private double _cmc1, _cmc5, _ap, _flips;

        /// <summary>Adds query <paramref name="q"/>, whose first positive came at <paramref name="rank"/>.</summary>
        public void Add(int q, int rank, double averagePrecision, bool[] oldTop1)
        {
            if (rank == 1) _cmc1++;
            if (rank <= 5) _cmc5++;
            if (oldTop1[q] && rank != 1) _flips++;
            _ap += averagePrecision;
        }

        public readonly GalleryPoint Point(int queries) => new(queries, _cmc1 / queries, _cmc5 / queries, _ap / queries, _flips / queries);
    }

    /// <summary>
    /// One user's score matrices (scorable queries x items, row-major): new/new, new against the served old vectors
    /// h(old), old/old and, for equal dimensions, new/old.
    /// </summary>
    private sealed class GalleryScores
    {
        /// <summary>Where the guarded head of a ranking is scored: above any cosine, one less per position.</summary>
        private const float HeadScore = 1000;

        private readonly bool[] _relevant;
        private readonly int[] _positives;
        private readonly bool[] _oldTop1;
        private readonly int[] _newOrder;
        private readonly int[] _servedOrder;
        private readonly RegressionGuard? _guard;

        public GalleryScores(EvaluationGallery gallery, float[] served, RegressionGuard? guard)
        {
            _guard = guard;
            Items = gallery.Count;
            var scorable = Enumerable.Range(0, gallery.QueryCount).Where(q => gallery.Labels.Contains(gallery.QueryLabels[q])).ToArray();
            Queries = scorable.Length;
            Skipped = gallery.QueryCount - Queries;
            _relevant = new bool[Queries * Items];
            _positives = new int[Queries];
            for (var q = 0; q < Queries; q++)
            {
                var label = gallery.QueryLabels[scorable[q]];
                for (var i = 0; i < Items; i++)
                {
                    if (gallery.Labels[i] != label) continue;
                    _relevant[q * Items + i] = true;
                    _positives[q]++;
                }
            }

            var queryOld = Gather(gallery.QueryOldVectors.Span, scorable, gallery.OldDimension);
            var queryNew = Gather(gallery.QueryNewVectors.Span, scorable, gallery.NewDimension);
            OldOld = ScoreMatrix(queryOld, gallery.OldVectors.Span, gallery.OldDimension);
            NewNew = ScoreMatrix(queryNew, gallery.NewVectors.Span, gallery.NewDimension);
            Served = ScoreMatrix(queryNew, served, gallery.NewDimension);
            NewOld = gallery.OldDimension == gallery.NewDimension ? ScoreMatrix(queryNew, gallery.OldVectors.Span, gallery.NewDimension) : null;
            _newOrder = SortedRows(NewNew, Queries, Items);
            _servedOrder = SortedRows(Served, Queries, Items);
            _oldTop1 = new bool[Queries];
            for (var q = 0; q < Queries; q++)
            {
                _oldTop1[q] = QueryRanking.FirstRelevantRank(OldOld.AsSpan(q * Items, Items), _relevant.AsSpan(q * Items, Items)) == 1;
            }
        }

        public int Items { get; }

        public int Queries { get; }

        public int Skipped { get; }

        public float[] OldOld { get; }

        public float[] NewNew { get; }

        public float[] Served { get; }

        public float[]? NewOld { get; }

        /// <summary>Every query against the gallery whose scores are <paramref name="scores"/>.</summary>
        public GalleryPoint Measure(float[] scores)
        {
            if (Queries == 0) return default;
            var keys = new float[Items];
            var order = new int[Items];
            var sums = default(Sums);
            for (var q = 0; q < Queries; q++)
            {
                var row = scores.AsSpan(q * Items, Items);
                var relevant = _relevant.AsSpan(q * Items, Items);
                sums.Add(q, QueryRanking.FirstRelevantRank(row, relevant), QueryRanking.AveragePrecision(row, relevant, _positives[q], keys, order), _oldTop1);
            }

            return sums.Point(Queries);
        }

        /// <summary>
        /// Every new-model query against the mixed gallery in which the marked items hold φ_new. The mixed ranking is the
        /// merge of two lists sorted once per query (new scores of the marked items, served scores of the others), so a
        /// point costs O(items) per query instead of a sort.
        /// </summary>
        public GalleryPoint Measure(IReadOnlyList<bool> holdsNew)
        {
            if (Queries == 0) return default;
            var mask = holdsNew as bool[] ?? holdsNew.ToArray();
            var row = new float[Items];
            var sums = default(Sums);
            for (var q = 0; q < Queries; q++)
            {
                var offset = q * Items;
                var newScores = NewNew.AsSpan(offset, Items);
                var servedScores = Served.AsSpan(offset, Items);
                for (var i = 0; i < Items; i++) row[i] = mask[i] ? newScores[i] : servedScores[i];
                var relevant = _relevant.AsSpan(offset, Items);

                var byNew = _newOrder.AsSpan(offset, Items);
                var byServed = _servedOrder.AsSpan(offset, Items);
                var accumulator = new AveragePrecisionAccumulator(_positives[q]);
                int a = Next(byNew, 0, mask, true), b = Next(byServed, 0, mask, false);
                if (_guard is not null)
                {
                    // The head of the merged ranking, re-ranked by the guard, goes first, with scores above any cosine
                    // so that it stays one ranking with what follows.
                    var head = new List<int>(_guard.Depth);
                    while (head.Count < _guard.Depth && (a < Items || b < Items))
                    {
                        if (b >= Items || (a < Items && newScores[byNew[a]] >= servedScores[byServed[b]]))
                        {
                            head.Add(byNew[a]);
                            a = Next(byNew, a + 1, mask, true);
                        }
                        else
                        {
                            head.Add(byServed[b]);
                            b = Next(byServed, b + 1, mask, false);
                        }
                    }

                    _guard.Rerank(head, i => row[i], i => OldOld[offset + i]);
                    for (var r = 0; r < head.Count; r++)
                    {
                        row[head[r]] = HeadScore - r;
                        accumulator.Add(row[head[r]], relevant[head[r]]);
                    }
                }

                while (!accumulator.Done && (a < Items || b < Items))
                {
                    // Take the higher of the two list heads; equal scores fall in one run whichever comes first.
                    if (b >= Items || (a < Items && newScores[byNew[a]] >= servedScores[byServed[b]]))
                    {
                        accumulator.Add(newScores[byNew[a]], relevant[byNew[a]]);
                        a = Next(byNew, a + 1, mask, true);
                    }
                    else
                    {
                        accumulator.Add(servedScores[byServed[b]], relevant[byServed[b]]);
                        b = Next(byServed, b + 1, mask, false);
                    }
                }

                sums.Add(q, QueryRanking.FirstRelevantRank(row, relevant), accumulator.Result(), _oldTop1);
            }

            return sums.Point(Queries);
        }

        /// <summary>Per item, the mean over the queries of AP with that item alone scored by φ_new, minus AP with none.</summary>
        public double[] MarginalGains()
        {
            var gains = new double[Items];
            if (Queries == 0) return gains;
            var keys = new float[Items];
            var order = new int[Items];
            var row = new float[Items];
            for (var q = 0; q < Queries; q++)
            {
                var offset = q * Items;
                var served = Served.AsSpan(offset, Items);
                var relevant = _relevant.AsSpan(offset, Items);
                served.CopyTo(row);
                var baseline = QueryRanking.AveragePrecision(row, relevant, _positives[q], keys, order);
                for (var i = 0; i < Items; i++)
                {
                    row[i] = NewNew[offset + i];
                    gains[i] += QueryRanking.AveragePrecision(row, relevant, _positives[q], keys, order) - baseline;
                    row[i] = served[i];
                }
            }

            for (var i = 0; i < Items; i++) gains[i] /= Queries;
            return gains;
        }

        /// <summary>The first position from <paramref name="start"/> in <paramref name="order"/> whose item's mask equals <paramref name="holdsNew"/>.</summary>
        private static int Next(ReadOnlySpan<int> order, int start, bool[] mask, bool holdsNew)
        {
            while (start < order.Length && mask[order[start]] != holdsNew) start++;
            return start;
        }

        private static int[] SortedRows(float[] scores, int queries, int items)
        {
            var order = new int[queries * items];
            var keys = new float[items];
            for (var q = 0; q < queries; q++) QueryRanking.SortDescending(scores.AsSpan(q * items, items), keys, order.AsSpan(q * items, items));
            return order;
        }

        private float[] ScoreMatrix(float[] queries, ReadOnlySpan<float> items, int dimension)
        {
            var index = new FlatVectorIndex(dimension, Items);
            for (var i = 0; i < Items; i++) index.Upsert(i.ToString(CultureInfo.InvariantCulture), items.Slice(i * dimension, dimension));
            var scores = new float[Queries * Items];
            var hits = index.SearchMany(queries, Queries, Items);
            for (var q = 0; q < Queries; q++)
            {
                foreach (var hit in hits[q]) scores[q * Items + int.Parse(hit.Id, CultureInfo.InvariantCulture)] = hit.Score;
            }

            return scores;
        }

        private static float[] Gather(ReadOnlySpan<float> rows, int[] indices, int dimension)
        {
            var result = new float[indices.Length * dimension];
            for (var k = 0; k < indices.Length; k++) rows.Slice(indices[k] * dimension, dimension).CopyTo(result.AsSpan(k * dimension, dimension));
            return result;
        }
    }
}
