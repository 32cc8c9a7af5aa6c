using System.Reflection;
using System.Text.Json.Serialization;
using Microsoft.Extensions.DependencyInjection;
using Threadloom.Core.Domain;
using Threadloom.Core.Runs;
using Threadloom.Core.Storage;
using Threadloom.Storage.Sqlite;

namespace Threadloom.Core.Tests.Runs;

/// <summary>
/// <see cref="RunLifecycle"/> over a real SQLite database and the in-process bus: what it refuses writes and emits
/// nothing, and what it accepts is written whole and emitted in stream order (issue #12 §1).
/// </summary>
public sealed class RunLifecycleTests : IAsyncLifetime
{
    private static readonly DateTimeOffset T0 = DateTimeOffset.FromUnixTimeSeconds(1_700_000_000);
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "threadloom-lifecycle-tests", Guid.NewGuid().ToString("N"));
    private ServiceProvider _services = null!;
    private RunLifecycle _lifecycle = null!;
    private LocalRunEventBus _bus = null!;
    private IRunStore _runs = null!;

    public async Task InitializeAsync()
    {
        var services = new ServiceCollection();
        services.AddSingleton(TimeProvider.System);
        services.AddSqliteStorage(_dir);
        services.AddSingleton<LocalRunEventBus>();
        services.AddSingleton<IRunEventBus>(sp => sp.GetRequiredService<LocalRunEventBus>());
        services.AddSingleton<RunLifecycle>();
        _services = services.BuildServiceProvider();
        await _services.GetRequiredService<IMigrator>().MigrateAsync(CancellationToken.None);
        _lifecycle = _services.GetRequiredService<RunLifecycle>();
        _bus = _services.GetRequiredService<LocalRunEventBus>();
        _runs = _services.GetRequiredService<IRunStore>();
        await _services.GetRequiredService<IThreadStore>().CreateAsync(
            new AssistantThread("thread_1", "p1", T0, null, new Dictionary<string, string>()), [], CancellationToken.None);
    }

    public async Task DisposeAsync()
    {
        await _services.DisposeAsync();
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Directory.Delete(_dir, recursive: true);
    }

    [Fact]
    public async Task Transition_TheTableForbids_IsRefusedWritesNothingAndEmitsNothing()
    {
        var run = await CreateAsync("run_1");
        using var subscription = await _bus.SubscribeAsync(run.Id, null, CancellationToken.None);

        await Assert.ThrowsAsync<InvalidRunTransitionException>(() =>
            _lifecycle.TransitionAsync(run, RunStatus.Completed, null, null, null, CancellationToken.None));

        Assert.Equal(RunStatus.Queued, (await _runs.FindByIdAsync(run.Id, CancellationToken.None))!.Status);
        // The in-process bus delivers synchronously: an event emitted by the refused call would be readable now.
        Assert.False(subscription.Reader.TryRead(out _));
    }

    [Fact]
    public async Task Transition_StatusChangedMeanwhile_ReturnsNullWritesNothingAndEmitsNothing()
    {
        var run = await CreateAsync("run_1");
        var cancelled = await _lifecycle.CloseAsync(run, RunStatus.Cancelled, null, CancellationToken.None);
        Assert.NotNull(cancelled);
        using var subscription = await _bus.SubscribeAsync(run.Id, null, CancellationToken.None);

        // The caller still believes the run is queued.
        Assert.Null(await _lifecycle.TransitionAsync(run, RunStatus.InProgress, null, null, null, CancellationToken.None));

        Assert.Equal(RunStatus.Cancelled, (await _runs.FindByIdAsync(run.Id, CancellationToken.None))!.Status);
        Assert.False(subscription.Reader.TryRead(out _));
    }

    [Fact]
    public async Task Transition_AdjustmentThatMovesTheStatus_IsRefused()
    {
        var run = await CreateAsync("run_1");
        using var subscription = await _bus.SubscribeAsync(run.Id, null, CancellationToken.None);

        await Assert.ThrowsAsync<ArgumentException>(() =>
            _lifecycle.TransitionAsync(run, RunStatus.InProgress, r => r with { Status = RunStatus.Completed }, null, null, CancellationToken.None));
        await Assert.ThrowsAsync<ArgumentException>(() =>
            _lifecycle.ModifyAsync(run, run with { Status = RunStatus.Cancelled }, CancellationToken.None));

        Assert.Equal(RunStatus.Queued, (await _runs.FindByIdAsync(run.Id, CancellationToken.None))!.Status);
        Assert.False(subscription.Reader.TryRead(out _));
    }

    [Fact]
    public async Task Create_AnnouncesTheRunCreatedThenQueued()
    {
        using var subscription = await _bus.SubscribeAsync("run_1", null, CancellationToken.None);
        await CreateAsync("run_1");

        Assert.Equal([RunEventNames.RunCreated, "thread.run.queued"], Drain(subscription).Select(e => e.Name));
        // A second active run on the thread is refused, and not announced.
        Assert.Equal("run_1", await _lifecycle.CreateAsync(NewRun("run_2"), [], CancellationToken.None));
        Assert.Empty(Drain(subscription));
    }

    [Fact]
    public async Task Close_EndsOpenStepsAndMessagesWithTheRun_InOneWriteAndInStreamOrder()
    {
        var run = await CreateAsync("run_1");
        var started = (await _lifecycle.TransitionAsync(run, RunStatus.InProgress, null, null, null, CancellationToken.None))!;
        var (message, _) = await OpenMessageAsync(run.Id, "msg_1", "step_1");
        using var subscription = await _bus.SubscribeAsync(run.Id, null, CancellationToken.None);

        var failed = await _lifecycle.CloseAsync(started, RunStatus.Failed, new RunError("server_error", "boom"), CancellationToken.None);

        Assert.Equal(RunStatus.Failed, failed!.Status);
        Assert.Equal(
            ["thread.run.step.failed", "thread.message.incomplete", "thread.run.failed"],
            Drain(subscription).Select(e => e.Name));
        var storedStep = Assert.Single(await _services.GetRequiredService<IRunStepStore>().ListAllAsync(run.Id, CancellationToken.None));
        Assert.Equal(RunStepStatus.Failed, storedStep.Status);
        Assert.Equal("boom", storedStep.LastError?.Message);
        var storedMessage = await _services.GetRequiredService<IMessageStore>().FindAsync("p1", "thread_1", message.Id, CancellationToken.None);
        Assert.Equal((MessageStatus.Incomplete, "run_failed"), (storedMessage!.Status, storedMessage.IncompleteReason));
        Assert.Equal(RunStatus.Failed, (await _runs.FindByIdAsync(run.Id, CancellationToken.None))!.Status);
    }

    [Fact]
    public async Task CompleteLastMessage_EndsMessageStepAndRunInOneWrite_InStreamOrder_OrNothingWhenTheStatusMoved()
    {
        var run = await CreateAsync("run_1");
        var started = (await _lifecycle.TransitionAsync(run, RunStatus.InProgress, null, null, null, CancellationToken.None))!;
        var (message, step) = await OpenMessageAsync(run.Id, "msg_1", "step_1");
        var done = message with { Content = [new TextContent(new MessageText("Hello", []))], Status = MessageStatus.Completed, CompletedAt = T0 };
        var doneStep = step with { Status = RunStepStatus.Completed, CompletedAt = T0 };
        var cancelling = (await _lifecycle.TransitionAsync(started, RunStatus.Cancelling, null, null, null, CancellationToken.None))!;
        using var subscription = await _bus.SubscribeAsync(run.Id, null, CancellationToken.None);

        // A caller that still believes the run in progress writes nothing.
        Assert.Null(await _lifecycle.CompleteLastMessageAsync(started, RunStatus.Completed, null, done, doneStep, null, CancellationToken.None));
        Assert.Empty(Drain(subscription));
        var messages = _services.GetRequiredService<IMessageStore>();
        Assert.Equal(MessageStatus.InProgress, (await messages.FindAsync("p1", "thread_1", message.Id, CancellationToken.None))!.Status);
        Assert.Equal(RunStepStatus.InProgress, Assert.Single(await _services.GetRequiredService<IRunStepStore>().ListAllAsync(run.Id, CancellationToken.None)).Status);

        var completed = await _lifecycle.CompleteLastMessageAsync(cancelling, RunStatus.Completed, null, done, doneStep, null, CancellationToken.None);

        Assert.Equal(RunStatus.Completed, completed!.Status);
        Assert.Equal(["thread.message.completed", "thread.run.step.completed", "thread.run.completed"], Drain(subscription).Select(e => e.Name));
        var stored = await messages.FindAsync("p1", "thread_1", message.Id, CancellationToken.None);
        Assert.Equal((MessageStatus.Completed, "Hello"), (stored!.Status, Assert.IsType<TextContent>(Assert.Single(stored.Content)).Text.Value));
        Assert.Equal(RunStepStatus.Completed, Assert.Single(await _services.GetRequiredService<IRunStepStore>().ListAllAsync(run.Id, CancellationToken.None)).Status);
        Assert.Equal(RunStatus.Completed, (await _runs.FindByIdAsync(run.Id, CancellationToken.None))!.Status);
    }

    private async Task<(ThreadMessage Message, RunStep Step)> OpenMessageAsync(string runId, string messageId, string stepId)
    {
        var message = new ThreadMessage(messageId, "p1", T0, "thread_1", MessageRole.Assistant, [], MessageStatus.InProgress, [],
            new Dictionary<string, string>(), "asst_1", runId);
        var step = new RunStep(stepId, "p1", T0, "thread_1", runId, "asst_1", RunStepStatus.InProgress,
            new MessageCreationStepDetails(new MessageCreation(message.Id)), new Dictionary<string, string>());
        await _lifecycle.OpenMessageAsync(step, message, CancellationToken.None);
        return (message, step);
    }

    [Fact]
    public void StatusTable_MatchesTheEnumsJsonNames_AndRoundTrips()
    {
        foreach (var status in Enum.GetValues<RunStatus>())
        {
            var json = typeof(RunStatus).GetField(status.ToString())!.GetCustomAttribute<JsonStringEnumMemberNameAttribute>()!.Name;
            Assert.Equal(json, RunTransitions.WireName(status));
            Assert.Equal(status, RunTransitions.Parse(json));
            Assert.Equal("thread.run." + json, RunEventNames.ForRun(status));
        }
        Assert.Equal(Enum.GetValues<RunStatus>(), RunTransitions.All.Order());
        Assert.Null(RunTransitions.Parse("running"));
        Assert.Equal("('queued','in_progress','requires_action','cancelling')", RunTransitions.ActiveStatusesSql);
    }

    [Fact]
    public void EventNameTables_NameEveryStepAndMessageStatus()
    {
        foreach (var status in Enum.GetValues<RunStepStatus>())
        {
            var json = typeof(RunStepStatus).GetField(status.ToString())!.GetCustomAttribute<JsonStringEnumMemberNameAttribute>()!.Name;
            Assert.Equal("thread.run.step." + json, RunEventNames.ForStep(status));
        }
        Assert.Equal(
            ["thread.message.in_progress", "thread.message.incomplete", "thread.message.completed"],
            Enum.GetValues<MessageStatus>().Select(RunEventNames.ForMessage));
    }

    [Fact]
    public async Task Claim_OfARunWhoseQueuedEventsAreNotOutYet_AnnouncesItsStartAfterThem()
    {
        // A worker can claim a run the moment its row commits, before the creator's events are out; the claim starts
        // the run, so its in_progress must still come after created and queued.
        var gated = new GatedFlushBus(_bus);
        var lifecycle = new RunLifecycle(_runs, _services.GetRequiredService<IRunStepStore>(), _services.GetRequiredService<IMessageStore>(),
            _services.GetRequiredService<IUnitOfWork>(), gated, TimeProvider.System);
        using var subscription = await _bus.SubscribeAsync("run_g", 0, CancellationToken.None);

        var creating = lifecycle.CreateAsync(NewRun("run_g"), [], CancellationToken.None);
        await gated.Flushing.Task;
        var claiming = lifecycle.ClaimAsync("node-a", 1, TimeSpan.FromMinutes(1), CancellationToken.None);
        await Task.WhenAny(claiming, Task.Delay(TimeSpan.FromMilliseconds(300)));
        Assert.False(claiming.IsCompleted, "the claim announced its start before the creator's events were flushed");

        gated.Release.TrySetResult();
        Assert.Null(await creating);
        Assert.Equal("run_g", Assert.Single(await claiming).Run.Id);
        Assert.Equal([RunEventNames.RunCreated, "thread.run.queued", "thread.run.in_progress"], Drain(subscription).Select(e => e.Name));
    }

    /// <summary>The in-process bus, with flushes held until the test releases them.</summary>
    private sealed class GatedFlushBus(IRunEventBus inner) : IRunEventBus
    {
        public TaskCompletionSource Flushing { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public TaskCompletionSource Release { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public void Publish(string runId, RunEvent runEvent) => inner.Publish(runId, runEvent);

        public async Task FlushAsync(CancellationToken cancellationToken)
        {
            Flushing.TrySetResult();
            await Release.Task;
            await inner.FlushAsync(cancellationToken);
        }

        public Task<RunSubscription> SubscribeAsync(string runId, long? afterSequence, CancellationToken cancellationToken) =>
            inner.SubscribeAsync(runId, afterSequence, cancellationToken);
    }

    private async Task<Run> CreateAsync(string id)
    {
        var run = NewRun(id);
        Assert.Null(await _lifecycle.CreateAsync(run, [], CancellationToken.None));
        return run;
    }

    private static Run NewRun(string id) =>
        new(id, "p1", T0, "thread_1", "asst_1", RunStatus.Queued, "gpt-4o", "be brief", [], new Dictionary<string, string>(), null, null, null, null,
            TruncationStrategy.Auto, ToolChoice.Auto, true, ResponseFormat.Auto, ExpiresAt: T0 + RunTransitions.ExpiresAfter);

    private static List<RunEvent> Drain(RunSubscription subscription)
    {
        var events = new List<RunEvent>();
        while (subscription.Reader.TryRead(out var e))
        {
            events.Add(e);
        }
        return events;
    }
}
