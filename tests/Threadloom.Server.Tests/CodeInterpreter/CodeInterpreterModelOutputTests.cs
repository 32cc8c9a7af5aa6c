using Threadloom.Core.Tools.CodeInterpreter;

namespace Threadloom.Server.Tests.CodeInterpreter;

/// <summary>Issue #9 §1: whatever the sandbox wrote, the text the model gets back is bounded.</summary>
public sealed class CodeInterpreterModelOutputTests
{
    [Fact]
    public void ModelOutput_HugeLogsAndThousandsOfFiles_StaysWithinTheLimit_KeepingHeadAndTail()
    {
        var logs = "HEAD" + new string('x', 1_000_000) + "TAIL";
        var result = new CodeExecutionResult(logs, false, [], [], TimeSpan.Zero, SandboxLimits.OutputFiles);
        var links = Enumerable.Range(0, 3000).Select(i => $"sandbox:/mnt/data/f{i}.txt");

        var text = CodeInterpreterTool.ModelOutput(result, links, 20_000);

        Assert.True(text.Length <= 20_000, $"{text.Length} chars");
        Assert.StartsWith("HEAD", text, StringComparison.Ordinal);
        Assert.Contains("TAIL\n", text, StringComparison.Ordinal);
        Assert.Contains("MaxModelOutputChars", text, StringComparison.Ordinal);
        Assert.Contains("more file(s) were written", text, StringComparison.Ordinal);
        Assert.Contains("[File written: sandbox:/mnt/data/f0.txt", text, StringComparison.Ordinal);
    }

    [Fact]
    public void ModelOutput_SmallResult_IsUnchanged()
    {
        var result = new CodeExecutionResult("42\n", false, [], [], TimeSpan.Zero, null);

        Assert.Equal("42", CodeInterpreterTool.ModelOutput(result, [], 20_000));
    }
}
