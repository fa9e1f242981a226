namespace Indexer.Search.Maps;

/// <summary>Splits a calibration sample across strata (galleries) as evenly as their sizes allow.</summary>
public static class SampleAllocation
{
    /// <summary>
    /// Water-filling: every stratum gets the same share, except that one with fewer items gives all it has and the
    /// shortfall is shared among the larger ones. The result sums to min(<paramref name="total"/>, Σ available), and
    /// no stratum gets more than one item above another that could have given more.
    /// </summary>
    public static int[] Allocate(IReadOnlyList<int> available, int total)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(total);
        var result = new int[available.Count];
        var order = Enumerable.Range(0, available.Count).OrderBy(i => available[i]).ToArray();
        var remaining = total;
        for (var k = 0; k < order.Length; k++)
        {
            var left = order.Length - k;
            var share = remaining / left; // rounding down leaves the remainder to the larger strata, served last
            var give = Math.Min(Math.Max(0, available[order[k]]), Math.Min(share, remaining));
            result[order[k]] = give;
            remaining -= give;
        }

        return result;
    }
}
