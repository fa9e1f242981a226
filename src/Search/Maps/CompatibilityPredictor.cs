using Indexer.Search.Metrics;

namespace Indexer.Search.Maps;

/// <summary>How a <see cref="CompatibilityPredictor"/> turns an old vector into a predicted agreement.</summary>
public enum PredictorKind
{
    /// <summary>As well as its nearest calibration items did (similarity-weighted mean of k neighbours).</summary>
    Neighbours,

    /// <summary>A ridge regression of agreement on the old vector: incompatibility along a direction of the old space.</summary>
    Linear,

    /// <summary>
    /// From how long the map's result is before it is normalised (<see cref="EmbeddingMap.ApplyAndMeasure"/>), through
    /// a non-decreasing curve fitted on the calibration items. A kernel map averages the new vectors of the calibration
    /// items around x: where they disagree, or lie far from x, the average is short, and the item is served worse.
    /// </summary>
    MapLength,
}

/// <summary>
/// Predicts, from an item's stored old vector alone, how well the map will serve it: its expected agreement between
/// h(old) and the new model's vector, without a new-model pass. Fitted on the calibration sample, where both are known.
/// The predictors (the map's length only when the map and each item's length under its out-of-fold map are given)
/// are fitted on part of the sample and the one with the smaller squared error on the rest is kept,
/// refitted on the whole sample. Squared error, not rank correlation, chooses: the items that matter are the few with
/// low agreement, and ranks among the many well-served items are mostly noise. The held-out rank correlation with the
/// true agreement is reported as the predictor's quality.
/// </summary>
public sealed class CompatibilityPredictor
{
    /// <summary>Neighbours averaged: enough to smooth one odd calibration item, few enough to keep regions apart.</summary>
    public const int Neighbours = 10;

    /// <summary>Ridge penalty of the linear predictor, relative to the mean eigenvalue of XᵀX.</summary>
    public const double LinearPenalty = 1e-2;

    /// <summary>Share of the calibration sample held out to choose the predictor and measure it.</summary>
    public const double HeldOutFraction = 0.25;

    private readonly Func<ReadOnlySpan<float>, double> _predict;

    private CompatibilityPredictor(double heldOutSpearman, PredictorParameters parameters)
    {
        Kind = parameters.Kind;
        HeldOutSpearman = heldOutSpearman;
        CalibrationSize = parameters.Kind == PredictorKind.Neighbours ? parameters.Agreements.Length : parameters.FittedCount;
        Parameters = parameters;
        _predict = Build(parameters);
    }

    public PredictorKind Kind { get; }

    /// <summary>Everything the predictor needs to predict, for storing it (<see cref="CompatibilityPredictorCodec"/>).</summary>
    public PredictorParameters Parameters { get; }

    /// <summary>Restores a stored predictor.</summary>
    public static CompatibilityPredictor FromParameters(PredictorParameters parameters, double heldOutSpearman) => new(heldOutSpearman, parameters);

    /// <summary>
    /// Rank correlation between predicted and true agreement on calibration items the chosen predictor did not see;
    /// NaN when either is constant there.
    /// </summary>
    public double HeldOutSpearman { get; }

    public int CalibrationSize { get; }

