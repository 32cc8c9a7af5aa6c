namespace Threadloom.Core.Ingestion;

/// <summary>The error codes a vector store file's <c>last_error.code</c> can take.</summary>
public static class IngestionErrorCodes
{
    public const string UnsupportedFile = "unsupported_file";
    public const string InvalidFile = "invalid_file";
    public const string ServerError = "server_error";
}

/// <summary>A page (PDF page, slide, sheet) of an extracted document: its 1-based number and where its text starts.</summary>
public sealed record DocumentPage(int Number, int StartChar);

/// <summary>A heading found in the document, with the character offset of its text.</summary>
public sealed record DocumentHeading(int StartChar, int Level, string Text);

/// <summary>
/// The plain text of a document plus the structure citations need. <see cref="Pages"/> and <see cref="Headings"/>
/// are sorted by <c>StartChar</c>; both are empty when the format has no such notion.
/// </summary>
public sealed record ExtractedDocument(string Text, string? Title, IReadOnlyList<DocumentPage> Pages, IReadOnlyList<DocumentHeading> Headings)
{
    /// <summary>The page holding <paramref name="charOffset"/>, or null for formats without pages.</summary>
    public int? PageAt(int charOffset)
    {
        var i = LastAtOrBefore(Pages, p => p.StartChar, charOffset);
        return i < 0 ? null : Pages[i].Number;
    }

    /// <summary>The nearest heading at or before <paramref name="charOffset"/>.</summary>
    public string? HeadingAt(int charOffset)
    {
        var i = LastAtOrBefore(Headings, h => h.StartChar, charOffset);
        return i < 0 ? null : Headings[i].Text;
    }

    /// <summary>Binary search (lists are sorted by start): a document with thousands of pages and chunks stays O(n log n).</summary>
    private static int LastAtOrBefore<T>(IReadOnlyList<T> items, Func<T, int> start, int offset)
    {
        int lo = 0, hi = items.Count - 1, found = -1;
        while (lo <= hi)
        {
            var mid = lo + ((hi - lo) / 2);
            if (start(items[mid]) <= offset)
            {
                found = mid;
                lo = mid + 1;
            }
            else
            {
                hi = mid - 1;
            }
        }
        return found;
    }
}

/// <summary>A typed ingestion failure; <see cref="Code"/> is one of <see cref="IngestionErrorCodes"/>.</summary>
public sealed record IngestionError(string Code, string Message)
{
    public static IngestionError Unsupported(string message) => new(IngestionErrorCodes.UnsupportedFile, message);
    public static IngestionError Invalid(string message) => new(IngestionErrorCodes.InvalidFile, message);
}

/// <summary>Either a document or an error, never both.</summary>
public sealed record ExtractionResult(ExtractedDocument? Document, IngestionError? Error)
{
    public bool Succeeded => Document is not null;

    public static ExtractionResult Success(ExtractedDocument document) => new(document, null);

    public static ExtractionResult Failure(IngestionError error) => new(null, error);
}

/// <summary>Turns an uploaded file into text. Implementations never throw for bad content: they return a typed failure.</summary>
public interface ITextExtractor
{
    /// <summary>Reads at most <see cref="IngestionOptions.MaxFileBytes"/> from <paramref name="content"/> and extracts its text.</summary>
    Task<ExtractionResult> ExtractAsync(string fileName, Stream content, CancellationToken cancellationToken);
}
