using UglyToad.PdfPig.Content;
using UglyToad.PdfPig.Core;
using UglyToad.PdfPig.Fonts.Standard14Fonts;
using UglyToad.PdfPig.Writer;

namespace Threadloom.Testing;

/// <summary>Writes small real PDFs with PdfPig's builder: one line of text per entry, top to bottom.</summary>
public static class PdfFixtures
{
    public static byte[] TwoPages(IReadOnlyList<string> first, IReadOnlyList<string> second)
    {
        var builder = new PdfDocumentBuilder();
        var font = builder.AddStandard14Font(Standard14Font.Helvetica);
        foreach (var lines in new[] { first, second })
        {
            var page = builder.AddPage(PageSize.A4);
            var y = 800.0;
            foreach (var line in lines)
            {
                // Long lines are wrapped at ~95 characters so they stay on the page.
                for (var i = 0; i < line.Length; i += 95)
                {
                    page.AddText(line.Substring(i, Math.Min(95, line.Length - i)), 9, new PdfPoint(30, y), font);
                    y -= 12;
                }
                y -= 6;
            }
        }
        return builder.Build();
    }
}
