using System.Text;

namespace Threadloom.Sandbox.Kernel;

/// <summary>Bounds the logs a reply carries, whatever the kernel claims: at most the configured bytes of UTF-8, in one pass.</summary>
internal static class KernelLogs
{
    /// <summary>The longest prefix of <paramref name="logs"/> that fits <paramref name="maxBytes"/> bytes of UTF-8, and how many bytes were cut.</summary>
    public static (string Text, long CutBytes) Bound(string? logs, int maxBytes)
    {
        if (string.IsNullOrEmpty(logs))
        {
            return ("", 0);
        }
        if (logs.Length <= maxBytes / 3)
        {
            // Three bytes per UTF-16 unit at most: fits without counting.
            return (logs, 0);
        }
        var bytes = 0L;
        var end = 0;
        var cut = false;
        for (var i = 0; i < logs.Length; i++)
        {
            var size = char.IsHighSurrogate(logs[i]) && i + 1 < logs.Length && char.IsLowSurrogate(logs[i + 1]) ? 4
                : logs[i] < 0x80 ? 1 : logs[i] < 0x800 ? 2 : 3;
            if (!cut && bytes + size > maxBytes)
            {
                cut = true;
                end = i;
            }
            bytes += size;
            if (size == 4)
            {
                i++;
            }
        }
        return cut ? (logs[..end], bytes - Encoding.UTF8.GetByteCount(logs.AsSpan(0, end))) : (logs, 0);
    }
}
