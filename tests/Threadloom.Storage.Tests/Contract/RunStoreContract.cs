using Threadloom.Core.Domain;
using Threadloom.Core.Runs;
using Threadloom.Core.Storage;

namespace Threadloom.Storage.Tests.Contract;

/// <summary>Runs and steps: one active run per thread under races, atomic claims, leases that lapse.</summary>
public abstract class RunStoreContract<TProvider> : ContractTests<TProvider> where TProvider : ITestStorageProvider, new()
{
    private static readonly DateTimeOffset T0 = DateTimeOffset.FromUnixTimeMilliseconds(1_700_000_000_000);

    internal static Run NewRun(string id, string threadId, RunStatus status = RunStatus.Queued, string project = "p1") =>
        new(id, project, T0, threadId, "asst_1", status, "gpt-4o", "be brief", [], new Dictionary<string, string>(), null, null, null, null,
            TruncationStrategy.Auto, ToolChoice.Auto, true, ResponseFormat.Auto);

    private static ThreadMessage NewMessage(string id, string threadId, string? runId = null) =>
        new(id, "p1", T0, threadId, MessageRole.User, [new TextContent(new MessageText("hi", []))], MessageStatus.Completed, [], new Dictionary<string, string>(), RunId: runId);

    private static RunStep NewStep(string id, string runId, string threadId, RunStepStatus status = RunStepStatus.InProgress) =>
        new(id, "p1", T0, threadId, runId, "asst_1", status, new MessageCreationStepDetails(new MessageCreation("msg_x")), new Dictionary<string, string>());

    private async Task<string> NewThreadAsync(string id)
    {
        await Stores.Threads.CreateAsync(new AssistantThread(id, "p1", T0, null, new Dictionary<string, string>()), [], CancellationToken.None);
        return id;
    }

    [SkippableFact]
    public async Task TryCreate_ThreadWithActiveRun_ReturnsItsIdAndWritesNothing()
    {
        var thread = await NewThreadAsync("thread_a");
        Assert.Null(await Stores.Runs.TryCreateAsync(NewRun("run_1", thread), [NewMessage("msg_1", thread)], CancellationToken.None));
        Assert.Equal("run_1", await Stores.Runs.TryCreateAsync(NewRun("run_2", thread), [NewMessage("msg_2", thread)], CancellationToken.None));
        Assert.Null(await Stores.Runs.FindAsync("p1", thread, "run_2", CancellationToken.None));
        Assert.Null(await Stores.Messages.FindAsync("p1", thread, "msg_2", CancellationToken.None));
        Assert.NotNull(await Stores.Messages.FindAsync("p1", thread, "msg_1", CancellationToken.None));
        Assert.Equal("run_1", (await Stores.Runs.FindActiveAsync("p1", thread, CancellationToken.None))?.Id);

        // Once the run ends, the thread takes a new one.
        var run = (await Stores.Runs.FindByIdAsync("run_1", CancellationToken.None))!;
        Assert.True(await Stores.Runs.UpdateAsync(run with { Status = RunStatus.Cancelled }, RunStatus.Queued, null, CancellationToken.None));
        Assert.Null(await Stores.Runs.TryCreateAsync(NewRun("run_3", thread), [], CancellationToken.None));
    }

    [SkippableFact]
    public async Task TryCreate_ConcurrentCreatesOnOneThread_ExactlyOneWins()
    {
        var thread = await NewThreadAsync("thread_race");
        var results = await Task.WhenAll(Enumerable.Range(0, 16).Select(i => Task.Run(() =>
            Stores.Runs.TryCreateAsync(NewRun($"run_r{i:D2}", thread), [NewMessage($"msg_r{i:D2}", thread)], CancellationToken.None))));
        var winners = results.Select((active, i) => (active, i)).Where(r => r.active is null).ToList();
        var winner = Assert.Single(winners);
        Assert.All(results.Where(r => r is not null), active => Assert.Equal($"run_r{winner.i:D2}", active));
        var messages = await Stores.Messages.ListAsync("p1", thread, null, new PageRequest(100), CancellationToken.None);
        Assert.Equal([$"msg_r{winner.i:D2}"], messages.Items.Select(m => m.Id));
    }

