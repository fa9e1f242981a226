using Indexer.Galleries;
using Indexer.Search.Metrics;

namespace Indexer.Evaluation;

/// <summary>One gallery's figures from the system's search results.</summary>
/// <param name="Queries">Queries scored (at least one positive in the gallery).</param>
/// <param name="Cmc1">CMC@1 over the scored queries.</param>
/// <param name="Cmc5">CMC@5.</param>
/// <param name="AveragePrecision">mAP.</param>
/// <param name="NegativeFlips1">NFR@1 against the baseline's top-1 hits.</param>
/// <param name="Top1">Per query (all of them, scored or not): whether its first result is a positive.</param>
public sealed record GalleryScore(int Queries, double Cmc1, double Cmc5, double AveragePrecision, double NegativeFlips1, bool[] Top1);

/// <summary>
/// Scores the rankings the system returned, with the project's metric code (<see cref="RetrievalMetrics.AveragePrecision"/>,
/// METRICS.md): a result must rank the whole gallery (k = its size) so that AP sees every positive. Figures are
/// macro-averaged over galleries as <see cref="BackfillEvaluation"/> averages them.
/// </summary>
public static class SearchScoring
{
    /// <summary>The metadata key holding an item's label.</summary>
    public const string LabelKey = "label";

    /// <summary>Where a guarded head is scored for AP: above any cosine, one less per position (as <see cref="BackfillEvaluation"/> does).</summary>
    private const double GuardedHeadScore = 1000;

    /// <summary>
    /// One gallery: <paramref name="results"/>[q] answers query q, whose label is <paramref name="queryLabels"/>[q];
    /// <paramref name="baselineTop1"/>[q] says whether q found a positive first before the upgrade (null: no flips counted).
    /// The first <paramref name="guardDepth"/> matches of a result the regression guard ordered
    /// (<see cref="SearchResult.GuardedBy"/>) rank in the order returned, although their scores stay the query version's:
    /// AP takes them in that order, above the rest.
    /// </summary>
    public static GalleryScore Score(IReadOnlyList<SearchResult> results, IReadOnlyList<string> queryLabels, IReadOnlyList<bool>? baselineTop1, int galleryItems, int guardDepth = 0)
    {
        ArgumentNullException.ThrowIfNull(results);
        ArgumentNullException.ThrowIfNull(queryLabels);
        if (results.Count != queryLabels.Count) throw new ArgumentException($"{results.Count} results for {queryLabels.Count} queries", nameof(results));
        int scored = 0, top1 = 0, top5 = 0, flips = 0;
        double ap = 0;
        var hits = new bool[results.Count];
        for (var q = 0; q < results.Count; q++)
        {
            var result = results[q];
            if (result.Excluded != 0 || result.Searched != galleryItems || result.Matches.Count != galleryItems)
            {
                throw new InvalidOperationException(
                    $"query {q}: the system searched {result.Searched} of {galleryItems} items ({result.Excluded} excluded) and returned {result.Matches.Count}; the whole gallery is needed");
            }

            var scores = result.Matches.Select(m => (double)m.Score).ToArray();
            var guarded = result.GuardedBy is null ? 0 : Math.Min(guardDepth, scores.Length);
            for (var r = 0; r < guarded; r++) scores[r] = GuardedHeadScore - r;
            var relevant = result.Matches.Select(m => m.Metadata.GetValueOrDefault(LabelKey) == queryLabels[q]).ToArray();
            var first = Array.IndexOf(relevant, true);
            hits[q] = first == 0;
            if (first < 0) continue; // no positive in the gallery: skipped, as METRICS.md says
            scored++;
            if (first == 0) top1++;
            if (first < 5) top5++;
            if (baselineTop1 is not null && baselineTop1[q] && first != 0) flips++;
            ap += RetrievalMetrics.AveragePrecision(scores, relevant);
        }

        return scored == 0
            ? new GalleryScore(0, double.NaN, double.NaN, double.NaN, double.NaN, hits)
            : new GalleryScore(scored, (double)top1 / scored, (double)top5 / scored, ap / scored, (double)flips / scored, hits);
    }

    /// <summary>The macro average over galleries with at least one scored query, as one point at <paramref name="beta"/>.</summary>
    public static BackfillPoint Average(IReadOnlyList<GalleryScore> galleries, double beta)
    {
        ArgumentNullException.ThrowIfNull(galleries);
        var scored = galleries.Where(g => g.Queries > 0).ToArray();
        if (scored.Length == 0) return new BackfillPoint(beta, double.NaN, double.NaN, double.NaN, double.NaN);
        return new BackfillPoint(beta, scored.Average(g => g.Cmc1), scored.Average(g => g.Cmc5), scored.Average(g => g.AveragePrecision), scored.Average(g => g.NegativeFlips1));
    }
}
