using System.IO.Compression;

namespace Threadloom.Core.Ingestion;

/// <summary>
/// Bounds a zip-based document (docx, xlsx, pptx) before the Open XML SDK inflates it: the central directory's sizes
/// are summed and their ratios checked first, then every entry is inflated once into nothing, counting, to catch
/// headers that lie (an entry that inflates past its declared size, or past the total budget, fails the file).
/// </summary>
/// <remarks>
/// Ratios are only checked once an entry (or the archive) inflates past <see cref="RatioFloorBytes"/>: small XML parts
/// compress very well legitimately, and a small entry cannot be a bomb.
/// </remarks>
internal static class ZipGuard
{
    public const long RatioFloorBytes = 1024 * 1024;

    public static void Check(byte[] bytes, ExtractionBudget budget)
    {
        using var zip = new ZipArchive(new MemoryStream(bytes, writable: false), ZipArchiveMode.Read);
        long declared = 0;
        foreach (var entry in zip.Entries)
        {
            declared += entry.Length;
            if (declared > budget.MaxUncompressedBytes)
            {
                throw TooLarge(budget);
            }
            if (entry.Length > RatioFloorBytes && entry.Length > (long)budget.MaxCompressionRatio * Math.Max(1, entry.CompressedLength))
            {
                throw TooCompressed(budget);
            }
        }
        if (declared > RatioFloorBytes && declared > (long)budget.MaxCompressionRatio * bytes.Length)
        {
            throw TooCompressed(budget);
        }

        // Headers can lie: inflate each entry, discarding, and stop at its declared size plus one byte.
        var buffer = new byte[81920];
        long inflated = 0;
        foreach (var entry in zip.Entries)
        {
            using var stream = entry.Open();
            long count = 0;
            int read;
            while ((read = stream.Read(buffer)) > 0)
            {
                count += read;
                inflated += read;
                if (count > entry.Length || inflated > budget.MaxUncompressedBytes)
                {
                    throw new ExtractionBudgetException(
                        $"The archive entry '{entry.FullName}' inflates past the size its header declares, or past the {budget.MaxUncompressedBytes} bytes allowed (Ingestion:MaxUncompressedBytes).");
                }
            }
        }
    }

    private static ExtractionBudgetException TooLarge(ExtractionBudget budget) =>
        new($"The document inflates to more than {budget.MaxUncompressedBytes} bytes, the most that can be indexed (Ingestion:MaxUncompressedBytes).");

    private static ExtractionBudgetException TooCompressed(ExtractionBudget budget) =>
        new($"The document is compressed more than {budget.MaxCompressionRatio} to 1, the most allowed (Ingestion:MaxCompressionRatio); it looks like a zip bomb.");
}
