using System.Diagnostics;
using System.Globalization;
using System.Text;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Threadloom.Core.Tools.CodeInterpreter;
using Threadloom.Sandbox;
using Threadloom.Sandbox.Files;

namespace Threadloom.Bench.Sandbox;

/// <summary>Latency and footprint of the bubblewrap code-interpreter sandbox (issue #5).</summary>
public static class SandboxBenchmark
{
    public static async Task<string> RunAsync(CancellationToken ct)
    {
        var root = Path.Combine(Path.GetTempPath(), "tl-sandbox-bench-" + Guid.NewGuid().ToString("N"));
        var report = new StringBuilder();
        report.AppendLine("## Code interpreter sandbox");
        report.AppendLine();
        report.AppendLine(CultureInfo.InvariantCulture, $"Machine: {Environment.ProcessorCount} cores, {DateTimeOffset.UtcNow:yyyy-MM-dd HH:mm} UTC. Kernels preload numpy, pandas, matplotlib.");
        report.AppendLine();
        report.AppendLine("| measurement | n | p50 ms | p99 ms |");
        report.AppendLine("|---|---|---|---|");
        try
        {
            if (Environment.GetEnvironmentVariable("TL_BENCH_WARM_ONLY") == "1")
            {
                // A/B runs on a loaded machine: only the warm-session latency, many samples.
                await using var only = Create(root + "-warm", pool: 0);
                await ExecuteAsync(only, "warm", "print(1)", ct);
                var warmSamples = new List<double>();
                for (var i = 0; i < 3000; i++)
                {
                    warmSamples.Add(await TimeAsync(only, "warm", "print(1)", ct));
                }
                report.AppendLine(Row("`print(1)` in a warm session", warmSamples));
                foreach (var row in await HostChecksAsync(root + "-checks", ct))
                {
                    report.AppendLine(row);
                }
                return report.ToString();
            }
            report.AppendLine(Row("bare `python3 -c pass` in bwrap (floor)", await BareAsync(root, 30, ct)));

            await using (var warm = Create(root + "-warm", pool: 0))
            {
                await ExecuteAsync(warm, "warm", "print(1)", ct);
                var samples = new List<double>();
                for (var i = 0; i < 1000; i++)
                {
                    samples.Add(await TimeAsync(warm, "warm", "print(1)", ct));
                }
                report.AppendLine(Row("`print(1)` in a warm session", samples));
            }

            await using (var pooled = Create(root + "-pool", pool: 2))
            {
                var samples = new List<double>();
                for (var i = 0; i < 20; i++)
                {
                    await pooled.FillPoolAsync(ct);
                    samples.Add(await TimeAsync(pooled, "pool-" + i, "print(1)", ct));
                    await pooled.EndSessionAsync("pool-" + i, ct);
                }
                report.AppendLine(Row("new session from the warm pool → first result", samples));
            }

            await using (var cold = Create(root + "-cold", pool: 0))
            {
                var samples = new List<double>();
                for (var i = 0; i < 8; i++)
                {
                    samples.Add(await TimeAsync(cold, "cold-" + i, "print(1)", ct));
                    await cold.EndSessionAsync("cold-" + i, ct);
                }
                report.AppendLine(Row("new session, pool disabled → first result", samples));
            }

            report.AppendLine();
            await using (var many = Create(root + "-many", pool: 2))
            {
                await many.FillPoolAsync(ct);
                const int Sessions = 20;
                const int Rounds = 5;
                var start = Stopwatch.StartNew();
                await Task.WhenAll(Enumerable.Range(0, Sessions).Select(i =>
                    ExecuteAsync(many, "c" + i, "import pandas as pd\ndf = pd.DataFrame({'a': range(1000)})", ct)));
                var startup = start.Elapsed;
                start.Restart();
                await Task.WhenAll(Enumerable.Range(0, Sessions).Select(async i =>
                {
                    for (var r = 0; r < Rounds; r++)
                    {
                        await ExecuteAsync(many, "c" + i, "df['a'].sum() + sum(range(10000))", ct);
                    }
                }));
                var steady = start.Elapsed;
                var rssMb = KernelRssBytes(many.GetKernelProcessIds()) / 1024.0 / 1024.0;
                report.AppendLine(CultureInfo.InvariantCulture,
                    $"20 concurrent sessions: all 20 started and ran a first pandas cell in {startup.TotalSeconds:F1} s; then {Sessions * Rounds} small cells in {steady.TotalSeconds:F2} s ({Sessions * Rounds / steady.TotalSeconds:F0} executions/s); kernel RSS (all sandbox processes, 20 sessions + pool) {rssMb:F0} MiB, {rssMb / (Sessions + 2):F0} MiB per kernel.");
            }
        }
        finally
        {
            foreach (var dir in new[] { root, root + "-warm", root + "-pool", root + "-cold", root + "-many", root + "-checks" })
            {
                if (Directory.Exists(dir))
                {
                    Directory.Delete(dir, recursive: true);
                }
            }
        }
        return report.ToString();
    }

