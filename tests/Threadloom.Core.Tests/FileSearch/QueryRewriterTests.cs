using Threadloom.Core.Tools.FileSearch;

namespace Threadloom.Core.Tests.FileSearch;

public sealed class QueryRewriterTests
{
    [Theory]
    [InlineData("I'd like to know the height of the main office building", "height main office building")]
    [InlineData("Can you please tell me about the 401(k) match?", "401 k match")]
    [InlineData("Hi! Could you help me with resetting my password, please?", "resetting password")]
    [InlineData("I want to find out what the PTO policy says about carry-over", "PTO policy says carry-over")]
    [InlineData("tell me about v1.2 release notes", "v1.2 release notes")]
    [InlineData("parental leave", "parental leave")]
    public void Rewrite_DropsTheRequestAndStopWords(string query, string expected) =>
        Assert.Equal(expected, QueryRewriter.Rewrite(query));

    [Theory]
    [InlineData("what is it?")]
    [InlineData("  the  ")]
    [InlineData("?!")]
    public void Rewrite_NothingLeft_KeepsTheOriginal(string query) =>
        Assert.Equal(query.Trim(), QueryRewriter.Rewrite(query));

    [Fact]
    public void Rewrite_RepeatedWords_AppearOnce() =>
        Assert.Equal("leave policy", QueryRewriter.Rewrite("leave policy? Leave policy!"));
}
