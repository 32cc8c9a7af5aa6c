using System.Numerics.Tensors;
using Microsoft.Extensions.AI;
using Threadloom.Core.Ingestion;

namespace Threadloom.Core.Tests.Ingestion;

public sealed class MiniLmEmbeddingGeneratorTests : IClassFixture<MiniLmFixture>
{
    private readonly MiniLmEmbeddingGenerator _generator;

    public MiniLmEmbeddingGeneratorTests(MiniLmFixture fixture) => _generator = fixture.Generator;

    private async Task<float[]> EmbedAsync(string text) =>
        (await _generator.GenerateAsync([text], cancellationToken: CancellationToken.None))[0].Vector.ToArray();

    [Fact]
    public async Task Generate_ReturnsUnitVectorsWithModelId()
    {
        var embeddings = await _generator.GenerateAsync(["hello world", ""], cancellationToken: CancellationToken.None);
        Assert.Equal(2, embeddings.Count);
        foreach (var e in embeddings)
        {
            Assert.Equal(MiniLmEmbeddingGenerator.Dimensions, e.Vector.Length);
            Assert.Equal(1f, TensorPrimitives.Norm(e.Vector.Span), 3);
            Assert.Equal(MiniLmEmbeddingGenerator.ModelId, e.ModelId);
        }
        Assert.Equal(MiniLmEmbeddingGenerator.ModelId, _generator.GetService<EmbeddingGeneratorMetadata>()?.DefaultModelId);
    }

    [Fact]
    public async Task Generate_WhitespaceIsCollapsed()
    {
        var a = await EmbedAsync("the quick brown fox\njumps\tover the lazy dog");
        var b = await EmbedAsync("the quick brown fox jumps over the lazy dog");
        Assert.True(TensorPrimitives.CosineSimilarity(a, b) > 0.9999f);
    }

    [Fact]
    public async Task Generate_SimilarMeaning_ScoresHigher()
    {
        var q = await EmbedAsync("How many vacation days do employees get?");
        var good = await EmbedAsync("Staff are entitled to 25 days of paid annual leave.");
        var bad = await EmbedAsync("The compiler emits a warning for unused variables.");
        Assert.True(TensorPrimitives.Dot(q, good) > TensorPrimitives.Dot(q, bad));
    }

    [Fact]
    public void SplitIntoWindows_LongText_RespectsWindowAndKeepsEveryWord()
    {
        var words = Enumerable.Range(0, 900).Select(i => "token" + i).ToList();
        var windows = _generator.SplitIntoWindows(string.Join("\n", words));
        Assert.True(windows.Count >= 3);
        Assert.All(windows, w => Assert.InRange(w.Pieces, 1, MiniLmEmbeddingGenerator.WindowPieces));
        Assert.Equal(string.Join(' ', words), string.Join(' ', windows.Select(w => w.Text)));
    }

    [Fact]
    public void SplitIntoWindows_WordLongerThanTheModelReads_KeepsOnlyItsFirstPart_ShorterOnesWhole()
    {
        // 300 KB with no space: the model's tokenizer reads a word of 100 characters or more as nothing, so only a
        // bounded first part is embedded, not 150,000 pieces.
        var huge = Assert.Single(_generator.SplitIntoWindows("before " + new string('x', 300_000) + " after"));
        Assert.InRange(huge.Pieces, 3, 40);
        Assert.Equal("before " + new string('x', 48) + " after", huge.Text);

        var word = string.Concat(Enumerable.Repeat("abcdefghij", 7)); // 70 characters: cut, but whole
        Assert.Equal(word[..48] + " " + word[48..], Assert.Single(_generator.SplitIntoWindows(word)).Text);
    }

