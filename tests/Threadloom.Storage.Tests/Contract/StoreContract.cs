using Microsoft.Extensions.DependencyInjection;
using Threadloom.Core.Domain;
using Threadloom.Core.Storage;
using Workers = Threadloom.Core.Workers;

namespace Threadloom.Storage.Tests.Contract;

/// <summary>Assistants, threads, messages, files, keys, the unit of work and migrations: every provider alike.</summary>
public abstract class StoreContract<TProvider> : ContractTests<TProvider> where TProvider : ITestStorageProvider, new()
{
    private static readonly DateTimeOffset SameSecond = DateTimeOffset.FromUnixTimeSeconds(1_700_000_000);

    private static Assistant NewAssistant(string project, int i) =>
        new($"asst_{project}_{i:D3}", project, SameSecond, "gpt-4o", $"a{i}", null, null, [new CodeInterpreterToolDefinition()], null,
            new Dictionary<string, string> { ["i"] = $"{i}" }, null, null, null);

    [SkippableFact]
    public async Task Assistant_RoundTripsEveryField()
    {
        var assistant = NewAssistant("p1", 1) with
        {
            Tools = [new FunctionToolDefinition(new FunctionDefinition("f", "d", System.Text.Json.JsonDocument.Parse("""{"type":"object"}""").RootElement, true)), new FileSearchToolDefinition(new FileSearchToolOptions(5))],
            ToolResources = new ToolResources(new CodeInterpreterResources(["file-1"]), new FileSearchResources(["vs_1"])),
            ResponseFormat = new ResponseFormat("json_object"),
            Temperature = 0.5,
        };
        await Stores.Assistants.CreateAsync(assistant, CancellationToken.None);
        var found = await Stores.Assistants.FindAsync("p1", assistant.Id, CancellationToken.None);
        Assert.NotNull(found);
        Assert.Equal(assistant.Tools.Count, found.Tools.Count);
        Assert.Equal("f", ((FunctionToolDefinition)found.Tools[0]).Function.Name);
        Assert.Equal(5, ((FileSearchToolDefinition)found.Tools[1]).FileSearch!.MaxNumResults);
        Assert.Equal("file-1", found.ToolResources!.CodeInterpreter!.FileIds[0]);
        Assert.Equal("json_object", found.ResponseFormat!.Type);
        Assert.Equal(0.5, found.Temperature);
        Assert.Equal(assistant.CreatedAt, found.CreatedAt);
    }

    [SkippableFact]
    public async Task Find_OtherProject_IsNull()
    {
        var assistant = NewAssistant("p1", 2);
        await Stores.Assistants.CreateAsync(assistant, CancellationToken.None);
        Assert.Null(await Stores.Assistants.FindAsync("p2", assistant.Id, CancellationToken.None));
        Assert.False(await Stores.Assistants.DeleteAsync("p2", assistant.Id, CancellationToken.None));
        Assert.False(await Stores.Assistants.UpdateAsync(assistant with { ProjectId = "p2", Name = "x" }, CancellationToken.None));
        Assert.Equal("a2", (await Stores.Assistants.FindAsync("p1", assistant.Id, CancellationToken.None))!.Name);
    }

    [SkippableFact]
    public async Task List_SameSecond_StableCursorPaging()
    {
        for (var i = 0; i < 25; i++)
        {
            await Stores.Assistants.CreateAsync(NewAssistant("pl", i), CancellationToken.None);
        }
        var seen = new List<string>();
        string? after = null;
        Page<Assistant> page;
        do
        {
            page = await Stores.Assistants.ListAsync("pl", new PageRequest(10, Ascending: true, After: after), CancellationToken.None);
            seen.AddRange(page.Items.Select(a => a.Id));
            after = page.Items.Count > 0 ? page.Items[^1].Id : null;
        }
        while (page.HasMore);
        Assert.Equal(Enumerable.Range(0, 25).Select(i => $"asst_pl_{i:D3}"), seen);

        var desc = await Stores.Assistants.ListAsync("pl", new PageRequest(3, Ascending: false, Before: "asst_pl_010"), CancellationToken.None);
        Assert.Equal(["asst_pl_013", "asst_pl_012", "asst_pl_011"], desc.Items.Select(a => a.Id));
        await Assert.ThrowsAsync<UnknownCursorException>(() => Stores.Assistants.ListAsync("pl", new PageRequest(After: "asst_none"), CancellationToken.None));
        await Assert.ThrowsAsync<UnknownCursorException>(() => Stores.Assistants.ListAsync("other", new PageRequest(After: "asst_pl_001"), CancellationToken.None));
    }

