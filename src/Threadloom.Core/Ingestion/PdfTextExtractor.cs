using UglyToad.PdfPig;
using UglyToad.PdfPig.DocumentLayoutAnalysis.PageSegmenter;
using UglyToad.PdfPig.DocumentLayoutAnalysis.ReadingOrderDetector;
using UglyToad.PdfPig.DocumentLayoutAnalysis.WordExtractor;
using UglyToad.PdfPig.Exceptions;

namespace Threadloom.Core.Ingestion;

/// <summary>
/// PDF text in reading order, page by page: words (nearest-neighbour), grouped into lines and blocks (Docstrum),
/// blocks ordered by the unsupervised reading-order detector. Encrypted or corrupt files are <c>invalid_file</c>.
/// </summary>
internal static class PdfTextExtractor
{
    public static ExtractionResult Extract(byte[] bytes, ExtractionBudget budget)
    {
        if (!bytes.AsSpan().StartsWith("%PDF-"u8))
        {
            return ExtractionResult.Failure(IngestionError.Invalid("The file is not a PDF document."));
        }
        try
        {
            using var pdf = PdfDocument.Open(bytes);
            // The page count comes from the page tree: a file with thousands of pages fails before any is parsed.
            if (pdf.NumberOfPages > budget.MaxPages)
            {
                throw ExtractionBudgetException.Pages(pdf.NumberOfPages, budget.MaxPages);
            }
            var builder = new DocumentBuilder(budget);
            if (pdf.Information.Title is { Length: > 0 } title)
            {
                builder.Title = title.Trim();
            }
            foreach (var page in pdf.GetPages())
            {
                builder.StartPage(page.Number);
                var words = page.GetWords(NearestNeighbourWordExtractor.Instance).ToList();
                if (words.Count == 0)
                {
                    continue;
                }
                var blocks = DocstrumBoundingBoxes.Instance.GetBlocks(words);
                foreach (var block in UnsupervisedReadingOrderDetector.Instance.Get(blocks))
                {
                    foreach (var line in block.TextLines)
                    {
                        builder.AppendLine(line.Text);
                    }
                    builder.EnsureBlankLine();
                }
            }
            var document = builder.Build();
            return string.IsNullOrWhiteSpace(document.Text)
                ? ExtractionResult.Failure(IngestionError.Invalid("The PDF has no extractable text (scanned images are not supported)."))
                : ExtractionResult.Success(document);
        }
        catch (PdfDocumentEncryptedException)
        {
            return ExtractionResult.Failure(IngestionError.Invalid("The PDF is encrypted."));
        }
    }
}