    [SkippableFact]
    public async Task TryCreate_ActiveRunWrittenBehindTheStore_StillConflicts()
    {
        // The guarantee is in the schema, not in a check before the insert: two inserts inside one unit of work.
        var thread = await NewThreadAsync("thread_uow");
        var second = await Stores.UnitOfWork.ExecuteAsync(async (w, ct) =>
        {
            Assert.Null(await w.TryInsertRunAsync(NewRun("run_u1", thread), ct));
            return await w.TryInsertRunAsync(NewRun("run_u2", thread, RunStatus.RequiresAction), ct);
        }, CancellationToken.None);
        Assert.Equal("run_u1", second);
        // A terminal run is not active: any number may sit beside the active one.
        Assert.Null(await Stores.UnitOfWork.ExecuteAsync((w, ct) => w.TryInsertRunAsync(NewRun("run_u3", thread, RunStatus.Completed), ct), CancellationToken.None));
    }

    [SkippableFact]
    public async Task Update_StatusChangedMeanwhile_WritesNeitherRunNorSteps()
    {
        var thread = await NewThreadAsync("thread_u");
        await Stores.Runs.TryCreateAsync(NewRun("run_u", thread), [], CancellationToken.None);
        var run = (await Stores.Runs.FindByIdAsync("run_u", CancellationToken.None))!;
        Assert.False(await Stores.Runs.UpdateAsync(run with { Status = RunStatus.Completed }, RunStatus.InProgress, [NewStep("step_1", run.Id, thread)], CancellationToken.None));
        Assert.Empty(await Stores.Steps.ListAllAsync(run.Id, CancellationToken.None));
        Assert.Equal(RunStatus.Queued, (await Stores.Runs.FindByIdAsync(run.Id, CancellationToken.None))!.Status);

        Assert.True(await Stores.Runs.UpdateAsync(run with { Status = RunStatus.InProgress }, RunStatus.Queued, [NewStep("step_1", run.Id, thread)], CancellationToken.None));
        Assert.True(await Stores.Runs.UpdateAsync(run with { Status = RunStatus.Completed }, RunStatus.InProgress,
            [NewStep("step_1", run.Id, thread, RunStepStatus.Completed), NewStep("step_2", run.Id, thread)], CancellationToken.None));
        var steps = await Stores.Steps.ListAllAsync(run.Id, CancellationToken.None);
        Assert.Equal(["step_1", "step_2"], steps.Select(s => s.Id));
        Assert.Equal(RunStepStatus.Completed, steps[0].Status);
    }

