using System.Net;
using System.Net.Sockets;
using Threadloom.Core.Tools.CodeInterpreter;

namespace Threadloom.Sandbox.Tests;

[Collection(SandboxCollection.Name)]
public sealed class SandboxSecurityTests : IAsyncLifetime
{
    private const string SecretVariable = "TL_TEST_HOST_SECRET";
    private const string SecretValue = "host-secret-5f2c";
    private readonly TestSandbox _sandbox;

    public SandboxSecurityTests()
    {
        // Stands in for OPENAI_API_KEY and friends in the server's environment.
        Environment.SetEnvironmentVariable(SecretVariable, SecretValue);
        _sandbox = TestSandbox.Create(o =>
        {
            o.CpuSecondsPerExecution = 2;
            o.ExecutionTimeout = TimeSpan.FromSeconds(20);
        });
    }

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync() => await _sandbox.DisposeAsync();

    [Fact]
    public async Task Network_ConnectToHostLoopbackListener_Fails()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;

        var result = await _sandbox.RunAsync("thread_net",
            $"import socket\ntry:\n    socket.create_connection(('127.0.0.1', {port}), timeout=3)\n    print('CONNECTED')\nexcept OSError as e:\n    print('blocked', type(e).__name__)");

        Assert.StartsWith("blocked", result.Logs, StringComparison.Ordinal);
        Assert.False(listener.Pending());
    }

    [Fact]
    public async Task Network_DnsLookup_Fails()
    {
        var result = await _sandbox.RunAsync("thread_dns",
            "import socket\ntry:\n    print(socket.getaddrinfo('example.com', 443))\nexcept OSError as e:\n    print('blocked', type(e).__name__)\nprint([n for _, n in socket.if_nameindex()])");

        Assert.Equal("blocked gaierror\n['lo']\n", result.Logs);
    }

    [Fact]
    public async Task Filesystem_HostSecrets_AreInvisible()
    {
        var fakeDatabase = Path.Combine(Path.GetTempPath(), "tl-fake-server-" + Guid.NewGuid().ToString("N") + ".db");
        await File.WriteAllTextAsync(fakeDatabase, "SQLite format 3 secret rows");
        try
        {
            var paths = new[] { "/etc/shadow", "/root", "/work", "/home", fakeDatabase, _sandbox.Options.WorkRoot, "/var", "/sys", "/run" };
            var code = "import os\nfor p in " + PythonList(paths) + ":\n    print(p, os.path.exists(p))\n"
                + "print(sorted(os.listdir('/')))\nprint(sorted(os.listdir('/etc')))";

            var result = await _sandbox.RunAsync("thread_fs", code);

            Assert.False(result.Failed, result.Logs);
            foreach (var path in paths)
            {
                Assert.Contains(path + " False\n", result.Logs, StringComparison.Ordinal);
            }
            Assert.Contains("['bin', 'dev', 'etc', 'lib', 'lib64', 'mnt', 'opt', 'proc', 'sbin', 'tmp', 'usr']", result.Logs, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(fakeDatabase);
        }
    }

    [Fact]
    public async Task Proc_HostProcessesAndEnvironment_AreInvisible()
    {
        var result = await _sandbox.RunAsync("thread_proc",
            "import os\nfor pid in [p for p in os.listdir('/proc') if p.isdigit()]:\n"
            + "    try:\n        data = open(f'/proc/{pid}/environ', 'rb').read()\n    except OSError as e:\n        data = b''\n"
            + "    print(pid, open(f'/proc/{pid}/cmdline', 'rb').read().split(b'\\0')[0], b'" + SecretValue + "' in data)\n"
            + "print('env', os.environ.get('" + SecretVariable + "'))");

        Assert.False(result.Failed, result.Logs);
        Assert.False(result.Logs.Contains("True", StringComparison.Ordinal), result.Logs);
        Assert.False(result.Logs.Contains("dotnet", StringComparison.Ordinal), result.Logs);
        Assert.Contains("env None", result.Logs, StringComparison.Ordinal);
        Assert.Matches(@"^1 b'[^']*bwrap'", result.Logs);
    }

    [Fact]
    public async Task Filesystem_WritesOutsideDataAndTmp_Fail()
    {
        var result = await _sandbox.RunAsync("thread_write",
            "for p in ['/usr/evil', '/etc/evil', '/opt/threadloom/kernel.py', '/evil', '/usr/lib/python3/dist-packages/evil.py', '/mnt/evil']:\n"
            + "    try:\n        open(p, 'w').write('x')\n        print(p, 'WRITTEN')\n    except OSError as e:\n        print(p, 'denied')\n"
            + "open('/tmp/ok', 'w').write('x')\nopen('/mnt/data/ok', 'w').write('x')\nprint('ok')");

        Assert.False(result.Failed, result.Logs);
        Assert.DoesNotContain("WRITTEN", result.Logs, StringComparison.Ordinal);
        Assert.Equal(6, result.Logs.Split("denied").Length - 1);
        Assert.EndsWith("ok\n", result.Logs, StringComparison.Ordinal);
        Assert.False(File.Exists("/evil"));
    }

    [Fact]
    public async Task Limits_ForkBomb_IsStoppedAndSandboxRecovers()
    {
        var result = await _sandbox.RunAsync("thread_fork", "import os\nwhile True:\n    os.fork()");

        Assert.True(result.Failed);
        Assert.Equal(SandboxLimits.Processes, result.LimitHit);
        var same = await _sandbox.RunAsync("thread_fork", "print('again')");
        var fresh = await _sandbox.RunAsync("thread_fork_after", "print('fresh')");
        Assert.Equal("again\n", same.Logs);
        Assert.Equal("fresh\n", fresh.Logs);
    }

    [Fact]
    public async Task Limits_HugeAllocation_IsStoppedByMemoryLimit()
    {
        var result = await _sandbox.RunAsync("thread_mem", "kept = 7\nb = bytearray(10 * 1024 ** 3)");
        var after = await _sandbox.RunAsync("thread_mem", "print(kept)");
        var fresh = await _sandbox.RunAsync("thread_mem_after", "print('fresh')");

        Assert.True(result.Failed);
        Assert.Equal(SandboxLimits.Memory, result.LimitHit);
        Assert.Contains("MemoryError", result.Logs, StringComparison.Ordinal);
        Assert.Equal("7\n", after.Logs);
        Assert.Equal("fresh\n", fresh.Logs);
    }

    [Fact]
    public async Task Limits_BusyLoop_IsStoppedByCpuLimit()
    {
        var result = await _sandbox.RunAsync("thread_cpu", "while True:\n    pass");
        var fresh = await _sandbox.RunAsync("thread_cpu_after", "print('fresh')");

        Assert.True(result.Failed);
        Assert.Contains(result.LimitHit, new[] { SandboxLimits.Cpu, SandboxLimits.Timeout });
        Assert.Equal("fresh\n", fresh.Logs);
    }

    [Fact]
    public async Task Limits_Sleep_IsStoppedByWallClockTimeout()
    {
        await using var quick = TestSandbox.Create(o => o.ExecutionTimeout = TimeSpan.FromSeconds(2));

        var result = await quick.RunAsync("thread_sleep", "import time\ntime.sleep(120)");
        var after = await quick.RunAsync("thread_sleep", "print('back')");

        Assert.True(result.Failed);
        Assert.Equal(SandboxLimits.Timeout, result.LimitHit);
        Assert.Contains("timed out", result.Logs, StringComparison.Ordinal);
        Assert.Equal("back\n", after.Logs);
    }

    [Fact]
    public async Task Limits_FillingTheDisk_StopsAtFileSizeLimit()
    {
        var result = await _sandbox.RunAsync("thread_disk",
            "with open('/mnt/data/big.bin', 'wb') as f:\n    while True:\n        f.write(b'\\0' * (1 << 20))");
        var size = await _sandbox.RunAsync("thread_disk", "import os\nos.path.getsize('/mnt/data/big.bin')");

        Assert.True(result.Failed);
        Assert.Equal(SandboxLimits.FileSize, result.LimitHit);
        Assert.Contains("File too large", result.Logs, StringComparison.Ordinal);
        Assert.Equal((8L << 20).ToString(System.Globalization.CultureInfo.InvariantCulture) + "\n", size.Logs);
    }

    [Fact]
    public async Task Signals_KillParent_OnlyKillsTheSandbox()
    {
        var result = await _sandbox.RunAsync("thread_kill", "import os\nprint(os.getppid())\nos.kill(os.getppid(), 9)\nprint('survived')");
        var next = await _sandbox.RunAsync("thread_kill", "print('alive')");

        // The parent is the sandbox's own pid-namespace init, which ignores SIGKILL from inside; the host is out of reach.
        Assert.StartsWith("1\n", result.Logs, StringComparison.Ordinal);
        Assert.EndsWith("alive\n", next.Logs, StringComparison.Ordinal);
        Assert.False(Environment.HasShutdownStarted);
    }

    [Fact]
    public async Task Signals_KillEverything_OnlyKillsTheSandbox()
    {
        var other = await _sandbox.RunAsync("thread_bystander", "v = 'still here'");
        var result = await _sandbox.RunAsync("thread_killall",
            "import os, subprocess\nchild = subprocess.Popen(['sleep', '30'])\nos.kill(-1, 9)\nprint('child', child.wait())");
        var next = await _sandbox.RunAsync("thread_killall", "print('alive')");
        var bystander = await _sandbox.RunAsync("thread_bystander", "print(v)");

        Assert.False(other.Failed);
        // kill(-1) reaches only the sandbox's own processes: its child dies, the host and other sessions do not.
        Assert.Equal("child -9\n", result.Logs);
        Assert.EndsWith("alive\n", next.Logs, StringComparison.Ordinal);
        Assert.Equal("still here\n", bystander.Logs);
    }

    [Fact]
    public async Task Sessions_CannotSeeEachOthersData()
    {
        await _sandbox.RunAsync("thread_a", "open('/mnt/data/a-secret.txt', 'w').write('A only')");

        var result = await _sandbox.RunAsync("thread_b",
            "import os, glob\nprint(os.listdir('/mnt/data'), [g for d in ('/mnt', '/tmp', '/opt', '/etc', '/dev') for g in glob.glob(d + '/**/a-secret.txt', recursive=True)])");

        Assert.Equal("[] []\n", result.Logs);
    }

    [Fact]
    public async Task Output_InvalidUtf8_IsReplacedAndTruncated()
    {
        var result = await _sandbox.RunAsync("thread_utf8",
            "import os, sys\nsys.stdout.buffer.write(b'bad \\xff\\xfe end\\n')\nsys.stdout.flush()\nprint('lone \\udcff')\nos.write(1, b'\\xc3' * 200000)\nprint('done')");
        var next = await _sandbox.RunAsync("thread_utf8", "print('ok')");

        Assert.StartsWith("bad \uFFFD\uFFFD end\nlone \\udcff\n", result.Logs, StringComparison.Ordinal);
        Assert.Contains("[output truncated", result.Logs, StringComparison.Ordinal);
        Assert.Equal(SandboxLimits.Output, result.LimitHit);
        Assert.Equal("ok\n", next.Logs);
    }

    [Fact]
    public async Task Output_HundredMegabytes_IsTruncatedWithNotice()
    {
        var single = await _sandbox.RunAsync("thread_big", "print('x' * (100 * 1024 * 1024))");
        var chunks = await _sandbox.RunAsync("thread_big", "import sys\nfor _ in range(100):\n    sys.stdout.write('y' * (1 << 20))\nprint('end')");
        var next = await _sandbox.RunAsync("thread_big", "print('ok')");

        foreach (var result in new[] { single, chunks })
        {
            Assert.False(result.Failed);
            Assert.Equal(SandboxLimits.Output, result.LimitHit);
            Assert.Contains("[output truncated", result.Logs, StringComparison.Ordinal);
            Assert.True(result.Logs.Length < _sandbox.Options.MaxLogBytes + 200, $"{result.Logs.Length} chars");
        }
        Assert.Equal("ok\n", next.Logs);
    }

    private static string PythonList(IEnumerable<string> items) => "[" + string.Join(", ", items.Select(i => "'" + i + "'")) + "]";
}
