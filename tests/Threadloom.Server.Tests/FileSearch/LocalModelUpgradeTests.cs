using System.Text;
using Microsoft.Extensions.DependencyInjection;
using Threadloom.Core.Ingestion;
using Threadloom.Core.Storage;
using Threadloom.Server.Auth;

namespace Threadloom.Server.Tests.FileSearch;

/// <summary>
/// Issue #11: int8 weights became the built-in model's default for new stores. A store built before (float weights)
/// keeps its model for its whole life (issue #4): its vectors are searched with float query vectors and new files are
/// embedded with the float model, while new stores get int8.
/// </summary>
public sealed class LocalModelUpgradeTests
{
    private const string Pets = "Dogs need a daily walk and fresh water. A dog that is bored chews the furniture. Brush the coat weekly.";
    private const string Taxes = "Quarterly tax returns are due in April, July, October and January. Keep every receipt for deductions.";
    private const string Cats = "Cats sleep most of the day, curled up on a warm windowsill, and hunt at dusk.";

    [Fact]
    public async Task FloatStore_AfterInt8BecameTheDefault_KeepsItsModel_ForSearchAndNewFiles()
    {
        var directory = Path.Combine(Path.GetTempPath(), "threadloom-upgrade-" + Guid.NewGuid().ToString("N"));
        string old, pets;
        await using (var before = await FileSearchServer.StartAsync(directory, true, "--Embeddings:LocalInt8", "false"))
        {
            pets = await before.UploadAsync("pets.txt", Encoding.UTF8.GetBytes(Pets));
            var taxes = await before.UploadAsync("taxes.txt", Encoding.UTF8.GetBytes(Taxes));
            old = (await before.OkAsync(before.PostAsync("vector_stores", $$"""{"file_ids":["{{pets}}","{{taxes}}"]}"""))).GetProperty("id").GetString()!;
            Assert.Equal(2, (await before.WaitUntilDoneAsync($"vector_stores/{old}")).GetProperty("file_counts").GetProperty("completed").GetInt32());
            Assert.Equal(MiniLmEmbeddingGenerator.ModelId, (await ModelOfAsync(before, old))?.Model);
        }

        await using var after = await FileSearchServer.StartAsync(directory, false);

        // Words in neither file: only the vectors can find the pets file, so the old store's vectors are searched.
        Assert.Equal(pets, await TopFileAsync(after, old, "puppy exercise"));
        var cats = await after.UploadAsync("cats.txt", Encoding.UTF8.GetBytes(Cats));
        await after.OkAsync(after.PostAsync($"vector_stores/{old}/files", $$"""{"file_id":"{{cats}}"}"""));
        Assert.Equal("completed", (await after.WaitUntilDoneAsync($"vector_stores/{old}/files/{cats}")).GetProperty("status").GetString());
        Assert.Equal(MiniLmEmbeddingGenerator.ModelId, (await ModelOfAsync(after, old))?.Model);
        Assert.Equal(cats, await TopFileAsync(after, old, "kitten naps"));

        var fresh = (await after.OkAsync(after.PostAsync("vector_stores", $$"""{"file_ids":["{{pets}}","{{cats}}"]}"""))).GetProperty("id").GetString()!;
        Assert.Equal(2, (await after.WaitUntilDoneAsync($"vector_stores/{fresh}")).GetProperty("file_counts").GetProperty("completed").GetInt32());
        Assert.Equal(MiniLmEmbeddingGenerator.Int8ModelId, (await ModelOfAsync(after, fresh))?.Model);
        Assert.Equal(pets, await TopFileAsync(after, fresh, "puppy exercise"));
    }

    private static Task<ChunkStoreModel?> ModelOfAsync(FileSearchServer server, string store) =>
        server.Services.GetRequiredService<IChunkIndex>().GetEmbeddingModelAsync(server.Services.GetRequiredService<DevMode>().ProjectId, store, CancellationToken.None);

    private static async Task<string?> TopFileAsync(FileSearchServer server, string store, string query)
    {
        var data = (await server.OkAsync(server.PostAsync($"vector_stores/{store}/search", $$"""{"query":"{{query}}"}"""))).GetProperty("data");
        return data.GetArrayLength() == 0 ? null : data[0].GetProperty("file_id").GetString();
    }
}
