using Threadloom.Core.Storage;

namespace Threadloom.Storage.Tests.Contract;

/// <summary>
/// Keyword statistics, titles, offsets and scoping of the chunk index, every provider alike (issues #9 §3, #11).
/// Vectors are synthetic (the keyword side is under test), so no embedding model is needed.
/// </summary>
public abstract class ChunkIndexKeywordContract<TProvider> : ContractTests<TProvider> where TProvider : ITestStorageProvider, new()
{
    private const string Model = "contract-model";

    private IChunkIndex Index => Stores.ChunkIndex;

    private static IndexedChunk Chunk(int index, string text) => new(index, text, 0, text.Length, text.Split(' ').Length, null, null, new float[] { 1, 0, 0, 0 });

    private Task<ChunkWriteResult> WriteAsync(string project, string store, string file, params string[] texts) =>
        Index.ReplaceFileAsync(new ChunkSource(project, store, file, file + ".txt"), Model, texts.Select((text, i) => Chunk(i, text)).ToList(), CancellationToken.None);

    private async Task<List<(string FileId, string Text, double Score)>> KeywordsAsync(string project, string store, string query) =>
        (await Index.KeywordSearchAsync(project, store, query, 10, null, CancellationToken.None)).Select(h => (h.FileId, h.Text, h.Score)).ToList();

    [SkippableFact]
    public async Task Issue9_KeywordScores_OtherProjectIndexes_DoNotMove()
    {
        // Project A's ranking for a rare pair of words; then project B indexes 60 files full of one of them. With
        // statistics shared across projects, "zorblat" becomes common, its IDF falls and A's scores (and possibly
        // order) move: A could tell that other tenants' files contain the word.
        await WriteAsync("proj_a", "vs_a", "file-a1", "the zorblat quexil gathering is held every spring near the harbour",
            "quexil tokens are traded for ferry rides", "a zorblat is a small brass instrument");
        await WriteAsync("proj_a", "vs_a", "file-a2", "the harbour ferry leaves at noon", "zorblat zorblat quexil quexil festival guide");
        var before = await KeywordsAsync("proj_a", "vs_a", "zorblat quexil");
        Assert.Equal(4, before.Count);

        for (var i = 0; i < 60; i++)
        {
            await WriteAsync("proj_b", "vs_b", $"file-b{i}", $"report {i} mentions zorblat many times: zorblat, zorblat and a few unrelated words about weather");
        }
        var after = await KeywordsAsync("proj_a", "vs_a", "zorblat quexil");

        Assert.Equal(before, after);
        // B's own search sees its rows and nothing of A's.
        var b = await KeywordsAsync("proj_b", "vs_b", "zorblat quexil");
        Assert.Equal(10, b.Count);
        Assert.All(b, h => Assert.StartsWith("file-b", h.FileId, StringComparison.Ordinal));
    }

    [SkippableFact]
    public async Task KeywordSearch_TitleOfTheFile_FindsEveryChunk()
    {
        var chunks = new[] { "first part of the text", "second part of the text" }.Select((text, i) => Chunk(i, text)).ToList();
        await Index.ReplaceFileAsync(new ChunkSource("proj_a", "vs_t", "file-t", "t.txt", Title: "zebrafish husbandry"), Model, chunks, CancellationToken.None);
        Assert.Equal(2, (await KeywordsAsync("proj_a", "vs_t", "zebrafish")).Count);
    }

    [SkippableFact]
    public async Task Hits_CarryTheirTextAndOffsets()
    {
        var document = "alpha beta gamma. delta epsilon zeta.";
        IndexedChunk[] chunks = [new(0, document[..17], 0, 17, 3, null, null, new float[] { 1, 0, 0, 0 }), new(1, document[18..], 18, document.Length, 3, 2, "h", new float[] { 0, 1, 0, 0 })];
        await Index.ReplaceFileAsync(new ChunkSource("proj_a", "vs_o", "file-o", "o.txt"), Model, chunks, CancellationToken.None);
        var keyword = Assert.Single(await Index.KeywordSearchAsync("proj_a", "vs_o", "epsilon", 5, null, CancellationToken.None));
        var vector = (await Index.VectorSearchAsync("proj_a", "vs_o", new float[] { 0, 1, 0, 0 }, 1, null, CancellationToken.None))[0];
        foreach (var hit in new[] { keyword, vector })
        {
            Assert.Equal((18, document.Length, 2, "h"), (hit.StartChar, hit.EndChar, hit.PageNumber, hit.Heading));
            Assert.Equal(document[hit.StartChar..hit.EndChar], hit.Text);
        }
    }

    [SkippableFact]
    public async Task KeywordSearch_OtherProjectsStore_FindsNothing()
    {
        await WriteAsync("proj_a", "vs_shared_name", "file-a", "lighthouse keeper logbook");
        Assert.Empty(await KeywordsAsync("proj_b", "vs_shared_name", "lighthouse"));
        Assert.Single(await KeywordsAsync("proj_a", "vs_shared_name", "lighthouse"));
    }

    [SkippableFact]
    public async Task KeywordSearch_AfterDeleteAndReplace_SeesOnlyCurrentRows()
    {
        await WriteAsync("proj_a", "vs_r", "file-1", "old text about a lighthouse");
        await WriteAsync("proj_a", "vs_r", "file-1", "new text about a windmill");
        Assert.Empty(await KeywordsAsync("proj_a", "vs_r", "lighthouse"));
        Assert.Single(await KeywordsAsync("proj_a", "vs_r", "windmill"));
        Assert.True(await Index.DeleteFileAsync("proj_a", "vs_r", "file-1", CancellationToken.None));
        Assert.Empty(await KeywordsAsync("proj_a", "vs_r", "windmill"));
        await WriteAsync("proj_a", "vs_r", "file-2", "a windmill again");
        Assert.Equal(1, await Index.DeleteVectorStoreAsync("proj_a", "vs_r", CancellationToken.None));
        Assert.Empty(await KeywordsAsync("proj_a", "vs_r", "windmill"));
    }
}

public sealed class SqliteChunkIndexKeywordTests : ChunkIndexKeywordContract<SqliteProvider>;

public sealed class PostgresChunkIndexKeywordTests : ChunkIndexKeywordContract<PostgresProvider>;