    [SkippableFact]
    public async Task ThreadDelete_CascadesToMessages()
    {
        var thread = new AssistantThread("thread_c1", "p1", SameSecond, null, new Dictionary<string, string>());
        var message = new ThreadMessage("msg_c1", "p1", SameSecond, thread.Id, MessageRole.User, [new TextContent(new MessageText("hi", []))],
            MessageStatus.Completed, [], new Dictionary<string, string>());
        await Stores.Threads.CreateAsync(thread, [message], CancellationToken.None);
        Assert.NotNull(await Stores.Messages.FindAsync("p1", thread.Id, message.Id, CancellationToken.None));
        Assert.True(await Stores.Threads.DeleteAsync("p1", thread.Id, CancellationToken.None));
        Assert.Null(await Stores.Messages.FindAsync("p1", thread.Id, message.Id, CancellationToken.None));
        Assert.False(await Stores.Threads.DeleteAsync("p1", thread.Id, CancellationToken.None));
    }

    [SkippableFact]
    public async Task Messages_FilterByRun()
    {
        var thread = new AssistantThread("thread_r1", "p1", SameSecond, null, new Dictionary<string, string>());
        await Stores.Threads.CreateAsync(thread, [], CancellationToken.None);
        foreach (var (id, run) in new[] { ("msg_r1", (string?)null), ("msg_r2", "run_1"), ("msg_r3", "run_1") })
        {
            await Stores.Messages.CreateAsync(new ThreadMessage(id, "p1", SameSecond, thread.Id, MessageRole.Assistant, [], MessageStatus.Completed, [], new Dictionary<string, string>(), RunId: run), CancellationToken.None);
        }
        var page = await Stores.Messages.ListAsync("p1", thread.Id, "run_1", new PageRequest(), CancellationToken.None);
        Assert.Equal(["msg_r3", "msg_r2"], page.Items.Select(m => m.Id));
    }

    [SkippableFact]
    public async Task Files_FindMissing_IsScopedByProject()
    {
        var blob = await Stores.Blobs.WriteAsync(new MemoryStream("abc"u8.ToArray()), 100, CancellationToken.None);
        await Stores.Files.CreateAsync(new StoredFile("file-a", "p1", SameSecond, "a.txt", "assistants", 3, blob.Key), CancellationToken.None);
        Assert.Equal(["file-b"], await Stores.Files.FindMissingAsync("p1", ["file-a", "file-b"], CancellationToken.None));
        Assert.Equal(["file-a"], await Stores.Files.FindMissingAsync("p2", ["file-a"], CancellationToken.None));
        Assert.Equal("a.txt", (await Stores.Files.FindAsync("p1", "file-a", CancellationToken.None))!.Filename);
        var page = await Stores.Files.ListAsync("p1", "assistants", new PageRequest(), CancellationToken.None);
        Assert.Equal(["file-a"], page.Items.Select(f => f.Id));
        Assert.Empty((await Stores.Files.ListAsync("p1", "vision", new PageRequest(), CancellationToken.None)).Items);
        Assert.False(await Stores.Files.DeleteAsync("p2", "file-a", CancellationToken.None));
        Assert.True(await Stores.Files.DeleteAsync("p1", "file-a", CancellationToken.None));
        Assert.Null(await Stores.Files.FindAsync("p1", "file-a", CancellationToken.None));
    }

