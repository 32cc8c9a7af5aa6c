using DocumentFormat.OpenXml.Packaging;
using DocumentFormat.OpenXml.Spreadsheet;
using Drawing = DocumentFormat.OpenXml.Drawing;
using Word = DocumentFormat.OpenXml.Wordprocessing;

namespace Threadloom.Core.Ingestion;

/// <summary>
/// docx (paragraphs in document order, Heading/Title styles as headings), pptx (one page per slide, in presentation
/// order) and xlsx (one page per sheet, cells tab-separated, shared strings resolved).
/// </summary>
internal static class OpenXmlTextExtractor
{
    public static ExtractionResult Extract(string extension, byte[] bytes, ExtractionBudget budget)
    {
        if (!bytes.AsSpan().StartsWith("PK"u8))
        {
            return ExtractionResult.Failure(IngestionError.Invalid($"The file is not a valid {extension.TrimStart('.')} document."));
        }
        // Sizes and ratios from the central directory, then a counting inflate pass, before the SDK inflates anything.
        ZipGuard.Check(bytes, budget);
        using var stream = new MemoryStream(bytes, writable: false);
        var document = extension switch
        {
            ".docx" => Docx(stream, budget),
            ".pptx" => Pptx(stream, budget),
            _ => Xlsx(stream, budget),
        };
        return string.IsNullOrWhiteSpace(document.Text)
            ? ExtractionResult.Failure(IngestionError.Invalid("The document has no text."))
            : ExtractionResult.Success(document);
    }

    private static ExtractedDocument Docx(Stream stream, ExtractionBudget budget)
    {
        using var doc = WordprocessingDocument.Open(stream, false);
        var builder = new DocumentBuilder(budget) { Title = doc.PackageProperties.Title };
        var body = doc.MainDocumentPart?.Document?.Body;
        foreach (var paragraph in body?.Descendants<Word.Paragraph>() ?? [])
        {
            var text = string.Concat(paragraph.Descendants<Word.Text>().Select(t => t.Text));
            var style = paragraph.ParagraphProperties?.ParagraphStyleId?.Val?.Value;
            if (style is not null && (style.StartsWith("Heading", StringComparison.OrdinalIgnoreCase) || style.Equals("Title", StringComparison.OrdinalIgnoreCase)))
            {
                var level = int.TryParse(style.AsSpan(style.Length - 1), out var l) ? l : 1;
                builder.AppendHeading(level, text);
                if (style.Equals("Title", StringComparison.OrdinalIgnoreCase))
                {
                    builder.Title ??= text.Trim();
                }
            }
            else if (text.Length > 0)
            {
                builder.AppendLine(text);
            }
        }
        return builder.Build();
    }

    private static ExtractedDocument Pptx(Stream stream, ExtractionBudget budget)
    {
        using var doc = PresentationDocument.Open(stream, false);
        var builder = new DocumentBuilder(budget) { Title = doc.PackageProperties.Title };
        var part = doc.PresentationPart;
        var slideIds = part?.Presentation?.SlideIdList?.Elements<DocumentFormat.OpenXml.Presentation.SlideId>() ?? [];
        var number = 0;
        foreach (var slideId in slideIds)
        {
            number++;
            if (slideId.RelationshipId?.Value is not { } rel || part!.GetPartById(rel) is not SlidePart slide)
            {
                continue;
            }
            builder.StartPage(number);
            var first = true;
            foreach (var paragraph in slide.Slide?.Descendants<Drawing.Paragraph>() ?? [])
            {
                var text = string.Concat(paragraph.Descendants<Drawing.Text>().Select(t => t.Text));
                if (text.Trim().Length == 0)
                {
                    continue;
                }
                if (first)
                {
                    builder.AppendHeading(2, text);
                    first = false;
                }
                else
                {
                    builder.AppendLine(text);
                }
            }
        }
        return builder.Build();
    }

    private static ExtractedDocument Xlsx(Stream stream, ExtractionBudget budget)
    {
        using var doc = SpreadsheetDocument.Open(stream, false);
        var builder = new DocumentBuilder(budget) { Title = doc.PackageProperties.Title };
        var workbook = doc.WorkbookPart;
        var shared = workbook?.SharedStringTablePart?.SharedStringTable?.Elements<SharedStringItem>().Select(s => s.InnerText).ToArray() ?? [];
        var number = 0;
        foreach (var sheet in workbook?.Workbook?.Sheets?.Elements<Sheet>() ?? [])
        {
            number++;
            if (sheet.Id?.Value is not { } rel || workbook!.GetPartById(rel) is not WorksheetPart worksheet)
            {
                continue;
            }
            builder.StartPage(number);
            builder.AppendHeading(2, sheet.Name?.Value ?? $"Sheet {number}");
            foreach (var row in worksheet.Worksheet?.Descendants<Row>() ?? [])
            {
                var cells = row.Elements<Cell>().Select(c => CellText(c, shared)).ToList();
                while (cells.Count > 0 && cells[^1].Length == 0)
                {
                    cells.RemoveAt(cells.Count - 1);
                }
                if (cells.Count > 0)
                {
                    builder.AppendLine(string.Join('\t', cells));
                }
            }
        }
        return builder.Build();
    }

    private static string CellText(Cell cell, string[] shared)
    {
        var value = cell.CellValue?.Text ?? "";
        if (cell.DataType?.Value == CellValues.SharedString)
        {
            return int.TryParse(value, out var i) && i >= 0 && i < shared.Length ? shared[i] : "";
        }
        if (cell.DataType?.Value == CellValues.InlineString)
        {
            return cell.InlineString?.InnerText ?? "";
        }
        return value;
    }
}
