using Indexer.Search.Maps;

namespace Indexer.Search.Metrics;

/// <summary>
/// The cross-model table of METRICS.md for one labeled set of items embedded by an old and a new model, with queries
/// drawn from the gallery (leave-one-out): M(old,old), M(new,new), M(new,old) and, given a map h, M(new,h(old)).
/// </summary>
public sealed record CrossModelTable(
    RetrievalReport OldOld,
    RetrievalReport NewNew,
    RetrievalReport NewOld,
    RetrievalReport? NewMapped)
{
    /// <summary>BCT's empirical compatibility criterion on mAP: new queries against the old gallery beat old against old.</summary>
    public bool CriterionHolds => NewOld.MeanAveragePrecision > OldOld.MeanAveragePrecision;

    /// <summary>(M(new,old) − M(old,old)) / (M(new,new) − M(old,old)) on mAP; NaN when the new model is no better than the old.</summary>
    public double UpdateGain => Gain(NewOld);

    /// <summary>The same gain for the mapped gallery, M(new, h(old)); NaN without a map.</summary>
    public double MappedGain => NewMapped is null ? double.NaN : Gain(NewMapped);

    private double Gain(RetrievalReport report)
    {
        var span = NewNew.MeanAveragePrecision - OldOld.MeanAveragePrecision;
        return span <= 0 ? double.NaN : (report.MeanAveragePrecision - OldOld.MeanAveragePrecision) / span;
    }
}

public static class CrossModelEvaluation
{
    /// <summary>The CMC cut-offs reported: top-1 and top-5, as the literature does.</summary>
    public static readonly IReadOnlyList<int> Cutoffs = [1, 5];

    /// <param name="oldVectors">Every item embedded by the old model, count x oldDimension.</param>
    /// <param name="newVectors">The same items embedded by the new model, count x newDimension.</param>
    /// <param name="labels">Each item's label (identity or class).</param>
    /// <param name="oldDimension">Dimension of the old model's vectors.</param>
    /// <param name="newDimension">Dimension of the new model's vectors.</param>
    /// <param name="map">A fitted map h from old to new space, for the M(new, h(old)) row; null to skip it.</param>
    public static CrossModelTable Evaluate(
        ReadOnlySpan<float> oldVectors, ReadOnlySpan<float> newVectors, IReadOnlyList<int> labels, int oldDimension, int newDimension, EmbeddingMap? map = null)
    {
        var count = labels.Count;
        var self = Enumerable.Range(0, count).ToArray();
        var oldOld = RetrievalMetrics.Evaluate(oldVectors, labels, self, oldVectors, labels, oldDimension, Cutoffs);
        var newNew = RetrievalMetrics.Evaluate(newVectors, labels, self, newVectors, labels, newDimension, Cutoffs);
        var newOld = oldDimension == newDimension
            ? RetrievalMetrics.Evaluate(newVectors, labels, self, oldVectors, labels, oldDimension, Cutoffs)
            : new RetrievalReport(0, count, Cutoffs.ToDictionary(k => k, _ => 0.0), 0); // incomparable spaces find nothing
        RetrievalReport? mapped = null;
        if (map is not null)
        {
            var mappedVectors = new float[count * newDimension];
            for (var i = 0; i < count; i++) map.Apply(oldVectors.Slice(i * oldDimension, oldDimension), mappedVectors.AsSpan(i * newDimension, newDimension));
            mapped = RetrievalMetrics.Evaluate(newVectors, labels, self, mappedVectors, labels, newDimension, Cutoffs);
        }

        return new CrossModelTable(oldOld, newNew, newOld, mapped);
    }
}