    [SkippableFact]
    public async Task UnitOfWork_WorkThatThrows_WritesNothing()
    {
        var thread = new AssistantThread("thread_u1", "p1", SameSecond, null, new Dictionary<string, string>());
        var message = new ThreadMessage("msg_u1", "p1", SameSecond, thread.Id, MessageRole.User, [], MessageStatus.Completed, [], new Dictionary<string, string>());
        await Assert.ThrowsAsync<InvalidOperationException>(() => Stores.UnitOfWork.ExecuteAsync<bool>(async (w, ct) =>
        {
            await w.InsertThreadAsync(thread, ct);
            await w.InsertMessageAsync(message, ct);
            throw new InvalidOperationException("abort");
        }, CancellationToken.None));
        Assert.Null(await Stores.Threads.FindAsync("p1", thread.Id, CancellationToken.None));
        Assert.Null(await Stores.Messages.FindAsync("p1", thread.Id, message.Id, CancellationToken.None));

        await Stores.UnitOfWork.CreateThreadAsync(thread, [message], CancellationToken.None);
        Assert.NotNull(await Stores.Messages.FindAsync("p1", thread.Id, message.Id, CancellationToken.None));
        Assert.True(await Stores.UnitOfWork.ExecuteAsync((w, ct) => w.UpdateMessageAsync(message with { Status = MessageStatus.Incomplete }, ct), CancellationToken.None));
        Assert.Equal(MessageStatus.Incomplete, (await Stores.Messages.FindAsync("p1", thread.Id, message.Id, CancellationToken.None))!.Status);
    }

    [SkippableFact]
    public async Task UnitOfWork_AStatementThatFails_WritesNothingTheUnitWroteBeforeIt()
    {
        // Nothing is read back before the failing insert (PostgreSQL sends such a unit as one batch, issue #12).
        var thread = new AssistantThread("thread_u2", "p1", SameSecond, null, new Dictionary<string, string>());
        var message = new ThreadMessage("msg_u2", "p1", SameSecond, thread.Id, MessageRole.User, [], MessageStatus.Completed, [], new Dictionary<string, string>());
        await Assert.ThrowsAnyAsync<Exception>(() => Stores.UnitOfWork.CreateThreadAsync(thread, [message, message], CancellationToken.None));
        Assert.Null(await Stores.Threads.FindAsync("p1", thread.Id, CancellationToken.None));
        Assert.Null(await Stores.Messages.FindAsync("p1", thread.Id, message.Id, CancellationToken.None));
    }

    [SkippableFact]
    public async Task UnitOfWork_AResultReadMidUnit_SeesTheUnitsEarlierWrites_AndAFailureAfterItWritesNothing()
    {
        var thread = new AssistantThread("thread_u3", "p1", SameSecond, null, new Dictionary<string, string>());
        var message = new ThreadMessage("msg_u3", "p1", SameSecond, thread.Id, MessageRole.User, [], MessageStatus.InProgress, [], new Dictionary<string, string>());
        bool? updated = null;
        await Assert.ThrowsAnyAsync<Exception>(() => Stores.UnitOfWork.ExecuteAsync<bool>(async (w, ct) =>
        {
            await w.InsertThreadAsync(thread, ct);
            await w.InsertMessageAsync(message, ct);
            updated = await w.UpdateMessageAsync(message with { Status = MessageStatus.Completed }, ct);
            await w.InsertMessageAsync(message, ct); // duplicate id: fails, now or at commit
            return true;
        }, CancellationToken.None));
        Assert.True(updated, "the update finds the message inserted just before it, in the same unit");
        Assert.Null(await Stores.Threads.FindAsync("p1", thread.Id, CancellationToken.None));
        Assert.Null(await Stores.Messages.FindAsync("p1", thread.Id, message.Id, CancellationToken.None));

        Assert.True(await Stores.UnitOfWork.ExecuteAsync(async (w, ct) =>
        {
            await w.InsertThreadAsync(thread, ct);
            await w.InsertMessageAsync(message, ct);
            return await w.UpdateMessageAsync(message with { Status = MessageStatus.Completed }, ct);
        }, CancellationToken.None));
        Assert.Equal(MessageStatus.Completed, (await Stores.Messages.FindAsync("p1", thread.Id, message.Id, CancellationToken.None))!.Status);
    }

