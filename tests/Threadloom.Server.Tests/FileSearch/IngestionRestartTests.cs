using Microsoft.Extensions.DependencyInjection;
using Threadloom.Core.Storage;

namespace Threadloom.Server.Tests.FileSearch;

public sealed class IngestionRestartTests
{
    [Fact]
    public async Task QueuedFile_ServerRestarts_NextServerCompletesIt()
    {
        var directory = Path.Combine(Path.GetTempPath(), "threadloom-restart-" + Guid.NewGuid().ToString("N"));
        string storeId, fileId;
        await using (var first = await FileSearchServer.StartAsync(directory, keepData: true, "--IngestionWorker:Enabled", "false"))
        {
            fileId = await first.UploadScenarioFileAsync("HR/contoso-medical_leave.txt");
            storeId = (await first.OkAsync(first.PostAsync("vector_stores", $$"""{"file_ids":["{{fileId}}"]}"""))).GetProperty("id").GetString()!;
            Assert.Equal("in_progress", (await first.OkAsync(first.GetAsync($"vector_stores/{storeId}"))).GetProperty("status").GetString());
        }

        await using var second = await FileSearchServer.StartAsync(directory);
        var store = await second.WaitUntilDoneAsync($"vector_stores/{storeId}");
        Assert.Equal(1, store.GetProperty("file_counts").GetProperty("completed").GetInt32());
        var search = await second.OkAsync(second.PostAsync($"vector_stores/{storeId}/search", """{"query":"medical leave"}"""));
        Assert.Equal(fileId, search.GetProperty("data")[0].GetProperty("file_id").GetString());
    }

    [Fact]
    public async Task ClaimedFile_NodeDies_LeaseLapsesAndAnotherServerCompletesIt()
    {
        var directory = Path.Combine(Path.GetTempPath(), "threadloom-restart-" + Guid.NewGuid().ToString("N"));
        string storeId;
        await using (var first = await FileSearchServer.StartAsync(directory, keepData: true, "--IngestionWorker:Enabled", "false"))
        {
            var fileId = await first.UploadScenarioFileAsync("HR/contoso-401k.txt");
            storeId = (await first.OkAsync(first.PostAsync("vector_stores", $$"""{"file_ids":["{{fileId}}"]}"""))).GetProperty("id").GetString()!;
            // A node claims the job and dies without giving it back.
            var claimed = await first.Services.GetRequiredService<IIngestionJobQueue>()
                .ClaimNextAsync("dead-node", TimeProvider.System.GetUtcNow(), TimeSpan.FromSeconds(2), CancellationToken.None);
            Assert.Equal(fileId, claimed?.File.Id);
        }

        await using var second = await FileSearchServer.StartAsync(directory, false, "--IngestionWorker:Lease", "00:00:02");
        var store = await second.WaitUntilDoneAsync($"vector_stores/{storeId}");
        Assert.Equal("completed", store.GetProperty("status").GetString());
        Assert.Equal(1, store.GetProperty("file_counts").GetProperty("completed").GetInt32());
    }
}