    /// <summary>
    /// The host-side work added after every execution by issue #9 (process sweep, output scan and collection), timed
    /// alone on a live kernel: what a warm cell pays for it, without the noise of the whole round trip.
    /// </summary>
    private static async Task<IReadOnlyList<string>> HostChecksAsync(string root, CancellationToken ct)
    {
        var options = new CodeInterpreterOptions { WorkRoot = root };
        var layout = new SandboxLayout(root);
        layout.Prepare();
        using var launcher = new ProcessLauncher();
        var folder = SessionFolder.Create(layout, options.HostUidBase + 60_001);
        await using var kernel = await SandboxKernel.StartAsync(launcher, options, layout, folder, ct);
        var collector = new OutputCollector(options);
        var sweep = new List<double>();
        var collect = new List<double>();
        for (var i = 0; i < 3000; i++)
        {
            var started = Stopwatch.GetTimestamp();
            kernel.KillStrays();
            sweep.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
            started = Stopwatch.GetTimestamp();
            await collector.CollectAsync(folder, null, ct);
            collect.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
        }
        folder.Dispose();
        return [Row("host checks: stray-process sweep (per execution)", sweep), Row("host checks: output scan of an empty session (per execution)", collect)];
    }

    private static BubblewrapSandbox Create(string root, int pool) =>
        new(Options.Create(new CodeInterpreterOptions { WorkRoot = root, WarmPoolSize = pool }), NullLogger<BubblewrapSandbox>.Instance, TimeProvider.System);

    private static async Task<List<double>> BareAsync(string root, int runs, CancellationToken ct)
    {
        var options = new CodeInterpreterOptions { WorkRoot = root };
        var layout = new SandboxLayout(root);
        layout.Prepare();
        var uid = options.HostUidBase + 60_000;
        using var folder = SessionFolder.Create(layout, uid);
        var samples = new List<double>();
        for (var i = 0; i < runs; i++)
        {
            var started = Stopwatch.GetTimestamp();
            using var process = Process.Start(BubblewrapCommand.Create(options, layout, folder, ["-c", "pass"]))!;
            await process.WaitForExitAsync(ct);
            if (process.ExitCode != 0)
            {
                throw new InvalidOperationException("bwrap failed: " + await process.StandardError.ReadToEndAsync(ct));
            }
            samples.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
        }
        return samples;
    }

    private static async Task<double> TimeAsync(BubblewrapSandbox sandbox, string session, string code, CancellationToken ct)
    {
        var started = Stopwatch.GetTimestamp();
        await ExecuteAsync(sandbox, session, code, ct);
        return Stopwatch.GetElapsedTime(started).TotalMilliseconds;
    }

    private static async Task ExecuteAsync(BubblewrapSandbox sandbox, string session, string code, CancellationToken ct)
    {
        var result = await sandbox.ExecuteAsync(new CodeExecutionRequest(session, code, [], new ExecutionAudit("bench", session, null)), ct);
        if (result.Failed)
        {
            throw new InvalidOperationException("Execution failed: " + result.Logs);
        }
    }

    private static string Row(string name, List<double> samples)
    {
        samples.Sort();
        return string.Create(CultureInfo.InvariantCulture,
            $"| {name} | {samples.Count} | {Percentile(samples, 0.50):F2} | {Percentile(samples, 0.99):F2} |");
    }

    private static double Percentile(List<double> sorted, double p) =>
        sorted[Math.Clamp((int)Math.Ceiling(p * sorted.Count) - 1, 0, sorted.Count - 1)];

    /// <summary>Sums VmRSS over each kernel's host process and all its descendants (bwrap, init, python).</summary>
    private static long KernelRssBytes(IReadOnlyList<int> roots)
    {
        var children = new Dictionary<int, List<int>>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var pid))
            {
                continue;
            }
            try
            {
                var stat = File.ReadAllText(Path.Combine(dir, "stat"));
                var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
                var parent = int.Parse(fields[1], CultureInfo.InvariantCulture);
                if (!children.TryGetValue(parent, out var list))
                {
                    children[parent] = list = [];
                }
                list.Add(pid);
            }
            catch (IOException)
            {
            }
        }
        long total = 0;
        var stack = new Stack<int>(roots);
        while (stack.Count > 0)
        {
            var pid = stack.Pop();
            try
            {
                var line = File.ReadLines($"/proc/{pid}/status").FirstOrDefault(l => l.StartsWith("VmRSS:", StringComparison.Ordinal));
                if (line is not null)
                {
                    total += long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) * 1024;
                }
            }
            catch (IOException)
            {
            }
            foreach (var child in children.GetValueOrDefault(pid) ?? [])
            {
                stack.Push(child);
            }
        }
        return total;
    }
}
