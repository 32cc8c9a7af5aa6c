using Threadloom.Testing;
using System.IO.Compression;
using System.Text;
using Microsoft.Extensions.Options;
using Threadloom.Core.Ingestion;

namespace Threadloom.Core.Tests.Ingestion;

public sealed class TextExtractorTests
{
    private static readonly TextExtractor Extractor = new(Options.Create(new IngestionOptions()));

    private static Task<ExtractionResult> ExtractAsync(string name, byte[] bytes) =>
        Extractor.ExtractAsync(name, new MemoryStream(bytes), CancellationToken.None);

    [Fact]
    public async Task Extract_PlainText_ReturnsText()
    {
        var result = await ExtractAsync("contoso-401k.txt", SharedData.Read("HR/contoso-401k.txt"));
        Assert.True(result.Succeeded);
        Assert.Contains("401", result.Document!.Text);
    }

    [Fact]
    public async Task Extract_Pdf_KeepsPagesAndReadingOrder()
    {
        // The FAQ text typeset into a two-page PDF with PdfPig's writer (see the next test for why not the shared PDF).
        var lines = File.ReadAllLines(SharedData.PathOf("faq/fta-contoso-faq.txt")).Select(l => l.Trim()).Where(l => l.Length > 0).ToList();
        var pdf = PdfFixtures.TwoPages(lines[..(lines.Count / 2)], lines[(lines.Count / 2)..]);
        var result = await ExtractAsync("fta-contoso-faq.pdf", pdf);
        Assert.True(result.Succeeded, result.Error?.Message);
        var document = result.Document!;
        Assert.Equal([1, 2], document.Pages.Select(p => p.Number));
        Assert.Equal(1, document.PageAt(0));
        Assert.Equal(2, document.PageAt(document.Text.Length - 1));
        var normalized = Normalize(document.Text);
        var last = -1;
        foreach (var line in lines.Select(Normalize).Where(l => l.Length >= 12))
        {
            var at = normalized.IndexOf(line[..12], last + 1, StringComparison.Ordinal);
            Assert.True(at > last, $"'{line}' out of order or missing");
            last = at;
        }
        Assert.True(document.PageAt(document.Text.IndexOf(lines[^1][..10], StringComparison.Ordinal)) == 2);
    }

    [Fact]
    public async Task Extract_SharedFaqPdf_IsDamagedAndFailsAsInvalid()
    {
        // Finding: the shared fta-contoso-faq.pdf went through a text decoder at some point: every byte >= 0x80 became
        // U+FFFD (EF BF BD), so its Flate content streams cannot be inflated and no page has any glyph.
        var bytes = SharedData.Read("faq/fta-contoso-faq.pdf");
        Assert.True(Convert.ToHexString(bytes).Split("EFBFBD").Length > 1000);
        var result = await ExtractAsync("fta-contoso-faq.pdf", bytes);
        Assert.Equal("invalid_file", result.Error?.Code);
    }

    private static string Normalize(string s) => string.Join(' ', s.Split((char[])[' ', '\n', '\r', '\t'], StringSplitOptions.RemoveEmptyEntries));

    [Fact]
    public async Task Extract_BinaryWithTxtName_IsUnsupported()
    {
        var bytes = new byte[] { 0x7F, 0x45, 0x4C, 0x46, 0x02, 0x01, 0x00, 0x00, 0x41, 0x42 };
        var result = await ExtractAsync("notes.txt", bytes);
        Assert.Equal("unsupported_file", result.Error?.Code);
    }

    [Fact]
    public async Task Extract_InvalidUtf8_IsUnsupported()
    {
        var result = await ExtractAsync("latin1.txt", [0x63, 0x61, 0x66, 0xE9, 0x20, 0x6F, 0x6B]);
        Assert.Equal("unsupported_file", result.Error?.Code);
    }

    [Fact]
    public async Task Extract_UnknownExtension_IsUnsupported()
    {
        var result = await ExtractAsync("image.png", [0x89, 0x50, 0x4E, 0x47]);
        Assert.Equal("unsupported_file", result.Error?.Code);
    }

