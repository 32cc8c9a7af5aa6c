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
}
