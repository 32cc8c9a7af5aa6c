using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Threadloom.Core.Domain;
using Threadloom.Core.Runs;
using Threadloom.Storage.Postgres;
using Threadloom.Storage.Tests.Contract;

namespace Threadloom.Storage.Tests;

/// <summary>Two nodes on one PostgreSQL database: run events, cancel requests and pruning cross between them (issue #12 §3).</summary>
public sealed class PostgresClusterBusTests
{
    private static async Task<(TestStorage Storage, IServiceProvider A, IServiceProvider B, List<IHostedService> Hosts)> TwoNodesAsync()
    {
        var reason = new PostgresProvider().Unavailable;
        Skip.If(reason is not null, reason);
        var storage = await new PostgresProvider().CreateAsync();
        var a = storage.NewNode();
        var b = storage.NewNode();
        var hosts = new List<IHostedService>();
        foreach (var node in (IServiceProvider[])[a, b])
        {
            foreach (var host in new IHostedService[] { node.GetRequiredService<PostgresNotifications>(), node.GetRequiredService<PostgresRunEventBus>() })
            {
                await host.StartAsync(CancellationToken.None);
                hosts.Add(host);
            }
        }
        return (storage, a, b, hosts);
    }

    private static async Task StopAsync(TestStorage storage, List<IHostedService> hosts)
    {
        foreach (var host in hosts)
        {
            await host.StopAsync(CancellationToken.None);
        }
        await storage.DisposeAsync();
    }

    private static async Task<List<RunEvent>> ReadAsync(RunSubscription subscription, int count, CancellationToken cancellationToken)
    {
        var got = new List<RunEvent>();
        while (got.Count < count)
        {
            got.Add(await subscription.Reader.ReadAsync(cancellationToken));
        }
        return got;
    }

    [SkippableFact]
    public async Task Events_PublishedOnOneNode_ReachASubscriberOnAnother_InOrder_WithReplay()
    {
        var (storage, a, b, hosts) = await TwoNodesAsync();
        try
        {
            var busA = a.GetRequiredService<IRunEventBus>();
            var busB = b.GetRequiredService<IRunEventBus>();
            Assert.True(busA is PostgresRunEventBus, busA.GetType().FullName);
            using var live = await busA.SubscribeAsync("run_x", 0, CancellationToken.None);
            busB.Publish("run_x", new RunEvent("thread.message.delta", new MessageDelta("msg_1", 0, "Hel")));
            busB.Publish("run_x", new RunEvent("thread.message.delta", new MessageDelta("msg_1", 0, "lo")));
            await busB.FlushAsync(CancellationToken.None);
            // Events of one run from two nodes are ordered as they reached the bus.
            busA.Publish("run_x", new RunEvent("error", new RunError("server_error", "boom")));
            await busA.FlushAsync(CancellationToken.None);
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
            var got = await ReadAsync(live, 3, timeout.Token);
            Assert.Equal([1L, 2L, 3L], got.Select(e => e.Sequence));
            Assert.Equal("Hel", Assert.IsType<MessageDelta>(got[0].Payload).Text);
            Assert.Equal("lo", Assert.IsType<MessageDelta>(got[1].Payload).Text);
            Assert.True(got[2].EndsStream);

            // A late subscriber replays from a sequence number; one "from now" sees only what comes next.
            using var replay = await busB.SubscribeAsync("run_x", 1, CancellationToken.None);
            Assert.Equal(2, (await replay.Reader.ReadAsync(timeout.Token)).Sequence);
            using var fromNow = await busB.SubscribeAsync("run_x", null, CancellationToken.None);
            busA.Publish("run_x", new RunEvent("thread.message.delta", new MessageDelta("msg_1", 0, "!")));
            var next = await fromNow.Reader.ReadAsync(timeout.Token);
            Assert.Equal(4, next.Sequence);
            Assert.Equal("!", Assert.IsType<MessageDelta>(next.Payload).Text);
        }
        finally
        {
            await StopAsync(storage, hosts);
        }
    }

    /// <summary>
    /// A stream subscribed before its run exists skips the first read; what the creating node publishes comes from memory
    /// and what the claiming node publishes comes through the table on its notification, all in order.
    /// </summary>
    [SkippableFact]
    public async Task NewRunSubscription_GetsTheCreatorsAndTheClaimersEvents_InOrder()
    {
        var (storage, a, b, hosts) = await TwoNodesAsync();
        try
        {
            var busA = a.GetRequiredService<IRunEventBus>();
            var busB = b.GetRequiredService<IRunEventBus>();
            using var stream = await busA.SubscribeToNewRunAsync("run_new", CancellationToken.None);
            busA.Publish("run_new", new RunEvent("thread.message.delta", new MessageDelta("msg_1", 0, "created")));
            await busA.FlushAsync(CancellationToken.None);
            busB.Publish("run_new", new RunEvent("thread.message.delta", new MessageDelta("msg_1", 0, "claimed")));
            busB.Publish("run_new", new RunEvent("error", new RunError("server_error", "end")));
            await busB.FlushAsync(CancellationToken.None);

            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
            var got = await ReadAsync(stream, 3, timeout.Token);
            Assert.Equal([1L, 2L, 3L], got.Select(e => e.Sequence));
            Assert.Equal("created", Assert.IsType<MessageDelta>(got[0].Payload).Text);
            Assert.Equal("claimed", Assert.IsType<MessageDelta>(got[1].Payload).Text);
            Assert.True(got[2].EndsStream);
        }
        finally
        {
            await StopAsync(storage, hosts);
        }
    }

