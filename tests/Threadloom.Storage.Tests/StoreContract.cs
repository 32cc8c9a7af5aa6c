using Threadloom.Core.Domain;
using Threadloom.Core.Storage;

namespace Threadloom.Storage.Tests;

/// <summary>
/// The behaviour every storage dialect must have. A dialect's test class derives from this and supplies the stores;
/// the PostgreSQL stores will run the same suite.
/// </summary>
public abstract class StoreContract : IAsyncLifetime
{
    private static readonly DateTimeOffset SameSecond = DateTimeOffset.FromUnixTimeSeconds(1_700_000_000);

    protected abstract Task<StoreSet> CreateStoresAsync();

    protected StoreSet Stores { get; private set; } = null!;

    public async Task InitializeAsync() => Stores = await CreateStoresAsync();

    public virtual Task DisposeAsync() => Task.CompletedTask;

    private static Assistant NewAssistant(string project, int i) =>
        new($"asst_{project}_{i:D3}", project, SameSecond, "gpt-4o", $"a{i}", null, null, [new CodeInterpreterToolDefinition()], null,
            new Dictionary<string, string> { ["i"] = $"{i}" }, null, null, null);

    [Fact]
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

    [Fact]
    public async Task Find_OtherProject_IsNull()
    {
        var assistant = NewAssistant("p1", 2);
        await Stores.Assistants.CreateAsync(assistant, CancellationToken.None);
        Assert.Null(await Stores.Assistants.FindAsync("p2", assistant.Id, CancellationToken.None));
        Assert.False(await Stores.Assistants.DeleteAsync("p2", assistant.Id, CancellationToken.None));
        Assert.False(await Stores.Assistants.UpdateAsync(assistant with { ProjectId = "p2", Name = "x" }, CancellationToken.None));
        Assert.Equal("a2", (await Stores.Assistants.FindAsync("p1", assistant.Id, CancellationToken.None))!.Name);
    }

    [Fact]
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

    [Fact]
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

    [Fact]
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

    [Fact]
    public async Task Files_FindMissingAndBlobReferences()
    {
        await Stores.Files.CreateAsync(new StoredFile("file-a", "p1", SameSecond, "a.txt", "assistants", 3, "abcdef0123456789"), CancellationToken.None);
        Assert.Equal(["file-b"], await Stores.Files.FindMissingAsync("p1", ["file-a", "file-b"], CancellationToken.None));
        Assert.Equal(["file-a"], await Stores.Files.FindMissingAsync("p2", ["file-a"], CancellationToken.None));
        Assert.True(await Stores.Files.IsBlobReferencedAsync("abcdef0123456789", CancellationToken.None));
        Assert.True(await Stores.Files.DeleteAsync("p1", "file-a", CancellationToken.None));
        Assert.False(await Stores.Files.IsBlobReferencedAsync("abcdef0123456789", CancellationToken.None));
    }

    [Fact]
    public async Task Blob_WriteIsAtomicAndLimited()
    {
        var info = await Stores.Blobs.WriteAsync(new MemoryStream("hello"u8.ToArray()), 100, CancellationToken.None);
        Assert.Equal(5, info.Length);
        await using (var read = Stores.Blobs.OpenRead(info.Key))
        {
            using var reader = new StreamReader(read);
            Assert.Equal("hello", await reader.ReadToEndAsync());
        }
        await Assert.ThrowsAsync<BlobTooLargeException>(() => Stores.Blobs.WriteAsync(new MemoryStream(new byte[101]), 100, CancellationToken.None));
    }

    [Fact]
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

public sealed record StoreSet(IAssistantStore Assistants, IThreadStore Threads, IMessageStore Messages, IFileStore Files, IProjectStore Projects, IBlobStore Blobs);
