using System.ComponentModel.DataAnnotations;

namespace Threadloom.Core.Ingestion;

/// <summary>Limits and tuning of file ingestion (section <c>Ingestion</c>).</summary>
public sealed class IngestionOptions
{
    public const string SectionName = "Ingestion";

    /// <summary>
    /// Files larger than this are failed with <c>invalid_file</c> after reading at most this many bytes plus one,
    /// so a 200 MB single-line file costs one bounded read, not a hang. Default 64 MiB.
    /// </summary>
    [Range(1, long.MaxValue)]
    public long MaxFileBytes { get; set; } = 64L * 1024 * 1024;

    /// <summary>A file whose text exceeds this many o200k tokens is failed with <c>invalid_file</c> (OpenAI's limit is 5,000,000).</summary>
    [Range(1, int.MaxValue)]
    public int MaxTokensPerFile { get; set; } = 5_000_000;

    /// <summary>How many chunks go to the embedding generator per call.</summary>
    [Range(1, 1024)]
    public int EmbeddingBatchSize { get; set; } = 32;

    /// <summary>
    /// With a local model that can compose vectors (<see cref="ISpanEmbeddingGenerator"/>), embed the text between
    /// chunk boundaries once and build each chunk's vector from the spans it covers, instead of embedding every chunk
    /// on its own (which embeds every token of an 800/400 document twice). Default true; false restores the old path.
    /// </summary>
    public bool EmbedSharedSpans { get; set; } = true;

    /// <summary>
    /// Index the document's title (HTML title, first heading, or the title line of plain text) as a keyword context
    /// field of every chunk, beside the file name and heading. Default true.
    /// </summary>
    public bool TitleInKeywords { get; set; } = true;

    // ---- Budgets (issue #9 §2). Every one fails only its own file, with invalid_file and a message naming the key. ----

    /// <summary>Most characters of text one file may yield (after extraction). Default 20,000,000 (about 5M tokens).</summary>
    [Range(1, int.MaxValue)]
    public int MaxExtractedChars { get; set; } = 20_000_000;

    /// <summary>Most chunks one file may be split into. Default 20,000.</summary>
    [Range(1, int.MaxValue)]
    public int MaxChunksPerFile { get; set; } = 20_000;

    /// <summary>Most pages (PDF pages, slides, sheets) one file may have; checked from the page count before any page is parsed. Default 2,000.</summary>
    [Range(1, int.MaxValue)]
    public int MaxPages { get; set; } = 2_000;

    /// <summary>Deepest nesting of brackets (JSON) or elements (XML, HTML) a text file may have; one linear scan. Default 128.</summary>
    [Range(1, 100_000)]
    public int MaxNestingDepth { get; set; } = 128;

    /// <summary>
    /// Zip-based formats (docx, xlsx, pptx): the most bytes all entries may inflate to, summed from the central directory
    /// before anything is inflated, and enforced again while inflating (headers can lie). Default 256 MiB.
    /// </summary>
    [Range(1, long.MaxValue)]
    public long MaxUncompressedBytes { get; set; } = 256L * 1024 * 1024;

    /// <summary>Zip-based formats: the highest uncompressed/compressed ratio of any entry and of the whole archive. Default 200.</summary>
    [Range(1, 100_000)]
    public int MaxCompressionRatio { get; set; } = 200;

    /// <summary>CPU time the extraction of one file may use (the extraction worker process is stopped past it). Default 60 s.</summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "01:00:00")]
    public TimeSpan MaxCpuTime { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>Wall-clock time one ingestion job (extraction, chunking, embedding, indexing) may take. Default 10 min.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "1.00:00:00")]
    public TimeSpan MaxWallClockTime { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>
    /// Where untrusted binary formats (PDF, docx/xlsx/pptx, HTML) are parsed: <c>Process</c> (default) runs each
    /// extraction in a separate, memory-capped, niced worker process (<c>threadloom extract-worker</c>); <c>InProcess</c>
    /// parses inside the server (tests and embedded use only: a bomb then costs the server's own memory).
    /// </summary>
    public ExtractionIsolation Isolation { get; set; } = ExtractionIsolation.Process;

    /// <summary>Managed-heap cap of the extraction worker process (<c>DOTNET_GCHeapHardLimit</c>). Default 512 MiB.</summary>
    [Range(16L * 1024 * 1024, long.MaxValue)]
    public long WorkerMemoryBytes { get; set; } = 512L * 1024 * 1024;

    /// <summary>
    /// The extraction worker's executable: the server's apphost (<c>threadloom</c>) or its <c>threadloom.dll</c> (run
    /// with the <c>dotnet</c> host). Empty: found next to the running application.
    /// </summary>
    public string? WorkerPath { get; set; }
}

/// <summary>Where documents are parsed; see <see cref="IngestionOptions.Isolation"/>.</summary>
public enum ExtractionIsolation
{
    Process,
    InProcess,
}
