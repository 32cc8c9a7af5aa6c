using Threadloom.Core.Tools.FileSearch;

namespace Threadloom.Core.Tests.FileSearch;

public sealed class ScoreFusionTests
{
    [Fact]
    public void Fuse_MapsEachListByItsOwnRange_AndSumsByWeight()
    {
        // BM25-like scores in one list, cosines in the other: each is mapped to 0–1 by its own min and max.
        IReadOnlyList<IReadOnlyList<(string Id, double Score)>> lists = [[("a", 12), ("b", 8), ("c", 2)], [("b", 0.9), ("d", 0.7), ("a", 0.4)]];
        var fused = ScoreFusion.Fuse(lists, x => x.Id, x => x.Score, [0.45, 0.55]);

        var scores = fused.ToDictionary(f => f.Item.Id, f => f.Score);
        Assert.Equal(0.45 * 0.6 + 0.55 * 1.0, scores["b"], 9);
        Assert.Equal(0.45 * 1.0 + 0.55 * 0.0, scores["a"], 9);
        Assert.Equal(0.55 * 0.6, scores["d"], 9);
        Assert.Equal(0.0, scores["c"], 9);
        Assert.Equal(["b", "a", "d", "c"], fused.Select(f => f.Item.Id));
    }

    [Fact]
    public void Fuse_AClearWinnerOfOneList_BeatsAnItemBothListsRankSecond()
    {
        // What rank fusion gets wrong: "v" is far ahead in the vector list, "both" is a close second in each list.
        IReadOnlyList<IReadOnlyList<(string Id, double Score)>> lists = [[("k", 10), ("both", 9.9), ("x", 1)], [("v", 0.95), ("both", 0.40), ("y", 0.38)]];

        var byScores = ScoreFusion.Fuse(lists, x => x.Id, x => x.Score, [0.45, 0.55]).Select(f => f.Item.Id).ToList();
        var byRanks = ReciprocalRankFusion.Fuse(lists, x => x.Id).Select(f => f.Item.Id).ToList();

        Assert.Equal("both", byRanks[0]);
        Assert.True(byScores.IndexOf("v") < byScores.IndexOf("both"), string.Join(",", byScores));
    }

    [Fact]
    public void Fuse_FirstEverywhere_ScoresOne_EqualOrOddScoresStayInUnitRange()
    {
        IReadOnlyList<IReadOnlyList<(int Id, double Score)>> lists = [[(1, 5), (2, 5)], [(1, double.NaN), (3, double.PositiveInfinity), (4, 0.2)], [(1, 0.7)]];
        var fused = ScoreFusion.Fuse(lists, x => x.Id, x => x.Score);

        // List 1 is all equal (both map to 1); list 2's only finite score is 0.2 (a range of one value: 1), the others
        // count as its lowest (0). Ties (2 and 4 at 1/3) go to the better rank.
        Assert.Equal([1, 2, 4, 3], fused.Select(f => f.Item.Id));
        Assert.Equal(2.0 / 3, fused[0].Score, 9);
        Assert.All(fused, f => Assert.InRange(f.Score, 0.0, 1.0));
        Assert.Equal(1.0, ScoreFusion.Fuse(lists.Take(1).ToList(), x => x.Id, x => x.Score)[0].Score, 12);
    }

    [Fact]
    public void Fuse_NoListsOrNoWeight_IsEmpty()
    {
        Assert.Empty(ScoreFusion.Fuse<int, int>([], x => x, x => x));
        Assert.Empty(ScoreFusion.Fuse<int, int>([[1, 2]], x => x, x => x, [0]));
    }
}
