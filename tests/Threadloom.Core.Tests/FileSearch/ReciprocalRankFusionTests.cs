using Threadloom.Core.Tools.FileSearch;

namespace Threadloom.Core.Tests.FileSearch;

public sealed class ReciprocalRankFusionTests
{
    [Fact]
    public void Fuse_SumsReciprocalRanks_WithTheDefaultK20()
    {
        IReadOnlyList<IReadOnlyList<string>> lists = [["a", "b", "c"], ["b", "c", "d"]];
        var fused = ReciprocalRankFusion.Fuse(lists, x => x);
        var best = 2.0 / 21;
        Assert.Equal(["b", "c", "a", "d"], fused.Select(f => f.Item));
        Assert.Equal((1.0 / 22 + 1.0 / 21) / best, fused[0].Score, 9);
        Assert.Equal((1.0 / 23 + 1.0 / 22) / best, fused[1].Score, 9);
        Assert.Equal((1.0 / 21) / best, fused[2].Score, 9);
        Assert.Equal((1.0 / 23) / best, fused[3].Score, 9);
    }

    [Fact]
    public void Fuse_FirstEverywhere_ScoresOne_AndScoresStayInUnitRange()
    {
        IReadOnlyList<IReadOnlyList<int>> lists = [[1, 2, 3], [1, 3, 2], [1, 2]];
        var fused = ReciprocalRankFusion.Fuse(lists, x => x);
        Assert.Equal(1, fused[0].Item);
        Assert.Equal(1.0, fused[0].Score, 12);
        Assert.All(fused, f => Assert.InRange(f.Score, 0.0, 1.0));
        Assert.True(fused.Zip(fused.Skip(1)).All(p => p.First.Score >= p.Second.Score));
    }

    [Fact]
    public void Fuse_NoLists_IsEmpty() => Assert.Empty(ReciprocalRankFusion.Fuse<int, int>([], x => x));
}
