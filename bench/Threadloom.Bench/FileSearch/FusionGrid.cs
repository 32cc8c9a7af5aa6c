using System.Globalization;
using System.Text;
using Threadloom.Core.Storage;
using Threadloom.Core.Tools.FileSearch;

namespace Threadloom.Bench.FileSearch;

/// <summary>
/// <c>--tune-fusion</c>: ways of fusing the keyword and vector lists, scored in memory on the same lists (each question's
/// top 50 of each list fetched once), each followed by the default re-scoring pass, as the search does.
/// </summary>
/// <remarks>
/// Rank fusion (RRF) against score fusion (<see cref="ScoreFusion"/>: each list's scores mapped to 0–1 by its own min and
/// max, then a weighted sum; a mean ± 3σ mapping was tried too and was no better). Score fusion keeps how far ahead a list's
/// first hit is, which rank fusion throws away.
/// </remarks>
internal static class FusionGrid
{
    internal sealed record Setting(string Name, Func<IReadOnlyList<ChunkHit>, IReadOnlyList<ChunkHit>, IReadOnlyList<(ChunkHit Item, double Score)>> Fuse);

    private static IEnumerable<Setting> Settings()
    {
        foreach (var k in (int[])[10, 20, 40, 60])
        {
            foreach (var wv in (double[])[1, 1.25, 1.5])
            {
                yield return new($"rrf k {k}, vector weight {wv}", (kw, vec) => ReciprocalRankFusion.Fuse([kw, vec], h => h.ChunkId, [1, wv], k));
            }
        }
        foreach (var alpha in (double[])[0.3, 0.4, 0.5, 0.55, 0.6, 0.65, 0.7])
        {
            yield return new(string.Create(CultureInfo.InvariantCulture, $"min-max score fusion, vector share {alpha}"),
                (kw, vec) => ScoreFusion.Fuse([kw, vec], h => h.ChunkId, h => h.Score, [1 - alpha, alpha]));
        }
    }

    /// <summary>The default pass and none for every setting; for score fusion near its best, the pass's weights again.</summary>
    private static IEnumerable<(string Label, RescoreWeights Weights)> Rescorings(Setting setting)
    {
        yield return ("", RescoreWeights.Default);
        yield return (", re-scoring off", RescoreWeights.None);
        if (!setting.Name.StartsWith("min-max", StringComparison.Ordinal) || setting.Name.EndsWith("0.3", StringComparison.Ordinal))
        {
            yield break;
        }
        foreach (var coverage in (double[])[0, 0.05, 0.1])
        {
            foreach (var phrase in (double[])[0.2, 0.3, 0.5, 0.8, 1.0, 1.2])
            {
                yield return (string.Create(CultureInfo.InvariantCulture, $", re-scoring coverage {coverage} phrase {phrase}"), new RescoreWeights(coverage, phrase));
            }
        }
    }

    public static async Task<Dictionary<string, RetrievalBenchmark.Score>> RunAsync(RetrievalBenchmark.LabelledSet set, RetrievalBenchmark.BuiltStore built,
        string project, string store, CancellationToken ct)
    {
        var lists = new List<(RetrievalBenchmark.Question Q, IReadOnlyList<ChunkHit> Keyword, IReadOnlyList<ChunkHit> Vector)>();
        foreach (var q in set.Questions)
        {
            var keyword = await built.Index.KeywordSearchAsync(project, store, q.Text, HybridFileSearch.CandidateDepth, null, ct);
            var vector = await built.EmbedQueryAsync(q.Text, ct);
            lists.Add((q, keyword, await built.Index.VectorSearchAsync(project, store, vector, HybridFileSearch.CandidateDepth, null, ct)));
        }
        var grid = new Dictionary<string, RetrievalBenchmark.Score>();
        foreach (var setting in Settings())
        {
            foreach (var (label, rescore) in Rescorings(setting))
            {
                double hits5 = 0, mrr = 0;
                foreach (var (q, keyword, vector) in lists)
                {
                    var fused = PhraseRescoring.Rescore(setting.Fuse(keyword, vector), [q.Text], h => (h.Text, h.FileName, h.Heading), rescore);
                    var rank = fused.Select(f => f.Item.FileName).Distinct().ToList().IndexOf(q.File) + 1;
                    hits5 += rank is > 0 and <= 5 ? 1 : 0;
                    mrr += rank is > 0 and <= 10 ? 1.0 / rank : 0;
                }
                grid[setting.Name + label] = new(hits5 / lists.Count, mrr / lists.Count, null);
            }
        }
        return grid;
    }

