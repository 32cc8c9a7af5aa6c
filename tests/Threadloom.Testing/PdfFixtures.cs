using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using UglyToad.PdfPig.Content;
using UglyToad.PdfPig.Core;
using UglyToad.PdfPig.Fonts.Standard14Fonts;
using UglyToad.PdfPig.Writer;

namespace Threadloom.Testing;

/// <summary>Writes small real PDFs: with PdfPig's builder (one line of text per entry, top to bottom), or by hand.</summary>
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

    /// <summary>
    /// A one-page PDF encrypted with the standard security handler (revision 3, RC4 128-bit) under a user password, so
    /// a reader needs the password to open it; with the password it opens and shows <paramref name="text"/>. PdfPig
    /// cannot write encrypted files, so the file is written by hand following ISO 32000-1 §7.6.3 (algorithms 1–5).
    /// </summary>
    public static byte[] Encrypted(string text, string userPassword, string ownerPassword = "owner")
    {
        const int permissions = -3904;
        var id = MD5Hash(Encoding.ASCII.GetBytes("threadloom-encrypted-fixture"));
        var owner = OwnerEntry(ownerPassword, userPassword);
        var key = FileKey(userPassword, owner, permissions, id);
        var user = UserEntry(key, id);
        var content = Encoding.ASCII.GetBytes($"BT /F1 12 Tf 72 720 Td ({text}) Tj ET");
        var encryptedContent = Rc4(ObjectKey(key, 4), content);

        var pdf = new MemoryStream();
        var offsets = new List<long>();
        void Write(string s) => pdf.Write(Encoding.ASCII.GetBytes(s));
        void Object(string body)
        {
            offsets.Add(pdf.Position);
            Write($"{offsets.Count} 0 obj\n{body}\nendobj\n");
        }
        Write("%PDF-1.4\n");
        Object("<< /Type /Catalog /Pages 2 0 R >>");
        Object("<< /Type /Pages /Kids [3 0 R] /Count 1 >>");
        Object("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>");
        offsets.Add(pdf.Position);
        Write($"4 0 obj\n<< /Length {encryptedContent.Length} >>\nstream\n");
        pdf.Write(encryptedContent);
        Write("\nendstream\nendobj\n");
        Object("<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>");
        Object($"<< /Filter /Standard /V 2 /R 3 /Length 128 /P {permissions} /O <{Convert.ToHexString(owner)}> /U <{Convert.ToHexString(user)}> >>");
        var xref = pdf.Position;
        Write($"xref\n0 {offsets.Count + 1}\n0000000000 65535 f \n");
        foreach (var offset in offsets)
        {
            Write(offset.ToString("D10", CultureInfo.InvariantCulture) + " 00000 n \n");
        }
        Write($"trailer\n<< /Size {offsets.Count + 1} /Root 1 0 R /Encrypt 6 0 R /ID [<{Convert.ToHexString(id)}> <{Convert.ToHexString(id)}>] >>\nstartxref\n{xref}\n%%EOF\n");
        return pdf.ToArray();
    }

    private static readonly byte[] Padding = Convert.FromHexString("28BF4E5E4E758A4164004E56FFFA01082E2E00B6D0683E802F0CA9FE6453697A");

    private static byte[] Padded(string password) => [.. Encoding.Latin1.GetBytes(password).Concat(Padding).Take(32)];

    // Algorithm 3: the /O entry.
    private static byte[] OwnerEntry(string ownerPassword, string userPassword)
    {
        var hash = MD5Hash(Padded(ownerPassword));
        for (var i = 0; i < 50; i++)
        {
            hash = MD5Hash(hash);
        }
        return Rc4Rounds(hash[..16], Padded(userPassword));
    }

    // Algorithm 2: the file encryption key.
    private static byte[] FileKey(string userPassword, byte[] owner, int permissions, byte[] id)
    {
        var hash = MD5Hash([.. Padded(userPassword), .. owner, .. BitConverter.GetBytes(permissions), .. id]);
        for (var i = 0; i < 50; i++)
        {
            hash = MD5Hash(hash[..16]);
        }
        return hash[..16];
    }

    // Algorithm 5: the /U entry (16 significant bytes, padded to 32).
    private static byte[] UserEntry(byte[] key, byte[] id) => [.. Rc4Rounds(key, MD5Hash([.. Padding, .. id])), .. new byte[16]];

    // Algorithm 1: the key of one object (generation 0).
    private static byte[] ObjectKey(byte[] key, int objectNumber) =>
        MD5Hash([.. key, (byte)objectNumber, (byte)(objectNumber >> 8), (byte)(objectNumber >> 16), 0, 0])[..16];

    private static byte[] Rc4Rounds(byte[] key, byte[] data)
    {
        var result = data;
        for (var round = 0; round < 20; round++)
        {
            result = Rc4([.. key.Select(b => (byte)(b ^ round))], result);
        }
        return result;
    }

#pragma warning disable CA5351 // The PDF standard security handler is defined with MD5 and RC4; this fixture only reproduces it.
    private static byte[] MD5Hash(byte[] data) => MD5.HashData(data);
#pragma warning restore CA5351

    private static byte[] Rc4(byte[] key, byte[] data)
    {
        var s = Enumerable.Range(0, 256).Select(i => (byte)i).ToArray();
        for (int i = 0, j = 0; i < 256; i++)
        {
            j = (j + s[i] + key[i % key.Length]) & 0xFF;
            (s[i], s[j]) = (s[j], s[i]);
        }
        var output = new byte[data.Length];
        for (int n = 0, i = 0, j = 0; n < data.Length; n++)
        {
            i = (i + 1) & 0xFF;
            j = (j + s[i]) & 0xFF;
            (s[i], s[j]) = (s[j], s[i]);
            output[n] = (byte)(data[n] ^ s[(s[i] + s[j]) & 0xFF]);
        }
        return output;
    }
}
