using Microsoft.Extensions.DependencyInjection;
using Threadloom.Core.Domain;
using Threadloom.Core.Storage;

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
        Assert.False(await Stores.Projects.AnyKeysAsync(CancellationToken.None));
        await Stores.Projects.CreateKeyAsync(new ApiKey("key_1", project.Id, "k", "hash1", SameSecond), CancellationToken.None);
        Assert.True(await Stores.Projects.AnyKeysAsync(CancellationToken.None));
        Assert.Equal(project.Id, (await Stores.Projects.FindKeyByHashAsync("hash1", CancellationToken.None))!.ProjectId);
        Assert.Null(await Stores.Projects.FindKeyByHashAsync("hash2", CancellationToken.None));
    }
}

public sealed class SqliteStoreTests : StoreContract<SqliteProvider>;

public sealed class PostgresStoreTests : StoreContract<PostgresProvider>;
