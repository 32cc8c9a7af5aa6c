using Threadloom.Core.Tools.CodeInterpreter;

namespace Threadloom.Sandbox.Tests;

/// <summary>
/// Issue #12 §3: a thread's session lives on the node that ran it. Two sandboxes stand for two nodes; the request names
/// the run that last ran code on the thread (as the database records it), and a session that did not run it starts
/// fresh, with the thread's files placed again and a notice first in the output.
/// </summary>
[Collection(SandboxCollection.Name)]
public sealed class SandboxSessionResetTests : IAsyncLifetime
{
    private readonly TestSandbox _nodeA = TestSandbox.Create();
    private readonly TestSandbox _nodeB = TestSandbox.Create();

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        await _nodeA.DisposeAsync();
        await _nodeB.DisposeAsync();
    }

    private static Task<CodeExecutionResult> RunAsync(TestSandbox node, string run, string? previousRun, string code) =>
        node.Sandbox.ExecuteAsync(new CodeExecutionRequest("thread_reset", code, [TestSandbox.TextFile("data.csv", "a,b\n1,2\n")],
            new ExecutionAudit("proj_test", "thread_reset", run), node.Outputs, previousRun), CancellationToken.None);

    private const string Probe = "import os\nprint(sorted(os.listdir('/mnt/data')), 'x' in globals())";

    [Fact]
    public async Task Execute_SessionGoneOrOutOfDate_StartsFreshWithTheThreadsFiles_AndSaysSo()
    {
        // Run 1 on node A: the thread's first code; no notice.
        var first = await RunAsync(_nodeA, "run_1", null, "x = 41\nopen('/mnt/data/made.txt', 'w').write('mine')");
        Assert.False(first.Failed, first.Logs);
        Assert.False(first.SessionReset);
        Assert.DoesNotContain("reset", first.Logs, StringComparison.Ordinal);
        // Later in run 1, and in run 2 on the same node: the same session.
        var again = await RunAsync(_nodeA, "run_1", null, Probe);
        Assert.Equal("['data.csv', 'made.txt'] True\n", again.Logs);
        var sameNode = await RunAsync(_nodeA, "run_2", "run_1", Probe);
        Assert.Equal("['data.csv', 'made.txt'] True\n", sameNode.Logs);
        Assert.False(sameNode.SessionReset);

        // Run 3 on node B, which never held the session: fresh, files restored, told.
        var moved = await RunAsync(_nodeB, "run_3", "run_2", Probe);
        Assert.False(moved.Failed, moved.Logs);
        Assert.True(moved.SessionReset);
        Assert.Equal(BubblewrapSandbox.SessionResetNotice + "\n['data.csv'] False\n", moved.Logs);
        var sameRun = await RunAsync(_nodeB, "run_3", "run_2", "x = 7");
        Assert.False(sameRun.SessionReset, sameRun.Logs);

        // Run 4 back on node A: its session missed run 3, so it is out of date and starts fresh too.
        var back = await RunAsync(_nodeA, "run_4", "run_3", Probe);
        Assert.True(back.SessionReset);
        Assert.Equal(BubblewrapSandbox.SessionResetNotice + "\n['data.csv'] False\n", back.Logs);
        var next = await RunAsync(_nodeA, "run_5", "run_4", "print(x)");
        Assert.True(next.Failed);
        Assert.False(next.SessionReset);
        Assert.Contains("NameError", next.Logs, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Execute_NewSessionOnAThreadThatNeverRanCode_HasNoNotice()
    {
        var result = await RunAsync(_nodeB, "run_1", null, Probe);

        Assert.False(result.SessionReset);
        Assert.Equal("['data.csv'] False\n", result.Logs);
    }

    [Theory]
    [InlineData(null, "run_2", "run_3", false)] // a session that never ran code
    [InlineData("run_1", null, "run_3", false)] // the database knows no earlier code: keep what there is
    [InlineData("run_2", "run_2", "run_3", false)] // it ran the last code
    [InlineData("run_3", "run_2", "run_3", false)] // it ran this run's earlier code (not yet saved)
    [InlineData("run_1", "run_2", "run_3", true)] // run 2 ran elsewhere
    public void IsStale_ComparesTheSessionsLastRunWithTheDatabase(string? sessionLast, string? previous, string current, bool stale)
    {
        var request = new CodeExecutionRequest("t", "", [], new ExecutionAudit("p", "t", current), null, previous);

        Assert.Equal(stale, BubblewrapSandbox.IsStale(sessionLast, request));
    }
}