    [SkippableFact]
    public async Task UnitOfWork_GuardedRunWrites_AbandonTheWholeUnit_WhenTheRunIsNotAsExpected()
    {
        // The lifecycle's units read nothing back, so PostgreSQL sends each as one batch: the guard must still decide.
        var thread = await NewThreadAsync("thread_g");
        var message = NewMessage("msg_g", thread, "run_g") with { Status = MessageStatus.InProgress };
        Assert.Null(await Stores.Runs.TryCreateAsync(NewRun("run_g", thread), [message], CancellationToken.None));
        var run = (await Stores.Runs.FindByIdAsync("run_g", CancellationToken.None))!;

        var stale = await Assert.ThrowsAsync<RunStatusChangedException>(() => Stores.UnitOfWork.ExecuteAsync(async (w, ct) =>
        {
            await w.UpsertStepAsync(NewStep("step_g1", "run_g", thread), ct);
            await w.UpdateRunOrAbandonAsync(run with { Status = RunStatus.Completed }, RunStatus.InProgress, ct);
            await w.WriteMessageAsync(message with { Status = MessageStatus.Completed }, ct);
            return true;
        }, CancellationToken.None));
        Assert.Equal("run_g", stale.RunId);
        Assert.Equal(RunStatus.Queued, (await Stores.Runs.FindByIdAsync("run_g", CancellationToken.None))!.Status);
        Assert.Empty(await Stores.Steps.ListAllAsync("run_g", CancellationToken.None));
        Assert.Equal(MessageStatus.InProgress, (await Stores.Messages.FindAsync("p1", thread, "msg_g", CancellationToken.None))!.Status);

        await Stores.UnitOfWork.ExecuteAsync(async (w, ct) =>
        {
            await w.UpdateRunOrAbandonAsync(run with { Status = RunStatus.Cancelled }, RunStatus.Queued, ct);
            await w.UpsertStepAsync(NewStep("step_g1", "run_g", thread, RunStepStatus.Cancelled), ct);
            await w.WriteMessageAsync(message with { Status = MessageStatus.Incomplete }, ct);
            return true;
        }, CancellationToken.None);
        Assert.Equal(RunStatus.Cancelled, (await Stores.Runs.FindByIdAsync("run_g", CancellationToken.None))!.Status);
        Assert.Equal(RunStepStatus.Cancelled, Assert.Single(await Stores.Steps.ListAllAsync("run_g", CancellationToken.None)).Status);
        Assert.Equal(MessageStatus.Incomplete, (await Stores.Messages.FindAsync("p1", thread, "msg_g", CancellationToken.None))!.Status);

        // An insert against the thread's active run abandons its messages with it.
        Assert.Null(await Stores.Runs.TryCreateAsync(NewRun("run_g2", thread), [], CancellationToken.None));
        await Assert.ThrowsAsync<RunStatusChangedException>(() => Stores.UnitOfWork.ExecuteAsync(async (w, ct) =>
        {
            await w.InsertRunOrAbandonAsync(NewRun("run_g3", thread), ct);
            await w.InsertMessageAsync(NewMessage("msg_g3", thread, "run_g3"), ct);
            return true;
        }, CancellationToken.None));
        Assert.Null(await Stores.Runs.FindByIdAsync("run_g3", CancellationToken.None));
        Assert.Null(await Stores.Messages.FindAsync("p1", thread, "msg_g3", CancellationToken.None));
    }

    [SkippableFact]
    public async Task Claim_ConcurrentWorkers_EachRunClaimedOnce()
    {
        for (var i = 0; i < 12; i++)
        {
            var thread = await NewThreadAsync($"thread_c{i:D2}");
            await Stores.Runs.TryCreateAsync(NewRun($"run_c{i:D2}", thread), [], CancellationToken.None);
        }
        var claims = await Task.WhenAll(Enumerable.Range(0, 24).Select(i => Task.Run(() =>
            Stores.Runs.ClaimNextAsync($"node-{i}", T0, TimeSpan.FromMinutes(1), CancellationToken.None))));
        var claimed = claims.Where(c => c is not null).Select(c => c!.Run.Id).ToList();
        Assert.Equal(12, claimed.Count);
        Assert.Equal(12, claimed.Distinct().Count());
        Assert.Null(await Stores.Runs.ClaimNextAsync("late", T0, TimeSpan.FromMinutes(1), CancellationToken.None));
    }

    [SkippableFact]
    public async Task ClaimBatch_TakesUpToMaxOldestFirst_RacingBatchesNeverShareARun()
    {
        for (var i = 0; i < 20; i++)
        {
            var thread = await NewThreadAsync($"thread_b{i:D2}");
            await Stores.Runs.TryCreateAsync(NewRun($"run_b{i:D2}", thread), [], CancellationToken.None);
        }
        var lease = TimeSpan.FromMinutes(1);
        var first = await Stores.Runs.ClaimAsync("node-first", 3, T0, lease, CancellationToken.None);
        Assert.Equal(["run_b00", "run_b01", "run_b02"], first.Select(r => r.Run.Id));
        Assert.All(first, r => Assert.Equal(RunStatus.InProgress, r.Run.Status));

        var batches = await Task.WhenAll(Enumerable.Range(0, 6).Select(i => Task.Run(() =>
            Stores.Runs.ClaimAsync($"node-{i}", 4, T0, lease, CancellationToken.None))));
        var claimed = batches.SelectMany(b => b).Select(r => r.Run.Id).ToList();
        Assert.Equal(17, claimed.Count);
        Assert.Equal(17, claimed.Distinct().Count());
        Assert.All(batches, b => Assert.True(b.Count <= 4));
        Assert.All(batches, b => Assert.Equal(b.Select(r => r.Run.Id).Order(StringComparer.Ordinal), b.Select(r => r.Run.Id)));
        Assert.Empty(await Stores.Runs.ClaimAsync("late", 4, T0, lease, CancellationToken.None));
        // Each claimed run is leased to the node whose batch returned it.
        foreach (var (batch, i) in batches.Select((b, i) => (b, i)))
        {
            foreach (var claim in batch)
            {
                Assert.Equal(RunStatus.InProgress, await Stores.Runs.RenewLeaseAsync(claim.Run.Id, $"node-{i}", T0.AddSeconds(30), CancellationToken.None));
            }
        }
    }

