namespace Indexer.Grains.Rollouts;

/// <summary>
/// Turns a budget of items per second into each round's grants to the unfinished galleries: whole grants of
/// <see cref="GrantSize"/> items (a gallery's backfill batch), one gallery after another. Spread evenly instead, a slow
/// budget over many galleries becomes a stream of one-item batches, and each batch costs a gallery a segment blob and a
/// manifest write. Over time every gallery gets the same share, and the items granted follow the budget to within one
/// grant.
/// </summary>
public sealed class BackfillBudget
{
    private double _carry;
    private int _next;

    /// <param name="grantSize">Items per grant: the galleries' backfill batch.</param>
    public BackfillBudget(int grantSize)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(grantSize);
        GrantSize = grantSize;
    }

    public int GrantSize { get; }

    /// <summary>Items accrued by the budget and not granted yet: less than one grant after every round.</summary>
    public double Carry => _carry;

    /// <summary>This round's grants, one entry per unfinished gallery (0 for most when the budget is slow).</summary>
    /// <param name="itemsPerSecond">The budget.</param>
    /// <param name="round">How long a round lasts.</param>
    /// <param name="galleries">Unfinished galleries this round.</param>
    public int[] Grant(double itemsPerSecond, TimeSpan round, int galleries)
    {
        if (!double.IsFinite(itemsPerSecond) || itemsPerSecond <= 0) throw new ArgumentOutOfRangeException(nameof(itemsPerSecond), itemsPerSecond, "must be a positive number");
        ArgumentOutOfRangeException.ThrowIfNegative(galleries);
        var credits = new int[galleries];
        if (galleries == 0) return credits;
        _carry += itemsPerSecond * round.TotalSeconds;
        while (_carry >= GrantSize)
        {
            _next %= galleries;
            credits[_next++] += GrantSize;
            _carry -= GrantSize;
        }

        return credits;
    }
}
