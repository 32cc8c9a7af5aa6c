namespace Threadloom.Core.Tools.FileSearch;

/// <summary>
/// Relative score fusion: each list's scores are mapped to 0–1 by that list's own lowest and highest score, and an
/// item's fused score is the weighted sum over the lists it appears in, divided by the sum of the weights. An item
/// that tops every list scores 1; one that tops only a list of weight w scores w / Σ weights.
/// </summary>
/// <remarks>
/// Unlike <see cref="ReciprocalRankFusion"/>, it keeps how far ahead of the rest a list's best hit is: a question the
/// vectors answer clearly and the keywords miss is no longer outranked by chunks both lists rank a little lower
/// (issue #11: better MRR@10 on both labelled sets, docs/file-search.md). BM25 and cosine scores are on different
/// scales, hence the per-list mapping. A list whose scores are all equal (or a single hit) maps them to 1; a score
/// that is not a finite number counts as the list's lowest.
/// </remarks>
public static class ScoreFusion
{
    public static IReadOnlyList<(T Item, double Score)> Fuse<T, TKey>(IReadOnlyList<IReadOnlyList<T>> rankings, Func<T, TKey> key, Func<T, double> score,
        IReadOnlyList<double>? weights = null)
        where TKey : notnull
    {
        if (weights is not null && weights.Count != rankings.Count)
        {
            throw new ArgumentException("One weight per ranking.", nameof(weights));
        }
        var total = weights?.Sum() ?? rankings.Count;
        if (rankings.Count == 0 || total <= 0)
        {
            return [];
        }
        var fused = new Dictionary<TKey, (T Item, double Score, int BestRank)>();
        for (var list = 0; list < rankings.Count; list++)
        {
            var ranking = rankings[list];
            var weight = weights?[list] ?? 1.0;
            var (min, max) = (double.PositiveInfinity, double.NegativeInfinity);
            foreach (var item in ranking)
            {
                var s = score(item);
                if (double.IsFinite(s))
                {
                    (min, max) = (Math.Min(min, s), Math.Max(max, s));
                }
            }
            for (var rank = 1; rank <= ranking.Count; rank++)
            {
                var item = ranking[rank - 1];
                var s = score(item);
                var normalised = !double.IsFinite(s) ? 0 : max > min ? (s - min) / (max - min) : 1;
                var contribution = weight * normalised;
                var id = key(item);
                fused[id] = fused.TryGetValue(id, out var existing)
                    ? (existing.Item, existing.Score + contribution, Math.Min(existing.BestRank, rank))
                    : (item, contribution, rank);
            }
        }
        return fused.Values
            .OrderByDescending(f => f.Score).ThenBy(f => f.BestRank)
            .Select(f => (f.Item, Math.Clamp(f.Score / total, 0, 1)))
            .ToList();
    }
}