    [SkippableFact]
    public async Task Claim_StartsEachRunAsRunTransitionsApply_AndSaysWhetherItHadStartedBefore()
    {
        // The claim writes the start itself (PostgreSQL patches the document in SQL): it must be the table's start.
        var now = T0.AddSeconds(5).AddTicks(1234567);
        var fresh = NewRun("run_s1", await NewThreadAsync("thread_s1")) with { Metadata = new Dictionary<string, string> { ["k"] = "v" }, ExpiresAt = T0.AddMinutes(10) };
        var resumed = NewRun("run_s2", await NewThreadAsync("thread_s2")) with
        {
            StartedAt = T0.AddMinutes(-3),
            Usage = new RunUsage(5, 7, 12),
            RequiredAction = new RequiredAction(new SubmitToolOutputsAction([new RequiredToolCall("call_1", new FunctionCall("f", "{}"))])),
        };
        foreach (var run in new[] { fresh, resumed })
        {
            Assert.Null(await Stores.Runs.TryCreateAsync(run, [], CancellationToken.None));
        }

        var claimed = await Stores.Runs.ClaimAsync("node-s", 5, now, TimeSpan.FromSeconds(30), CancellationToken.None);

        Assert.Equal([false, true], claimed.Select(c => c.Resumed));
        foreach (var (original, claim) in new[] { fresh, resumed }.Zip(claimed))
        {
            var expected = Document(RunTransitions.Apply(original, RunStatus.InProgress, now));
            Assert.Equal(expected, Document(claim.Run));
            Assert.Equal(expected, Document((await Stores.Runs.FindByIdAsync(original.Id, CancellationToken.None))!));
        }
        Assert.Equal(now, claimed[0].Run.StartedAt);
        Assert.Equal(T0.AddMinutes(-3), claimed[1].Run.StartedAt);
        Assert.Null(claimed[1].Run.RequiredAction);
        // The status column moved with the document: the run is no longer claimable, and it is leased in progress.
        Assert.Empty(await Stores.Runs.ClaimAsync("node-t", 5, now.AddMinutes(5), TimeSpan.FromSeconds(30), CancellationToken.None));
        Assert.Equal(RunStatus.InProgress, await Stores.Runs.RenewLeaseAsync("run_s1", "node-s", now.AddSeconds(30), CancellationToken.None));
    }

    private static string Document(Run run) => System.Text.Json.JsonSerializer.Serialize(run, DomainJson.Default.Run);

    [SkippableFact]
    public async Task Claim_LeaseLapses_TheRunIsFoundLapsed_NotClaimedAgain_AndTheHolderKeepsItWhileRenewing()
    {
        var thread = await NewThreadAsync("thread_l");
        await Stores.Runs.TryCreateAsync(NewRun("run_l", thread), [], CancellationToken.None);
        var lease = TimeSpan.FromSeconds(30);
        Assert.Equal("run_l", (await Stores.Runs.ClaimNextAsync("node-a", T0, lease, CancellationToken.None))?.Run.Id);
        Assert.Null(await Stores.Runs.ClaimNextAsync("node-b", T0.AddSeconds(10), lease, CancellationToken.None));
        Assert.Equal(RunStatus.InProgress, await Stores.Runs.RenewLeaseAsync("run_l", "node-a", T0.AddSeconds(40), CancellationToken.None));
        Assert.Empty(await Stores.Runs.FindLapsedAsync(T0.AddSeconds(35), CancellationToken.None));

        // A started run is never claimed twice (tool calls are not idempotent): once its lease lapses it is the sweep's.
        Assert.Null(await Stores.Runs.ClaimNextAsync("node-b", T0.AddSeconds(41), lease, CancellationToken.None));
        Assert.Equal(["run_l"], (await Stores.Runs.FindLapsedAsync(T0.AddSeconds(41), CancellationToken.None)).Select(r => r.Id));
        Assert.Null(await Stores.Runs.RenewLeaseAsync("run_l", "node-b", T0.AddSeconds(80), CancellationToken.None));
    }

