using System.Numerics.Tensors;

namespace Indexer.Search.Clustering;

/// <summary>
/// Living through a model upgrade: move the clusters into the new version's space without changing them
/// (<see cref="Rebase"/>), then let each item the backfill re-embeds stay unless the evidence against it is strong
/// (<see cref="Reembed"/>).
/// </summary>
public sealed partial class GalleryClusters
{
    /// <summary>
    /// Moves the clustering into another model version's space, changing no membership, name, pin or id: every item takes
    /// its vector from <paramref name="vectorOf"/> (its new-model vector if re-embedded, else its old one carried over
    /// by the same route search uses: a copy for a compatible version, the fitted map's image for a mapped one), and every
    /// centroid is recomputed from its members' new vectors. An item for which <paramref name="vectorOf"/> returns null
    /// (no route yet) stays a member, counts in sizes, and shapes no centroid until <see cref="Reembed"/> gives it a vector.
    /// Rebasing onto the same version with other parameters is how a version's parameters are changed.
    /// </summary>
    /// <param name="modelVersion">The version moved to.</param>
    /// <param name="dimension">The length of its vectors.</param>
    /// <param name="parameters">Its parameters (distances are not comparable across versions).</param>
    /// <param name="vectorOf">An item's vector in the new space, or null when it has none; called once per item.</param>
    /// <returns>How many items have a vector in the new space.</returns>
    /// <exception cref="ArgumentException">A parameter is out of range or a vector is invalid. Nothing is changed.</exception>
    /// <remarks>Cost: O(N·d) plus the calls to <paramref name="vectorOf"/>.</remarks>
    public RebaseResult Rebase(string modelVersion, int dimension, ClusteringParameters parameters, Func<string, float[]?> vectorOf)
    {
        ValidateSpace(modelVersion, dimension, parameters);
        ArgumentNullException.ThrowIfNull(vectorOf);
        Dictionary<string, float[]?> vectors = ReadVectors(_items.Keys, dimension, vectorOf, nameof(vectorOf));

        string from = ModelVersion;
        ModelVersion = modelVersion;
        Dimension = dimension;
        Parameters = parameters;
        foreach (Item item in _items.Values)
        {
            item.Vector = vectors[item.Id];
        }

        RebuildCentroids();
        return new RebaseResult(from, modelVersion, _items.Count - ItemsWithoutVector, ItemsWithoutVector);
    }

    /// <summary>
    /// Replaces an item's vector in the current version (the backfill re-embedded it with the new model, or it had none
    /// since <see cref="Rebase"/>) and decides whether it stays in its cluster. It stays unless the evidence against it is
    /// strong: its cosine to its own cluster's centroid without itself is below the join threshold by
    /// <see cref="ClusteringParameters.StayMargin"/>, AND another centroid reaches the join threshold AND beats its own by
    /// <see cref="ClusteringParameters.MoveMargin"/>. An item alone in an unnamed cluster joins the nearest cluster that
    /// reaches the join threshold, as a new item would. Pinned and moved-out items never move. A member of a named cluster
    /// under <see cref="NamedMemberPolicy.Suggest"/> does not move either: the move is returned as a suggestion.
    /// Cost: O(C·d + log n).
    /// </summary>
    /// <returns>The move made (or, with <see cref="ClusterMove.Suggested"/>, suggested), for the caller to record and report;
    /// null when the item stays and nothing speaks against that.</returns>
    /// <exception cref="KeyNotFoundException">The item is not known. Nothing is changed.</exception>
    /// <exception cref="ArgumentException">The vector is invalid. Nothing is changed.</exception>
    public ClusterMove? Reembed(string itemId, ReadOnlySpan<float> vector)
    {
        Item item = RequireItem(itemId);
        float[] unit = ToUnit(vector, Dimension, itemId, nameof(vector));
        ReplaceVector(item, unit);
        Cluster? own = item.Cluster;
        if (own is null || item.Pin != ItemPin.None)
        {
            return null;
        }

        Cluster? best = FindNearest(unit, own, out float bestScore);
        float ownScore = VectorMath.Dot(unit, Centroid(own.Row));
        float ownWithoutSelf = LeaveOneOut(ownScore, own.SumNorm, own.Attached);
        bool alone = own.Members.Count == 1;
        bool move = best is not null && (alone && own.Name is null
            ? bestScore >= Parameters.JoinThreshold
            : StrongEvidenceToLeave(ownWithoutSelf, bestScore));
        if (!move)
        {
            return null;
        }

        if (own.Name is not null && Parameters.NamedMembers == NamedMemberPolicy.Suggest)
        {
            return new ClusterMove(itemId, own.Id, best!.Id, ClusterMoveReason.Reembedded, own.Name, ownWithoutSelf, bestScore, Suggested: true);
        }

        LeaveCluster(item);
        JoinCluster(item, best!);
        (Cluster survivor, _) = AbsorbNeighbours(best!);
        return new ClusterMove(itemId, own.Id, survivor.Id, ClusterMoveReason.Reembedded, own.Name, ownWithoutSelf, bestScore);
    }

    /// <summary>Swaps an item's vector in its cluster's sum and centroid (O(d)); membership is unchanged.</summary>
    private void ReplaceVector(Item item, float[] unit)
    {
        if (item.Cluster is { } cluster)
        {
            if (item.Vector is null)
            {
                cluster.Attached++;
            }
            else
            {
                TensorPrimitives.Subtract(cluster.Sum, item.Vector, cluster.Sum);
            }

            if (cluster.Attached == 1)
            {
                unit.CopyTo(cluster.Sum); // exactly the one vector, not the rounding residue of the subtraction
            }
            else
            {
                TensorPrimitives.Add(cluster.Sum, unit, cluster.Sum);
            }
        }

        if (item.Vector is null)
        {
            ItemsWithoutVector--;
        }

        item.Vector = unit;
        if (item.Cluster is not null)
        {
            UpdateCentroid(item.Cluster);
        }
    }

    private static Dictionary<string, float[]?> ReadVectors(IEnumerable<string> ids, int dimension, Func<string, float[]?> vectorOf, string paramName)
    {
        var vectors = new Dictionary<string, float[]?>(StringComparer.Ordinal);
        foreach (string id in ids)
        {
            float[]? vector = vectorOf(id);
            vectors[id] = vector is null ? null : ToUnit(vector, dimension, id, paramName);
        }

        return vectors;
    }
}
