namespace Threadloom.Sandbox.Tests;

[Collection(SandboxCollection.Name)]
public sealed class SandboxExecutionTests : IAsyncLifetime
{
    private readonly TestSandbox _sandbox = TestSandbox.Create();

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync() => await _sandbox.DisposeAsync();

    [Fact]
    public async Task Check_RealBubblewrap_IsHealthy()
    {
        var health = await _sandbox.Sandbox.CheckAsync(CancellationToken.None);

        Assert.True(health.IsHealthy, health.Reason);
    }

    [Fact]
    public async Task Execute_TwoCallsInOneSession_KeepsVariables()
    {
        var first = await _sandbox.RunAsync("thread_state", "x = 40\nimport math");
        var second = await _sandbox.RunAsync("thread_state", "print(x + 2, math.floor(2.5))");

        Assert.False(first.Failed, first.Logs);
        Assert.False(second.Failed, second.Logs);
        Assert.Equal("42 2\n", second.Logs);
    }

    [Fact]
    public async Task Execute_TrailingExpression_IsShownLikeANotebook()
    {
        var result = await _sandbox.RunAsync("thread_expr", "a = [1, 2]\nprint('before')\na + [3]");

        Assert.False(result.Failed, result.Logs);
        Assert.Equal("before\n[1, 2, 3]\n", result.Logs);
    }

    [Fact]
    public async Task Execute_Exception_ReturnsTracebackAndFails()
    {
        var result = await _sandbox.RunAsync("thread_tb", "def f():\n    return 1 / 0\nprint('start')\nf()");

        Assert.True(result.Failed);
        Assert.StartsWith("start\n", result.Logs, StringComparison.Ordinal);
        Assert.Contains("Traceback (most recent call last)", result.Logs, StringComparison.Ordinal);
        Assert.Contains("line 2, in f", result.Logs, StringComparison.Ordinal);
        Assert.Contains("ZeroDivisionError: division by zero", result.Logs, StringComparison.Ordinal);
        Assert.DoesNotContain("kernel.py", result.Logs, StringComparison.Ordinal);
        Assert.Null(result.LimitHit);
    }

    [Fact]
    public async Task Execute_MatplotlibChart_ReturnsPng()
    {
        var result = await _sandbox.RunAsync("thread_plot",
            "import matplotlib.pyplot as plt\nplt.plot([1, 4, 9])\nplt.title('squares')\nprint(plt.get_backend())");

        Assert.False(result.Failed, result.Logs);
        Assert.Equal("agg", result.Logs.Trim().ToLowerInvariant());
        var image = Assert.Single(result.Images);
        Assert.True(_sandbox.ContentOf(image).Length > 1000);
        Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G' }, _sandbox.ContentOf(image)[..4]);
        Assert.Empty(result.Files);

        var next = await _sandbox.RunAsync("thread_plot", "print('no figure left')");
        Assert.Empty(next.Images);
    }

    [Fact]
    public async Task Execute_WritesCsv_ReportsNewFileWithContent()
    {
        var result = await _sandbox.RunAsync("thread_csv",
            "import csv\nwith open('/mnt/data/out.csv', 'w', newline='') as f:\n    w = csv.writer(f)\n    w.writerow(['a', 'b'])\n    w.writerow([1, 'é'])");

        Assert.False(result.Failed, result.Logs);
        var file = Assert.Single(result.Files);
        Assert.Equal("out.csv", file.FileName);
        Assert.Equal("a,b\r\n1,é\r\n", System.Text.Encoding.UTF8.GetString(_sandbox.ContentOf(file)));

        var unchanged = await _sandbox.RunAsync("thread_csv", "print(open('/mnt/data/out.csv').read().count(','))");
        Assert.Empty(unchanged.Files);
        Assert.Equal("2\n", unchanged.Logs);
    }

    [Fact]
    public async Task Execute_InputFile_IsReadableAtMntData()
    {
        var csv = TestSandbox.TextFile("sales.csv", "region,amount\nnorth,10\nsouth,32\nnorth,5\n");

        var result = await _sandbox.RunAsync("thread_input",
            "import pandas as pd\ndf = pd.read_csv('/mnt/data/sales.csv')\nprint(df.groupby('region')['amount'].sum().to_dict())", csv);

        Assert.False(result.Failed, result.Logs);
        Assert.Equal("{'north': 15, 'south': 32}\n", result.Logs);
        Assert.Empty(result.Files);
    }

    [Fact]
    public async Task Execute_InputFileChangedBySandbox_IsReplacedAndWritable()
    {
        var input = TestSandbox.TextFile("notes.txt", "original");
        var first = await _sandbox.RunAsync("thread_rewrite", "open('/mnt/data/notes.txt', 'a').write(' + edit')\nopen('/mnt/data/notes.txt').read()", input);
        var second = await _sandbox.RunAsync("thread_rewrite", "open('/mnt/data/notes.txt').read()", TestSandbox.TextFile("notes.txt", "original"));

        Assert.Equal("'original + edit'\n", first.Logs);
        Assert.Equal("notes.txt", Assert.Single(first.Files).FileName);
        Assert.Equal("'original'\n", second.Logs);
    }

    [Fact]
    public async Task Execute_InputFileNameWithSlash_IsRejected()
    {
        var result = await _sandbox.RunAsync("thread_badname", "print(1)", TestSandbox.TextFile("../escape.txt", "x"));

        Assert.True(result.Failed);
        Assert.Contains("not a plain file name", result.Logs, StringComparison.Ordinal);
    }

    [Fact]
    public async Task EndSession_DeletesWorkingFolderAndVariables()
    {
        await _sandbox.RunAsync("thread_end", "y = 5\nopen('/mnt/data/keep.txt', 'w').write('1')");
        await _sandbox.Sandbox.EndSessionAsync("thread_end", CancellationToken.None);

        var result = await _sandbox.RunAsync("thread_end", "import os\nprint('y' in globals(), os.listdir('/mnt/data'))");

        Assert.Equal("False []\n", result.Logs);
    }

    [Fact]
    public async Task Execute_Cancelled_KillsExecutionAndNextCallWorks()
    {
        await _sandbox.RunAsync("thread_cancel", "z = 1");
        using var cts = new CancellationTokenSource();
        var running = _sandbox.RunAsync("thread_cancel", "import time\ntime.sleep(60)", [], cts.Token);
        await Task.Delay(500);
        await cts.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => running);
        var next = await _sandbox.RunAsync("thread_cancel", "print('z' in globals())");
        Assert.False(next.Failed, next.Logs);
        Assert.Equal("False\n", next.Logs);
    }

    [Fact]
    public async Task Execute_BadBubblewrapPath_IsUnhealthyAndNeverRunsUnsandboxed()
    {
        await using var broken = TestSandbox.Create(o => o.BubblewrapPath = "/nonexistent/bwrap");

        var health = await broken.Sandbox.CheckAsync(CancellationToken.None);
        var marker = Path.Combine(Path.GetTempPath(), "tl-unsandboxed-" + Guid.NewGuid().ToString("N"));
        var result = await broken.RunAsync("thread_broken", $"open('{marker}', 'w').write('ran')");

        Assert.False(health.IsHealthy);
        Assert.Contains("/nonexistent/bwrap", health.Reason, StringComparison.Ordinal);
        Assert.True(result.Failed);
        Assert.False(File.Exists(marker));
    }
}
