using System.Text;
using Microsoft.Extensions.Options;

namespace Threadloom.Core.Ingestion;

/// <summary>
/// Picks a format from the file name (and, for PDF and Office files, the content's magic bytes) and extracts its text.
/// </summary>
/// <remarks>
/// Design notes: the whole file is buffered once, capped at <see cref="IngestionOptions.MaxFileBytes"/>; a larger file is
/// failed with <c>invalid_file</c> after reading the cap plus one byte. Text formats must be UTF-8 (a BOM for UTF-8 or
/// UTF-16 is honoured) and must not contain NUL bytes: a binary file renamed to <c>.txt</c> is <c>unsupported_file</c>.
/// Unknown extensions are <c>unsupported_file</c>, as on OpenAI.
/// </remarks>
public sealed class TextExtractor(IOptions<IngestionOptions> options) : ITextExtractor
{
    private static readonly HashSet<string> TextExtensions = new(StringComparer.OrdinalIgnoreCase)
    {
        ".txt", ".text", ".log", ".md", ".markdown", ".rst", ".json", ".jsonl", ".csv", ".tsv", ".xml", ".yaml", ".yml", ".toml", ".ini", ".tex",
        ".c", ".h", ".cc", ".cpp", ".hpp", ".cs", ".fs", ".vb", ".java", ".kt", ".scala", ".go", ".rs", ".py", ".rb", ".php", ".pl", ".swift",
        ".js", ".mjs", ".cjs", ".ts", ".tsx", ".jsx", ".css", ".scss", ".sh", ".bash", ".ps1", ".sql", ".r", ".lua", ".dart", ".m", ".proto",
    };

    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    public async Task<ExtractionResult> ExtractAsync(string fileName, Stream content, CancellationToken cancellationToken)
    {
        var maxBytes = options.Value.MaxFileBytes;
        var bytes = await ReadCappedAsync(content, maxBytes, cancellationToken);
        if (bytes is null)
        {
            return ExtractionResult.Failure(IngestionError.Invalid($"The file is larger than the {maxBytes} bytes that can be indexed."));
        }
        return Extract(fileName, bytes, ExtractionBudget.From(options.Value));
    }

    /// <summary>Extracts from bytes already in memory under the default budget; the size cap is the caller's business.</summary>
    public static ExtractionResult Extract(string fileName, byte[] bytes) => Extract(fileName, bytes, ExtractionBudget.Default);

    /// <summary>
    /// True for the formats whose parsers can be made to blow up by their input (compressed streams, zip archives,
    /// layout analysis, backtracking regexes): with <see cref="ExtractionIsolation.Process"/> these are parsed in the
    /// extraction worker process. Plain text and Markdown are decoded and scanned linearly in the server.
    /// </summary>
    public static bool NeedsIsolation(string fileName, ReadOnlySpan<byte> head)
    {
        var extension = Path.GetExtension(fileName).ToLowerInvariant();
        return extension is ".pdf" or ".docx" or ".pptx" or ".xlsx" or ".html" or ".htm" or ".xhtml"
            || (extension.Length == 0 && head.StartsWith("%PDF-"u8));
    }

    /// <summary>Extracts from bytes already in memory under <paramref name="budget"/>; the size cap is the caller's business.</summary>
    public static ExtractionResult Extract(string fileName, byte[] bytes, ExtractionBudget budget)
    {
        if (bytes.Length == 0)
        {
            return ExtractionResult.Failure(IngestionError.Invalid("The file is empty."));
        }
        var extension = Path.GetExtension(fileName).ToLowerInvariant();
        try
        {
            return extension switch
            {
                ".pdf" => PdfTextExtractor.Extract(bytes, budget),
                ".docx" or ".pptx" or ".xlsx" => OpenXmlTextExtractor.Extract(extension, bytes, budget),
                ".html" or ".htm" or ".xhtml" => WithText(bytes, extension, budget, t => HtmlTextExtractor.Extract(t, budget)),
                ".md" or ".markdown" => WithText(bytes, extension, budget, MarkdownHeadings.Extract),
                "" => ExtractUnknown(bytes, budget),
                _ when TextExtensions.Contains(extension) => WithText(bytes, extension, budget, PlainText),
                _ => ExtractionResult.Failure(IngestionError.Unsupported($"Files with the extension '{extension}' are not supported.")),
            };
        }
        catch (ExtractionBudgetException e)
        {
            return ExtractionResult.Failure(IngestionError.Invalid(e.Message));
        }
        catch (InsufficientExecutionStackException)
        {
            return ExtractionResult.Failure(IngestionError.Invalid(ExtractionBudgetException.Depth(budget.MaxNestingDepth).Message));
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // Parsers throw a zoo of exception types on malformed input; all of them mean the same thing to the user.
            return ExtractionResult.Failure(IngestionError.Invalid($"The file could not be parsed as {extension.TrimStart('.')}."));
        }
    }

    private static ExtractionResult ExtractUnknown(byte[] bytes, ExtractionBudget budget) =>
        bytes.AsSpan().StartsWith("%PDF-"u8)
            ? PdfTextExtractor.Extract(bytes, budget)
            : WithText(bytes, "", budget, PlainText);

    private static ExtractedDocument PlainText(string text) => new(text, PlainTextTitle.Find(text), [], []);

    private static ExtractionResult WithText(byte[] bytes, string extension, ExtractionBudget budget, Func<string, ExtractedDocument> parse)
    {
        if (!TryDecodeText(bytes, out var text, out var error))
        {
            return ExtractionResult.Failure(error);
        }
        if (text.Length > budget.MaxChars)
        {
            throw ExtractionBudgetException.Chars(budget.MaxChars);
        }
        NestingDepth.Check(extension, text, budget.MaxNestingDepth);
        return ExtractionResult.Success(parse(text));
    }

    /// <summary>Decodes UTF-8 (or BOM-marked UTF-16); binary content (NUL bytes, invalid UTF-8) is <c>unsupported_file</c>.</summary>
    internal static bool TryDecodeText(ReadOnlySpan<byte> bytes, out string text, out IngestionError error)
    {
        error = null!;
        text = "";
        if (bytes.StartsWith((ReadOnlySpan<byte>)[0xFF, 0xFE]) || bytes.StartsWith((ReadOnlySpan<byte>)[0xFE, 0xFF]))
        {
            var encoding = bytes[0] == 0xFF ? Encoding.Unicode : Encoding.BigEndianUnicode;
            text = encoding.GetString(bytes[2..]);
            return true;
        }
        if (bytes.StartsWith((ReadOnlySpan<byte>)[0xEF, 0xBB, 0xBF]))
        {
            bytes = bytes[3..];
        }
        if (bytes.Contains((byte)0))
        {
            error = IngestionError.Unsupported("The file contains binary data, not text.");
            return false;
        }
        try
        {
            text = StrictUtf8.GetString(bytes);
            return true;
        }
        catch (DecoderFallbackException)
        {
            error = IngestionError.Unsupported("The file is not valid UTF-8 text.");
            return false;
        }
    }

    internal static async Task<byte[]?> ReadCappedAsync(Stream content, long maxBytes, CancellationToken cancellationToken)
    {
        if (content.CanSeek && content.Length - content.Position > maxBytes)
        {
            return null;
        }
        using var buffer = new MemoryStream();
        var chunk = new byte[81920];
        int read;
        while ((read = await content.ReadAsync(chunk, cancellationToken)) > 0)
        {
            if (buffer.Length + read > maxBytes)
            {
                return null;
            }
            buffer.Write(chunk, 0, read);
        }
        return buffer.ToArray();
    }
}
