namespace Threadloom.Cluster.Tests;

/// <summary>
/// Issue #12 §5, the chaos test: 100 runs on three nodes with a slow model, one node killed with SIGKILL while every
/// run is mid-stream. Every run ends; the dead node's runs fail with <c>server_error</c> once their (short) lease
/// lapses; no run reaches the model twice; every thread takes a new run afterwards; no committed message is lost.
/// </summary>
/// <remarks>
/// Each reply streams one chunk and then waits for the test, so the kill lands mid-run for every run by
/// construction, not by timing; after the kill the rest of each reply streams slowly (ten chunks, 300 ms apart).
/// </remarks>
public sealed class ChaosTests(ITestOutputHelper output)
{
    private const int Runs = 100;
    private const int Victim = 1;
    private static readonly TimeSpan Patience = TimeSpan.FromMinutes(3);

    [SkippableFact]
    public async Task HundredRuns_OneNodeKilledMidRun_EveryRunEnds_NoneTwice_ThreadsReleased_NoMessageLost()
    {
        await using var model = await ScriptedModelServer.StartAsync();
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        model.RespondWith(request => request.LastUserText is { } text && text.StartsWith("chaos ", StringComparison.Ordinal)
            ? Reply.Text($"The answer to {text} streams slowly.", chunkSize: 4).HoldAfter(1, release.Task).WithDelayPerChunk(TimeSpan.FromMilliseconds(300))
            : Reply.Text("ok"));
        await using var cluster = await Cluster.StartAsync(model, output, 3, _ => ["--Runs:Lease", "00:00:06"]);
        try
        {
            await RunAsync(cluster, model, release);
        }
        finally
        {
            release.TrySetResult();
        }
    }

