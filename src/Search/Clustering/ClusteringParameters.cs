using Indexer.Search.Maps;

namespace Indexer.Search.Clustering;

/// <summary>
/// Tuning of <see cref="GalleryClusters"/> for one model version. Similarities are cosines of L2-normalised vectors,
/// and their scale differs from one model to the next, so every version carries its own parameters.
/// </summary>
/// <remarks>
/// The defaults were picked on ResNet18 (ImageNet) 512-d pooled features of 2000 Fashion-MNIST test images. Those
/// features are non-negative, so cosines crowd together: 0.79 on average within a class, 0.70 across classes. With join
/// 0.85 and merge 0.95, after <see cref="GalleryClusters.Refine"/>: ARI 0.37, NMI 0.58, purity 0.69 (chance 0.10), 49
/// clusters shown, holding 95% of the items. Re-embedding every image from its mirror image (cosine 0.97 to the
/// original) moved 0.05% of the items in named clusters. Thresholds 0.05 lower merge everything into one cluster;
/// calibrate them per version on a labelled sample when a new model is registered.
/// </remarks>
public sealed record ClusteringParameters
{
    /// <summary>Longest refinement a caller may ask for: Lloyd-style passes converge in a handful of iterations.</summary>
    public const int MaxRefineIterations = 100;

    /// <summary>Largest <see cref="MinimumSizeShown"/>: beyond that a gallery would show nothing.</summary>
    public const int MaxMinimumSizeShown = 10_000;

    /// <summary>Smallest cosine similarity between an item and a cluster's centroid for the item to join that cluster.</summary>
    public float JoinThreshold { get; init; } = 0.85f;

    /// <summary>
    /// Two clusters whose centroids have at least this cosine similarity are merged. At least
    /// <see cref="JoinThreshold"/>: a cluster started by an item is, by construction, below the join threshold from every
    /// other centroid, and must not be merged back at once.
    /// </summary>
    public float MergeThreshold { get; init; } = 0.95f;

    /// <summary>Unnamed clusters with fewer members than this are hidden from listings (named ones are always shown).</summary>
    public int MinimumSizeShown { get; init; } = 3;

    /// <summary>Reassignment passes of <see cref="GalleryClusters.Refine"/> at most; it stops earlier once nothing moves.</summary>
    public int RefineIterations { get; init; } = 10;

    /// <summary>
    /// Evidence needed before an item leaves a named cluster (and before any re-embedded item moves): its similarity to
    /// its own cluster's centroid (without itself) must be below <see cref="JoinThreshold"/> by at least this much.
    /// </summary>
    public float StayMargin { get; init; } = 0.05f;

    /// <summary>
    /// Evidence needed before an item leaves a named cluster (and before any re-embedded item moves): the other cluster
    /// must be at least this much more similar than its own, and at least <see cref="JoinThreshold"/> similar.
    /// </summary>
    public float MoveMargin { get; init; } = 0.05f;

    /// <summary>
    /// What the clustering does on its own with a member of a named cluster when the evidence against it is strong (see
    /// <see cref="StayMargin"/>): by default it leaves it where the user saw it and returns the move as a suggestion for
    /// the user to accept or dismiss, so that an upgrade never changes a named cluster's membership by itself.
    /// </summary>
    public NamedMemberPolicy NamedMembers { get; init; } = NamedMemberPolicy.Suggest;

    /// <summary>
    /// These parameters carried into another model's similarity scale: the join and merge thresholds move to the same
    /// quantile of pair similarities there (<paramref name="scores"/> maps this model's cosines to the other's), so
    /// clusters keep their granularity; the rest is kept. On the model zoo's upgrades a join threshold carried this way
    /// gave clusters within 0.04-0.08 ARI of the best threshold picked on labels (4 galleries of 400).
    /// </summary>
    public ClusteringParameters CarriedOver(ScoreCalibration scores)
    {
        ArgumentNullException.ThrowIfNull(scores);
        float join = Math.Clamp(scores.Apply(JoinThreshold), -1f, 1f);
        float merge = Math.Clamp(Math.Max(join, scores.Apply(MergeThreshold)), -1f, 1f);
        return this with { JoinThreshold = join, MergeThreshold = merge };
    }

    /// <summary>Throws when a value is out of range, so bad configuration fails when it is loaded, not mid-clustering.</summary>
    /// <exception cref="ArgumentException">A threshold is not a cosine in [-1, 1], the merge threshold is below the join
    /// threshold, a margin is outside [0, 2], or a count is out of range.</exception>
    public void Validate()
    {
        RequireCosine(JoinThreshold, nameof(JoinThreshold));
        RequireCosine(MergeThreshold, nameof(MergeThreshold));
        if (MergeThreshold < JoinThreshold)
        {
            throw new ArgumentException(
                $"{nameof(MergeThreshold)} ({MergeThreshold}) must be at least {nameof(JoinThreshold)} ({JoinThreshold}).");
        }

        if (!Enum.IsDefined(NamedMembers))
        {
            throw new ArgumentException($"{nameof(NamedMembers)} must be {nameof(NamedMemberPolicy.Suggest)} or {nameof(NamedMemberPolicy.Move)}, got {(int)NamedMembers}.");
        }

        RequireMargin(StayMargin, nameof(StayMargin));
        RequireMargin(MoveMargin, nameof(MoveMargin));
        if (MinimumSizeShown is < 1 or > MaxMinimumSizeShown)
        {
            throw new ArgumentException($"{nameof(MinimumSizeShown)} must be in [1, {MaxMinimumSizeShown}], got {MinimumSizeShown}.");
        }

        if (RefineIterations is < 0 or > MaxRefineIterations)
        {
            throw new ArgumentException($"{nameof(RefineIterations)} must be in [0, {MaxRefineIterations}], got {RefineIterations}.");
        }
    }

    private static void RequireCosine(float value, string name)
    {
        if (!(value >= -1f && value <= 1f))
        {
            throw new ArgumentException($"{name} is a cosine similarity and must be in [-1, 1], got {value}.");
        }
    }

    private static void RequireMargin(float value, string name)
    {
        if (!(value >= 0f && value <= 2f))
        {
            throw new ArgumentException($"{name} must be in [0, 2], got {value}.");
        }
    }
}

/// <summary>What the clustering does on its own with a member of a named cluster that the evidence places elsewhere.</summary>
public enum NamedMemberPolicy
{
    /// <summary>It stays; the move is returned as a suggestion (<see cref="ClusterMove.Suggested"/>) for the user to decide.</summary>
    Suggest = 0,

    /// <summary>It moves, and the move is returned for the caller to record (a cluster negative flip in METRICS.md's terms).</summary>
    Move = 1,
}