    /// <param name="oldVectors">The calibration items' old vectors, count x dimension, row-major.</param>
    /// <param name="agreements">Each calibration item's measured agreement, cos(h(old), new).</param>
    /// <param name="dimension">Dimension of the old vectors.</param>
    /// <param name="seed">Seed of the split into fitted and held-out items.</param>
    /// <param name="map">The map the agreements are of; with <paramref name="lengths"/>, a <see cref="PredictorKind.MapLength"/> predictor is tried.</param>
    /// <param name="lengths">Each calibration item's length of h(old) before normalising, under the same (out-of-fold) map as its agreement.</param>
    public static CompatibilityPredictor Fit(
        ReadOnlySpan<float> oldVectors, IReadOnlyList<double> agreements, int dimension, int seed = 0, EmbeddingMap? map = null, IReadOnlyList<double>? lengths = null)
    {
        if (oldVectors.Length != (long)agreements.Count * dimension) throw new ArgumentException("one agreement per calibration vector is needed");
        if (agreements.Count < 8) throw new ArgumentException($"{agreements.Count} calibration items are too few to fit and check a predictor", nameof(agreements));
        if ((map is null) != (lengths is null)) throw new ArgumentException("a map and the items' lengths under it go together");
        if (lengths is not null && lengths.Count != agreements.Count) throw new ArgumentException("one length per calibration item is needed", nameof(lengths));
        if (map is not null && map.InputDimension != dimension) throw new ArgumentException($"the map takes {map.InputDimension}-d vectors; the calibration vectors are {dimension}-d", nameof(map));
        var feature = map is not null && lengths is not null && lengths.Max() - lengths.Min() > 1e-6 ? (map, lengths) : default;

        var order = Enumerable.Range(0, agreements.Count).ToArray();
        new Random(seed).Shuffle(order);
        var heldOutCount = Math.Max(2, (int)(agreements.Count * HeldOutFraction));
        var heldOut = order[..heldOutCount];
        var fitted = order[heldOutCount..];
        var vectors = oldVectors.ToArray();

        var best = PredictorKind.Neighbours;
        var bestError = double.PositiveInfinity;
        var bestSpearman = double.NaN;
        foreach (var kind in Enum.GetValues<PredictorKind>().Where(k => k != PredictorKind.MapLength || feature.map is not null))
        {
            var parameters = Parameterise(kind, vectors, agreements, fitted, dimension, feature);
            var predict = Build(parameters);
            // The map was fitted on every calibration item, so read a held-out item's length as its out-of-fold map
            // gave it, as for its agreement: the final map's length there is that of one of its own anchors.
            var curve = kind == PredictorKind.MapLength ? new MonotoneCurve(parameters.Lengths, parameters.Agreements) : null;
            var predicted = curve is not null
                ? heldOut.Select(i => curve.At(feature.lengths![i])).ToArray()
                : heldOut.Select(i => predict(vectors.AsSpan(i * dimension, dimension))).ToArray();
            var error = heldOut.Select((i, k) => (predicted[k] - agreements[i]) * (predicted[k] - agreements[i])).Average();
            if (error < bestError)
            {
                (best, bestError) = (kind, error);
                bestSpearman = RankStatistics.Spearman(predicted, heldOut.Select(i => agreements[i]).ToArray());
            }
        }

        return new CompatibilityPredictor(bestSpearman, Parameterise(best, vectors, agreements, order, dimension, feature));
    }

    /// <summary>The predicted agreement of an item with this old vector; lower means less compatible.</summary>
    public double Predict(ReadOnlySpan<float> oldVector) => _predict(oldVector);

    private static PredictorParameters Parameterise(
        PredictorKind kind, float[] vectors, IReadOnlyList<double> agreements, int[] items, int dimension, (EmbeddingMap? Map, IReadOnlyList<double>? Lengths) feature) =>
        kind switch
        {
            PredictorKind.Linear => FitLinear(vectors, agreements, items, dimension),
            PredictorKind.MapLength => FitMapLength(feature.Map!, feature.Lengths!, agreements, items, dimension),
            _ => Neighbourhood(vectors, agreements, items, dimension),
        };

    private static Func<ReadOnlySpan<float>, double> Build(PredictorParameters p) => p.Kind switch
    {
        PredictorKind.Linear => BuildLinear(p),
        PredictorKind.MapLength => BuildMapLength(p),
        _ => BuildNeighbours(p),
    };

    /// <summary>The non-decreasing curve of agreement against length closest to the items' (<see cref="MonotoneCurve.Fit"/>).</summary>
    private static PredictorParameters FitMapLength(EmbeddingMap map, IReadOnlyList<double> lengths, IReadOnlyList<double> agreements, int[] items, int dimension)
    {
        var curve = MonotoneCurve.Fit(items.Select(i => lengths[i]).ToArray(), items.Select(i => agreements[i]).ToArray());
        return new PredictorParameters(PredictorKind.MapLength, dimension, [], [.. curve.Values], items.Average(i => agreements[i]), [], items.Length)
        {
            Map = map,
            Lengths = [.. curve.Knots],
        };
    }

    /// <summary>The curve read at the length of the item's mapped vector.</summary>
    private static Func<ReadOnlySpan<float>, double> BuildMapLength(PredictorParameters p)
    {
        var (map, curve) = (p.Map!, new MonotoneCurve(p.Lengths, p.Agreements));
        return vector =>
        {
            Span<float> mapped = map.OutputDimension <= 4096 ? stackalloc float[map.OutputDimension] : new float[map.OutputDimension];
            return curve.At(map.ApplyAndMeasure(vector, mapped));
        };
    }