    [SkippableFact]
    public async Task FindLapsed_InProgressRunWhoseLeaseEnded_IsFound_AndLeavingInProgressReleasesTheLease()
    {
        var thread = await NewThreadAsync("thread_f");
        await Stores.Runs.TryCreateAsync(NewRun("run_f", thread), [], CancellationToken.None);
        var run = (await Stores.Runs.ClaimNextAsync("node-a", T0, TimeSpan.FromSeconds(30), CancellationToken.None))!.Run;
        Assert.Empty(await Stores.Runs.FindLapsedAsync(T0.AddSeconds(10), CancellationToken.None));
        Assert.Equal(["run_f"], (await Stores.Runs.FindLapsedAsync(T0.AddSeconds(31), CancellationToken.None)).Select(r => r.Id));

        Assert.True(await Stores.Runs.UpdateAsync(run with { Status = RunStatus.Failed }, RunStatus.InProgress, null, CancellationToken.None));
        Assert.Empty(await Stores.Runs.FindLapsedAsync(T0.AddSeconds(31), CancellationToken.None));
        Assert.Null(await Stores.Runs.RenewLeaseAsync("run_f", "node-a", T0.AddSeconds(60), CancellationToken.None));
        Assert.Null(await Stores.Runs.FindActiveAsync("p1", thread, CancellationToken.None));
    }

    [SkippableFact]
    public async Task FindExpired_RequiresActionPastExpiry_IsFound()
    {
        var thread = await NewThreadAsync("thread_e");
        await Stores.Runs.TryCreateAsync(NewRun("run_e", thread) with { Status = RunStatus.RequiresAction, ExpiresAt = T0.AddMinutes(10) }, [], CancellationToken.None);
        Assert.Empty(await Stores.Runs.FindExpiredAsync(T0.AddMinutes(9), CancellationToken.None));
        Assert.Equal(["run_e"], (await Stores.Runs.FindExpiredAsync(T0.AddMinutes(11), CancellationToken.None)).Select(r => r.Id));
    }

    [SkippableFact]
    public async Task Steps_CreateUpdateFindList_ScopedByProjectThreadAndRun()
    {
        var thread = await NewThreadAsync("thread_s");
        await Stores.Runs.TryCreateAsync(NewRun("run_s", thread), [], CancellationToken.None);
        for (var i = 0; i < 5; i++)
        {
            await Stores.Steps.CreateAsync(NewStep($"step_s{i}", "run_s", thread), CancellationToken.None);
        }
        Assert.True(await Stores.Steps.UpdateAsync(NewStep("step_s0", "run_s", thread, RunStepStatus.Completed), CancellationToken.None));
        Assert.Equal(RunStepStatus.Completed, (await Stores.Steps.FindAsync("p1", thread, "run_s", "step_s0", CancellationToken.None))!.Status);
        Assert.Null(await Stores.Steps.FindAsync("p2", thread, "run_s", "step_s0", CancellationToken.None));
        Assert.Null(await Stores.Steps.FindAsync("p1", thread, "run_other", "step_s0", CancellationToken.None));
        var page = await Stores.Steps.ListAsync("p1", thread, "run_s", new PageRequest(2, Ascending: true, After: "step_s1"), CancellationToken.None);
        Assert.Equal(["step_s2", "step_s3"], page.Items.Select(s => s.Id));
        Assert.True(page.HasMore);

        Assert.True(await Stores.Threads.DeleteAsync("p1", thread, CancellationToken.None));
        Assert.Empty(await Stores.Steps.ListAllAsync("run_s", CancellationToken.None));
        Assert.Null(await Stores.Runs.FindByIdAsync("run_s", CancellationToken.None));
    }

