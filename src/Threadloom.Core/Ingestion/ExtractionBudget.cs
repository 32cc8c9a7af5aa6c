namespace Threadloom.Core.Ingestion;

/// <summary>
/// The limits one extraction runs under (issue #9 §2), taken from <see cref="IngestionOptions"/>; passed to the
/// extraction worker process on its command line, so the worker needs no configuration of its own.
/// </summary>
public sealed record ExtractionBudget(int MaxChars, int MaxPages, int MaxNestingDepth, long MaxUncompressedBytes, int MaxCompressionRatio)
{
    public static ExtractionBudget Default { get; } = From(new IngestionOptions());

    public static ExtractionBudget From(IngestionOptions options) =>
        new(options.MaxExtractedChars, options.MaxPages, options.MaxNestingDepth, options.MaxUncompressedBytes, options.MaxCompressionRatio);
}

/// <summary>A file went over one of its budgets; its message names the limit and its configuration key. Maps to <c>invalid_file</c>.</summary>
public sealed class ExtractionBudgetException(string message) : Exception(message)
{
    public static ExtractionBudgetException Chars(int max) =>
        new($"The file has more than {max} characters of text, the most that can be indexed (Ingestion:MaxExtractedChars).");

    public static ExtractionBudgetException Pages(int pages, int max) =>
        new($"The file has {pages} pages; at most {max} can be indexed (Ingestion:MaxPages).");

    public static ExtractionBudgetException Depth(int max) =>
        new($"The file nests deeper than {max} levels, the most that can be indexed (Ingestion:MaxNestingDepth).");
}