    private static PredictorParameters Neighbourhood(float[] vectors, IReadOnlyList<double> agreements, int[] items, int dimension)
    {
        var rows = new float[items.Length * dimension];
        var values = new double[items.Length];
        for (var k = 0; k < items.Length; k++)
        {
            vectors.AsSpan(items[k] * dimension, dimension).CopyTo(rows.AsSpan(k * dimension, dimension));
            values[k] = agreements[items[k]];
        }

        return new PredictorParameters(PredictorKind.Neighbours, dimension, rows, values, 0, [], items.Length);
    }

    private static Func<ReadOnlySpan<float>, double> BuildNeighbours(PredictorParameters p)
    {
        var count = p.Agreements.Length;
        var index = new FlatVectorIndex(p.Dimension, Math.Max(1, count));
        var agreementById = new Dictionary<string, double>(count, StringComparer.Ordinal);
        for (var i = 0; i < count; i++)
        {
            var id = i.ToString(System.Globalization.CultureInfo.InvariantCulture);
            index.Upsert(id, p.Vectors.AsSpan(i * p.Dimension, p.Dimension));
            agreementById[id] = p.Agreements[i];
        }

        var k = Math.Min(Neighbours, count);
        return vector =>
        {
            double weighted = 0, weights = 0;
            foreach (var hit in index.Search(vector, k))
            {
                // Similarities of normalised vectors lie in [-1, 1]; shift so that every neighbour weighs something.
                var weight = 1.0 + hit.Score + 1e-6;
                weighted += weight * agreementById[hit.Id];
                weights += weight;
            }

            return weighted / weights;
        };
    }

    private static PredictorParameters FitLinear(float[] vectors, IReadOnlyList<double> agreements, int[] items, int dimension)
    {
        var rows = new float[items.Length * dimension];
        var centred = new float[items.Length];
        var mean = items.Average(i => agreements[i]);
        for (var k = 0; k < items.Length; k++)
        {
            vectors.AsSpan(items[k] * dimension, dimension).CopyTo(rows.AsSpan(k * dimension, dimension));
            centred[k] = (float)(agreements[items[k]] - mean);
        }

        var gram = DenseMath.TransposeTimes(rows, rows, items.Length, dimension, dimension);
        var trace = 0.0;
        for (var i = 0; i < dimension; i++) trace += gram[i * dimension + i];
        var lambda = LinearPenalty * Math.Max(trace / dimension, 1e-12);
        for (var i = 0; i < dimension; i++) gram[i * dimension + i] += lambda;
        var weights = DenseMath.SolveSymmetricPositiveDefinite(gram, DenseMath.TransposeTimes(rows, centred, items.Length, dimension, 1), dimension, 1);
        return new PredictorParameters(PredictorKind.Linear, dimension, [], [], mean, Array.ConvertAll(weights, x => (float)x), items.Length);
    }

    private static Func<ReadOnlySpan<float>, double> BuildLinear(PredictorParameters p)
    {
        var (mean, w) = (p.Mean, p.Weights);
        return vector => mean + VectorMath.Dot(vector, w);
    }
}

/// <summary>
/// A fitted <see cref="CompatibilityPredictor"/>'s numbers: for <see cref="PredictorKind.Neighbours"/> the calibration
/// items' old vectors (row-major) and agreements; for <see cref="PredictorKind.Linear"/> the mean agreement and weights;
/// for <see cref="PredictorKind.MapLength"/> the map, and the curve's knots in <see cref="Lengths"/> and their
/// agreements in Agreements.
/// </summary>
public sealed record PredictorParameters(
    PredictorKind Kind, int Dimension, float[] Vectors, double[] Agreements, double Mean, float[] Weights, int FittedCount)
{
    /// <summary>The map whose length a <see cref="PredictorKind.MapLength"/> predictor reads; null for the others.</summary>
    public EmbeddingMap? Map { get; init; }

    /// <summary>The knots' lengths, ascending, of a <see cref="PredictorKind.MapLength"/> predictor; empty for the others.</summary>
    public double[] Lengths { get; init; } = [];
}
