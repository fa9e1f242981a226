using Indexer.Grains.Galleries;

namespace Indexer.Tests.Unit;

public sealed class BackfillQueueTests
{
    private static List<(string Id, bool Promoted)> Drain(BackfillQueue queue)
    {
        var taken = new List<(string, bool)>();
        while (queue.TryDequeue(out var id, out var promoted)) taken.Add((id, promoted));
        return taken;
    }

    [Fact]
    public void WithoutSearches_ItemsComeInThePolicysOrder_EachOnce()
    {
        var queue = new BackfillQueue(["c", "a", "b"], promoteAfterHits: 3);
        Assert.Equal(3, queue.Count);
        Assert.Equal([("c", false), ("a", false), ("b", false)], Drain(queue));
        Assert.Equal(0, queue.Count);
    }

    [Fact]
    public void AnItemFoundByEnoughSearches_GoesFirst_AndIsNotHandedOutAgainLater()
    {
        var queue = new BackfillQueue(["a", "b", "c", "d"], promoteAfterHits: 2);
        Assert.Equal(0, queue.NoteSearched(["d", "x"])); // one hit; "x" is not queued
        Assert.Equal(1, queue.NoteSearched(["b", "d"])); // d's second hit
        Assert.Equal(0, queue.NoteSearched(["d"])); // promoted already
        Assert.Equal(4, queue.Count);
        Assert.Equal([("d", true), ("a", false), ("b", false), ("c", false)], Drain(queue));
    }

    [Fact]
    public void OnlyTheFirstResultsCount_AndItemsHandedOutAreNotPromoted()
    {
        var ids = Enumerable.Range(0, 20).Select(i => $"i{i:D2}").ToList();
        var queue = new BackfillQueue(ids, promoteAfterHits: 1);
        Assert.True(queue.TryDequeue(out var first, out _));
        Assert.Equal("i00", first);
        // i00 is being re-embedded; i19 ranks 11th, below what a person sees.
        var ranked = new[] { "i00" }.Concat(ids.Skip(10).Take(9)).Append("i19").ToList();
        Assert.Equal(BackfillQueue.CountedRank - 1, queue.NoteSearched(ranked));
        var order = Drain(queue).Select(t => t.Id).ToList();
        Assert.Equal(ids.Skip(10).Take(9).Concat(ids.Skip(1).Take(9)).Append("i19"), order);
    }

    [Fact]
    public void PutBack_RetriesFirst_KeepsThePromotedMark_AndIgnoresItemsStillQueued()
    {
        var queue = new BackfillQueue(["a", "b", "c"], promoteAfterHits: 1);
        queue.NoteSearched(["c"]);
        Assert.True(queue.TryDequeue(out var c, out var promoted));
        Assert.Equal(("c", true), (c, promoted));
        Assert.True(queue.TryDequeue(out var a, out _));
        queue.PutBack([("c", true), ("a", false), ("b", false)]); // b was never handed out
        Assert.Equal(3, queue.Count);
        Assert.Equal([("c", true), ("a", false), ("b", false)], Drain(queue));
    }

    [Fact]
    public void ZeroHits_NeverPromotes_AndNegativeIsRefused()
    {
        var queue = new BackfillQueue(["a", "b"], promoteAfterHits: 0);
        Assert.Equal(0, queue.NoteSearched(["b", "b", "b"]));
        Assert.Equal([("a", false), ("b", false)], Drain(queue));
        Assert.Throws<ArgumentOutOfRangeException>(() => new BackfillQueue([], -1));
    }
}
