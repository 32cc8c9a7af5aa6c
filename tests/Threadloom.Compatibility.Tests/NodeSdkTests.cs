using System.Diagnostics;
using Threadloom.Testing;
using Xunit.Abstractions;

namespace Threadloom.Compatibility.Tests;

/// <summary>
/// Runs the <c>tests/compat-node</c> node:test suites (npm <c>openai@6.49.0</c>, and <c>openai@4.28.0</c> as
/// <c>openai-v1</c> for the Assistants v1 suite) against a real server whose model
/// follows <see cref="MessageRules"/> (the run suites script it through message text).
/// </summary>
public sealed class NodeSdkTests(RulesServerFixture fixture, ITestOutputHelper output) : IClassFixture<RulesServerFixture>
{
    [Fact]
    public async Task NodeSdkSuites_Pass()
    {
        var folder = Path.Combine(RepoPaths.Root, "tests", "compat-node");
        // Both pinned clients: openai@6.49.0 (v2) and openai@4.28.0 installed as openai-v1 (v1.test.mjs).
        if (!Directory.Exists(Path.Combine(folder, "node_modules", "openai")) || !Directory.Exists(Path.Combine(folder, "node_modules", "openai-v1")))
        {
            var (installCode, installLog) = await RunAsync("npm", ["ci", "--no-audit", "--no-fund"], folder, null);
            Assert.True(installCode == 0, "npm ci failed:\n" + installLog);
        }
        var (code, log) = await RunAsync("node", ["--test", "--test-reporter=spec"], folder, fixture.Server.BaseAddress.ToString().TrimEnd('/'));
        output.WriteLine(log);
        Assert.True(code == 0, "node --test failed:\n" + log);
    }

    internal static async Task<(int Code, string Log)> RunAsync(string file, string[] args, string folder, string? serverUrl)
    {
        var start = new ProcessStartInfo(file) { WorkingDirectory = folder, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }
        if (serverUrl is not null)
        {
            start.Environment["THREADLOOM_URL"] = serverUrl;
        }
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(5));
        await process.WaitForExitAsync(timeout.Token);
        return (process.ExitCode, await stdout + await stderr);
    }
}
