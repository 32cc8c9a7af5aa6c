namespace Threadloom.Core.Tools.FileSearch;

/// <summary>
/// Reciprocal rank fusion (Cormack et al., 2009): an item's score is the sum over the ranked lists of 1/(k + rank),
/// rank starting at 1. Scores are normalised to 0–1 by the best possible score, <c>lists / (k + 1)</c>: an item ranked
/// first by every list scores 1, an item first in one of two lists scores 0.5. The normalisation is absolute, not
/// relative to the best hit, so <c>score_threshold</c> means the same thing for every query.
/// </summary>
public static class ReciprocalRankFusion
{
    /// <summary>
    /// 20, not the paper's 60: on both labelled sets of bench/retrieval (tuned on the man pages, checked on the Python
    /// reference) k 20 gave the best recall@5 and MRR@10 of the values tried (docs/file-search.md, issue #11).
    /// </summary>
    public const int DefaultK = 20;

    public static IReadOnlyList<(T Item, double Score)> Fuse<T, TKey>(IReadOnlyList<IReadOnlyList<T>> rankings, Func<T, TKey> key, int k = DefaultK)
        where TKey : notnull => Fuse(rankings, key, null, k);

    /// <summary>
    /// Weighted fusion: list i contributes <c>weights[i] / (k + rank)</c>, and the best possible score is
    /// <c>Σ weights / (k + 1)</c>, so scores stay in 0–1. Null weights are all 1.
    /// </summary>
    public static IReadOnlyList<(T Item, double Score)> Fuse<T, TKey>(IReadOnlyList<IReadOnlyList<T>> rankings, Func<T, TKey> key, IReadOnlyList<double>? weights, int k = DefaultK)
        where TKey : notnull
    {
        ArgumentOutOfRangeException.ThrowIfNegative(k);
        if (weights is not null && weights.Count != rankings.Count)
        {
            throw new ArgumentException("One weight per ranking.", nameof(weights));
        }
        var scores = new Dictionary<TKey, (T Item, double Score, int BestRank)>();
        for (var list = 0; list < rankings.Count; list++)
        {
            var ranking = rankings[list];
            var weight = weights?[list] ?? 1.0;
            for (var rank = 1; rank <= ranking.Count; rank++)
            {
                var item = ranking[rank - 1];
                var id = key(item);
                var contribution = weight / (k + rank);
                scores[id] = scores.TryGetValue(id, out var existing)
                    ? (existing.Item, existing.Score + contribution, Math.Min(existing.BestRank, rank))
                    : (item, contribution, rank);
            }
        }
        if (rankings.Count == 0)
        {
            return [];
        }
        var best = (weights?.Sum() ?? rankings.Count) / (k + 1);
        return scores.Values
            .OrderByDescending(s => s.Score).ThenBy(s => s.BestRank)
            .Select(s => (s.Item, Math.Clamp(s.Score / best, 0, 1)))
            .ToList();
    }
}
