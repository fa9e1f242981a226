namespace Indexer.Search.Maps;

/// <summary>
/// When a rollout fits its kernel map again during the backfill. A kernel map carries its training pairs
/// (<see cref="LocalCorrection.KernelRidgeTargets"/>), and every item the backfill re-embeds gives one more pair (its old
/// and new vectors are both stored until the commit), so the map is fitted again, with the same width and penalty, each
/// time the items re-embedded so far reach its anchors, until it has <see cref="MaxAnchorsPerCalibrationItem"/> anchors
/// per calibration item: fitting is cubic in the anchors, applying linear. The re-embedded items are the least
/// compatible first, where the calibration's map is worst.
/// </summary>
public static class MapRefitPolicy
{
    /// <summary>Most anchors a refined map gets, per calibration item (3200 for the default sample of 800: a 5 s fit at 512-d).</summary>
    public const int MaxAnchorsPerCalibrationItem = 4;

    /// <summary>True when a map of <paramref name="anchors"/> anchors, fitted on a sample of <paramref name="calibrationItems"/>, is due to be fitted again.</summary>
    /// <param name="reEmbedded">Items the backfill has re-embedded so far.</param>
    /// <param name="anchors">The map's anchors now.</param>
    /// <param name="calibrationItems">The calibration sample's size.</param>
    public static bool IsDue(long reEmbedded, int anchors, int calibrationItems) =>
        anchors > 0 && anchors < MaxAnchors(calibrationItems) && reEmbedded >= anchors;

    /// <summary>The most anchors a map fitted on <paramref name="calibrationItems"/> gets.</summary>
    public static int MaxAnchors(int calibrationItems) => (int)Math.Min(int.MaxValue, (long)MaxAnchorsPerCalibrationItem * calibrationItems);
}
