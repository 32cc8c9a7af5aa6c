using System.Diagnostics;
using System.Text.Json;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Threadloom.Core.Inference;
using Threadloom.Core.Storage;

namespace Threadloom.Core.Ingestion;

/// <summary>One file to index into one vector store. <see cref="ChunkingStrategy"/> null means the 800/400 default.</summary>
public sealed record IngestionRequest(
    string ProjectId,
    string VectorStoreId,
    string FileId,
    string FileName,
    Stream Content,
    StaticChunkingStrategy? ChunkingStrategy = null,
    IReadOnlyDictionary<string, JsonElement>? Attributes = null);

/// <summary>The outcome: chunk count and usage bytes on success, or a typed error (<see cref="IngestionErrorCodes"/>).</summary>
public sealed record IngestionResult(int ChunkCount, long UsageBytes, IngestionError? Error, IngestionTimings Timings)
{
    public bool Succeeded => Error is null;
}

/// <summary>Where the time went, for metrics and the benchmark: the embedding model versus everything else.</summary>
public sealed record IngestionTimings(TimeSpan Extract, TimeSpan Chunk, TimeSpan Embed, TimeSpan Index)
{
    public static IngestionTimings Zero { get; } = new(TimeSpan.Zero, TimeSpan.Zero, TimeSpan.Zero, TimeSpan.Zero);

    public TimeSpan Total => Extract + Chunk + Embed + Index;
}

