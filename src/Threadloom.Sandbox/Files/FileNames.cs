using System.Globalization;
using System.Text;

namespace Threadloom.Sandbox.Files;

/// <summary>
/// Names that come out of the sandbox are data: raw bytes that may not be UTF-8 and may hold newlines or other control
/// characters. <see cref="Escape"/> makes any name a printable, single-line, injective string; only names that need
/// no escaping are used as output file names.
/// </summary>
internal static class FileNames
{
    /// <summary>
    /// Printable UTF-8 stays as it is; a backslash becomes <c>\\</c>; every other byte (invalid UTF-8, control and
    /// format characters, line and paragraph separators) becomes <c>\xNN</c>. Distinct names give distinct results.
    /// </summary>
    public static string Escape(ReadOnlySpan<byte> name)
    {
        var text = new StringBuilder(name.Length);
        while (!name.IsEmpty)
        {
            var status = Rune.DecodeFromUtf8(name, out var rune, out var consumed);
            if (status == System.Buffers.OperationStatus.Done && rune.Value != '\\' && IsPrintable(rune))
            {
                text.Append(rune.ToString());
            }
            else if (status == System.Buffers.OperationStatus.Done && rune.Value == '\\')
            {
                text.Append(@"\\");
            }
            else
            {
                consumed = status == System.Buffers.OperationStatus.Done ? consumed : Math.Max(consumed, 1);
                foreach (var b in name[..consumed])
                {
                    text.Append(@"\x").Append(b.ToString("x2", CultureInfo.InvariantCulture));
                }
            }
            name = name[consumed..];
        }
        return text.ToString();
    }

    /// <summary>The name as text when it is printable UTF-8 without a backslash; otherwise null (the name is refused).</summary>
    public static string? AsPlainName(ReadOnlySpan<byte> name)
    {
        var escaped = Escape(name);
        return escaped.Contains('\\', StringComparison.Ordinal) ? null : escaped;
    }

    private static bool IsPrintable(Rune rune) => Rune.GetUnicodeCategory(rune) switch
    {
        UnicodeCategory.Control or UnicodeCategory.Format or UnicodeCategory.LineSeparator or UnicodeCategory.ParagraphSeparator
            or UnicodeCategory.Surrogate or UnicodeCategory.PrivateUse or UnicodeCategory.OtherNotAssigned => false,
        _ => true,
    };
}
