using System.Collections.Concurrent;
using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Threadloom.Core.Inference;
using Threadloom.Server.Tests.Runs;
using Threadloom.Testing;

namespace Threadloom.Server.Tests.Hostile;

/// <summary>
/// Issue #9 §2: CPU-bound work never starves the request path. A run's own work (prompt building, counting the
/// tokens of a long thread, truncation) executes on the run worker's dedicated, niced threads, with the continuations
/// of its awaits, never on the thread pool that Kestrel serves requests from.
/// </summary>
public sealed class RunCpuIsolationTests
{
    [Fact]
    public async Task Issue9_RunOverA200kCharacterMessage_ExecutesOnTheRunThreads_WhileRequestsAreServed()
    {
        var calls = new ConcurrentQueue<(string? Thread, bool Pool)>();
        // The server's model client is internal to Core: it is made by its type, then wrapped.
        var modelClientType = typeof(IModelClient).Assembly.GetType("Threadloom.Core.Inference.ModelClient", throwOnError: true)!;
        await using var server = await RunTestServer.StartAsync(configureServices: services =>
            services.AddSingleton<IModelClient>(provider => new ThreadRecordingModelClient((IModelClient)ActivatorUtilities.CreateInstance(provider, modelClientType), calls)));
        // Words of varied shape, so the tokenizer has real work: 200,000 characters in one message.
        var words = Enumerable.Range(0, 40_000).Select(i => i % 7 == 0 ? $"x{i * 7919 % 100_000}" : "lorem");
        var huge = string.Join(' ', words)[..200_000];
        server.Model.RespondWith(_ => Reply.Text("read it"));
        var assistant = await server.CreateAssistantAsync();

        var latencies = new List<double>();
        using var probing = new CancellationTokenSource();
        var probe = Task.Run(async () =>
        {
            while (!probing.IsCancellationRequested)
            {
                var started = Stopwatch.GetTimestamp();
                var response = await server.GetAsync("models");
                Assert.Equal(System.Net.HttpStatusCode.OK, response.Status);
                latencies.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
                await Task.Delay(20);
            }
        });
        for (var i = 0; i < 3; i++)
        {
            var thread = await server.CreateThreadAsync(huge, huge);
            var run = await server.OkAsync(server.PostAsync($"threads/{thread}/runs", JsonSerializer.Serialize(new { assistant_id = assistant })));
            var done = await server.WaitForRunAsync(thread, run.GetProperty("id").GetString()!, status => status is "completed" or "failed" or "incomplete");
            Assert.Equal("completed", done.GetProperty("status").GetString());
        }
        await probing.CancelAsync();
        await probe;

        Assert.Equal(3, calls.Count);
        Assert.All(calls, call =>
        {
            Assert.False(call.Pool, "a run called the model from a thread-pool thread");
            Assert.StartsWith("runs ", call.Thread);
        });
        latencies.Sort();
        Console.WriteLine($"GET /v1/models during the runs: n={latencies.Count} p50={latencies[latencies.Count / 2]:F1} ms max={latencies[^1]:F1} ms");
    }

    /// <summary>Records the thread each model call starts on: the executor's, after it has built and counted the prompt.</summary>
    private sealed class ThreadRecordingModelClient(IModelClient inner, ConcurrentQueue<(string? Thread, bool Pool)> calls) : IModelClient
    {
        public async IAsyncEnumerable<ModelStreamEvent> StreamAsync(ModelRequest request, [EnumeratorCancellation] CancellationToken cancellationToken)
        {
            calls.Enqueue((Thread.CurrentThread.Name, Thread.CurrentThread.IsThreadPoolThread));
            await foreach (var item in inner.StreamAsync(request, cancellationToken))
            {
                yield return item;
            }
        }
    }
}
