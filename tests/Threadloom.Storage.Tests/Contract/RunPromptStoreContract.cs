using Microsoft.Extensions.DependencyInjection;
using Threadloom.Core.Domain;
using Threadloom.Core.Storage;

namespace Threadloom.Storage.Tests.Contract;

/// <summary>Run prompts (issue #13): turns in order, scoped by project and thread, deleted with their thread.</summary>
public abstract class RunPromptStoreContract<TProvider> : ContractTests<TProvider> where TProvider : ITestStorageProvider, new()
{
    private static readonly DateTimeOffset T0 = DateTimeOffset.FromUnixTimeMilliseconds(1_700_000_000_123);

    private IRunPromptStore Prompts => Storage.Services.GetRequiredService<IRunPromptStore>();

    [SkippableFact]
    public async Task Add_NumbersTurnsPerRun_AndListReturnsThemInOrder()
    {
        Assert.Equal(1, await Prompts.AddAsync("p1", "thread_a", "run_a", T0, """{"n":1}""", CancellationToken.None));
        Assert.Equal(1, await Prompts.AddAsync("p1", "thread_a", "run_b", T0, """{"n":"b"}""", CancellationToken.None));
        Assert.Equal(2, await Prompts.AddAsync("p1", "thread_a", "run_a", T0.AddMilliseconds(5), """{"n":2,"text":"caf\u00e9 \u0000 \ud83d\ude00"}""", CancellationToken.None));

        var listed = await Prompts.ListAsync("p1", "thread_a", "run_a", CancellationToken.None);
        Assert.Equal([1, 2], listed.Select(p => p.Turn));
        Assert.Equal(T0.AddMilliseconds(5), listed[1].CreatedAt);
        Assert.Equal("""{"n":2,"text":"caf\u00e9 \u0000 \ud83d\ude00"}""", listed[1].Document);
        Assert.All(listed, p => Assert.Equal(("p1", "thread_a", "run_a"), (p.ProjectId, p.ThreadId, p.RunId)));
    }

    [SkippableFact]
    public async Task List_OtherProjectOrOtherThread_FindsNothing()
    {
        await Prompts.AddAsync("p1", "thread_a", "run_a", T0, "{}", CancellationToken.None);
        Assert.Empty(await Prompts.ListAsync("p2", "thread_a", "run_a", CancellationToken.None));
        Assert.Empty(await Prompts.ListAsync("p1", "thread_other", "run_a", CancellationToken.None));
        Assert.Single(await Prompts.ListAsync("p1", "thread_a", "run_a", CancellationToken.None));
    }

    [SkippableFact]
    public async Task DeleteThread_DeletesItsPrompts_AndOnlyThose()
    {
        await Stores.Threads.CreateAsync(new AssistantThread("thread_d", "p1", T0, null, new Dictionary<string, string>()), [], CancellationToken.None);
        await Stores.Threads.CreateAsync(new AssistantThread("thread_k", "p1", T0, null, new Dictionary<string, string>()), [], CancellationToken.None);
        await Prompts.AddAsync("p1", "thread_d", "run_d", T0, "{}", CancellationToken.None);
        await Prompts.AddAsync("p1", "thread_k", "run_k", T0, "{}", CancellationToken.None);

        Assert.True(await Stores.Threads.DeleteAsync("p1", "thread_d", CancellationToken.None));

        Assert.Empty(await Prompts.ListAsync("p1", "thread_d", "run_d", CancellationToken.None));
        Assert.Single(await Prompts.ListAsync("p1", "thread_k", "run_k", CancellationToken.None));
        // A new run prompt on a reused run id starts again at turn 1.
        Assert.Equal(1, await Prompts.AddAsync("p1", "thread_d", "run_d", T0, "{}", CancellationToken.None));
    }
}

public sealed class SqliteRunPromptStoreTests : RunPromptStoreContract<SqliteProvider>;

public sealed class PostgresRunPromptStoreTests : RunPromptStoreContract<PostgresProvider>;
