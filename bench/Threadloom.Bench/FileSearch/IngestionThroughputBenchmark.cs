using System.Diagnostics;
using System.Globalization;
using System.Text;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Threadloom.Core.Ingestion;
using Threadloom.Storage.Sqlite;

namespace Threadloom.Bench.FileSearch;

/// <summary>
/// <c>-- ingestion</c>: the 40 man pages of the file-search throughput section through the whole pipeline (extract,
/// chunk, embed with local MiniLM, index), three passes after a warm-up, and the chunker alone on the same texts.
/// Uses only APIs that exist before issue #9 §2, so the same file measures main and the branch.
/// </summary>
internal static class IngestionThroughputBenchmark
{
    public static async Task<string> RunAsync(CancellationToken ct)
    {
        var repo = FileSearchBenchmark.FindRepo();
        var questions = FileSearchBenchmark.LoadQuestions(Path.Combine(repo, "bench", "retrieval", "questions.tsv"));
        var pages = (await FileSearchBenchmark.RenderPagesAsync(questions.Select(q => (q.Page, q.Section)).Distinct().ToList(), ct)).Take(40).ToList();
        var dir = Path.Combine(Path.GetTempPath(), "threadloom-ingest-bench-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        var md = new StringBuilder("### Ingestion throughput (issue #9 §2 before/after)\n\n");
        try
        {
            await using var database = new SqliteDatabase(Path.Combine(dir, "bench.db"));
            await new SqliteMigrator(database).MigrateAsync(ct);
            var index = new SqliteChunkIndex(database);
            using var embeddings = new MiniLmEmbeddingGenerator();
            var options = Options.Create(new IngestionOptions());
            var chunker = new TextChunker();
            var ingestor = new FileIngestor(new TextExtractor(options), chunker, embeddings, index, options, NullLogger<FileIngestor>.Instance);
            long bytes = pages.Sum(p => (long)Encoding.UTF8.GetByteCount(p.Text));
            var rates = new List<double>();
            var cpuRates = new List<double>();
            var chunks = 0;
            for (var pass = 0; pass < 4; pass++)
            {
                var clock = Stopwatch.StartNew();
                var cpuBefore = System.Diagnostics.Process.GetCurrentProcess().TotalProcessorTime;
                chunks = 0;
                foreach (var (name, text) in pages)
                {
                    var result = await ingestor.IngestAsync(new IngestionRequest("bench", "vs_" + pass, "file-" + name, name + ".txt", new MemoryStream(Encoding.UTF8.GetBytes(text))), ct);
                    chunks += result.ChunkCount;
                }
                if (pass > 0)
                {
                    rates.Add(chunks / clock.Elapsed.TotalSeconds);
                    cpuRates.Add(chunks / (System.Diagnostics.Process.GetCurrentProcess().TotalProcessorTime - cpuBefore).TotalSeconds);
                }
            }
            var chunkClock = Stopwatch.StartNew();
            for (var pass = 0; pass < 5; pass++)
            {
                foreach (var (_, text) in pages)
                {
                    chunker.Chunk(new ExtractedDocument(text, null, [], []), StaticChunkingStrategy.Default);
                }
            }
            var chunkMs = chunkClock.Elapsed.TotalMilliseconds / 5;
            rates.Sort();
            cpuRates.Sort();
            md.AppendLine(CultureInfo.InvariantCulture, $"{pages.Count} man pages, {bytes / 1e6:F2} MB, {chunks} chunks of 800/400; 3 timed passes after a warm-up.");
            md.AppendLine();
            md.AppendLine("| measure | value |");
            md.AppendLine("|---|---|");
            md.AppendLine(CultureInfo.InvariantCulture, $"| pipeline throughput, median of 3 (min–max) | {rates[1]:F2} chunks/s ({rates[0]:F2}–{rates[^1]:F2}) |");
            md.AppendLine(CultureInfo.InvariantCulture, $"| chunks per CPU-second of the process, median of 3 (min–max) | {cpuRates[1]:F2} ({cpuRates[0]:F2}–{cpuRates[^1]:F2}) |");
            md.AppendLine(CultureInfo.InvariantCulture, $"| chunker alone, all {pages.Count} pages | {chunkMs:F0} ms |");
        }
        finally
        {
            try
            {
                Directory.Delete(dir, true);
            }
            catch (IOException)
            {
            }
        }
        return md.ToString();
    }
}