    [SkippableFact]
    public async Task Migrate_SeveralNodesStartingAtOnceOnAnEmptyDatabase_AllSucceed()
    {
        _ = Storage;
        await using var fresh = await new TProvider().CreateAsync(migrate: false);
        var nodes = Enumerable.Range(0, 4).Select(_ => fresh.NewNode()).ToList();
        using var start = new Barrier(nodes.Count);
        await Task.WhenAll(nodes.Select(n => Task.Run(async () =>
        {
            start.SignalAndWait();
            await n.GetRequiredService<IMigrator>().MigrateAsync(CancellationToken.None);
        })));
        // Every node sees one schema; migrating again is a no-op.
        var assistant = NewAssistant("pm", 1);
        await nodes[0].GetRequiredService<IAssistantStore>().CreateAsync(assistant, CancellationToken.None);
        await fresh.Services.GetRequiredService<IMigrator>().MigrateAsync(CancellationToken.None);
        Assert.NotNull(await nodes[3].GetRequiredService<IAssistantStore>().FindAsync("pm", assistant.Id, CancellationToken.None));
    }

    [SkippableFact]
    public async Task Keys_FoundByHash()
    {
        var project = await Stores.Projects.GetOrCreateAsync("team", CancellationToken.None);
        Assert.Equal(project.Id, (await Stores.Projects.GetOrCreateAsync("team", CancellationToken.None)).Id);
        Assert.False((await Stores.Projects.GetKeySetStateAsync(CancellationToken.None)).KeysConfigured);
        await Stores.Projects.CreateKeyAsync(new ApiKey("key_1", project.Id, "k", "hash1", SameSecond), CancellationToken.None);
        Assert.True((await Stores.Projects.GetKeySetStateAsync(CancellationToken.None)).KeysConfigured);
        Assert.Equal(project.Id, (await Stores.Projects.FindKeyByHashAsync("hash1", CancellationToken.None))!.ProjectId);
        Assert.Null(await Stores.Projects.FindKeyByHashAsync("hash2", CancellationToken.None));
    }

    [Fact]
    public async Task Issue9_KeyRevoke_HidesOnlyThatKey_MovesTheVersion_AndKeysStayConfigured()
    {
        var a = await Stores.Projects.GetOrCreateAsync("team-a", CancellationToken.None);
        var b = await Stores.Projects.GetOrCreateAsync("team-b", CancellationToken.None);
        var empty = await Stores.Projects.GetKeySetStateAsync(CancellationToken.None);
        await Stores.Projects.CreateKeyAsync(new ApiKey("key_a", a.Id, "ka", "hash-a", SameSecond, "sk-tl-…aaaa"), CancellationToken.None);
        var afterA = await Stores.Projects.GetKeySetStateAsync(CancellationToken.None);
        await Stores.Projects.CreateKeyAsync(new ApiKey("key_b", b.Id, "kb", "hash-b", SameSecond.AddSeconds(1)), CancellationToken.None);
        var afterB = await Stores.Projects.GetKeySetStateAsync(CancellationToken.None);
        Assert.True(afterA.Version > empty.Version && afterB.Version > afterA.Version);

        Assert.True(await Stores.Projects.RevokeKeyAsync("key_a", SameSecond.AddSeconds(5), CancellationToken.None));
        var afterRevoke = await Stores.Projects.GetKeySetStateAsync(CancellationToken.None);
        Assert.True(afterRevoke.Version > afterB.Version);
        Assert.Null(await Stores.Projects.FindKeyByHashAsync("hash-a", CancellationToken.None));
        Assert.Equal(b.Id, (await Stores.Projects.FindKeyByHashAsync("hash-b", CancellationToken.None))!.ProjectId);
        Assert.False(await Stores.Projects.RevokeKeyAsync("key_a", SameSecond.AddSeconds(6), CancellationToken.None));
        Assert.False(await Stores.Projects.RevokeKeyAsync("key_none", SameSecond.AddSeconds(6), CancellationToken.None));
        Assert.Equal(afterRevoke, await Stores.Projects.GetKeySetStateAsync(CancellationToken.None));

        // The last active key revoked: keys stay configured (dev mode never comes back by itself).
        Assert.True(await Stores.Projects.RevokeKeyAsync("key_b", SameSecond.AddSeconds(7), CancellationToken.None));
        Assert.True((await Stores.Projects.GetKeySetStateAsync(CancellationToken.None)).KeysConfigured);

        var listed = await Stores.Projects.ListKeysAsync(CancellationToken.None);
        Assert.Equal(["key_a", "key_b"], listed.Select(l => l.Key.Id));
        Assert.Equal(["team-a", "team-b"], listed.Select(l => l.ProjectName));
        Assert.Equal(SameSecond.AddSeconds(5), listed[0].Key.RevokedAt);
        Assert.Equal("sk-tl-…aaaa", listed[0].Key.Hint);
        Assert.Null(listed[1].Key.Hint);
    }