    /// <summary>
    /// <c>--tune-rewrite</c>: under <c>rewrite_query</c>, which vector lists to fuse with the rewritten keywords' list: the
    /// cleaned question's, the keywords', or both (two vector lists sharing the vector weight), on every question and on
    /// the conversational ones. Scored in memory with the default fusion and pass.
    /// </summary>
    public static async Task<Dictionary<string, RetrievalBenchmark.Score>> RewriteAsync(RetrievalBenchmark.LabelledSet set, RetrievalBenchmark.BuiltStore built,
        string project, string store, CancellationToken ct)
    {
        var fusion = HybridFusion.Default;
        var rows = new List<(RetrievalBenchmark.Question Q, string Keywords, IReadOnlyList<ChunkHit> Keyword, IReadOnlyList<ChunkHit> Plain, IReadOnlyList<ChunkHit> Cleaned, IReadOnlyList<ChunkHit> Rewritten, IReadOnlyList<ChunkHit> PlainVector)>();
        foreach (var q in set.Questions)
        {
            var keywords = QueryRewriter.Rewrite(q.Text);
            async Task<IReadOnlyList<ChunkHit>> Vector(string text) =>
                await built.Index.VectorSearchAsync(project, store, await built.EmbedQueryAsync(text, ct), HybridFileSearch.CandidateDepth, null, ct);
            rows.Add((q, keywords,
                await built.Index.KeywordSearchAsync(project, store, keywords, HybridFileSearch.CandidateDepth, null, ct),
                await built.Index.KeywordSearchAsync(project, store, q.Text, HybridFileSearch.CandidateDepth, null, ct),
                await Vector(QueryRewriter.Clean(q.Text)), await Vector(keywords), await Vector(q.Text)));
        }
        var (wk, wv) = (fusion.KeywordWeight, fusion.VectorWeight);
        (string Name, Func<(RetrievalBenchmark.Question Q, string Keywords, IReadOnlyList<ChunkHit> Keyword, IReadOnlyList<ChunkHit> Plain, IReadOnlyList<ChunkHit> Cleaned, IReadOnlyList<ChunkHit> Rewritten, IReadOnlyList<ChunkHit> PlainVector), (IReadOnlyList<IReadOnlyList<ChunkHit>> Lists, double[] Weights, string[] Queries)> Build)[] settings =
        [
            ("no rewrite", r => ([r.Plain, r.PlainVector], [wk, wv], [r.Q.Text])),
            ("rewrite, vectors embed the cleaned question (default)", r => ([r.Keyword, r.Cleaned], [wk, wv], [r.Keywords])),
            ("rewrite, vectors embed the keywords", r => ([r.Keyword, r.Rewritten], [wk, wv], [r.Keywords])),
            ("rewrite, two vector lists (cleaned and keywords) sharing the vector weight", r => ([r.Keyword, r.Cleaned, r.Rewritten], [wk, wv / 2, wv / 2], [r.Keywords])),
            ("rewrite, two vector lists, each the full vector weight", r => ([r.Keyword, r.Cleaned, r.Rewritten], [wk, wv, wv], [r.Keywords])),
            ("rewrite + the question as asked: both keyword lists and both vector lists", r => ([r.Keyword, r.Plain, r.Cleaned, r.PlainVector], [wk, wk, wv, wv], [r.Keywords, r.Q.Text])),
        ];
        var grid = new Dictionary<string, RetrievalBenchmark.Score>();
        foreach (var (name, build) in settings)
        {
            foreach (var (label, only) in (ValueTuple<string, bool>[])[("all questions", false), ("conversational only", true)])
            {
                var chosen = rows.Where(r => !only || r.Q.Style == "conv").ToList();
                if (chosen.Count == 0)
                {
                    continue;
                }
                double hits5 = 0, mrr = 0;
                foreach (var r in chosen)
                {
                    var (lists, weights, queries) = build(r);
                    var fused = PhraseRescoring.Rescore(ScoreFusion.Fuse(lists, h => h.ChunkId, h => h.Score, weights), queries, h => (h.Text, h.FileName, h.Heading), fusion.Rescoring);
                    var rank = fused.Select(f => f.Item.FileName).Distinct().ToList().IndexOf(r.Q.File) + 1;
                    hits5 += rank is > 0 and <= 5 ? 1 : 0;
                    mrr += rank is > 0 and <= 10 ? 1.0 / rank : 0;
                }
                grid[$"{name}, {label} ({chosen.Count})"] = new(hits5 / chosen.Count, mrr / chosen.Count, null);
            }
        }
        return grid;
    }

    /// <summary>Every setting, the sets side by side, in the order tried (MRR@10 to four places: the margins are small).</summary>
    public static string Table(List<(string Set, string Model, Dictionary<string, RetrievalBenchmark.Score> Grid)> grids)
    {
        if (grids.Count == 0)
        {
            return "";
        }
        var md = new StringBuilder();
        foreach (var modelGrids in grids.GroupBy(g => g.Model))
        {
            md.AppendLine();
            md.AppendLine(CultureInfo.InvariantCulture, $"Fusion grid ({modelGrids.Key}), each followed by the default re-scoring pass unless it says off:");
            md.AppendLine();
            md.AppendLine("| fusion | " + string.Join(" | ", modelGrids.Select(g => $"{g.Set} recall@5 | {g.Set} MRR@10")) + " |");
            md.AppendLine("|---|" + string.Concat(modelGrids.Select(_ => "---|---|")));
            foreach (var name in modelGrids.First().Grid.Keys)
            {
                var cells = modelGrids.Select(g => string.Create(CultureInfo.InvariantCulture, $"{g.Grid[name].Recall5:F3} | {g.Grid[name].Mrr10:F4}"));
                md.AppendLine($"| {name} | {string.Join(" | ", cells)} |");
            }
        }
        Console.Error.WriteLine(md.ToString());
        return md.ToString();
    }
}
