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

    [Theory]
    [InlineData("hey, I have strings like 2011-11-04 coming from an API, how do I turn them into day objects?", "I have strings like 2011-11-04 coming from an API, how do I turn them into day objects?")]
    [InlineData("my boss says passing shell=True is dangerous when spawning commands, why exactly?", "passing shell=True is dangerous when spawning commands, why ?")]
    [InlineData("I want a cache whose entries disappear once nothing else uses the cached objects. Ideas?", "I want a cache whose entries disappear once nothing else uses the cached objects. ?")]
    [InlineData("is there a lazy way to get running totals of a sequence of numbers?", "get running totals of a sequence of numbers?")]
    [InlineData("parental leave", "parental leave")]
    [InlineData("please?", "please?")]
    public void Clean_DropsTheChitChat_KeepsTheSentence(string query, string expected) =>
        Assert.Equal(expected, QueryRewriter.Clean(query));

    [Fact]
    public void Clean_ThousandsOfLeadingGreetings_AreAllSteppedOver() =>
        Assert.Equal("leave policy", QueryRewriter.Clean(string.Concat(Enumerable.Repeat("hey, ", 50_000)) + "leave policy"));

    [Fact]
    public void Rewrite_ConversationalQuestion_KeepsTheContentWords() =>
        Assert.Equal("passing shell True dangerous spawning commands", QueryRewriter.Rewrite("my boss says passing shell=True is dangerous when spawning commands, why exactly?"));
}
