namespace Threadloom.Sandbox.Tests;

[Collection(SandboxCollection.Name)]
public sealed class SandboxPoolTests : IAsyncLifetime
{
    private readonly TestSandbox _sandbox = TestSandbox.Create(o =>
    {
        o.WarmPoolSize = 1;
        o.PreloadModules = ["numpy", "pandas", "matplotlib"];
        o.MemoryBytes = 2L << 30;
    });

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync() => await _sandbox.DisposeAsync();

    [Fact]
    public async Task NewSession_TakesPreloadedKernelFromPool_AndPoolRefills()
    {
        await _sandbox.Sandbox.FillPoolAsync(CancellationToken.None);
        Assert.Equal(1, _sandbox.Sandbox.PooledKernelCount);

        var result = await _sandbox.RunAsync("thread_pool",
            "import sys\nprint(all(m in sys.modules for m in ('numpy', 'pandas', 'matplotlib.pyplot')))\nimport os\nos.listdir('/mnt/data')");
        var input = await _sandbox.RunAsync("thread_pool", "open('/mnt/data/n.txt').read()", TestSandbox.TextFile("n.txt", "pooled"));

        Assert.False(result.Failed, result.Logs);
        Assert.Equal("True\n[]\n", result.Logs);
        Assert.Equal("'pooled'\n", input.Logs);
        await _sandbox.Sandbox.FillPoolAsync(CancellationToken.None);
        Assert.Equal(1, _sandbox.Sandbox.PooledKernelCount);
    }

    [Fact]
    public async Task ReapIdleSessions_EndsSessionsPastIdleTimeout()
    {
        await using var reaping = TestSandbox.Create(o => o.IdleTimeout = TimeSpan.FromSeconds(1));
        await reaping.RunAsync("thread_idle", "kept = 1");
        await Task.Delay(TimeSpan.FromSeconds(1.5));

        await reaping.Sandbox.ReapIdleSessionsAsync(CancellationToken.None);
        var result = await reaping.RunAsync("thread_idle", "print('kept' in globals())");

        Assert.Equal("False\n", result.Logs);
    }
}