    [Fact]
    public async Task Issue9_KeyUse_KeepsTheLatestTime_AndDoesNotMoveTheVersion()
    {
        var a = await Stores.Projects.GetOrCreateAsync("team-use", CancellationToken.None);
        await Stores.Projects.CreateKeyAsync(new ApiKey("key_u", a.Id, "ku", "hash-u", SameSecond), CancellationToken.None);
        var before = await Stores.Projects.GetKeySetStateAsync(CancellationToken.None);
        await Stores.Projects.RecordKeyUseAsync("key_u", SameSecond.AddMinutes(2), CancellationToken.None);
        await Stores.Projects.RecordKeyUseAsync("key_u", SameSecond.AddMinutes(1), CancellationToken.None);
        Assert.Equal(SameSecond.AddMinutes(2), (await Stores.Projects.FindKeyByHashAsync("hash-u", CancellationToken.None))!.LastUsedAt);
        Assert.Equal(before, await Stores.Projects.GetKeySetStateAsync(CancellationToken.None));
    }

    private static Run NewRun(string id, string project, string thread) =>
        new(id, project, SameSecond, thread, "asst_1", RunStatus.Queued, "gpt-4o", "", [], new Dictionary<string, string>(),
            1.0, 1.0, null, null, TruncationStrategy.Auto, ToolChoice.Auto, true, ResponseFormat.Auto);

    /// <summary>Creates a run and claims it for <paramref name="holder"/>, which starts it.</summary>
    private async Task<Run> LeasedRunAsync(string id, Workers.LeaseHolder holder, DateTimeOffset now)
    {
        var run = NewRun(id, "p-lease", "thread_" + id);
        Assert.Null(await Stores.Runs.TryCreateAsync(run, [], CancellationToken.None));
        var claimed = await Stores.Runs.ClaimNextAsync(holder.Value, now, TimeSpan.FromHours(1), CancellationToken.None);
        Assert.Equal(id, claimed?.Run.Id);
        return claimed!.Run;
    }

    [Fact]
    public async Task Issue9_RecoverPreviousLives_ReturnsOnlyThisNodesEarlierLives()
    {
        var now = DateTimeOffset.UtcNow;
        var current = new Workers.LeaseHolder("node1", "life2");
        await LeasedRunAsync("run_old_started", new Workers.LeaseHolder("node1", "life1"), now);
        await LeasedRunAsync("run_other_node", new Workers.LeaseHolder("node2", "life1"), now);
        await LeasedRunAsync("run_prefix_node", new Workers.LeaseHolder("node10", "life1"), now);
        await LeasedRunAsync("run_this_life", current, now);

        var recovered = await Stores.Runs.RecoverPreviousLivesAsync(current, CancellationToken.None);
        Assert.Equal(["run_old_started"], recovered.Select(r => r.Id));
        Assert.Equal(RunStatus.InProgress, recovered[0].Status);
        // The other leases are untouched: this life still holds its run, and node2's lease still names node2.
        Assert.Equal(RunStatus.InProgress, await Stores.Runs.RenewLeaseAsync("run_this_life", current.Value, now.AddHours(1), CancellationToken.None));
        Assert.Equal(RunStatus.InProgress, await Stores.Runs.RenewLeaseAsync("run_other_node", "node2/life1", now.AddHours(1), CancellationToken.None));
        Assert.Equal(RunStatus.InProgress, await Stores.Runs.RenewLeaseAsync("run_prefix_node", "node10/life1", now.AddHours(1), CancellationToken.None));
        Assert.Empty(await Stores.Runs.RecoverPreviousLivesAsync(new Workers.LeaseHolder("node4", "life1"), CancellationToken.None));
    }
}

public sealed class SqliteStoreTests : StoreContract<SqliteProvider>;

public sealed class PostgresStoreTests : StoreContract<PostgresProvider>;