    [Fact]
    public async Task Generate_TextBeyondFirstWindow_ChangesTheVector()
    {
        // Same first ~300 word pieces, different tails: a truncating encoder would return identical vectors.
        var head = string.Join(' ', Enumerable.Repeat("The quarterly report covers revenue, costs and staffing in the northern region.", 25));
        var tailA = string.Join(' ', Enumerable.Repeat("Volcanic eruptions release ash and sulfur dioxide into the stratosphere.", 10));
        var tailB = string.Join(' ', Enumerable.Repeat("The recipe needs flour, butter, sugar and two eggs, baked for forty minutes.", 10));
        Assert.True(_generator.SplitIntoWindows(head).Count >= 2, "the head alone must exceed one window");
        var a = await EmbedAsync(head + " " + tailA);
        var b = await EmbedAsync(head + " " + tailB);
        Assert.True(TensorPrimitives.CosineSimilarity(a, b) < 0.99f, "the tail is not represented");

        // And the tail pulls the vector towards its own topic.
        var volcano = await EmbedAsync("volcanic ash in the stratosphere");
        Assert.True(TensorPrimitives.Dot(a, volcano) > TensorPrimitives.Dot(b, volcano));
    }

    [Fact]
    public async Task EmbedSpans_ConcurrentCallers_ShareTheQueue_AndGetTheVectorsOfTheOldRuntime()
    {
        // Several files in flight at once (issue #11): their windows share forward passes on the shared queue, and each
        // caller still gets its own inputs' sums, equal to each call alone on a fresh generator, on both runtimes.
        var texts = Enumerable.Range(0, 6).Select(f => string.Join(' ', Enumerable.Range(0, 40 + 90 * f).Select(w => $"file{f} word{w % 37} topic{(w * f) % 11}"))).ToList();
        using var perCore = new MiniLmEmbeddingGenerator(MiniLmRuntime.PassPerCore);
        foreach (var generator in (MiniLmEmbeddingGenerator[])[_generator, perCore])
        {
            await AssertSameAsAloneAsync(generator, texts);
        }
    }

    private static async Task AssertSameAsAloneAsync(MiniLmEmbeddingGenerator generator, List<string> texts)
    {
        var calls = texts.Select(t => generator.EmbedSpansAsync([t, "header line " + t[..40]], CancellationToken.None)).ToList();
        var together = await Task.WhenAll(calls);
        using var legacy = new MiniLmEmbeddingGenerator();
        for (var f = 0; f < texts.Count; f++)
        {
            var alone = await legacy.EmbedSpansAsync([texts[f], "header line " + texts[f][..40]], CancellationToken.None);
            for (var i = 0; i < 2; i++)
            {
                Assert.Equal(alone[i].Weight, together[f][i].Weight);
                Assert.True(TensorPrimitives.CosineSimilarity(alone[i].WeightedSum, together[f][i].WeightedSum) > 0.9999f, $"file {f} input {i}");
            }
        }
    }

    [Fact]
    public async Task Generate_RepeatedQuery_IsServedFromTheCache_AsACopy()
    {
        var question = "which command lists the open network sockets " + Guid.NewGuid().ToString("N");
        var hits = _generator.QueryCacheHits;
        var first = await EmbedAsync(question);
        Assert.Equal(hits, _generator.QueryCacheHits);
        first[0] = 42f; // the caller owns its array: the cached vector must not change
        var second = await EmbedAsync(question);
        Assert.Equal(hits + 1, _generator.QueryCacheHits);
        Assert.NotEqual(42f, second[0]);
        using var fresh = new MiniLmEmbeddingGenerator();
        var uncached = (await fresh.GenerateAsync([question], cancellationToken: CancellationToken.None))[0].Vector.ToArray();
        Assert.True(TensorPrimitives.CosineSimilarity(uncached, second) > 0.9999f);
    }

