namespace Threadloom.Core.Tools.FileSearch;

/// <summary>
/// Reciprocal rank fusion (Cormack et al., 2009): an item's score is the sum over the ranked lists of 1/(k + rank),
/// rank starting at 1. Scores are normalised to 0–1 by the best possible score, <c>lists / (k + 1)</c>: an item ranked
/// first by every list scores 1, an item first in one of two lists scores 0.5. The normalisation is absolute, not
/// relative to the best hit, so <c>score_threshold</c> means the same thing for every query.
/// </summary>
public static class ReciprocalRankFusion
{
    public const int DefaultK = 60;

    public static IReadOnlyList<(T Item, double Score)> Fuse<T, TKey>(IReadOnlyList<IReadOnlyList<T>> rankings, Func<T, TKey> key, int k = DefaultK)
        where TKey : notnull
    {
        ArgumentOutOfRangeException.ThrowIfNegative(k);
        var scores = new Dictionary<TKey, (T Item, double Score, int BestRank)>();
        foreach (var ranking in rankings)
        {
            for (var rank = 1; rank <= ranking.Count; rank++)
            {
                var item = ranking[rank - 1];
                var id = key(item);
                var contribution = 1.0 / (k + rank);
                scores[id] = scores.TryGetValue(id, out var existing)
                    ? (existing.Item, existing.Score + contribution, Math.Min(existing.BestRank, rank))
                    : (item, contribution, rank);
            }
        }
        if (rankings.Count == 0)
        {
            return [];
        }
        var best = rankings.Count / (double)(k + 1);
        return scores.Values
            .OrderByDescending(s => s.Score).ThenBy(s => s.BestRank)
            .Select(s => (s.Item, Math.Clamp(s.Score / best, 0, 1)))
            .ToList();
    }
}
