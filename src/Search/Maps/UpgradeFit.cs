namespace Indexer.Search.Maps;

/// <summary>
/// Everything an upgrade's calibration fits from the same items embedded by both models: the map, a compatibility
/// predictor for each way old items can be served (through the map, or directly when the spaces have one dimension),
/// and the score calibration of the own-space route. A predictor is fitted on the agreement of the route it ranks for:
/// the backfill of a compatible route re-embeds the items whose stored vector agrees least with their new one, which
/// need not be the items the map carries worst.
/// </summary>
/// <param name="Map">The chosen map and its held-out agreement.</param>
/// <param name="MappedPredictor">Predicts the agreement of an item's mapped vector with its new one.</param>
/// <param name="DirectPredictor">Predicts the agreement of an item's stored vector with its new one; null when the dimensions differ.</param>
/// <param name="Scores">Old-space scores in the new space's scale.</param>
public sealed record UpgradeFit(MapFit Map, CompatibilityPredictor MappedPredictor, CompatibilityPredictor? DirectPredictor, ScoreCalibration Scores)
{
    /// <summary>Fits the map, both predictors and the score calibration on the same items.</summary>
    /// <param name="oldVectors">Row-major, <paramref name="count"/> x <paramref name="oldDimension"/>.</param>
    /// <param name="newVectors">Row-major, <paramref name="count"/> x <paramref name="newDimension"/>, the same items in the same order.</param>
    /// <param name="count">Items.</param>
    /// <param name="oldDimension">Length of an old vector.</param>
    /// <param name="newDimension">Length of a new vector.</param>
    public static UpgradeFit Fit(float[] oldVectors, float[] newVectors, int count, int oldDimension, int newDimension)
    {
        ArgumentNullException.ThrowIfNull(oldVectors);
        ArgumentNullException.ThrowIfNull(newVectors);
        var map = MapFitter.Fit(oldVectors, newVectors, count, oldDimension, newDimension);
        var all = Enumerable.Range(0, count).ToArray();
        var mapped = CompatibilityPredictor.Fit(oldVectors, map.OutOfFoldAgreements, oldDimension, map: map.Best, lengths: map.OutOfFoldLengths);
        var direct = oldDimension == newDimension
            ? CompatibilityPredictor.Fit(oldVectors, MapFitter.Agreements(EmbeddingMap.Identity(oldDimension), oldVectors, newVectors, all), oldDimension)
            : null;
        return new UpgradeFit(map, mapped, direct, ScoreCalibration.Fit(oldVectors, oldDimension, newVectors, newDimension, count));
    }
}