    [Fact]
    public async Task EmbedSpans_Cancelled_Throws_AndLaterCallsStillWork()
    {
        var longText = string.Join(' ', Enumerable.Range(0, 6_000).Select(w => "word" + w));
        using var cancel = new CancellationTokenSource();
        var call = _generator.EmbedSpansAsync([longText], cancel.Token);
        cancel.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => call);
        var after = await _generator.EmbedSpansAsync(["still answering"], CancellationToken.None);
        Assert.Single(after);
        Assert.True(after[0].Weight > 0);
    }

    [Fact]
    public async Task EmbedSpans_WindowsOfSimilarLengthShareAPass_AShortOneIsNotPaddedToALongOne()
    {
        using var generator = new MiniLmEmbeddingGenerator(); // its own pass count
        var sentence = "the quick brown fox jumps over the lazy dog ";
        var (a, b) = (string.Concat(Enumerable.Repeat(sentence, 20)), string.Concat(Enumerable.Repeat(sentence, 19)) + "and runs away");
        Assert.All((string[])[a, b], text => Assert.InRange(Assert.Single(generator.SplitIntoWindows(text)).Pieces, 150, MiniLmEmbeddingGenerator.WindowPieces));

        var spans = await generator.EmbedSpansAsync([a, "short words", b], CancellationToken.None);

        Assert.Equal(2, generator.Batches); // a and b together, the short one alone
        var alone = Assert.Single(await generator.EmbedSpansAsync(["short words"], CancellationToken.None));
        Assert.True(TensorPrimitives.CosineSimilarity(alone.WeightedSum, spans[1].WeightedSum) > 0.9999f);
    }

    [Fact]
    public async Task QueryLane_GivesTheQueuesVector_WhileALongCallIsInFlight()
    {
        // A one-window call (a search query) runs on its own one-thread session, not behind the queue's batches.
        using var queueOnly = new MiniLmEmbeddingGenerator(MiniLmRuntime.Default with { QueryLane = false });
        var longText = string.Join(' ', Enumerable.Range(0, 4_000).Select(w => "word" + w));
        var ingestion = _generator.EmbedSpansAsync([longText, longText + " more"], CancellationToken.None);
        const string question = "how do I list the contents of a directory sorted by modification time";

        var laneCall = _generator.EmbedSpansAsync([question], CancellationToken.None);
        Assert.True(laneCall.IsCompleted); // run on this thread, not handed to the queue's runner
        var lane = Assert.Single(await laneCall);
        var queued = Assert.Single(await queueOnly.EmbedSpansAsync([question], CancellationToken.None));

        Assert.Equal(queued.Weight, lane.Weight);
        Assert.True(TensorPrimitives.CosineSimilarity(queued.WeightedSum, lane.WeightedSum) > 0.99999f);
        Assert.Equal(2, (await ingestion).Count);
        using var cancel = new CancellationTokenSource();
        cancel.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => _generator.EmbedSpansAsync([question], cancel.Token));
    }
}

public sealed class MiniLmDisposalTests
{
    [Fact]
    public async Task Dispose_WhileACancelledCallsPassStillRuns_WaitsForIt_ThenRefusesNewCalls()
    {
        // A long input: many windows, so a runner is mid-pass when the call is cancelled and the generator disposed.
        // Freeing the session under that pass crashed the process (the latency bench, issue #11).
        var generator = new MiniLmEmbeddingGenerator();
        var file = string.Join(' ', Enumerable.Range(0, 20_000).Select(i => "word" + (i % 977)));
        using var cancel = new CancellationTokenSource();
        var ingestion = generator.EmbedSpansAsync([file], cancel.Token);
        while (generator.Batches == 0)
        {
            await Task.Delay(1);
        }
        await cancel.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => ingestion);

        generator.Dispose();

        await Assert.ThrowsAsync<ObjectDisposedException>(() => generator.EmbedSpansAsync(["a question"], CancellationToken.None));
        await Assert.ThrowsAsync<ObjectDisposedException>(() => generator.EmbedSpansAsync([file], CancellationToken.None));
        generator.Dispose(); // twice is harmless
    }
}

public sealed class MiniLmFixture : IDisposable
{
    public MiniLmEmbeddingGenerator Generator { get; } = new();

    public void Dispose() => Generator.Dispose();
}
