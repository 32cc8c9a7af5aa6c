using System.Diagnostics;
using System.Net;
using Threadloom.Core.Runs;
using Threadloom.Testing;

namespace Threadloom.Server.Tests.Hostile;

/// <summary>
/// Issue #9 §5: SIGTERM drains. The node stops claiming, lets in-flight runs finish within
/// <c>Runs:ShutdownGracePeriod</c>, fails what is left with a clear message, and exits 0. Meanwhile it still answers
/// other requests.
/// </summary>
public sealed class ShutdownTests
{
    [Fact]
    public async Task Issue9_SigtermMidRun_FinishesWhatFitsTheGracePeriod_FailsTheRest_ExitsZero()
    {
        using var dataFolder = new TempDataDirectory();
        var data = dataFolder.Path;
        await using var model = await ScriptedModelServer.StartAsync();
        model.RespondWith(request => request.LastUserText?.Contains("endless", StringComparison.Ordinal) == true
            ? Reply.Text("never finished").WithDelayPerChunk(TimeSpan.FromMinutes(10))
            : Reply.Text("finished in time", chunkSize: 8).WithDelayPerChunk(TimeSpan.FromSeconds(1.5)));
        string[] settings =
        [
            "--Inference:Providers:default:BaseUrl", model.OpenAIBaseAddress.ToString(), "--Inference:Providers:default:ApiKey", "scripted",
            "--Runs:ShutdownGracePeriod", "00:00:20",
        ];
        var keyA = await ThreadloomProcess.CreateKeyAsync(data, "team-a");
        var keyB = await ThreadloomProcess.CreateKeyAsync(data, "team-b");
        (string Thread, string Run) endless, finishing;
        await using (var server = await ThreadloomProcess.StartHealthyAsync(data, settings))
        {
            using var a = new ProcessClient(server, keyA);
            using var b = new ProcessClient(server, keyB);
            var assistantA = (await a.PostOkAsync("assistants", """{"model":"gpt-4o"}"""))["id"]!.GetValue<string>();
            var assistantB = (await b.PostOkAsync("assistants", """{"model":"gpt-4o"}"""))["id"]!.GetValue<string>();
            endless = await a.StartRunAsync(assistantA, "endless work");
            await a.WaitRunAsync(endless.Thread, endless.Run, r => ProcessClient.IsStatus(r, "in_progress"), TimeSpan.FromSeconds(60));
            var calls = Stopwatch.StartNew();
            while (model.ChatCallCount < 1)
            {
                Assert.True(calls.Elapsed < TimeSpan.FromSeconds(60), "the endless run never reached the model");
                await Task.Delay(50);
            }
            finishing = await b.StartRunAsync(assistantB, "short work");
            while (model.ChatCallCount < 2)
            {
                Assert.True(calls.Elapsed < TimeSpan.FromSeconds(60), "the short run never reached the model");
                await Task.Delay(50);
            }

            await server.TerminateAsync();
            // While draining, the node still answers another project's requests.
            var (status, _) = await b.SendAsync(HttpMethod.Get, "assistants");
            Assert.Equal(HttpStatusCode.OK, status);
            using (var probe = new HttpClient { BaseAddress = server.BaseAddress })
            {
                // The signal is handled asynchronously: poll, well within the 20 s the endless run holds the drain.
                var signalled = Stopwatch.StartNew();
                while ((await probe.GetAsync("readyz")).StatusCode != HttpStatusCode.ServiceUnavailable)
                {
                    Assert.True(signalled.Elapsed < TimeSpan.FromSeconds(10), "/readyz still says ready while draining");
                    await Task.Delay(50);
                }
            }
            Assert.True(await server.WaitForExitAsync(TimeSpan.FromSeconds(120)), $"the server did not exit after SIGTERM:\n{server.Output}");
            Assert.True(server.ExitCode == 0, $"exit code {server.ExitCode}:\n{server.Output}");
        }

        model.RespondWith(_ => Reply.Text("after the restart"));
        await using var restarted = await ThreadloomProcess.StartHealthyAsync(data, settings);
        using var a2 = new ProcessClient(restarted, keyA);
        using var b2 = new ProcessClient(restarted, keyB);
        var done = await b2.GetRunAsync(finishing.Thread, finishing.Run);
        Assert.Equal("completed", done["status"]!.GetValue<string>());
        var messages = await b2.GetOkAsync($"threads/{finishing.Thread}/messages");
        Assert.Equal("finished in time", messages["data"]![0]!["content"]![0]!["text"]!["value"]!.GetValue<string>());

        var failed = await a2.GetRunAsync(endless.Thread, endless.Run);
        Assert.Equal("failed", failed["status"]!.GetValue<string>());
        Assert.Equal("server_error", failed["last_error"]!["code"]!.GetValue<string>());
        Assert.Equal(RunExecutor.ShutdownMessage, failed["last_error"]!["message"]!.GetValue<string>());
    }
}