    [Theory]
    [InlineData("empty.txt")]
    [InlineData("empty.pdf")]
    public async Task Extract_ZeroBytes_IsInvalid(string name)
    {
        var result = await ExtractAsync(name, []);
        Assert.Equal("invalid_file", result.Error?.Code);
    }

    [Fact]
    public async Task Extract_CorruptPdf_IsInvalid()
    {
        var pdf = SharedData.Read("faq/fta-contoso-faq.pdf");
        var corrupt = pdf[..64].Concat(Enumerable.Repeat((byte)'x', 500)).ToArray();
        var result = await ExtractAsync("broken.pdf", corrupt);
        Assert.Equal("invalid_file", result.Error?.Code);
    }

    [Fact]
    public async Task Extract_EncryptedPdf_IsInvalid()
    {
        var pdf = PdfFixtures.Encrypted("Salary bands for 2027", "secret");
        // The fixture is really encrypted: PdfPig reads it with the password (and only with it).
        using (var opened = UglyToad.PdfPig.PdfDocument.Open(pdf, new UglyToad.PdfPig.ParsingOptions { Password = "secret" }))
        {
            Assert.Contains("Salary bands for 2027", opened.GetPage(1).Text, StringComparison.Ordinal);
        }

        var result = await ExtractAsync("bands.pdf", pdf);

        Assert.Equal("invalid_file", result.Error?.Code);
        Assert.Contains("encrypted", result.Error?.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Extract_TextNamedPdf_IsInvalid()
    {
        var result = await ExtractAsync("fake.pdf", Encoding.UTF8.GetBytes("just text"));
        Assert.Equal("invalid_file", result.Error?.Code);
    }

    [Fact]
    public async Task Extract_OverSizeCap_FailsWithoutReadingEverything()
    {
        var extractor = new TextExtractor(Options.Create(new IngestionOptions { MaxFileBytes = 1024 }));
        var stream = new EndlessStream();
        var result = await extractor.ExtractAsync("huge.txt", stream, CancellationToken.None);
        Assert.Equal("invalid_file", result.Error?.Code);
        Assert.True(stream.BytesRead < 1024 * 1024);
    }

    [Fact]
    public async Task Extract_Html_StripsScriptsAndKeepsHeadings()
    {
        const string html = "<html><head><title>Guide &amp; more</title><style>p{}</style></head><body><script>alert('x')</script>" +
                            "<h1>Install</h1><p>Run <b>setup</b>.</p><h2>Usage</h2><div>Use it&nbsp;well</div></body></html>";
        var result = await ExtractAsync("guide.html", Encoding.UTF8.GetBytes(html));
        var document = result.Document!;
        Assert.Equal("Guide & more", document.Title);
        Assert.DoesNotContain("alert", document.Text);
        Assert.DoesNotContain("<", document.Text);
        Assert.Contains("Run setup .", document.Text);
        Assert.Equal(["Install", "Usage"], document.Headings.Select(h => h.Text));
        Assert.Equal("Usage", document.HeadingAt(document.Text.IndexOf("Use it", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task Extract_Markdown_RecordsHeadings()
    {
        var result = await ExtractAsync("readme.md", Encoding.UTF8.GetBytes("# Title\n\nintro\n\n```\n# not a heading\n```\n## Part two\ntext\n"));
        Assert.Equal("Title", result.Document!.Title);
        Assert.Equal(["Title", "Part two"], result.Document.Headings.Select(h => h.Text));
    }

    [Fact]
    public async Task Extract_Docx_ReadsParagraphsAndHeadings()
    {
        var docx = Zip(
            ("[Content_Types].xml", """<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>"""),
            ("_rels/.rels", """<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/></Relationships>"""),
            ("word/document.xml", """<?xml version="1.0"?><w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body><w:p><w:pPr><w:pStyle w:val="Heading1"/></w:pPr><w:r><w:t>Vacation policy</w:t></w:r></w:p><w:p><w:r><w:t>Employees get </w:t></w:r><w:r><w:t>25 days.</w:t></w:r></w:p></w:body></w:document>"""));
        var result = await ExtractAsync("policy.docx", docx);
        Assert.True(result.Succeeded, result.Error?.Message);
        Assert.Contains("Employees get 25 days.", result.Document!.Text);
        Assert.Equal("Vacation policy", Assert.Single(result.Document.Headings).Text);
    }

    [Fact]
    public async Task Extract_Xlsx_ReadsSharedStringsPerSheet()
    {
        var xlsx = Zip(
            ("[Content_Types].xml", """<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/><Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/></Types>"""),
            ("_rels/.rels", """<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>"""),
            ("xl/workbook.xml", """<?xml version="1.0"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="Prices" sheetId="1" r:id="rId1"/></sheets></workbook>"""),
            ("xl/_rels/workbook.xml.rels", """<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/><Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings" Target="sharedStrings.xml"/></Relationships>"""),
            ("xl/sharedStrings.xml", """<?xml version="1.0"?><sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><si><t>Widget</t></si></sst>"""),
            ("xl/worksheets/sheet1.xml", """<?xml version="1.0"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData><row r="1"><c r="A1" t="s"><v>0</v></c><c r="B1"><v>42.5</v></c></row></sheetData></worksheet>"""));
        var result = await ExtractAsync("prices.xlsx", xlsx);
        Assert.True(result.Succeeded, result.Error?.Message);
        Assert.Contains("Widget\t42.5", result.Document!.Text);
        Assert.Equal(1, result.Document.PageAt(result.Document.Text.Length - 1));
    }

    [Fact]
    public async Task Extract_Pptx_OnePagePerSlideWithTitlesAsHeadings()
    {
        var pptx = OfficeFixtures.Presentation([
            ("Quarterly review", ["Revenue grew 12 percent in the third quarter."]),
            ("Hiring plan", ["We will hire four platform engineers.", "Interviews start in March."]),
            ("Risks", ["The Lisbon data centre lease ends in 2027."]),
        ]);
        using (var package = DocumentFormat.OpenXml.Packaging.PresentationDocument.Open(new MemoryStream(pptx), false))
        {
            // The fixture is a package PowerPoint accepts, not just something our extractor tolerates.
            Assert.Empty(new DocumentFormat.OpenXml.Validation.OpenXmlValidator().Validate(package));
        }

        var result = await ExtractAsync("review.pptx", pptx);

        Assert.True(result.Succeeded, result.Error?.Message);
        var document = result.Document!;
        Assert.Equal([1, 2, 3], document.Pages.Select(p => p.Number));
        Assert.Equal("Quarterly review", document.Title);
        var interviews = document.Text.IndexOf("Interviews start in March.", StringComparison.Ordinal);
        Assert.True(interviews > document.Text.IndexOf("We will hire four platform engineers.", StringComparison.Ordinal));
        Assert.Equal(2, document.PageAt(interviews));
        Assert.Equal("Hiring plan", document.HeadingAt(interviews));
        var lease = document.Text.IndexOf("Lisbon", StringComparison.Ordinal);
        Assert.Equal(3, document.PageAt(lease));
        Assert.Equal("Risks", document.HeadingAt(lease));
        Assert.Equal(1, document.PageAt(document.Text.IndexOf("Revenue", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task Extract_CorruptDocx_IsInvalid()
    {
        var result = await ExtractAsync("broken.docx", "PK\u0003\u0004garbage"u8.ToArray());
        Assert.Equal("invalid_file", result.Error?.Code);
    }

    private static byte[] Zip(params (string Name, string Content)[] entries)
    {
        using var buffer = new MemoryStream();
        using (var zip = new ZipArchive(buffer, ZipArchiveMode.Create, leaveOpen: true))
        {
            foreach (var (name, content) in entries)
            {
                using var writer = new StreamWriter(zip.CreateEntry(name).Open());
                writer.Write(content);
            }
        }
        return buffer.ToArray();
    }

    /// <summary>A stream of 'a' with no end and no length, like a huge single-line upload.</summary>
    private sealed class EndlessStream : Stream
    {
        public long BytesRead { get; private set; }
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => BytesRead; set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override int Read(byte[] buffer, int offset, int count)
        {
            buffer.AsSpan(offset, count).Fill((byte)'a');
            BytesRead += count;
            return count;
        }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