    /// <summary>
    /// Each node hands its own events to its tails from memory and reads the other's from the table: with both nodes
    /// publishing to one run at once, every subscriber on either node still sees 1…N once each, in the table's order.
    /// </summary>
    [SkippableFact]
    public async Task Events_PublishedOnBothNodesAtOnce_EverySubscriberSeesEachOnceInTableOrder()
    {
        var (storage, a, b, hosts) = await TwoNodesAsync();
        try
        {
            var busA = a.GetRequiredService<IRunEventBus>();
            var busB = b.GetRequiredService<IRunEventBus>();
            const int PerNode = 300;
            var subscriptions = new[]
            {
                await busA.SubscribeAsync("run_both", 0, CancellationToken.None),
                await busB.SubscribeAsync("run_both", 0, CancellationToken.None),
                await busA.SubscribeAsync("run_both", 0, CancellationToken.None),
            };
            try
            {
                var publishers = new (IRunEventBus Bus, string Prefix)[] { (busA, "a"), (busB, "b") };
                await Task.WhenAll(publishers.Select(p => Task.Run(async () =>
                {
                    for (var i = 0; i < PerNode; i++)
                    {
                        p.Bus.Publish("run_both", new RunEvent("thread.message.delta", new MessageDelta("msg_1", 0, $"{p.Prefix}{i}")));
                        if (i % 7 == 0)
                        {
                            await p.Bus.FlushAsync(CancellationToken.None);
                        }
                    }
                    await p.Bus.FlushAsync(CancellationToken.None);
                })));
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
                // A subscriber started after everything was written reads it all from the table: the reference order.
                using var late = await busB.SubscribeAsync("run_both", 0, CancellationToken.None);
                var reference = new List<string>();
                while (reference.Count < 2 * PerNode)
                {
                    reference.Add(Assert.IsType<MessageDelta>((await late.Reader.ReadAsync(timeout.Token)).Payload).Text);
                }
                foreach (var subscription in subscriptions)
                {
                    var seen = new List<RunEvent>();
                    while (seen.Count < 2 * PerNode)
                    {
                        seen.Add(await subscription.Reader.ReadAsync(timeout.Token));
                    }
                    Assert.Equal(Enumerable.Range(1, 2 * PerNode).Select(i => (long)i), seen.Select(e => e.Sequence));
                    Assert.Equal(reference, seen.Select(e => Assert.IsType<MessageDelta>(e.Payload).Text));
                    Assert.False(subscription.Reader.TryRead(out var extra), $"an event after the last: {extra?.Sequence}");
                }
                // Each node's own events keep their order.
                Assert.Equal(Enumerable.Range(0, PerNode).Select(i => $"a{i}"), reference.Where(t => t[0] == 'a'));
                Assert.Equal(Enumerable.Range(0, PerNode).Select(i => $"b{i}"), reference.Where(t => t[0] == 'b'));
            }
            finally
            {
                foreach (var subscription in subscriptions)
                {
                    subscription.Dispose();
                }
            }
        }
        finally
        {
            await StopAsync(storage, hosts);
        }
    }

    [SkippableFact]
    public async Task Cancel_SentToAnotherNode_CancelsTheOwnersToken()
    {
        var (storage, a, b, hosts) = await TwoNodesAsync();
        try
        {
            using var runCts = new CancellationTokenSource();
            using var registration = a.GetRequiredService<IRunCancellation>().Register("run_owned_by_a", runCts);
            var cancelledAt = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            runCts.Token.Register(() => cancelledAt.TrySetResult());
            Assert.False(b.GetRequiredService<IRunCancellation>().IsLocal("run_owned_by_a"));
            // The listener may still be connecting; a cancel is repeated until it lands, as a client would retry.
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
            while (!runCts.IsCancellationRequested)
            {
                b.GetRequiredService<IRunCancellation>().Cancel("run_owned_by_a");
                await Task.WhenAny(cancelledAt.Task, Task.Delay(500, timeout.Token));
            }
            Assert.True(runCts.IsCancellationRequested);
        }
        finally
        {
            await StopAsync(storage, hosts);
        }
    }

    [SkippableFact]
    public async Task Prune_RemovesTheEventsOfEndedRuns_KeepsActiveOnes()
    {
        var (storage, a, _, hosts) = await TwoNodesAsync();
        try
        {
            var bus = a.GetRequiredService<PostgresRunEventBus>();
            // No runs row: the run is gone, so its events are prunable once past the retention (checked with a
            // clock far ahead through MaxAge is not possible here; the retention branch treats a missing run as ended).
            bus.Publish("run_gone", new RunEvent("error", new RunError("server_error", "x")));
            await bus.FlushAsync(CancellationToken.None);
            var database = a.GetRequiredService<PostgresDatabase>();
            await using var connection = await database.OpenAsync(CancellationToken.None);
            await using (var age = new Npgsql.NpgsqlCommand("UPDATE run_event_heads SET updated_at = updated_at - 3600000", connection))
            {
                await age.ExecuteNonQueryAsync();
            }
            Assert.True(await bus.PruneAsync(CancellationToken.None) >= 1);
            await using var count = new Npgsql.NpgsqlCommand("SELECT count(*) FROM run_events", connection);
            Assert.Equal(0L, (long)(await count.ExecuteScalarAsync())!);
        }
        finally
        {
            await StopAsync(storage, hosts);
        }
    }
}
