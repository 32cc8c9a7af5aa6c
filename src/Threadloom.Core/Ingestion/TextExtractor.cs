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
        return Extract(fileName, bytes);
    }

    /// <summary>Extracts from bytes already in memory; the size cap is the caller's business.</summary>
    public static ExtractionResult Extract(string fileName, byte[] bytes)
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
                ".pdf" => PdfTextExtractor.Extract(bytes),
                ".docx" or ".pptx" or ".xlsx" => OpenXmlTextExtractor.Extract(extension, bytes),
                ".html" or ".htm" or ".xhtml" => WithText(bytes, HtmlTextExtractor.Extract),
                ".md" or ".markdown" => WithText(bytes, MarkdownHeadings.Extract),
                "" => ExtractUnknown(bytes),
                _ when TextExtensions.Contains(extension) => WithText(bytes, PlainText),
                _ => ExtractionResult.Failure(IngestionError.Unsupported($"Files with the extension '{extension}' are not supported.")),
            };
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // Parsers throw a zoo of exception types on malformed input; all of them mean the same thing to the user.
            return ExtractionResult.Failure(IngestionError.Invalid($"The file could not be parsed as {extension.TrimStart('.')}."));
        }
    }

    private static ExtractionResult ExtractUnknown(byte[] bytes) =>
        bytes.AsSpan().StartsWith("%PDF-"u8)
            ? PdfTextExtractor.Extract(bytes)
            : WithText(bytes, PlainText);

    private static ExtractedDocument PlainText(string text) => new(text, PlainTextTitle.Find(text), [], []);

    private static ExtractionResult WithText(byte[] bytes, Func<string, ExtractedDocument> parse) =>
        TryDecodeText(bytes, out var text, out var error) ? ExtractionResult.Success(parse(text)) : ExtractionResult.Failure(error);

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

    private static async Task<byte[]?> ReadCappedAsync(Stream content, long maxBytes, CancellationToken cancellationToken)
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