    [SkippableFact]
    public async Task FindLastRunWithBuiltInCall_NewestRunWithinTheLookBack_NotFooledByTheNameInAnotherCallsText()
    {
        var thread = await NewThreadAsync("thread_b");
        for (var i = 0; i < 5; i++)
        {
            await Stores.Runs.TryCreateAsync(NewRun($"run_b{i}", thread, RunStatus.Completed), [], CancellationToken.None);
        }
        RunStep WithCall(string id, string runId, string name, string output) => NewStep(id, runId, thread) with
        {
            BuiltInCalls = new Dictionary<string, BuiltInCallRecord> { ["call_" + id] = new(name, "{}", output) },
        };
        await Stores.Steps.CreateAsync(WithCall("step_b1", "run_b1", "code_interpreter", "41"), CancellationToken.None);
        // The tool's name inside another call's text matches the query's text filter, but not the call's name.
        await Stores.Steps.CreateAsync(WithCall("step_b3", "run_b3", "file_search", "see \"code_interpreter\""), CancellationToken.None);
        await Stores.Steps.CreateAsync(NewStep("step_b4", "run_b4", thread), CancellationToken.None);

        Assert.Equal("run_b1", await Stores.Steps.FindLastRunWithBuiltInCallAsync("p1", thread, "code_interpreter", 20, CancellationToken.None));
        Assert.Null(await Stores.Steps.FindLastRunWithBuiltInCallAsync("p1", thread, "code_interpreter", 3, CancellationToken.None));
        Assert.Null(await Stores.Steps.FindLastRunWithBuiltInCallAsync("p2", thread, "code_interpreter", 20, CancellationToken.None));
        Assert.Null(await Stores.Steps.FindLastRunWithBuiltInCallAsync("p1", "thread_other", "code_interpreter", 20, CancellationToken.None));
        Assert.Equal("run_b3", await Stores.Steps.FindLastRunWithBuiltInCallAsync("p1", thread, "file_search", 20, CancellationToken.None));

        await Stores.Steps.CreateAsync(WithCall("step_b4b", "run_b4", "code_interpreter", "42"), CancellationToken.None);
        Assert.Equal("run_b4", await Stores.Steps.FindLastRunWithBuiltInCallAsync("p1", thread, "code_interpreter", 1, CancellationToken.None));
    }

    [SkippableFact]
    public async Task Runs_ListAndFind_ScopedByProjectAndThread()
    {
        var thread = await NewThreadAsync("thread_p");
        for (var i = 0; i < 3; i++)
        {
            await Stores.Runs.TryCreateAsync(NewRun($"run_p{i}", thread, RunStatus.Completed), [], CancellationToken.None);
        }
        Assert.Equal(["run_p2", "run_p1", "run_p0"], (await Stores.Runs.ListAsync("p1", thread, new PageRequest(), CancellationToken.None)).Items.Select(r => r.Id));
        Assert.Empty((await Stores.Runs.ListAsync("p2", thread, new PageRequest(), CancellationToken.None)).Items);
        Assert.Null(await Stores.Runs.FindAsync("p2", thread, "run_p0", CancellationToken.None));
        Assert.Null(await Stores.Runs.FindAsync("p1", "thread_other", "run_p0", CancellationToken.None));
        Assert.Equal("be brief", (await Stores.Runs.FindAsync("p1", thread, "run_p0", CancellationToken.None))!.Instructions);
    }
}

public sealed class SqliteRunStoreTests : RunStoreContract<SqliteProvider>;

public sealed class PostgresRunStoreTests : RunStoreContract<PostgresProvider>;

/// <summary>The contract's shorthand for a claim of one run.</summary>
internal static class RunStoreClaims
{
    public static async Task<ClaimedRun?> ClaimNextAsync(this IRunStore runs, string nodeId, DateTimeOffset now, TimeSpan lease, CancellationToken cancellationToken) =>
        await runs.ClaimAsync(nodeId, 1, now, lease, cancellationToken) is [var claimed] ? claimed : null;
}
