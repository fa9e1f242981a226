using System.Buffers;

namespace Indexer.Search.Clustering;

/// <summary>The refinement pass: batch DP-means from the current centroids, honouring pins and names.</summary>
public sealed partial class GalleryClusters
{
    /// <summary>Items scored per parallel work item: large enough to amortise scheduling, small enough to balance two cores.</summary>
    private const int RefineBlock = 256;

    /// <summary>
    /// Improves the clusters the online pass built in arrival order. Each pass (at most
    /// <see cref="ClusteringParameters.RefineIterations"/>, fewer once nothing moves) scores every movable item against the
    /// centroids as they stood at the start of the pass, then reassigns in ordinal order of item id:
    /// <list type="bullet">
    /// <item>a member of an unnamed cluster moves to the most similar other centroid if that reaches the join threshold
    /// and beats its own centroid; if neither reaches the join threshold it starts a cluster (DP-means' new-cluster rule);
    /// an item alone in its cluster joins the most similar centroid that reaches the join threshold, and its emptied
    /// cluster takes no one else in that pass;</item>
    /// <item>a member of a named cluster moves only on strong evidence (<see cref="ClusteringParameters.StayMargin"/>), and
    /// each such move is returned; under <see cref="NamedMemberPolicy.Suggest"/> it stays, and the move is returned as a
    /// suggestion, judged again once the pass is over;</item>
    /// <item>pinned items, moved-out items and items without a vector never move.</item>
    /// </list>
    /// Centroids are then recomputed exactly and emptied clusters cease to exist. Finally clusters whose centroids are
    /// within the merge threshold merge, by the automatic-merge rule. A cluster keeps its id through all of this as long
    /// as it keeps a member; names are never changed.
    /// </summary>
    /// <param name="maxDegreeOfParallelism">Threads for the scoring (the O(N·C·d) part); 1 runs on the caller's thread only.</param>
    /// <remarks>
    /// <para>For unnamed clusters this is spherical DP-means: no move lowers J = Σ_items cos(item, its centroid) − λ·K with
    /// λ = 1 − join threshold and K clusters, and recomputing the centroids raises J, so the passes converge.</para>
    /// <para>Cost: O(I·N·C·d / threads) for I passes, plus O(I·N·d) to recompute centroids and O(C²·d) for the merges.</para>
    /// </remarks>
    public RefineResult Refine(int maxDegreeOfParallelism = 1)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxDegreeOfParallelism, 1);
        Item[] movable = [.. _items.Values
            .Where(i => i.Vector is not null && i.Cluster is not null && i.Pin == ItemPin.None)
            .OrderBy(i => i.Id, StringComparer.Ordinal)];
        var ownScores = new float[movable.Length];
        var bestScores = new float[movable.Length];
        var bestClusters = new Cluster?[movable.Length];
        var namedMoves = new List<ClusterMove>();
        var suggestions = new Dictionary<string, ClusterMove>(StringComparer.Ordinal);
        int iterations = 0, reassignments = 0, created = 0, emptied = 0;
        while (iterations < Parameters.RefineIterations && movable.Length > 0)
        {
            iterations++;
            ScoreMovable(movable, ownScores, bestScores, bestClusters, maxDegreeOfParallelism);
            int startRows = _rowCount;
            int moves = 0;
            var dissolved = new HashSet<Cluster>();
            for (int i = 0; i < movable.Length; i++)
            {
                Item item = movable[i];
                Cluster own = item.Cluster!;
                Cluster? best = bestClusters[i];
                float bestScore = bestScores[i];
                if (best is not null && dissolved.Contains(best))
                {
                    // Its only member left this pass: it must not be revived, or two singletons could swap forever.
                    (best, bestScore) = BestOpen(item.Vector!, own, dissolved, startRows);
                }

                // Clusters started earlier in this pass are not in the scored matrix; there are few of them.
                for (int row = startRows; row < _rowCount; row++)
                {
                    float s = VectorMath.Dot(item.Vector!, Centroid(row));
                    Cluster owner = _rowOwners[row]!;
                    if (s > bestScore || (s == bestScore && best is not null && owner.Id < best.Id))
                    {
                        best = owner;
                        bestScore = s;
                    }
                }

                bool alone = own.Attached == 1 && own.Members.Count == 1;
                float ownWithoutSelf = LeaveOneOut(ownScores[i], own.SumNorm, own.Attached);
                Cluster? target = null;
                if (own.Name is not null)
                {
                    // The last member never leaves: the algorithm must not make a name disappear.
                    target = own.Members.Count > 1 && StrongEvidenceToLeave(ownWithoutSelf, bestScore) ? best : null;
                    if (target is not null && Parameters.NamedMembers == NamedMemberPolicy.Suggest)
                    {
                        suggestions[item.Id] = new ClusterMove(item.Id, own.Id, target.Id, ClusterMoveReason.Refined, own.Name, ownWithoutSelf, bestScore, Suggested: true);
                        target = null;
                    }
                }
                else if (alone)
                {
                    // Dissolving a singleton into a cluster at least join-similar does not lower the objective.
                    target = bestScore >= Parameters.JoinThreshold ? best : null;
                }
                else if (best is not null && bestScore >= Parameters.JoinThreshold && bestScore > ownScores[i])
                {
                    target = best;
                }
                else if (ownScores[i] < Parameters.JoinThreshold)
                {
                    // Farther than the join threshold from every centroid, its own included: DP-means starts a cluster.
                    target = CreateCluster();
                    target.Sum = (float[])item.Vector!.Clone();
                    target.Attached = 1;
                    target.SumNorm = 1;
                    UpdateCentroid(target);
                    bestScore = 1;
                    created++;
                }

                if (target is null)
                {
                    continue;
                }

                // Membership only: sums and centroids stay as they were at the start of the pass until it ends.
                own.Members.Remove(item.Id);
                target.Members.Add(item.Id);
                item.Cluster = target;
                if (own.Members.Count == 0)
                {
                    dissolved.Add(own);
                }

                moves++;
                if (own.Name is not null)
                {
                    namedMoves.Add(new ClusterMove(item.Id, own.Id, target.Id, ClusterMoveReason.Refined, own.Name, ownWithoutSelf, bestScore));
                }
            }

            foreach (Cluster cluster in _clusters.Values.Where(c => c.Members.Count == 0).ToList())
            {
                _clusters.Remove(cluster.Id);
                emptied++;
            }

            RebuildCentroids();
            reassignments += moves;
            if (moves == 0)
            {
                break;
            }
        }

        int merged = 0;
        foreach (long id in _clusters.Keys.Order().ToList())
        {
            if (_clusters.TryGetValue(id, out Cluster? cluster))
            {
                merged += AbsorbNeighbours(cluster).Absorbed?.Count ?? 0;
            }
        }

        return new RefineResult(iterations, reassignments, created, merged, emptied, namedMoves, ReviewSuggestions(suggestions.Values));
    }

    /// <summary>
    /// For every movable item: its cosine to its own centroid, and the most similar other centroid (ties to the smaller
    /// id). Reads the centroid matrix only, so blocks of items run in parallel.
    /// </summary>
    private void ScoreMovable(Item[] movable, float[] ownScores, float[] bestScores, Cluster?[] bestClusters, int maxDegreeOfParallelism)
    {
        int blocks = (movable.Length + RefineBlock - 1) / RefineBlock;
        if (maxDegreeOfParallelism == 1 || blocks == 1)
        {
            for (int b = 0; b < blocks; b++)
            {
                ScoreBlock(b);
            }

            return;
        }

        Parallel.For(0, blocks, new ParallelOptions { MaxDegreeOfParallelism = maxDegreeOfParallelism }, ScoreBlock);

        void ScoreBlock(int block)
        {
            float[] scores = ArrayPool<float>.Shared.Rent(Math.Max(1, _rowCount));
            try
            {
                int end = Math.Min(movable.Length, (block + 1) * RefineBlock);
                for (int i = block * RefineBlock; i < end; i++)
                {
                    Item item = movable[i];
                    ScoreRows(item.Vector!, _centroids, _rowCount, Dimension, scores);
                    int ownRow = item.Cluster!.Row;
                    ownScores[i] = scores[ownRow];
                    Cluster? best = null;
                    float bestScore = float.NegativeInfinity;
                    for (int row = 0; row < _rowCount; row++)
                    {
                        float s = scores[row];
                        if (row == ownRow || s < bestScore)
                        {
                            continue;
                        }

                        Cluster owner = _rowOwners[row]!;
                        if (s > bestScore || best is null || owner.Id < best.Id)
                        {
                            best = owner;
                            bestScore = s;
                        }
                    }

                    bestClusters[i] = best;
                    bestScores[i] = bestScore;
                }
            }
            finally
            {
                ArrayPool<float>.Shared.Return(scores);
            }
        }
    }

    /// <summary>The most similar centroid among those scored at the start of the pass, leaving out its own and dissolved ones.</summary>
    private (Cluster? Best, float Score) BestOpen(float[] unit, Cluster own, HashSet<Cluster> dissolved, int scoredRows)
    {
        Cluster? best = null;
        float bestScore = float.NegativeInfinity;
        for (int row = 0; row < scoredRows; row++)
        {
            Cluster owner = _rowOwners[row]!;
            if (owner == own || dissolved.Contains(owner))
            {
                continue;
            }

            float s = VectorMath.Dot(unit, Centroid(row));
            if (s > bestScore || (s == bestScore && best is not null && owner.Id < best.Id))
            {
                best = owner;
                bestScore = s;
            }
        }

        return (best, bestScore);
    }

    /// <summary>
    /// The suggestions a pass collected, judged again against the clusters as the pass left them (centroids moved, clusters
    /// merged): each points at the item's nearest other cluster now, and is kept only if the evidence is still strong.
    /// </summary>
    private List<ClusterMove> ReviewSuggestions(IEnumerable<ClusterMove> collected)
    {
        var reviewed = new List<ClusterMove>();
        foreach (ClusterMove suggestion in collected.OrderBy(m => m.ItemId, StringComparer.Ordinal))
        {
            Item item = _items[suggestion.ItemId];
            Cluster own = item.Cluster!;
            Cluster? best = FindNearest(item.Vector!, own, out float bestScore);
            float ownWithoutSelf = LeaveOneOut(VectorMath.Dot(item.Vector!, Centroid(own.Row)), own.SumNorm, own.Attached);
            if (best is not null && StrongEvidenceToLeave(ownWithoutSelf, bestScore))
            {
                reviewed.Add(suggestion with { FromClusterId = own.Id, ToClusterId = best.Id, FromSimilarity = ownWithoutSelf, ToSimilarity = bestScore });
            }
        }

        return reviewed;
    }
}
