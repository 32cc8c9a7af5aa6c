using System.Text.Json;
using Threadloom.Core.Domain;
using Threadloom.Core.Tools.CodeInterpreter;

namespace Threadloom.Server.Tests.CodeInterpreter;

public sealed class CodeArgumentsStreamTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(5)]
    [InlineData(1000)]
    public void Append_AnyFragmentSize_DecodesTheWholeCode(int size)
    {
        const string Source = "print(\"tab\\there\")\nemoji = '😀'\r\nq = \"\\\\\" # é \u0001";
        var json = JsonSerializer.Serialize(new Dictionary<string, string> { ["code"] = Source });
        var stream = new CodeArgumentsStream();
        var increments = new List<string>();
        for (var i = 0; i < json.Length; i += size)
        {
            increments.Add(stream.Append(json.Substring(i, Math.Min(size, json.Length - i))));
        }

        Assert.True(stream.Recognized);
        Assert.Equal(Source, string.Concat(increments));
        Assert.Equal(Source, stream.Decoded);
        Assert.DoesNotContain(increments, s => s.Length > 0 && char.IsHighSurrogate(s[^1]));
    }

    [Fact]
    public void Append_EscapedSurrogatePairSplit_IsHeldUntilComplete()
    {
        var stream = new CodeArgumentsStream();
        Assert.Equal("a", stream.Append("{\"code\": \"a\\ud83d"));
        Assert.Equal("", stream.Append("\\ude0"));
        Assert.Equal("😀b", stream.Append("0b\"}"));
    }

    [Fact]
    public void Append_OtherKeyFirst_IsNotRecognized()
    {
        var stream = new CodeArgumentsStream();
        Assert.Equal("", stream.Append("{\"language\":\"python\",\"code\":\"x\"}"));
        Assert.False(stream.Recognized);
    }

    [Fact]
    public void FilePathAnnotations_KnownLinksOnly_WithOffsets()
    {
        const string Text = "See [a](sandbox:/mnt/data/a.csv), sandbox:/mnt/data/b.txt. and sandbox:/mnt/data/unknown.csv";
        var links = new Dictionary<string, string> { ["sandbox:/mnt/data/a.csv"] = "file-a", ["sandbox:/mnt/data/b.txt"] = "file-b" };

        var annotations = FilePathAnnotations.Find(Text, links).Cast<FilePathAnnotation>().ToList();

        Assert.Equal(["file-a", "file-b"], annotations.Select(a => a.FilePath.FileId));
        Assert.All(annotations, a => Assert.Equal(a.Text, Text[a.StartIndex..a.EndIndex]));
        Assert.Equal("sandbox:/mnt/data/b.txt", annotations[1].Text);
    }
}