/// <summary>
/// Extract → chunk → embed → index for one (vector store, file). Callers (the ingestion job worker) own retries,
/// claiming and the vector store file's status; this class only turns a file into indexed chunks or a typed error.
/// </summary>
/// <remarks>
/// Design notes: the embedding model is the bottleneck (see docs/file-search.md), so everything else is kept cheap
/// and linear: one bounded read, one pass of chunking, batched embedding calls, and one write transaction that
/// replaces the file's chunks (so a retried job is idempotent). Each chunk is embedded with a short header (file name,
/// title, nearest heading) in front of its text; the indexed text itself stays exactly the document's text.
/// Content failures are typed (<c>unsupported_file</c>, <c>invalid_file</c>); an upstream embedding failure is
/// <c>server_error</c> with the provider's user-safe reason; anything unexpected is <c>server_error</c> with a generic
/// message, logged with the exception.
/// </remarks>
public sealed partial class FileIngestor(
    ITextExtractor extractor,
    TextChunker chunker,
    IEmbeddingGenerator<string, Embedding<float>> embeddings,
    IChunkIndex index,
    IOptions<IngestionOptions> options,
    ILogger<FileIngestor> logger,
    EmbeddingModels? models = null)
{
    // A store keeps the model it was built with; a new (empty) store gets the current one.
    private readonly EmbeddingModels _models = models ?? new EmbeddingModels(embeddings, runOtherBuiltInModels: false);

    public async Task<IngestionResult> IngestAsync(IngestionRequest request, CancellationToken cancellationToken)
    {
        var strategy = request.ChunkingStrategy ?? StaticChunkingStrategy.Default;
        if (strategy.Validate() is { } invalid)
        {
            throw new ArgumentException(invalid, nameof(request));
        }
        var clock = Stopwatch.StartNew();
        TimeSpan extract = default, chunk = default, embed = default;
        try
        {
            var extraction = await extractor.ExtractAsync(request.FileName, request.Content, cancellationToken);
            extract = clock.Elapsed;
            if (extraction.Error is { } extractionError)
            {
                LogFailed(request.FileId, request.VectorStoreId, extractionError.Code, extractionError.Message);
                return new IngestionResult(0, 0, extractionError, new IngestionTimings(extract, default, default, default));
            }
            var document = extraction.Document!;
            var chunks = chunker.Chunk(document, strategy, options.Value.MaxTokensPerFile, options.Value.MaxChunksPerFile);
            chunk = clock.Elapsed - extract;

            // The index write checks the model too; choosing first spares embedding a whole file (upstream calls cost
            // money) for a store that was built with a model this server cannot run and would refuse the chunks.
            var generator = _models.Current;
            if (chunks.Count > 0
                && await index.GetEmbeddingModelAsync(request.ProjectId, request.VectorStoreId, cancellationToken) is { } storeModel)
            {
                generator = _models.For(storeModel.Model)
                    ?? throw new EmbeddingModelMismatchException(request.VectorStoreId, storeModel, new ChunkStoreModel(_models.CurrentId ?? "unknown", storeModel.Dimensions));
            }
            var modelId = generator.GetService<EmbeddingGeneratorMetadata>()?.DefaultModelId ?? "unknown";

            var indexed = new List<IndexedChunk>(chunks.Count);
            var batchSize = options.Value.EmbeddingBatchSize;
            var embedClock = new Stopwatch();
            if (options.Value.EmbedSharedSpans && generator.GetService<ISpanEmbeddingGenerator>() is { } spanGenerator && chunks.Count > 0)
            {
                // Each token once: spans between chunk boundaries are embedded once and composed per chunk.
                var (spans, covers) = SharedSpans.Plan(chunks, c => Header(request.FileName, document.Title, c));
                var sums = new List<SpanEmbedding>(spans.Count);
                for (var start = 0; start < spans.Count; start += batchSize)
                {
                    var inputs = spans.Skip(start).Take(batchSize).Select(span => SharedSpans.Input(document.Text, span)).ToList();
                    embedClock.Start();
                    sums.AddRange(await spanGenerator.EmbedSpansAsync(inputs, cancellationToken));
                    embedClock.Stop();
                }
                for (var i = 0; i < chunks.Count; i++)
                {
                    var c = chunks[i];
                    indexed.Add(new IndexedChunk(c.Index, c.Text, c.StartChar, c.EndChar, c.TokenCount, c.PageNumber, c.Heading, SharedSpans.Compose(sums, covers[i])));
                }
            }
            else
            {
                for (var start = 0; start < chunks.Count; start += batchSize)
                {
                    var batch = chunks.Skip(start).Take(batchSize).ToList();
                    var inputs = batch.Select(c => EmbeddingInput(request.FileName, document.Title, c)).ToList();
                    embedClock.Start();
                    var vectors = await generator.GenerateAsync(inputs, cancellationToken: cancellationToken);
                    embedClock.Stop();
                    for (var i = 0; i < batch.Count; i++)
                    {
                        var c = batch[i];
                        indexed.Add(new IndexedChunk(c.Index, c.Text, c.StartChar, c.EndChar, c.TokenCount, c.PageNumber, c.Heading, vectors[i].Vector));
                    }
                }
            }
            embed = embedClock.Elapsed;

            var indexStart = clock.Elapsed;
            var source = new ChunkSource(request.ProjectId, request.VectorStoreId, request.FileId, request.FileName, request.Attributes,
                options.Value.TitleInKeywords ? document.Title : null);
            var written = await index.ReplaceFileAsync(source, modelId, indexed, cancellationToken);
            var timings = new IngestionTimings(extract, chunk, embed, clock.Elapsed - indexStart);
            // The loop above interleaves preparation with embedding; attribute that preparation to chunking.
            timings = timings with { Chunk = timings.Chunk + (indexStart - extract - chunk - embed) };
            LogIngested(request.FileId, request.VectorStoreId, written.ChunkCount, clock.ElapsedMilliseconds);
            return new IngestionResult(written.ChunkCount, written.UsageBytes, null, timings);
        }
        catch (Exception e) when (e is DocumentTooLargeException or TooManyChunksException or ExtractionBudgetException)
        {
            LogFailed(request.FileId, request.VectorStoreId, IngestionErrorCodes.InvalidFile, e.Message);
            return new IngestionResult(0, 0, IngestionError.Invalid(e.Message), new IngestionTimings(extract, chunk, embed, default));
        }
        catch (ModelCallException e)
        {
            // The upstream embedding provider failed after its retries (already logged with the status); the file fails
            // alone, with the provider's user-safe reason, and can be added again once the provider is back.
            var message = "The embedding model could not embed the file: " + e.Message;
            LogFailed(request.FileId, request.VectorStoreId, IngestionErrorCodes.ServerError, message);
            return new IngestionResult(0, 0, new IngestionError(IngestionErrorCodes.ServerError, message), new IngestionTimings(extract, chunk, embed, default));
        }
        catch (Exception e) when (e is not (OperationCanceledException or WorkerCrashedException))
        {
            LogError(e, request.FileId, request.VectorStoreId);
            var message = e is EmbeddingModelMismatchException ? e.Message : "The server had an error while processing the file.";
            return new IngestionResult(0, 0, new IngestionError(IngestionErrorCodes.ServerError, message), new IngestionTimings(extract, chunk, embed, default));
        }
    }

    /// <summary>The text the embedding model sees for a chunk: a one-line context header, then the chunk.</summary>
    public static string EmbeddingInput(string fileName, string? title, TextChunk chunk) => Header(fileName, title, chunk) + "\n" + chunk.Text;

    /// <summary>A chunk's context header: file name, the document's title, and the nearest heading when it differs.</summary>
    public static string Header(string fileName, string? title, TextChunk chunk)
    {
        var header = fileName;
        if (!string.IsNullOrWhiteSpace(title))
        {
            header += " — " + title;
        }
        if (!string.IsNullOrWhiteSpace(chunk.Heading) && chunk.Heading != title)
        {
            header += " — " + chunk.Heading;
        }
        return header;
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Indexed file {FileId} into {VectorStoreId}: {ChunkCount} chunks in {ElapsedMs} ms")]
    private partial void LogIngested(string fileId, string vectorStoreId, int chunkCount, long elapsedMs);

    [LoggerMessage(Level = LogLevel.Information, Message = "File {FileId} not indexed into {VectorStoreId}: {Code} ({Reason})")]
    private partial void LogFailed(string fileId, string vectorStoreId, string code, string reason);

    [LoggerMessage(Level = LogLevel.Error, Message = "Indexing file {FileId} into {VectorStoreId} failed")]
    private partial void LogError(Exception exception, string fileId, string vectorStoreId);
}
