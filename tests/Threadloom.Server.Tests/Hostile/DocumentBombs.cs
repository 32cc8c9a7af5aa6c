using System.IO.Compression;
using System.Text;
using UglyToad.PdfPig.Content;
using UglyToad.PdfPig.Core;
using UglyToad.PdfPig.Fonts.Standard14Fonts;
using UglyToad.PdfPig.Writer;

namespace Threadloom.Server.Tests.Hostile;

/// <summary>Hostile documents, generated at run time (no binaries in the repository).</summary>
internal static class DocumentBombs
{
    /// <summary>About 2 MB of JSON nested one million levels deep.</summary>
    public static byte[] DeeplyNestedJson(int depth = 1_000_000) =>
        Encoding.ASCII.GetBytes(new string('[', depth) + new string(']', depth));

    /// <summary>
    /// One 300 KB "word": no whitespace at all. One letter repeated: every o200k piece of it is a single pre-token
    /// (the quadratic case of byte-pair merging), while the embedding model sees one unknown word, so the test measures
    /// the tokenizer and chunker, not the embedding model (random letters are covered in LinearTimeTests).
    /// </summary>
    public static byte[] NoSpaces(int length = 300_000) => Encoding.ASCII.GetBytes(new string('x', length));

    /// <summary>A PDF of <paramref name="pages"/> copies of the same page.</summary>
    public static byte[] DuplicatedPages(int pages)
    {
        var builder = new PdfDocumentBuilder();
        var font = builder.AddStandard14Font(Standard14Font.Helvetica);
        for (var i = 0; i < pages; i++)
        {
            builder.AddPage(PageSize.A4).AddText("The same page again and again.", 12, new PdfPoint(50, 700), font);
        }
        return builder.Build();
    }

    /// <summary>One page with <paramref name="glyphs"/> glyphs all drawn at the same spot.</summary>
    public static byte[] GlyphsAtOneSpot(int glyphs = 4000)
    {
        var content = new StringBuilder("BT /F1 12 Tf\n");
        for (var i = 0; i < glyphs; i++)
        {
            content.Append("1 0 0 1 100 700 Tm (").Append((char)('A' + (i % 26))).Append(") Tj\n");
        }
        content.Append("ET\n");
        return HandWrittenPdf(Encoding.ASCII.GetBytes(content.ToString()), filter: null);
    }

    /// <summary>A one-page PDF whose content stream is a Flate stream that inflates to <paramref name="inflatedBytes"/>.</summary>
    public static byte[] FlateBomb(long inflatedBytes = 700L * 1024 * 1024)
    {
        using var compressed = new MemoryStream();
        using (var zlib = new ZLibStream(compressed, CompressionLevel.SmallestSize, leaveOpen: true))
        {
            zlib.Write("BT /F1 12 Tf 72 712 Td (bomb) Tj ET\n"u8);
            var spaces = new byte[1024 * 1024];
            Array.Fill(spaces, (byte)' ');
            for (long written = 0; written < inflatedBytes; written += spaces.Length)
            {
                zlib.Write(spaces);
            }
        }
        return HandWrittenPdf(compressed.ToArray(), filter: "/FlateDecode");
    }

    /// <summary>A docx, xlsx or pptx whose main part inflates to <paramref name="inflatedBytes"/> of XML whitespace.</summary>
    public static byte[] OfficeZipBomb(string extension, long inflatedBytes = 200L * 1024 * 1024)
    {
        var (main, contentType) = extension switch
        {
            ".docx" => ("word/document.xml", "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"),
            ".xlsx" => ("xl/sharedStrings.xml", "application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"),
            _ => ("ppt/slides/slide1.xml", "application/vnd.openxmlformats-officedocument.presentationml.slide+xml"),
        };
        using var buffer = new MemoryStream();
        using (var zip = new ZipArchive(buffer, ZipArchiveMode.Create, leaveOpen: true))
        {
            using (var types = new StreamWriter(zip.CreateEntry("[Content_Types].xml").Open()))
            {
                types.Write($"""<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="xml" ContentType="application/xml"/><Override PartName="/{main}" ContentType="{contentType}"/></Types>""");
            }
            using var part = zip.CreateEntry(main, CompressionLevel.SmallestSize).Open();
            part.Write("<?xml version=\"1.0\"?><root>"u8);
            var spaces = new byte[1024 * 1024];
            Array.Fill(spaces, (byte)' ');
            for (long written = 0; written < inflatedBytes; written += spaces.Length)
            {
                part.Write(spaces);
            }
            part.Write("</root>"u8);
        }
        return buffer.ToArray();
    }

    private static byte[] HandWrittenPdf(byte[] content, string? filter)
    {
        using var pdf = new MemoryStream();
        var offsets = new List<long>();
        void Write(string s) => pdf.Write(Encoding.ASCII.GetBytes(s));
        Write("%PDF-1.4\n");
        void Object(string body)
        {
            offsets.Add(pdf.Position);
            Write($"{offsets.Count} 0 obj\n{body}\nendobj\n");
        }
        Object("<< /Type /Catalog /Pages 2 0 R >>");
        Object("<< /Type /Pages /Kids [3 0 R] /Count 1 >>");
        Object("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>");
        offsets.Add(pdf.Position);
        Write($"4 0 obj\n<< /Length {content.Length}{(filter is null ? "" : " /Filter " + filter)} >>\nstream\n");
        pdf.Write(content);
        Write("\nendstream\nendobj\n");
        Object("<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>");
        var xref = pdf.Position;
        Write($"xref\n0 {offsets.Count + 1}\n0000000000 65535 f \n");
        foreach (var offset in offsets)
        {
            Write($"{offset:D10} 00000 n \n");
        }
        Write($"trailer\n<< /Size {offsets.Count + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n");
        return pdf.ToArray();
    }
}