    private async Task RunAsync(Cluster cluster, ScriptedModelServer model, TaskCompletionSource release)
    {
        var clients = Enumerable.Range(0, cluster.Count).Select(cluster.Http).ToArray();
        var assistant = (await PostAsync(clients[0], "assistants", """{"model":"gpt-4o","instructions":"Answer."}"""))["id"]!.GetValue<string>();

        // 100 runs, each on a new thread holding two acknowledged user messages, created round-robin, 8 at a time.
        var runs = new (string Thread, string Run)[Runs];
        using (var gate = new SemaphoreSlim(8))
        {
            await Task.WhenAll(Enumerable.Range(0, Runs).Select(async i =>
            {
                await gate.WaitAsync();
                try
                {
                    var body = new JsonObject
                    {
                        ["assistant_id"] = assistant,
                        ["thread"] = new JsonObject
                        {
                            ["messages"] = new JsonArray(
                                new JsonObject { ["role"] = "user", ["content"] = $"context {i}" },
                                new JsonObject { ["role"] = "user", ["content"] = Marker(i) }),
                        },
                    };
                    var run = await PostAsync(clients[cluster.NextIndex()], "threads/runs", body.ToJsonString());
                    runs[i] = (run["thread_id"]!.GetValue<string>(), run["id"]!.GetValue<string>());
                }
                finally
                {
                    gate.Release();
                }
            }));
        }

        // Every run is mid-stream: its model call arrived and holds after the first chunk.
        await WaitAsync("every run to reach the model", () => Task.FromResult(CallsByMarker(model).Count == Runs));
        var executors = model.ChatRequests.ToDictionary(r => r.LastUserText!, Cluster.NodeOf);
        var doomed = Enumerable.Range(0, Runs).Where(i => executors[Marker(i)] == Victim).ToHashSet();
        output.WriteLine($"runs per node: {string.Join(", ", executors.Values.GroupBy(n => n).OrderBy(g => g.Key).Select(g => $"node {g.Key}: {g.Count()}"))}");
        Assert.NotEmpty(doomed);
        Assert.All(executors.Values, n => Assert.InRange(n, 0, cluster.Count - 1));

        // What was committed before the kill: every message each thread lists now.
        var before = new Dictionary<string, HashSet<string>>();
        foreach (var (thread, _) in runs)
        {
            before[thread] = await MessageIdsAsync(clients[cluster.NextIndex()], thread);
            Assert.True(before[thread].Count >= 2, $"thread {thread} lists {before[thread].Count} messages");
        }

        await cluster.KillAsync(Victim);
        clients[Victim].Dispose();
        var survivors = Enumerable.Range(0, cluster.Count).Where(n => n != Victim).ToArray();
        var round = 0;
        HttpClient Survivor() => clients[survivors[round++ % survivors.Length]];
        release.SetResult();
        var killed = Stopwatch.StartNew();

        // Every run reaches a terminal state.
        var final = new JsonNode[Runs];
        var pending = Enumerable.Range(0, Runs).ToList();
        await WaitAsync("every run to end", async () =>
        {
            foreach (var i in pending.ToList())
            {
                var run = await GetAsync(Survivor(), $"threads/{runs[i].Thread}/runs/{runs[i].Run}");
                if (run["status"]!.GetValue<string>() is "completed" or "failed" or "cancelled" or "expired" or "incomplete")
                {
                    final[i] = run;
                    pending.Remove(i);
                }
            }
            return pending.Count == 0;
        });
        output.WriteLine($"every run ended {killed.ElapsedMilliseconds} ms after the kill");
        for (var i = 0; i < Runs; i++)
        {
            var status = final[i]["status"]!.GetValue<string>();
            if (doomed.Contains(i))
            {
                Assert.True(status == "failed", $"run {i} of the killed node ended {status}");
                Assert.Equal("server_error", final[i]["last_error"]!["code"]!.GetValue<string>());
            }
            else
            {
                Assert.True(status == "completed", $"run {i} of node {executors[Marker(i)]} ended {status}: {final[i]["last_error"]?.ToJsonString()}");
            }
        }

        // No committed message was lost.
        foreach (var (thread, _) in runs)
        {
            var after = await MessageIdsAsync(Survivor(), thread);
            Assert.Empty(before[thread].Except(after));
        }

        // Every thread's lock was released: each takes a new run (with a new message), which completes.
        var next = new (string Thread, string Run)[Runs];
        for (var i = 0; i < Runs; i++)
        {
            var body = new JsonObject
            {
                ["assistant_id"] = assistant,
                ["additional_messages"] = new JsonArray(new JsonObject { ["role"] = "user", ["content"] = $"after {i}" }),
            };
            var run = await PostAsync(Survivor(), $"threads/{runs[i].Thread}/runs", body.ToJsonString());
            next[i] = (runs[i].Thread, run["id"]!.GetValue<string>());
        }
        pending = [.. Enumerable.Range(0, Runs)];
        await WaitAsync("every new run to end", async () =>
        {
            foreach (var i in pending.ToList())
            {
                var run = await GetAsync(Survivor(), $"threads/{next[i].Thread}/runs/{next[i].Run}");
                var status = run["status"]!.GetValue<string>();
                Assert.True(status is "queued" or "in_progress" or "completed", $"new run {i} is {status}: {run["last_error"]?.ToJsonString()}");
                if (status == "completed")
                {
                    pending.Remove(i);
                }
            }
            return pending.Count == 0;
        });

        // None executed twice: one model call per run of the chaos, however its node ended.
        var calls = CallsByMarker(model);
        Assert.Equal(Runs, calls.Count);
        Assert.All(calls, c => Assert.True(c.Value == 1, $"{c.Key} reached the model {c.Value} times"));
        Assert.Empty(model.UnexpectedCalls);
        foreach (var client in survivors.Select(n => clients[n]))
        {
            client.Dispose();
        }
    }

    private static string Marker(int i) => "chaos " + i.ToString(CultureInfo.InvariantCulture);

    private static Dictionary<string, int> CallsByMarker(ScriptedModelServer model) =>
        model.ChatRequests.Select(r => r.LastUserText).OfType<string>().Where(t => t.StartsWith("chaos ", StringComparison.Ordinal))
            .GroupBy(t => t).ToDictionary(g => g.Key, g => g.Count());

    private static async Task<HashSet<string>> MessageIdsAsync(HttpClient client, string thread)
    {
        var list = await GetAsync(client, $"threads/{thread}/messages?limit=100");
        Assert.False(list["has_more"]!.GetValue<bool>());
        return [.. list["data"]!.AsArray().Select(m => m!["id"]!.GetValue<string>())];
    }

    private static Task WaitAsync(string what, Func<Task<bool>> done) => Cluster.UntilAsync(what, done, Patience);

    private static async Task<JsonNode> PostAsync(HttpClient client, string path, string json)
    {
        using var response = await client.PostAsync(path, new StringContent(json, Encoding.UTF8, "application/json"));
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"POST {path} gave {(int)response.StatusCode}: {text}");
        return JsonNode.Parse(text)!;
    }

    private static async Task<JsonNode> GetAsync(HttpClient client, string path)
    {
        using var response = await client.GetAsync(path);
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"GET {path} gave {(int)response.StatusCode}: {text}");
        return JsonNode.Parse(text)!;
    }
}
