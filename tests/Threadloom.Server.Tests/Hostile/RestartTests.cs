using System.Diagnostics;
using System.Net;
using Threadloom.Core.Runs;
using Threadloom.Testing;
using Xunit.Abstractions;

namespace Threadloom.Server.Tests.Hostile;

/// <summary>
/// Issue #9 §5: after kill -9, a restart on the same data recognises the leases of its own previous life and fails
/// those runs with <c>server_error</c> at once, releasing their threads, instead of waiting out the lease. The lease
/// is set to ten minutes here, so only that recognition can end the runs within the test's bound.
/// </summary>
public sealed class RestartTests(ITestOutputHelper output)
{
    private const int Interrupted = 10;

    [Fact]
    public async Task Issue9_KillNineMidRun_Restart_FailsThePreviousLifesRuns_AndReleasesTheirThreads()
    {
        using var dataFolder = new TempDataDirectory();
        var data = dataFolder.Path;
        await using var model = await ScriptedModelServer.StartAsync();
        model.RespondWith(request => request.LastUserText?.Contains("hold", StringComparison.Ordinal) == true
            ? Reply.Text("never finished").WithDelayPerChunk(TimeSpan.FromMinutes(10))
            : Reply.Text("served normally"));
        string[] settings =
        [
            "--Inference:Providers:default:BaseUrl", model.OpenAIBaseAddress.ToString(), "--Inference:Providers:default:ApiKey", "scripted",
            "--Runs:Lease", "00:10:00",
        ];
        var keyA = await ThreadloomProcess.CreateKeyAsync(data, "team-a");
        var keyB = await ThreadloomProcess.CreateKeyAsync(data, "team-b");
        var held = new List<(string ThreadId, string RunId)>();
        await using (var first = await ThreadloomProcess.StartHealthyAsync(data, settings))
        {
            using var a = new ProcessClient(first, keyA);
            var assistant = (await a.PostOkAsync("assistants", """{"model":"gpt-4o"}"""))["id"]!.GetValue<string>();
            for (var i = 0; i < Interrupted; i++)
            {
                held.Add(await a.StartRunAsync(assistant, $"hold {i}"));
            }
            foreach (var (thread, run) in held)
            {
                await a.WaitRunAsync(thread, run, r => ProcessClient.IsStatus(r, "in_progress"), TimeSpan.FromSeconds(60));
            }
            var calls = Stopwatch.StartNew();
            while (model.ChatCallCount < Interrupted)
            {
                Assert.True(calls.Elapsed < TimeSpan.FromSeconds(60), "the runs never reached the model");
                await Task.Delay(100);
            }
            await first.KillAsync();
        }

        await using var second = await ThreadloomProcess.StartHealthyAsync(data, settings);
        var restarted = Stopwatch.StartNew();
        using var a2 = new ProcessClient(second, keyA);
        foreach (var (thread, run) in held)
        {
            var failed = await a2.WaitRunAsync(thread, run, r => !ProcessClient.IsStatus(r, "in_progress"), TimeSpan.FromSeconds(60));
            Assert.Equal("failed", failed["status"]!.GetValue<string>());
            Assert.Equal("server_error", failed["last_error"]!["code"]!.GetValue<string>());
            Assert.Equal(RunWorker.RestartMessage, failed["last_error"]!["message"]!.GetValue<string>());
            // The thread is free again: a message can be added.
            var (status, _) = await a2.SendAsync(HttpMethod.Post, $"threads/{thread}/messages", """{"role":"user","content":"again"}""");
            Assert.Equal(HttpStatusCode.OK, status);
        }
        output.WriteLine($"{Interrupted} interrupted runs failed {restarted.ElapsedMilliseconds} ms after the restarted server answered");

        // Another project is served normally by the restarted node.
        using var b = new ProcessClient(second, keyB);
        var other = (await b.PostOkAsync("assistants", """{"model":"gpt-4o"}"""))["id"]!.GetValue<string>();
        var (otherThread, otherRun) = await b.StartRunAsync(other, "a normal question");
        var completed = await b.WaitRunAsync(otherThread, otherRun, r => ProcessClient.IsStatus(r, "completed") || ProcessClient.IsStatus(r, "failed"), TimeSpan.FromSeconds(60));
        Assert.Equal("completed", completed["status"]!.GetValue<string>());
    }
}
